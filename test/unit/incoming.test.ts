// What becomes of a new incoming call (src/app/incoming.ts): the route as a
// pure decision (forward, echo, answer, auto-answer, ring), and IncomingCalls
// acting on it with fake calls, ring groups and voicemail. The policy's own
// decisions (who may ring, busy, auto-answer) are test/unit/policy.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { ForwardConfig } from "../../src/config/forward-schema.js";
import type { CallState } from "../../src/control/protocol.js";
import { By, type Call, type CallEvents } from "../../src/app/call/call.js";
import type { RingGroupOptions } from "../../src/app/dialer.js";
import { IncomingCalls, routeIncoming, type IncomingRoute, type RingDecision } from "../../src/app/incoming.js";
import type { CallPolicy } from "../../src/app/policy.js";
import type { RingGroup, RingGroupEvents } from "../../src/app/ring-group.js";
import { codecId } from "../../src/media/codecs/codec.js";
import { codecIds } from "../../src/media/codecs/index.js";
import { TypedEmitter } from "../../src/util/events.js";
import { silentLogger } from "../../src/util/logger.js";

const rings: RingDecision = { action: "ring", autoAnswer: false };
const autoNow: RingDecision = { action: "ring", autoAnswer: true, delayMs: 0 };
const autoLater: RingDecision = { action: "ring", autoAnswer: true, delayMs: 3000 };

test("routeIncoming: each case by the table", () => {
  const cases: [name: string, d: RingDecision | undefined, s: { forward: boolean; echo: boolean }, want: IncomingRoute][] = [
    ["continued (no decision) -> answer, never forwarded", undefined, { forward: true, echo: true }, { to: "answer" }],
    ["rings, forward on -> forward", rings, { forward: true, echo: false }, { to: "forward" }],
    ["rings, forward and echo on -> forward first", rings, { forward: true, echo: true }, { to: "forward" }],
    ["auto-answer, forward on -> forward", autoNow, { forward: true, echo: false }, { to: "forward" }],
    ["rings, echo on -> echo", rings, { forward: false, echo: true }, { to: "echo" }],
    ["auto-answer later, echo on -> echo at once", autoLater, { forward: false, echo: true }, { to: "echo" }],
    ["rings -> ring (voicemail may take it)", rings, { forward: false, echo: false }, { to: "ring" }],
    ["auto-answer without delay -> answer", autoNow, { forward: false, echo: false }, { to: "answer" }],
    ["auto-answer after 3 s -> auto-answer, 3000 ms", autoLater, { forward: false, echo: false }, { to: "auto-answer", delayMs: 3000 }],
  ];
  for (const [name, d, s, want] of cases) assert.deepEqual(routeIncoming(d, s), want, name);
});

/** An incoming call as IncomingCalls and what it wires (forwarding, echo) see it. */
class FakeCall extends TypedEmitter<CallEvents> {
  state: CallState = "incoming";
  answers: string[] = [];
  rejects: string[] = [];
  echoes: number[] = [];
  constructor(
    readonly id: string,
    readonly peer: string,
  ) {
    super();
  }
  async answer(by?: string): Promise<void> {
    this.answers.push(by ?? "");
  }
  async reject(reason: string): Promise<void> {
    this.rejects.push(reason);
  }
  async echo(delayMs: number): Promise<void> {
    this.echoes.push(delayMs);
  }
  stats() {
    return undefined;
  }
}

/** A ring group as calls.forward drives it: started, or hung up, once the incoming call's events went out. */
class FakeGroup extends TypedEmitter<RingGroupEvents> {
  readonly id = "c9";
  winner = undefined;
  started = 0;
  hangups: string[] = [];
  async start(): Promise<void> {
    this.started++;
  }
  async hangup(reason: string): Promise<void> {
    this.hangups.push(reason);
  }
}

const policy: CallPolicy = { acceptFrom: "roster", allowlist: [], autoAnswer: "off", autoAnswerDelayMs: 0, maxCalls: 2 };

function makeIncoming(o: { forward?: ForwardConfig; echo?: boolean; callCount?: number; voicemailOn?: boolean } = {}) {
  const published: { event: string; fields: Record<string, unknown> }[] = [];
  const watched: string[] = [];
  const voicemailTook: string[] = [];
  const groups: { options: RingGroupOptions; group: FakeGroup }[] = [];
  const settings = { forward: o.forward, echo: o.echo ?? false, echoDelayMs: 500, codecs: codecIds() };
  const incoming = new IncomingCalls({
    policy: () => policy,
    settings: () => settings,
    self: () => "me@example.org/jingled",
    roster: { has: (jid: string) => jid.startsWith("friend@") },
    calls: { size: o.callCount ?? 0 },
    ringGroup: (options) => {
      const group = new FakeGroup();
      groups.push({ options, group });
      return group as unknown as RingGroup;
    },
    voicemail: {
      watch: (call, w) => void watched.push(w?.answer === false ? `${call.id} (missed calls only)` : call.id),
      takeUnanswered: (call) => (o.voicemailOn ? (voicemailTook.push(call.id), true) : false),
    },
    sendChat: async () => undefined,
    events: { publish: (event, fields) => void published.push({ event, fields: fields as Record<string, unknown> }) },
    logger: silentLogger(),
  });
  return { incoming, published, watched, voicemailTook, groups, settings };
}

const asCall = (c: FakeCall): Call => c as unknown as Call;

test("admit: a stranger is refused (not-allowed), a contact past maxCalls is busy, each told as a refused event; a contact rings", () => {
  const { incoming, published } = makeIncoming({ callCount: 1 });
  assert.deepEqual(incoming.admit("stranger@example.net/phone"), { action: "refuse", reason: "not-allowed" });
  assert.deepEqual(incoming.admit("friend@example.org/phone"), { action: "ring", autoAnswer: false });
  assert.deepEqual(published, [{ event: "refused", fields: { peer: "stranger@example.net/phone", reason: "not-allowed" } }]);

  const full = makeIncoming({ callCount: 2 });
  assert.deepEqual(full.incoming.admit("friend@example.org/phone"), { action: "busy" });
  assert.deepEqual(full.published, [{ event: "refused", fields: { peer: "friend@example.org/phone", reason: "busy" } }]);
});

test("take: a call that rings is left ringing and the voicemail watches it", () => {
  const { incoming, watched, groups } = makeIncoming();
  const call = new FakeCall("c1", "friend@example.org/phone");
  assert.equal(incoming.take(asCall(call), rings), false);
  assert.deepEqual(watched, ["c1"]);
  assert.equal(groups.length, 0);
  assert.deepEqual(call.answers, []);
});

test("take: a continued call is answered at once, not forwarded, not watched by the voicemail", () => {
  const { incoming, watched, groups } = makeIncoming({ forward: { to: ["alice@example.org"], strategy: "simultaneous", ringSec: 20 }, echo: true });
  assert.equal(incoming.take(asCall(new FakeCall("c1", "friend@example.org/phone")), undefined), true);
  assert.deepEqual(watched, []);
  assert.equal(groups.length, 0);
});

test("take: auto-answer without delay answers at once; with a delay, later and only if it still rings", async () => {
  const { incoming, watched } = makeIncoming();
  assert.equal(incoming.take(asCall(new FakeCall("c1", "friend@example.org/phone")), autoNow), true);

  const ringing = new FakeCall("c2", "friend@example.org/phone");
  const answeredMeanwhile = new FakeCall("c3", "friend@example.org/tablet");
  assert.equal(incoming.take(asCall(ringing), { action: "ring", autoAnswer: true, delayMs: 1 }), false);
  assert.equal(incoming.take(asCall(answeredMeanwhile), { action: "ring", autoAnswer: true, delayMs: 1 }), false);
  answeredMeanwhile.state = "active";
  assert.deepEqual(ringing.answers, [], "not before the delay");
  await sleep(50);
  assert.deepEqual(ringing.answers, [By.AutoAnswer]);
  assert.deepEqual(answeredMeanwhile.answers, []);
  assert.deepEqual(watched, [], "an auto-answered call is not the voicemail's");
});

test("take: calls.echo answers at once and echoes with calls.echoDelayMs as it is when the media starts", () => {
  const { incoming, watched, settings } = makeIncoming({ echo: true });
  const call = new FakeCall("c1", "friend@example.org/phone");
  assert.equal(incoming.take(asCall(call), rings), true);
  assert.deepEqual(watched, []);
  settings.echoDelayMs = 800;
  call.emit("media", {} as CallEvents["media"][0]);
  assert.deepEqual(call.echoes, [800]);
});

test("take: calls.forward rings a ring group bridged with the call, started after the call's own events", async () => {
  const forward: ForwardConfig = { to: ["alice@example.org", "bob@example.org/desk"], strategy: "sequential", ringSec: 15 };
  const { incoming, watched, groups } = makeIncoming({ forward, echo: true });
  const call = new FakeCall("c1", "friend@example.org/phone");
  assert.equal(incoming.take(asCall(call), autoNow), false, "the call waits for a target to answer");
  assert.equal(groups.length, 1);
  const { options, group } = groups[0]!;
  assert.deepEqual(options.targets, forward.to);
  assert.equal(options.strategy, "sequential");
  assert.equal(options.ringMs, 15_000);
  assert.equal(options.bridgedWith, "c1");
  assert.equal(options.placedBy, "forwarding of call c1");
  assert.deepEqual(options.codecs.map(codecId), codecIds());
  assert.equal(group.started, 0, "not before the call's own events");
  await new Promise((r) => setImmediate(r));
  assert.equal(group.started, 1);
  assert.deepEqual(watched, ["c1 (missed calls only)"], "the voicemail only notes a caller who gives up while the group rings");
  assert.deepEqual(call.echoes, []);

  // The caller hung up before the group could start: it is cancelled instead.
  const gone = new FakeCall("c2", "friend@example.org/phone");
  incoming.take(asCall(gone), rings);
  gone.state = "ended";
  await new Promise((r) => setImmediate(r));
  assert.equal(groups[1]!.group.started, 0);
  assert.deepEqual(groups[1]!.group.hangups, ["cancel"]);
});

test("admit: a call to be forwarded needs room for itself and each ring-group target under calls.maxCalls", () => {
  const forward: ForwardConfig = { to: ["alice@example.org"], strategy: "simultaneous", ringSec: 15 };
  // maxCalls 2: the call and its one leg fit with no other call, not beside one.
  assert.deepEqual(makeIncoming({ forward }).incoming.admit("friend@example.org/phone"), { action: "ring", autoAnswer: false });
  assert.deepEqual(makeIncoming({ forward, callCount: 1 }).incoming.admit("friend@example.org/phone"), { action: "busy" });
  const two: ForwardConfig = { ...forward, to: ["alice@example.org", "bob@example.org"] };
  assert.deepEqual(makeIncoming({ forward: two }).incoming.admit("friend@example.org/phone"), { action: "busy" });
});

test("forwarding: a group nobody answered hands the call to the voicemail when it is on, else refuses it with the group's reason", async () => {
  const forward: ForwardConfig = { to: ["alice@example.org"], strategy: "simultaneous", ringSec: 15 };
  for (const voicemailOn of [true, false]) {
    const { incoming, groups, voicemailTook } = makeIncoming({ forward, voicemailOn });
    const call = new FakeCall("c1", "friend@example.org/phone");
    incoming.take(asCall(call), rings);
    await new Promise((r) => setImmediate(r));
    groups[0]!.group.emit("ended", { reason: "timeout", answered: false });
    assert.deepEqual(voicemailTook, voicemailOn ? ["c1"] : []);
    assert.deepEqual(call.rejects, voicemailOn ? [] : ["timeout"]);
  }
});
