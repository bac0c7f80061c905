// Outgoing calls (src/app/dialer.ts) with a fake account, roster, presence,
// disco and calls: how a JID is called (session-initiate to a full JID, a
// proposal to a bare one, a bare JID's one device without XEP-0353 called
// directly) and when the call command fails at once (offline, no device
// online, a bounced proposal, a refused initiate, a ring group past
// calls.maxCalls). Ring groups themselves are test/unit/ring-group.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import type { Call, CallEvents } from "../../src/app/call/call.js";
import type { RingLeg } from "../../src/app/ring-group.js";
import { Dialer, type NewCall } from "../../src/app/dialer.js";
import type { CallArgs } from "../../src/control/protocol.js";
import { NS_JINGLE_MESSAGE, NS_JINGLE_RTP_AUDIO } from "../../src/jingle/protocol/namespaces.js";
import { CommandError } from "../../src/util/errors.js";
import { TypedEmitter } from "../../src/util/events.js";
import { silentLogger } from "../../src/util/logger.js";
import type { AccountState, RosterItem } from "../../src/util/vocabulary.js";

const SELF = "alice@example.org/jingled";

/** A call as the dialer (and a ring group, for a leg) uses it: what was asked of it, recorded. */
class FakeCall extends TypedEmitter<CallEvents> {
  did: string[] = [];
  state = "outgoing";
  constructor(
    readonly id: string,
    readonly sid: string,
    readonly peer: string,
    private readonly startFails?: string,
  ) {
    super();
  }
  async hangup(reason: string): Promise<void> {
    this.did.push(`hangup ${reason}`);
    this.state = "ended";
    this.emit("ended", { reason } as CallEvents["ended"][0]);
  }
  async propose(): Promise<void> {
    this.did.push("propose");
  }
  async start(): Promise<void> {
    this.did.push("start");
    if (this.startFails) throw new Error(this.startFails);
  }
}

function setup(o: { state?: AccountState; roster?: RosterItem[]; online?: Record<string, string[]>; features?: Record<string, string[]>; bounce?: string; startFails?: string; calls?: number } = {}) {
  const made: NewCall[] = [];
  const calls: FakeCall[] = [];
  const sessions: string[] = [];
  const published: { event: string; fields: Record<string, unknown> }[] = [];
  let n = o.calls ?? 0;
  const account = {
    state: o.state ?? ("online" as AccountState),
    roundTrip: async () => {
      // The server's bounce of the proposal comes before the ping's answer.
      if (o.bounce) dialer.bounced(calls.at(-1)!.sid, o.bounce);
    },
  };
  const dialer: Dialer = new Dialer({
    account,
    self: () => SELF,
    roster: { items: () => o.roster ?? [] },
    presence: { resources: (bare) => (o.online?.[bare] ?? []).map((jid) => ({ jid })) },
    disco: { featuresOf: async (jid) => (o.features?.[jid] ? new Set(o.features[jid]) : undefined) },
    calls: { size: o.calls ?? 0, nextId: () => `c${++n}` },
    settings: () => ({ maxCalls: 4, ringTimeoutSec: 30, codecs: ["pcmu"] }),
    newCall: (c) => {
      made.push(c);
      const call = new FakeCall(`c${++n}`, c.sid, c.peer, o.startFails);
      calls.push(call);
      c.leg?.created(call as unknown as RingLeg);
      return call as unknown as Call;
    },
    createSession: (sid, peer) => void sessions.push(`${sid} ${peer}`),
    events: { publish: (event, fields) => void published.push({ event, fields: fields as Record<string, unknown> }) },
    logger: silentLogger(),
  });
  return { dialer, made, calls, sessions, published };
}

const call = (jid: string): CallArgs => ({ jid }) as CallArgs;
const failsWith = (code: string, text?: RegExp) => (err: unknown) => {
  assert.ok(err instanceof CommandError, String(err));
  assert.equal(err.code, code);
  if (text) assert.match(err.message, text);
  return true;
};

test("a full JID: its Jingle session, then session-initiate; the outgoing call event under the call's id", async () => {
  const s = setup();
  const r = await s.dialer.placeCall(call("bob@example.org/phone"), "test");
  assert.equal(s.calls.length, 1);
  assert.deepEqual(r, { callId: s.calls[0]!.id, sid: s.calls[0]!.sid, peer: "bob@example.org/phone" });
  assert.deepEqual(s.sessions, [`${s.calls[0]!.sid} bob@example.org/phone`]);
  assert.deepEqual(s.calls[0]!.did, ["start"]);
  assert.deepEqual(s.made.map((m) => [m.role, m.placedBy, m.codecs.length]), [["initiator", "test", 1]]);
  assert.deepEqual(s.published, [{ event: "call", fields: { callId: s.calls[0]!.id, type: "outgoing", peer: "bob@example.org/phone" } }]);
});

test("a bare JID: proposed to (XEP-0353) when we see nobody, or one of its devices does XEP-0353", async () => {
  const unseen = setup();
  await unseen.dialer.placeCall(call("bob@example.org"), "test");
  assert.deepEqual(unseen.calls[0]!.did, ["propose"]);
  assert.equal(unseen.calls[0]!.peer, "bob@example.org");
  assert.deepEqual(unseen.sessions, [], "the session starts with the device that proceeds");

  const jmi = setup({
    online: { "bob@example.org": ["bob@example.org/old", "bob@example.org/new"] },
    features: { "bob@example.org/old": [NS_JINGLE_RTP_AUDIO], "bob@example.org/new": [NS_JINGLE_RTP_AUDIO, NS_JINGLE_MESSAGE] },
  });
  await jmi.dialer.placeCall(call("bob@example.org"), "test");
  assert.deepEqual(jmi.calls[0]!.did, ["propose"]);
});

test("a bare JID whose devices we see do Jingle but none XEP-0353: that device is called directly", async () => {
  const s = setup({ online: { "bob@example.org": ["bob@example.org/desk"] }, features: { "bob@example.org/desk": [NS_JINGLE_RTP_AUDIO] } });
  const r = await s.dialer.placeCall(call("bob@example.org"), "test");
  assert.equal(r.peer, "bob@example.org/desk");
  assert.deepEqual(s.calls[0]!.did, ["start"]);
  assert.deepEqual(s.sessions, [`${s.calls[0]!.sid} bob@example.org/desk`]);
});

test("fails at once: offline, a contact with no device online, a bounced proposal, a refused initiate", async () => {
  await assert.rejects(setup({ state: "connecting" }).dialer.placeCall(call("bob@example.org/phone"), "test"), failsWith("not-connected"));

  const contact: RosterItem = { jid: "bob@example.org", subscription: "both", groups: [] };
  const nobody = setup({ roster: [contact] });
  await assert.rejects(nobody.dialer.placeCall(call("bob@example.org"), "test"), failsWith("peer-unavailable", /bob@example\.org has no online device/));
  assert.equal(nobody.calls.length, 0, "no call made");
  // Presence we do not receive (subscription from): its devices may be reached by offline storage or push.
  const fromOnly = setup({ roster: [{ ...contact, subscription: "from" }] });
  await fromOnly.dialer.placeCall(call("bob@example.org"), "test");
  assert.deepEqual(fromOnly.calls[0]!.did, ["propose"]);

  const bounced = setup({ bounce: "nobody@example.org cannot take calls" });
  await assert.rejects(bounced.dialer.placeCall(call("nobody@example.org"), "test"), failsWith("peer-unavailable", /^nobody@example\.org cannot take calls$/));

  const refused = setup({ startFails: "service-unavailable" });
  await assert.rejects(refused.dialer.placeCall(call("bob@example.org/gone"), "test"), failsWith("peer-unavailable", /service-unavailable/));
});

test("a ring group needs a call per target under calls.maxCalls; one that fits is registered until it ends", async () => {
  const full = setup({ calls: 2 });
  const args = { jids: ["bob@example.org/a", "carol@example.org/b", "dave@example.org/c"] } as CallArgs;
  await assert.rejects(full.dialer.placeCall(args, "test"), failsWith("busy", /a ring group of 3 needs as many calls; 2 of 4 exist/));
  assert.equal(full.dialer.groups().length, 0);

  const s = setup({ calls: 1 });
  const r = await s.dialer.placeCall(args, "test");
  assert.deepEqual(r, { callId: "c2", peer: "bob@example.org/a", targets: args.jids });
  assert.equal(s.dialer.groups().length, 1);
  assert.deepEqual(s.made.map((m) => m.placedBy), ["test (ring group)", "test (ring group)", "test (ring group)"]);
  await s.dialer.groups()[0]!.hangup("cancel", "test");
  assert.equal(s.dialer.groups().length, 0);
});
