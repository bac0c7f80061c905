// Ring groups (src/app/ring-group.ts) with fake legs: who wins, who is
// cancelled, what the user sees under the group's one call id; the call
// command's ring-group arguments; calls.forward in the config.
import { test } from "node:test";
import assert from "node:assert/strict";
import { RingGroup, unansweredReason, type LegHooks, type RingLeg } from "../../src/app/ring-group.js";
import { MAX_RING_TARGETS, parseCommandArgs, type CallInfo, type CallState } from "../../src/control/protocol.js";
import { validateConfig } from "../../src/config/load.js";
import { UsageError, parseCommandLine } from "../../src/cli/usage.js";
import { CallError, CommandError, ConfigError } from "../../src/util/errors.js";
import { TypedEmitter } from "../../src/util/events.js";
import { silentLogger } from "../../src/util/logger.js";
import type { CallEvents } from "../../src/app/call/call.js";

type Published = { event: string; fields: Record<string, unknown> };

/** A leg as the group sees a Call: state changes and its end, told by the test. */
class FakeLeg extends TypedEmitter<CallEvents> {
  state: CallState = "outgoing";
  hangups: string[] = [];
  constructor(
    readonly id: string,
    public peer: string,
    readonly hooks: LegHooks,
  ) {
    super();
  }
  info(): CallInfo {
    return { id: this.id, sid: `sid-${this.id}`, peer: this.peer, direction: "outgoing", state: this.state, startedAt: new Date(0).toISOString() };
  }
  stats() {
    return undefined;
  }
  /** What the daemon publishes for a state change (call-events.ts), then the Call's own event. */
  setState(state: CallState): void {
    this.state = state;
    this.hooks.publish("call", { callId: this.id, type: state as "ringing", peer: this.peer });
    this.emit("state", state, this.info());
  }
  end(reason: string, text?: string): void {
    if (this.state === "ended") return;
    this.state = "ended";
    this.hooks.publish("call", { callId: this.id, type: "ended", peer: this.peer, reason, by: "peer", durationMs: 0, elapsedMs: 1 });
    this.emit("ended", { ...this.info(), reason, durationMs: 0, elapsedMs: 1, by: "peer", ...(text ? { text } : {}) });
  }
  async hangup(reason = "success"): Promise<void> {
    this.hangups.push(reason);
    this.end(reason);
  }
  answer = () => Promise.resolve();
  reject = () => Promise.resolve();
  setHeld = () => Promise.resolve();
  setMuted = () => Promise.resolve();
  sendDtmf = () => Promise.resolve();
  play = () => Promise.resolve();
  setInput = () => Promise.resolve();
  setOutput = () => Promise.resolve();
  startRecording = () => Promise.resolve("/x.wav");
  stopRecording = () => Promise.resolve("/x.wav");
  bridgeAudio = () => Promise.resolve();
}

function makeGroup(targets: string[], strategy: "simultaneous" | "sequential", o: { ringMs?: number; unreachable?: string[] } = {}) {
  const published: Published[] = [];
  const legs = new Map<string, FakeLeg>();
  let n = 0;
  const group = new RingGroup({
    id: "c1",
    targets,
    strategy,
    ringMs: o.ringMs ?? 60_000,
    events: { publish: (event, fields) => void published.push({ event, fields: fields as Record<string, unknown> }) },
    logger: silentLogger(),
    dial: async (target, hooks) => {
      if (o.unreachable?.includes(target)) throw new CommandError("peer-unavailable", `${target} has no online device`);
      const leg = new FakeLeg(`c${++n + 1}`, target, hooks);
      hooks.created(leg as unknown as RingLeg);
      hooks.publish("call", { callId: leg.id, type: "outgoing", peer: target });
      legs.set(target, leg);
      return leg as unknown as RingLeg;
    },
  });
  const of = (event: string, type?: string) => published.filter((p) => p.event === event && (type === undefined || p.fields.type === type)).map((p) => p.fields);
  return { group, legs, published, of };
}

const tick = () => new Promise((r) => setImmediate(r));

test("simultaneous: all ring, the first to answer wins, the others are cancelled at once; one call id", async () => {
  const { group, legs, published, of } = makeGroup(["a@x", "b@x", "c@x/phone"], "simultaneous");
  await group.start();
  assert.deepEqual(of("group", "ringing").map((f) => f.peer), ["a@x", "b@x", "c@x/phone"]);
  legs.get("b@x")!.setState("ringing");
  assert.equal(group.state, "ringing");
  legs.get("b@x")!.peer = "b@x/desk";
  legs.get("b@x")!.setState("connecting");
  assert.equal(group.winner?.id, legs.get("b@x")!.id);
  assert.deepEqual(legs.get("a@x")!.hangups, ["cancel"]);
  assert.deepEqual(legs.get("c@x/phone")!.hangups, ["cancel"]);
  assert.deepEqual(legs.get("b@x")!.hangups, []);
  assert.deepEqual(of("group", "answered").map((f) => f.peer), ["b@x/desk"]);
  assert.deepEqual(
    of("group", "dropped").map((f) => [f.peer, f.reason]),
    [
      ["a@x", "cancel"],
      ["c@x/phone", "cancel"],
    ],
  );
  // Every call event the user sees carries the group's id; the losers' never reach the user.
  assert.ok(published.filter((p) => p.event === "call").every((p) => p.fields.callId === "c1"));
  assert.deepEqual(of("call").map((f) => f.type), ["outgoing", "ringing", "connecting"]);
  assert.equal(group.info().id, "c1");
  assert.equal(group.info().group?.answeredBy, "b@x/desk");
  assert.equal(group.info().sid, undefined);
  // The answered leg ending ends the group (its ended event, as c1).
  let ended: unknown;
  group.on("ended", (e) => (ended = e));
  legs.get("b@x")!.end("success");
  assert.deepEqual(ended, { reason: "success", answered: true });
  assert.equal(of("call", "ended").length, 1);
  assert.equal(group.state, "ended");
});

test("sequential: the next target rings when one times out or declines; the last answers", async () => {
  const { group, legs, of } = makeGroup(["a@x", "b@x", "c@x"], "sequential", { ringMs: 200 });
  await group.start();
  assert.deepEqual([...legs.keys()], ["a@x"], "one at a time");
  while (!legs.has("b@x")) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(legs.get("a@x")!.hangups, ["timeout"]);
  assert.ok(legs.has("b@x"), "b rings after a timed out");
  legs.get("b@x")!.end("decline");
  await tick();
  assert.ok(legs.has("c@x"), "c rings at once after b declined");
  legs.get("c@x")!.setState("active");
  assert.equal(group.winner?.id, legs.get("c@x")!.id);
  assert.deepEqual(
    of("group", "dropped").map((f) => [f.peer, f.reason]),
    [
      ["a@x", "timeout"],
      ["b@x", "decline"],
    ],
  );
});

test("nobody answers: the group ends with timeout and names each target's reason", async () => {
  const { group, legs, of } = makeGroup(["a@x", "b@x"], "simultaneous", { ringMs: 30 });
  await group.start();
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual([...legs.values()].map((l) => l.hangups), [["timeout"], ["timeout"]]);
  const [end] = of("call", "ended");
  assert.equal(end?.callId, "c1");
  assert.equal(end?.reason, "timeout");
  assert.match(String(end?.text), /nobody answered: a@x timeout, b@x timeout/);
  assert.equal(group.state, "ended");
});

test("sequential, nobody answers: each rings in turn, then the group ends with timeout", async () => {
  const { group, legs, of } = makeGroup(["a@x", "b@x"], "sequential", { ringMs: 20 });
  await group.start();
  for (let i = 0; group.state !== "ended" && i < 400; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(group.state, "ended", "the group ended after its last target");
  assert.deepEqual([...legs.values()].map((l) => l.hangups), [["timeout"], ["timeout"]]);
  const ends = of("call", "ended");
  assert.equal(ends.length, 1);
  assert.equal(ends[0]?.reason, "timeout");
  assert.match(String(ends[0]?.text), /a@x timeout, b@x timeout/);
});

test("unansweredReason: the group's end reason from its targets' reasons", () => {
  const cases: [string, string[], string][] = [
    ["all busy", ["busy", "busy"], "busy"],
    ["declined or busy", ["decline", "busy"], "decline"],
    ["all declined", ["decline"], "decline"],
    ["one timed out", ["decline", "timeout"], "timeout"],
    ["none reachable", ["peer-unavailable", "peer-unavailable"], "general-error"],
    ["one unreachable, one timed out", ["peer-unavailable", "timeout"], "timeout"],
    ["nothing known", [], "timeout"],
  ];
  for (const [name, reasons, expected] of cases) assert.equal(unansweredReason(reasons), expected, name);
});

test("every target declines: decline", async () => {
  const { group, legs, of } = makeGroup(["a@x", "b@x"], "simultaneous");
  await group.start();
  legs.get("a@x")!.end("decline");
  legs.get("b@x")!.end("busy");
  assert.equal(of("call", "ended")[0]?.reason, "decline");
});

test("hangup while ringing cancels every leg; a leg ending later changes nothing", async () => {
  const { group, legs, of } = makeGroup(["a@x", "b@x", "c@x"], "simultaneous");
  await group.start();
  await group.hangup("success", "test");
  assert.deepEqual([...legs.values()].map((l) => l.hangups), [["cancel"], ["cancel"], ["cancel"]]);
  const ends = of("call", "ended");
  assert.equal(ends.length, 1);
  assert.equal(ends[0]?.reason, "cancel");
  assert.equal(group.state, "ended");
  assert.deepEqual(group.info().group?.ringing, []);
});

test("unreachable targets are dropped; none reachable: peer-unavailable", async () => {
  const some = makeGroup(["a@x", "b@x"], "sequential", { unreachable: ["a@x"] });
  await some.group.start();
  assert.deepEqual(some.of("group", "dropped").map((f) => [f.peer, f.reason]), [["a@x", "peer-unavailable"]]);
  assert.ok(some.legs.has("b@x"));
  const none = makeGroup(["a@x", "b@x"], "simultaneous", { unreachable: ["a@x", "b@x"] });
  await assert.rejects(none.group.start(), (err: unknown) => err instanceof CallError && err.code === "peer-unavailable");
  assert.equal(none.group.state, "ended");
});

test("before an answer, in-call commands are refused with invalid-state", async () => {
  const { group } = makeGroup(["a@x"], "simultaneous");
  await group.start();
  for (const p of [group.setHeld(true), group.sendDtmf("1"), group.play("/a.wav"), group.answer(), group.reject()]) {
    await assert.rejects(p, (err: unknown) => err instanceof CallError && err.code === "invalid-state");
  }
  await group.hangup();
});

function badArgument(fn: () => unknown, mentions: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof CommandError && err.code === "bad-argument" && mentions.test(err.message));
}

test("call with jids: the ring group's arguments are checked", () => {
  assert.deepEqual(parseCommandArgs("call", { jids: ["a@x", "b@x/phone"] }), { jids: ["a@x", "b@x/phone"], strategy: "simultaneous" });
  assert.deepEqual(parseCommandArgs("call", { jids: ["a@x"], strategy: "sequential", ringSec: 10, codecs: ["opus"] }), {
    jids: ["a@x"],
    strategy: "sequential",
    ringSec: 10,
    codecs: ["opus"],
  });
  badArgument(() => parseCommandArgs("call", { jids: [] }), /"jids" must be a non-empty array/);
  badArgument(() => parseCommandArgs("call", { jids: "a@x" }), /"jids" must be a non-empty array/);
  badArgument(() => parseCommandArgs("call", { jids: ["a@x", "b@x", "A@X"] }), /"A@X" is in "jids" twice/);
  badArgument(() => parseCommandArgs("call", { jids: ["a@x", "b"] }), /"b" is not a valid JID/);
  badArgument(() => parseCommandArgs("call", { jids: ["a@x"], strategy: "round-robin" }), /"strategy" must be one of simultaneous, sequential/);
  badArgument(() => parseCommandArgs("call", { jids: Array.from({ length: MAX_RING_TARGETS + 1 }, (_, i) => `u${i}@x`) }), /at most 8/);
  badArgument(() => parseCommandArgs("call", { jids: ["a@x"], ringSec: 0 }), /"ringSec" must be an integer from 1 to 600/);
  badArgument(() => parseCommandArgs("call", { jids: ["a@x"], ringSec: 2.5 }), /"ringSec"/);
  badArgument(() => parseCommandArgs("call", { jid: "a@x", jids: ["b@x"] }), /not both/);
  badArgument(() => parseCommandArgs("call", { jid: "a@x", strategy: "sequential" }), /for a ring group/);
});

function configIssues(calls: Record<string, unknown>): string[] {
  try {
    validateConfig({ account: { jid: "door@example.org", password: "pw" }, calls }, { env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues.length ? err.issues : [err.message];
  }
  return [];
}

test("calls.forward: checked like every other key, with did-you-mean", () => {
  assert.deepEqual(configIssues({ forward: { to: ["alice@example.org", "bob@example.org/phone"], strategy: "sequential", ringSec: 15 } }), []);
  assert.match(configIssues({ forward: { to: ["alice@example.org"], stratgy: "sequential" } }).join("\n"), /^calls\.forward: unknown key stratgy \(did you mean strategy\?\)$/m);
  assert.match(configIssues({ forwad: { to: ["alice@example.org"] } }).join("\n"), /^calls: unknown key forwad \(did you mean forward\?\)$/m);
  assert.match(configIssues({ forward: { to: [] } }).join("\n"), /^calls\.forward\.to/m);
  assert.match(configIssues({ forward: { to: ["alice"] } }).join("\n"), /^calls\.forward\.to\.0: .*expected a bare or full JID/m);
  assert.match(configIssues({ forward: { to: ["a@x", "A@x"] } }).join("\n"), /each JID at most once/);
  assert.match(configIssues({ forward: { to: ["a@x"], strategy: "random" } }).join("\n"), /^calls\.forward\.strategy: found string "random"/m);
});

test("jinglectl call: several JIDs, --strategy and --ring-sec are checked before anything is sent", () => {
  const p = parseCommandLine(["call", "a@x", "b@x", "--strategy", "sequential", "--ring-sec", "15"]);
  assert.deepEqual([p.positionals, p.strategy, p.ringSec], [["a@x", "b@x"], "sequential", 15]);
  assert.throws(() => parseCommandLine(["call", "a@x", "--strategy", "random"]), (e: unknown) => e instanceof UsageError && /--strategy must be one of simultaneous, sequential/.test(e.message));
  assert.throws(() => parseCommandLine(["call", "a@x", "--ring-sec", "0"]), (e: unknown) => e instanceof UsageError && /--ring-sec/.test(e.message));
  assert.throws(() => parseCommandLine(["call", ...Array.from({ length: 9 }, (_, i) => `u${i}@x`)]), UsageError);
  assert.throws(() => parseCommandLine(["answer", "--strategy", "sequential"]), (e: unknown) => e instanceof UsageError && /does not take --strategy/.test(e.message));
});
