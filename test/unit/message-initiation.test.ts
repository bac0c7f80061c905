// src/jingle/message-initiation.ts: XEP-0353 messages (direct and as
// XEP-0280 carbons) routed to what they mean, proposals decided (tie-break
// included), and the fallback to a direct call. Pure: message stanzas in,
// decisions out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse, type Element } from "ltx";
import { carbonOf, decideProposal, directDevice, proposalTieBreak, routeJmiMessage, type CallView, type JmiContext } from "../../src/jingle/message-initiation.js";

const NS = "urn:xmpp:jingle-message:0";
const SELF = "alice@example.org";
const BOB = "bob@example.org/phone";

function ctx(calls: CallView[] = []): JmiContext & { ownProposalTo(bare: string): CallView | undefined } {
  return {
    self: SELF,
    call: (sid) => calls.find((c) => c.sid === sid),
    ownProposalTo: (bare) => calls.find((c) => c.role === "initiator" && c.phase === "proposed" && c.peer.toLowerCase() === bare.toLowerCase()),
  };
}

const jmi = (action: string, id: string, inner = "") => `<${action} xmlns="${NS}" id="${id}">${inner}</${action}>`;
const audio = `<description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"/>`;
const message = (from: string, body: string, attrs = "") => parse(`<message from="${from}" to="${SELF}/jingled" ${attrs}>${body}</message>`) as Element;
const carbon = (from: string, direction: "sent" | "received", inner: string) =>
  parse(`<message from="${from}" to="${SELF}/jingled"><${direction} xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">${inner}</forwarded></${direction}></message>`) as Element;

const proposing: CallView = { sid: "s1", peer: "bob@example.org", role: "initiator", phase: "proposed" };
const ringing: CallView = { sid: "s2", peer: BOB, role: "responder", phase: "proposed" };

test("direct messages: a proposal, a proceed to our proposal, a retract for the call ringing, the rest", () => {
  const c = ctx([proposing, ringing]);
  const propose = routeJmiMessage(message(BOB, jmi("propose", "new", audio)), c);
  assert.equal(propose.kind, "proposal");
  assert.deepEqual(routeJmiMessage(message(BOB, jmi("proceed", "s1")), c), { kind: "proceeded", sid: "s1", from: BOB });
  assert.deepEqual(routeJmiMessage(message("eve@example.org/x", jmi("proceed", "s1")), c), { kind: "proceed-refused", sid: "s1", from: "eve@example.org/x" });
  assert.equal(routeJmiMessage(message(BOB, jmi("retract", "s2")), c).kind, "to-call");
  assert.equal(routeJmiMessage(message(BOB, jmi("ringing", "nope")), c).kind, "unknown-call");
  assert.deepEqual(routeJmiMessage(message("bob@example.org", jmi("proceed", "s1")), c), { kind: "ignore" }, "JMI comes from a device, not a bare JID");
  assert.deepEqual(routeJmiMessage(message(BOB, "<body>hi</body>"), c), { kind: "ignore" });
  assert.equal(routeJmiMessage(message(BOB, `<proceed xmlns="${NS}"/>`), c).kind, "malformed");
});

test("a bounced proposal of ours ends it; an error about anything else is ignored", () => {
  const c = ctx([proposing, ringing]);
  assert.deepEqual(routeJmiMessage(message("bob@example.org", jmi("propose", "s1", audio), 'type="error"'), c), { kind: "bounced", sid: "s1" });
  assert.deepEqual(routeJmiMessage(message(BOB, jmi("ringing", "s2"), 'type="error"'), c), { kind: "ignore" });
});

test("carbons: only from our own account; received ones copy messages to our bare JID; sent ones say another device answered", () => {
  const c = ctx([proposing, ringing]);
  const toBare = `<message from="${BOB}" to="${SELF}">${jmi("retract", "s2")}</message>`;
  assert.equal(routeJmiMessage(carbon(SELF, "received", toBare), c).kind, "to-call");
  const toOtherDevice = `<message from="${BOB}" to="${SELF}/laptop">${jmi("retract", "s2")}</message>`;
  assert.deepEqual(routeJmiMessage(carbon(SELF, "received", toOtherDevice), c), { kind: "ignore" }, "another device's business");
  const answered = `<message from="${SELF}/laptop" to="${BOB}">${jmi("proceed", "s2")}</message>`;
  assert.deepEqual(routeJmiMessage(carbon(SELF, "sent", answered), c), { kind: "handled-elsewhere", sid: "s2", action: "proceed" });
  assert.equal(carbonOf(carbon("mallory@example.org", "sent", answered), SELF), undefined, "a forged carbon");
  assert.deepEqual(routeJmiMessage(carbon("mallory@example.org", "received", toBare), c), { kind: "ignore" });
});

test("tie-break: today's rule keeps the proposal with the greater id", () => {
  const table: Array<[ours: string, theirs: string, want: ReturnType<typeof proposalTieBreak>]> = [
    ["b", "a", "keep-ours"],
    ["a", "b", "take-theirs"],
    ["A1", "a1", "take-theirs"],
  ];
  for (const [ours, theirs, want] of table) assert.equal(proposalTieBreak(ours, theirs), want, `${ours} vs ${theirs}`);
});

test("proposals: no audio is refused, a duplicate dropped, a crossing one decided by the tie-break", () => {
  const none = ctx();
  assert.deepEqual(decideProposal({ action: "propose", id: "p", media: ["video"] }, BOB, none), { kind: "reject", reason: "unsupported-applications" });
  assert.deepEqual(decideProposal({ action: "propose", id: "p", media: ["audio"] }, BOB, none), { kind: "ring" });
  assert.deepEqual(decideProposal({ action: "propose", id: "s2", media: ["audio"] }, BOB, ctx([ringing])), { kind: "duplicate" });
  const ours = { ...proposing, sid: "m" };
  assert.deepEqual(decideProposal({ action: "propose", id: "a", media: ["audio"] }, BOB, ctx([ours])), { kind: "reject", reason: "expired", tieBreak: true });
  assert.deepEqual(decideProposal({ action: "propose", id: "z", media: ["audio"] }, BOB, ctx([ours])), { kind: "ring", crossing: "m" });
});

test("a bare JID is called directly only when none of its devices does XEP-0353 and one does Jingle audio", () => {
  const jmiDevice = new Set([NS, "urn:xmpp:jingle:apps:rtp:audio"]);
  const audioOnly = new Set(["urn:xmpp:jingle:apps:rtp:audio"]);
  assert.equal(directDevice([{ jid: "b@x/1", features: undefined }, { jid: "b@x/2", features: audioOnly }]), "b@x/2");
  assert.equal(directDevice([{ jid: "b@x/1", features: audioOnly }, { jid: "b@x/2", features: jmiDevice }]), undefined);
  assert.equal(directDevice([{ jid: "b@x/1", features: new Set() }]), undefined);
});
