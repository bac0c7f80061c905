// The one command dispatcher every control front end uses, and the event bus
// they all subscribe to.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createDispatcher, type ClientInfo } from "../../src/control/dispatch.js";
import { createEventBus, type PublishedEvent } from "../../src/control/event-bus.js";
import { parseCommandArgs } from "../../src/control/protocol.js";
import { CallError, CommandError } from "../../src/util/errors.js";
import { silentLogger } from "../../src/util/logger.js";

const socket: ClientInfo = { id: 1, connectedAt: new Date() };
const mqtt: ClientInfo = { id: 0, connectedAt: new Date(), via: "mqtt" };

const dispatcher = createDispatcher(
  {
    hangup: (a) => ({ ...parseCommandArgs("hangup", a), state: "ended" }),
    hold: () => {
      throw new CallError("invalid-state", "call c1 is ringing");
    },
    weird: () => {
      throw new CommandError("no-such-code", "oops");
    },
    crash: () => {
      throw new TypeError("x is undefined");
    },
  },
  silentLogger(),
);

const cases: Array<[name: string, text: string, reply: object]> = [
  ["ok", '{"id":1,"cmd":"hangup","args":{"callId":"c1"}}', { id: 1, ok: true, result: { callId: "c1", state: "ended" } }],
  ["bad json", "{nope", { id: null, ok: false, error: { code: "bad-json" } }],
  ["not an object", "[1]", { id: null, ok: false, error: { code: "bad-request" } }],
  ["no cmd, id kept", '{"id":"a"}', { id: "a", ok: false, error: { code: "bad-request" } }],
  ["unknown command", '{"id":2,"cmd":"dial"}', { id: 2, ok: false, error: { code: "unknown-command" } }],
  ["Object.prototype is no command", '{"id":3,"cmd":"toString"}', { id: 3, ok: false, error: { code: "unknown-command" } }],
  ["bad argument", '{"id":4,"cmd":"hangup","args":{"callId":7}}', { id: 4, ok: false, error: { code: "bad-argument" } }],
  ["a domain error keeps its code", '{"id":5,"cmd":"hold"}', { id: 5, ok: false, error: { code: "invalid-state", message: "call c1 is ringing" } }],
  ["an undefined code becomes internal", '{"id":6,"cmd":"weird"}', { id: 6, ok: false, error: { code: "internal" } }],
  ["a crash becomes internal", '{"id":7,"cmd":"crash"}', { id: 7, ok: false, error: { code: "internal" } }],
];

for (const [name, text, expected] of cases) {
  test(`dispatch: ${name}`, async () => {
    const reply = await dispatcher.handle(text, socket);
    const got = JSON.parse(JSON.stringify(reply)) as Record<string, unknown> & { error?: { code: string; message: string } };
    const want = expected as typeof got;
    assert.equal(got.id, want.id);
    assert.equal(got.ok, want.ok);
    if (want.ok) assert.deepEqual(got.result, want.result);
    else {
      assert.equal(got.error?.code, want.error?.code);
      if (want.error?.message) assert.equal(got.error?.message, want.error.message);
      assert.ok((got.error?.message ?? "").length > 0, "a message a person can read");
    }
  });
}

test("dispatch: a front end's allowlist answers not-allowed, naming the front end; unknown stays unknown", async () => {
  const allowed = new Set(["hangup"]);
  const ok = await dispatcher.handle('{"id":1,"cmd":"hangup"}', mqtt, { allowed });
  assert.equal(ok.ok, true);
  const refused = await dispatcher.handle('{"id":2,"cmd":"hold"}', mqtt, { allowed });
  assert.deepEqual(refused.ok ? undefined : refused.error.code, "not-allowed");
  assert.match(refused.ok ? "" : refused.error.message, /hold is not allowed over mqtt \(allowed: hangup\)/);
  const unknown = await dispatcher.handle('{"id":3,"cmd":"dial"}', mqtt, { allowed });
  assert.equal(unknown.ok ? undefined : unknown.error.code, "unknown-command");
  assert.deepEqual(dispatcher.commands, ["crash", "hangup", "hold", "weird"]);
});

test("event bus: one seq for all subscribers, envelope first and never overwritten", () => {
  const bus = createEventBus(silentLogger());
  const a: PublishedEvent[] = [];
  const b: PublishedEvent[] = [];
  bus.subscribe((e) => a.push(e));
  const off = bus.subscribe((e) => b.push(e));
  // A field named like the envelope (outside the protocol: only a buggy producer would) cannot overwrite it.
  (bus.publish as (event: string, fields: object) => void)("call", { callId: "c1", type: "ringing", seq: 99, event: "evil" });
  off();
  bus.publish("dtmf", { callId: "c1", digit: "5" });
  assert.equal(bus.seq, 2);
  assert.deepEqual(a.map((e) => [e.message.event, e.message.seq]), [["call", 1], ["dtmf", 2]]);
  assert.equal(b.length, 1);
  assert.equal(b[0]!.line, `${JSON.stringify(b[0]!.message)}\n`);
  assert.deepEqual(Object.keys(a[0]!.message).slice(0, 3), ["event", "seq", "time"]);
});

test("event bus: an unserialisable event uses no seq; a failing subscriber does not stop the others", () => {
  const bus = createEventBus(silentLogger());
  const got: number[] = [];
  bus.subscribe(() => {
    throw new Error("front end bug");
  });
  bus.subscribe((e) => got.push(e.message.seq));
  bus.publish("stats", { big: 1n });
  bus.publish("stats", { ok: 1 });
  assert.deepEqual(got, [1]);
});
