// The MQTT bridge against a real Mosquitto (Debian's), started here: TLS and
// a password file, MQTT 5 request/response and the 3.1.1 fallback, bad
// command messages, retained state across a broker restart, Home Assistant
// discovery. The bridge's commands go through the same dispatcher as the
// control socket's (the daemon-level test is home-automation.test.ts).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import { pino } from "pino";
import { createEventBus, type EventBus } from "../../src/control/event-bus.js";
import { createDispatcher } from "../../src/control/dispatch.js";
import { parseCommandArgs, resolveCallId } from "../../src/control/protocol.js";
import { startMqttBridge, type MqttBridge, type MqttBridgeConfig } from "../../src/mqtt/bridge.js";
import type { Logger } from "../../src/util/logger.js";
import { haveMosquitto, startMosquitto, type Mosquitto } from "../../scripts/lab/mosquitto.js";
import { mqttObserver, type Observer } from "../helpers/mqtt-observer.js";

const DOOR_PASSWORD = "door-secret-8d1f";
const calls: { id: string; state: string }[] = [];

function capturingLogger(): { logger: Logger; text: () => string } {
  const out: string[] = [];
  const logger = pino({ level: "debug" }, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c.toString()), cb()) })) as unknown as Logger;
  return { logger, text: () => out.join("") };
}

describe("MQTT bridge against a real Mosquitto", { timeout: 120_000 }, () => {
  let broker: Mosquitto;
  let bus: EventBus;
  let bridge: MqttBridge;
  let app: Observer;
  const logs: (() => string)[] = [];
  const bridges: MqttBridge[] = [];
  let skip = "";

  const dispatcher = (logger: Logger) =>
    createDispatcher(
      {
        status: (a) => (parseCommandArgs("status", a), { account: { jid: "door@example.org/jingled", state: "online" }, calls }),
        hangup: (a) => {
          const id = resolveCallId(parseCommandArgs("hangup", a).callId, calls);
          return { callId: id, state: "ended", held: false, muted: false };
        },
        shutdown: () => ({ stopping: true }),
      },
      logger,
    );

  function bridgeConfig(over: Partial<MqttBridgeConfig> = {}): MqttBridgeConfig {
    return {
      url: broker.tlsUrl!,
      protocolVersion: 5,
      username: "door",
      caFile: broker.caFile!,
      topicPrefix: "jingled/door",
      commands: ["status", "hangup", "call"],
      maxCommandBytes: 4096,
      homeAssistant: { enabled: true, discoveryPrefix: "homeassistant", nodeId: "front_door", name: "Front door" },
      ...over,
    };
  }

  function start(config: MqttBridgeConfig, password: string | undefined, eventBus: EventBus): MqttBridge {
    const { logger, text } = capturingLogger();
    logs.push(text);
    const b = startMqttBridge({
      config,
      ...(password !== undefined ? { password } : {}),
      events: eventBus,
      dispatch: dispatcher(logger),
      status: () => ({ account: { jid: "door@example.org/jingled" }, calls: [] }),
      version: "0.0.0-test",
      logger,
      reconnectMs: { min: 200, max: 2000 },
    });
    bridges.push(b);
    return b;
  }

  before(async () => {
    if (!haveMosquitto()) {
      // scripts/bootstrap.sh installs it (Debian package mosquitto) when run as root.
      if (process.getuid?.() === 0) throw new Error("mosquitto is missing: run scripts/bootstrap.sh");
      skip = "mosquitto is not installed (apt-get install mosquitto)";
      return;
    }
    broker = await startMosquitto({ tls: true, users: [{ username: "door", password: DOOR_PASSWORD }, { username: "app", password: "app-pw" }] });
    bus = createEventBus(capturingLogger().logger);
    bridge = start(bridgeConfig(), DOOR_PASSWORD, bus);
    app = await mqttObserver(broker.url, { username: "app", password: "app-pw" });
    await app.client.subscribeAsync(["jingled/#", "homeassistant/#", "app/replies/#"], { qos: 1 });
  });

  after(async () => {
    for (const b of bridges) await b.stop().catch(() => undefined);
    await app?.close().catch(() => undefined);
    await broker?.stop();
  });

  test("over TLS with a username and password: retained online status and Home Assistant discovery", async (t) => {
    if (skip) return t.skip(skip);
    const status = await app.next((m) => m.topic === "jingled/door/status" && m.text === "online", "status online");
    assert.equal(status.packet.retain, false, "live (retain flag clear for subscribers already there)");
    // A subscriber that comes later gets the retained values.
    const late = await mqttObserver(broker.url, { username: "app", password: "app-pw" });
    try {
      await late.client.subscribeAsync(["jingled/door/status", "homeassistant/#"], { qos: 1 });
      const retained = await late.next((m) => m.topic === "jingled/door/status", "retained status");
      assert.equal(retained.text, "online");
      assert.equal(retained.packet.retain, true);
      const button = await late.next((m) => m.topic === "homeassistant/button/front_door/answer/config", "answer button config");
      const config = JSON.parse(button.text) as { command_topic: string; payload_press: string; availability_topic: string };
      assert.equal(config.command_topic, "jingled/door/command");
      assert.equal(config.availability_topic, "jingled/door/status");
      await late.next((m) => m.topic === "homeassistant/sensor/front_door/call_state/config", "call state sensor");
      await late.next((m) => m.topic === "homeassistant/binary_sensor/front_door/ringing/config", "ringing sensor");
    } finally {
      await late.close();
    }
    assert.ok(bridge.connected);
  });

  test("MQTT 5: the reply goes to the request's response topic with its correlation data", async (t) => {
    if (skip) return t.skip(skip);
    const correlationData = Buffer.from("req-7f3a");
    await app.client.publishAsync("jingled/door/command", JSON.stringify({ id: 1, cmd: "status" }), { qos: 1, properties: { responseTopic: "app/replies/status", correlationData } });
    const reply = await app.next((m) => m.topic === "app/replies/status", "reply on the response topic");
    assert.deepEqual(reply.packet.properties?.correlationData, correlationData);
    const body = JSON.parse(reply.text) as { id: number; ok: boolean; result: { account: { jid: string } } };
    assert.equal(body.ok, true);
    assert.equal(body.result.account.jid, "door@example.org/jingled");
    // The bridge is not made to write into its own or Home Assistant's topics on a requester's behalf.
    await app.client.publishAsync("jingled/door/command", JSON.stringify({ id: "x", cmd: "status" }), { qos: 1, properties: { responseTopic: "homeassistant/button/front_door/answer/config", correlationData: Buffer.from("x") } });
    const redirected = await app.next((m) => m.topic === "jingled/door/reply" && (JSON.parse(m.text) as { id: unknown }).id === "x", "reply redirected to PREFIX/reply");
    assert.deepEqual(redirected.packet.properties?.correlationData, Buffer.from("x"));
    const config = app.seen.filter((m) => m.topic === "homeassistant/button/front_door/answer/config");
    assert.ok(config.every((m) => m.text.includes("payload_press")), "the discovery config was not overwritten");
  });

  test("malformed, oversized and refused commands get an error reply with the socket's codes, and nothing else", async (t) => {
    if (skip) return t.skip(skip);
    const cases: Array<[payload: string | Buffer, code: string, id: unknown]> = [
      ["{not json", "bad-json", null],
      ["[1,2]", "bad-request", null],
      [JSON.stringify({ id: 5 }), "bad-request", 5],
      [JSON.stringify({ id: 6, cmd: "dial" }), "unknown-command", 6],
      [JSON.stringify({ id: 7, cmd: "hangup", args: { callId: 42 } }), "bad-argument", 7],
      [JSON.stringify({ id: 8, cmd: "hangup" }), "unknown-call", 8],
      [JSON.stringify({ id: 9, cmd: "shutdown" }), "not-allowed", 9],
      [Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), "bad-json", null],
      [JSON.stringify({ id: 10, cmd: "status", args: { pad: "x".repeat(10_000) } }), "line-too-long", null],
    ];
    const before = app.seen.length;
    for (const [i, [payload]] of cases.entries()) {
      await app.client.publishAsync("jingled/door/command", payload, { qos: 1, properties: { responseTopic: "app/replies/bad", correlationData: Buffer.from(String(i)) } });
    }
    for (const [i, [, code, id]] of cases.entries()) {
      const reply = await app.next((m) => m.topic === "app/replies/bad" && m.packet.properties?.correlationData?.toString() === String(i), `reply ${i}`);
      const body = JSON.parse(reply.text) as { id: unknown; ok: boolean; error: { code: string; message: string } };
      assert.equal(body.ok, false, `case ${i}`);
      assert.equal(body.error.code, code, `case ${i}: ${body.error.message}`);
      assert.equal(body.id, id, `case ${i}`);
    }
    // Nothing but the replies: no event, no status change; and the bridge goes on answering.
    const others = app.seen.slice(before).filter((m) => m.topic !== "app/replies/bad" && m.topic !== "jingled/door/command");
    assert.deepEqual(others.map((m) => m.topic), []);
    await app.client.publishAsync("jingled/door/command", JSON.stringify({ id: "ok", cmd: "status" }), { qos: 1, properties: { responseTopic: "app/replies/ok" } });
    assert.equal((JSON.parse((await app.next((m) => m.topic === "app/replies/ok", "status after bad input")).text) as { ok: boolean }).ok, true);
  });

  test("events under PREFIX/event and PREFIX/call/ID; call state and last caller retained", async (t) => {
    if (skip) return t.skip(skip);
    assert.equal((await app.next((m) => m.topic === "jingled/door/call_state", "call state at start")).text, "idle");
    bus.publish("call", { callId: "c1", type: "incoming", peer: "bob@example.org/phone" });
    const ev = await app.next((m) => m.topic === "jingled/door/event/call", "call event");
    assert.deepEqual({ ...(JSON.parse(ev.text) as object), time: 0 }, { event: "call", seq: 1, time: 0, callId: "c1", type: "incoming", peer: "bob@example.org/phone" });
    await app.next((m) => m.topic === "jingled/door/call/c1/call", "per-call topic");
    assert.equal((await app.next((m) => m.topic === "jingled/door/call_state", "call state")).text, "incoming");
    assert.equal((await app.next((m) => m.topic === "jingled/door/last_caller", "last caller")).text, "bob@example.org");
    bus.publish("call", { callId: "c1", type: "active", peer: "bob@example.org/phone" });
    await app.next((m) => m.topic === "jingled/door/call_state" && m.text === "active", "call state active");
  });

  test("the broker restarts: the bridge reconnects and publishes its retained state again", async (t) => {
    if (skip) return t.skip(skip);
    await broker.restart();
    // Retained messages died with the broker (no persistence); the bridge puts them back.
    const fresh = await mqttObserver(broker.url, { username: "app", password: "app-pw" });
    try {
      await fresh.client.subscribeAsync(["jingled/door/status", "jingled/door/call_state", "homeassistant/sensor/front_door/call_state/config", "app/replies/#"], { qos: 1 });
      await fresh.next((m) => m.topic === "jingled/door/status" && m.text === "online", "online after the restart", 20_000);
      assert.equal((await fresh.next((m) => m.topic === "jingled/door/call_state", "call state after the restart")).text, "active");
      await fresh.next((m) => m.topic === "homeassistant/sensor/front_door/call_state/config", "discovery after the restart");
      await fresh.client.publishAsync("jingled/door/command", JSON.stringify({ id: 1, cmd: "status" }), { qos: 1, properties: { responseTopic: "app/replies/after" } });
      await fresh.next((m) => m.topic === "app/replies/after", "commands work after the restart");
    } finally {
      await fresh.close();
    }
  });

  test("MQTT 3.1.1: replies on PREFIX/reply, matched by id", async (t) => {
    if (skip) return t.skip(skip);
    start(bridgeConfig({ url: broker.url, protocolVersion: 4, topicPrefix: "jingled/v3", homeAssistant: { enabled: false, discoveryPrefix: "homeassistant" } }), DOOR_PASSWORD, createEventBus(capturingLogger().logger));
    const v3 = await mqttObserver(broker.url, { username: "app", password: "app-pw", protocolVersion: 4 });
    try {
      await v3.client.subscribeAsync("jingled/v3/#", { qos: 1 });
      await v3.next((m) => m.topic === "jingled/v3/status" && m.text === "online", "v3 bridge online");
      await v3.client.publishAsync("jingled/v3/command", JSON.stringify({ id: "a1b2", cmd: "status" }), { qos: 1 });
      const reply = await v3.next((m) => m.topic === "jingled/v3/reply", "reply on PREFIX/reply");
      assert.equal((JSON.parse(reply.text) as { id: string; ok: boolean }).id, "a1b2");
    } finally {
      await v3.close();
    }
  });

  test("a wrong password is refused and retried; no password ever reaches the log; a clean stop leaves offline retained", async (t) => {
    if (skip) return t.skip(skip);
    const wrong = start(bridgeConfig({ topicPrefix: "jingled/wrong", homeAssistant: { enabled: false, discoveryPrefix: "homeassistant" } }), "wrong-secret-55aa", createEventBus(capturingLogger().logger));
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(wrong.connected, false);
    const wrongLog = logs.at(-1)!();
    assert.match(wrongLog, /MQTT connection failed; retrying/);
    assert.match(wrongLog, /Not authorized|Bad User Name or Password/i);
    assert.match(broker.logs(), /not authori[sz]ed|bad user name or password/i, "the broker refused it");
    await bridge.stop();
    await app.next((m) => m.topic === "jingled/door/status" && m.text === "offline", "offline on a clean stop");
    for (const text of logs.map((l) => l())) {
      assert.ok(!text.includes(DOOR_PASSWORD) && !text.includes("wrong-secret-55aa") && !text.includes("app-pw"), "no password in the bridge's log");
    }
    assert.ok(readFileSync(broker.caFile!, "utf8").includes("BEGIN CERTIFICATE"));
  });
});
