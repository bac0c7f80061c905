// The MQTT bridge's pure parts: topics, which response topics are honoured,
// the retained door-phone state, Home Assistant discovery.
import { test } from "node:test";
import assert from "node:assert/strict";
import { topicsFor, usableResponseTopic, safeLevel } from "../../src/mqtt/topics.js";
import { callStateOf, initialDoorState, nextDoorState, type DoorState } from "../../src/mqtt/door-state.js";
import { defaultNodeId, discoveryMessages } from "../../src/mqtt/home-assistant.js";
import { startMqttBridge } from "../../src/mqtt/bridge.js";
import { createEventBus } from "../../src/control/event-bus.js";
import { createDispatcher } from "../../src/control/dispatch.js";
import { silentLogger } from "../../src/util/logger.js";

test("topics under the prefix", () => {
  const t = topicsFor("home/door");
  assert.deepEqual([t.status, t.command, t.reply, t.callState, t.lastCaller, t.event("call"), t.call("c1", "dtmf")], [
    "home/door/status", "home/door/command", "home/door/reply", "home/door/call_state", "home/door/last_caller", "home/door/event/call", "home/door/call/c1/dtmf",
  ]);
  assert.ok(safeLevel("c12"));
  assert.ok(!safeLevel("c1/#") && !safeLevel("+") && !safeLevel(""));
});

const responseCases: Array<[string, boolean]> = [
  ["app/replies/42", true],
  ["jingled/reply", true],
  ["jingled/reply/mine", true],
  ["jingled/status", false],
  ["jingled/command", false],
  ["jingled", false],
  ["homeassistant/button/x/config", false],
  ["app/+/x", false],
  ["app/#", false],
  ["$SYS/broker", false],
  ["", false],
];
for (const [topic, ok] of responseCases) {
  test(`response topic ${JSON.stringify(topic)}: ${ok ? "used" : "refused (reply goes to PREFIX/reply)"}`, () => {
    assert.equal(usableResponseTopic(topic, "jingled", "homeassistant"), ok);
  });
}

test("door state: newest live call's state, idle when none, the last incoming caller's bare JID", () => {
  let s: DoorState = initialDoorState([]);
  assert.equal(callStateOf(s), "idle");
  const ev = (callId: string, type: string, peer = "bob@example.org/phone") => (s = nextDoorState(s, { event: "call", seq: 0, time: "", callId, type, peer }));
  ev("c1", "incoming");
  assert.equal(callStateOf(s), "incoming");
  assert.equal(s.lastCaller, "bob@example.org");
  ev("c1", "connecting");
  ev("c1", "active");
  ev("c1", "held");
  assert.equal(callStateOf(s), "active", "held is a happening, not a state");
  ev("c2", "outgoing", "carol@example.org");
  assert.equal(callStateOf(s), "outgoing");
  assert.equal(s.lastCaller, "bob@example.org", "an outgoing call is no caller");
  ev("c2", "ended");
  assert.equal(callStateOf(s), "active");
  ev("c1", "ended");
  assert.equal(callStateOf(s), "idle");
  s = nextDoorState(s, { event: "dtmf", seq: 0, time: "", callId: "c1", digit: "1" });
  assert.equal(callStateOf(s), "idle");
  assert.deepEqual(initialDoorState([{ id: "c7", state: "active", direction: "incoming", peer: "dave@example.org/x" }]), { calls: [{ id: "c7", state: "active" }], lastCaller: "dave@example.org" });
});

test("Home Assistant discovery: a door-phone device whose entities use the bridge's topics", () => {
  const topics = topicsFor("jingled/door");
  const msgs = discoveryMessages({ discoveryPrefix: "homeassistant", nodeId: defaultNodeId("door@example.org/jingled"), name: "Front door", topics, version: "1.2.3" });
  assert.equal(defaultNodeId("door@example.org/jingled"), "door_example_org");
  assert.deepEqual(msgs.map((m) => m.topic), [
    "homeassistant/sensor/door_example_org/call_state/config",
    "homeassistant/sensor/door_example_org/last_caller/config",
    "homeassistant/binary_sensor/door_example_org/ringing/config",
    "homeassistant/button/door_example_org/answer/config",
    "homeassistant/button/door_example_org/hangup/config",
  ]);
  const byObject = Object.fromEntries(msgs.map((m) => [m.topic.split("/")[3], m.payload]));
  assert.equal(byObject.call_state!.state_topic, "jingled/door/call_state");
  assert.equal(byObject.ringing!.value_template, "{{ 'ON' if value == 'incoming' else 'OFF' }}");
  assert.deepEqual(JSON.parse(byObject.answer!.payload_press as string), { id: "ha-answer", cmd: "answer" });
  assert.equal(byObject.hangup!.command_topic, "jingled/door/command");
  for (const p of Object.values(byObject)) {
    assert.equal(p.availability_topic, "jingled/door/status");
    assert.deepEqual((p.device as { identifiers: string[] }).identifiers, ["jingled_door_example_org"]);
    assert.match(String(p.unique_id), /^jingled_door_example_org_/);
  }
  assert.equal(new Set(msgs.map((m) => m.payload.unique_id)).size, 5, "unique ids");
});

test("an unreadable mqtt.caFile is a clear start error, before any connection", () => {
  assert.throws(
    () =>
      startMqttBridge({
        config: { url: "mqtts://127.0.0.1:1", protocolVersion: 5, caFile: "/nonexistent/ca.pem", topicPrefix: "j", commands: [], maxCommandBytes: 1024, homeAssistant: { enabled: false, discoveryPrefix: "homeassistant" } },
        events: createEventBus(silentLogger()),
        dispatch: createDispatcher({}, silentLogger()),
        status: () => ({ account: { jid: "a@b" }, calls: [] }),
        version: "x",
        logger: silentLogger(),
      }),
    /^Error: mqtt\.caFile: cannot read \/nonexistent\/ca\.pem: ENOENT$/,
  );
});
