// XEP-0353 messages reaching our calls (src/app/jmi-messages.ts), with fake
// calls and fake senders: a proposal to us becomes an incoming call only as
// the policy says (a stranger gets no answer at all, busy gets a reject), a
// device's proceed starts our proposal's session, a bounce fails the call
// command. The routing rules themselves are test/unit/message-initiation.test.ts
// and test/unit/proposal-bounce.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse, type Element } from "ltx";
import type { Call } from "../../src/app/call/call.js";
import { CallBook } from "../../src/app/call-book.js";
import type { NewCall } from "../../src/app/dialer.js";
import { JmiMessages } from "../../src/app/jmi-messages.js";
import type { IncomingDecision } from "../../src/app/policy.js";
import { proposeStanzaId } from "../../src/jingle/proposal-bounce.js";
import type { JmiElement } from "../../src/jingle/protocol/index.js";
import { silentLogger } from "../../src/util/logger.js";

const NS = "urn:xmpp:jingle-message:0";
const SELF = "alice@example.org/jingled";
const BOB = "bob@example.org/phone";
const audio = `<description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"/>`;
const message = (from: string, body: string, attrs = "") => parse(`<message from="${from}" to="${SELF}" ${attrs}>${body}</message>`) as Element;
const propose = (id: string, attrs = "") => message(BOB, `<propose xmlns="${NS}" id="${id}">${audio}</propose>`, attrs);

/** A call as the XEP-0353 paths use it: what was asked of it is recorded. */
class FakeCall {
  state = "incoming";
  answered = false;
  did: string[] = [];
  constructor(
    readonly id: string,
    readonly sid: string,
    readonly peer: string,
    readonly role: "initiator" | "responder",
    public phase: string,
  ) {}
  async proposed(answer: boolean): Promise<void> {
    this.did.push(`proposed ${answer}`);
  }
  async proceeded(from: string): Promise<void> {
    this.did.push(`proceeded ${from}`);
  }
  async unreachable(text: string): Promise<void> {
    this.did.push(`unreachable ${text}`);
  }
}

function setup(o: { admission?: IncomingDecision; jingleMessage?: boolean } = {}) {
  const calls = new CallBook();
  const sent: Element[] = [];
  const jmi: { to: string; el: JmiElement }[] = [];
  const published: { event: string; fields: Record<string, unknown> }[] = [];
  const made: NewCall[] = [];
  const taken: (IncomingDecision | undefined)[] = [];
  const sessions: string[] = [];
  const bounced: string[] = [];
  const router = new JmiMessages({
    self: () => SELF,
    calls,
    settings: () => ({ jingleMessage: o.jingleMessage ?? true, audioOnlyForVideo: false, codecs: ["pcmu"] }),
    dialer: { bounced: (sid, text) => void bounced.push(`${sid}: ${text}`) },
    incoming: {
      admit: () => o.admission ?? { action: "ring", autoAnswer: false },
      take: (_call, d) => {
        taken.push(d);
        return false;
      },
    },
    newCall: (n) => {
      made.push(n);
      const call = new FakeCall(calls.nextId(), n.sid, n.peer, n.role, "proposed");
      calls.add(call as unknown as Call);
      return call as unknown as Call;
    },
    createSession: (sid, peer) => void sessions.push(`${sid} ${peer}`),
    sendJmi: async (to, el) => void jmi.push({ to, el }),
    send: async (stanza) => void sent.push(stanza),
    callFailed: (_call, what, err) => assert.fail(`${what}: ${String(err)}`),
    events: { publish: (event, fields) => void published.push({ event, fields: fields as Record<string, unknown> }) },
    logger: silentLogger(),
  });
  return { router, calls, sent, jmi, published, made, taken, sessions, bounced };
}

test("a proposal the policy lets ring: an incoming call with the proposal's id, its receipt (XEP-0184), the route asked", () => {
  const s = setup();
  s.router.onMessage(propose("p1", `id="m1" type="chat"`));
  assert.equal(s.made.length, 1);
  assert.deepEqual({ sid: s.made[0]!.sid, peer: s.made[0]!.peer, role: s.made[0]!.role }, { sid: "p1", peer: BOB, role: "responder" });
  assert.deepEqual(s.published, [{ event: "call", fields: { callId: "c1", type: "incoming", peer: BOB } }]);
  assert.deepEqual(s.taken, [{ action: "ring", autoAnswer: false }]);
  assert.equal(s.sent.length, 0, "no receipt unless asked");
  const call = s.calls.bySid("p1") as unknown as FakeCall;
  assert.deepEqual(call.did, ["proposed false"]);

  const asked = setup();
  asked.router.onMessage(message(BOB, `<propose xmlns="${NS}" id="p2">${audio}</propose><request xmlns="urn:xmpp:receipts"/>`, `id="m2" type="chat"`));
  assert.equal(asked.sent.length, 1);
  assert.equal(asked.sent[0]!.attrs.to, BOB);
  assert.equal(asked.sent[0]!.getChild("received", "urn:xmpp:receipts")?.attrs.id, "m2");
});

test("a proposal refused by the policy: no call and no answer at all; busy: a reject with <busy/>", () => {
  const stranger = setup({ admission: { action: "refuse", reason: "not-allowed" } });
  stranger.router.onMessage(propose("p1"));
  assert.deepEqual([stranger.made.length, stranger.sent.length, stranger.jmi.length, stranger.published.length], [0, 0, 0, 0]);

  const busy = setup({ admission: { action: "busy" } });
  busy.router.onMessage(propose("p1"));
  assert.equal(busy.made.length, 0);
  assert.deepEqual(busy.jmi, [{ to: BOB, el: { action: "reject", id: "p1", reason: { condition: "busy" } } }]);
});

test("calls.jingleMessage off: a proposal is left alone", () => {
  const s = setup({ jingleMessage: false });
  s.router.onMessage(propose("p1"));
  assert.deepEqual([s.made.length, s.jmi.length, s.published.length], [0, 0, 0]);
});

test("our proposal: a device's proceed starts its session with that device; a bounce fails the call command and the call", () => {
  const s = setup();
  const ours = new FakeCall("c7", "s1", "bob@example.org", "initiator", "proposed");
  s.calls.add(ours as unknown as Call);
  s.router.onMessage(message(BOB, `<proceed xmlns="${NS}" id="s1"/>`));
  assert.deepEqual(s.sessions, [`s1 ${BOB}`]);
  assert.deepEqual(ours.did, [`proceeded ${BOB}`]);

  const b = setup();
  const lost = new FakeCall("c8", "s2", "nobody@example.org", "initiator", "proposed");
  b.calls.add(lost as unknown as Call);
  const error = `<error type="cancel"><service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error>`;
  b.router.onMessage(parse(`<message from="nobody@example.org" type="error" to="${SELF}" id="${proposeStanzaId("s2")}">${error}</message>`) as Element);
  assert.equal(b.bounced.length, 1);
  assert.match(b.bounced[0]!, /^s2: nobody@example\.org cannot take calls/);
  assert.equal(lost.did.length, 1);
  assert.match(lost.did[0]!, /^unreachable nobody@example\.org cannot take calls/);
});
