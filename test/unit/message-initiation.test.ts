// src/jingle/message-initiation.ts: XEP-0353 messages (direct and as
// XEP-0280 carbons) routed to what they mean, proposals decided (tie-break
// included), and the fallback to a direct call. Pure: message stanzas in,
// decisions out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse, type Element } from "ltx";
import { carbonOf, decideProposal, directDevice, proposalTieBreak, routeJmiMessage, type CallView, type ProposalContext } from "../../src/jingle/message-initiation.js";

const NS = "urn:xmpp:jingle-message:0";
const SELF = "alice@example.org";
const BOB = "bob@example.org/phone";

function ctx(calls: CallView[] = [], audioOnlyForVideo = false): ProposalContext {
  const bareOf = (jid: string) => jid.split("/")[0]!.toLowerCase();
  return {
    self: SELF,
    fullJid: `${SELF}/jingled`,
    call: (sid) => calls.find((c) => c.sid === sid),
    ownProposalTo: (bare) => calls.find((c) => c.role === "initiator" && c.phase === "proposed" && bareOf(c.peer) === bare.toLowerCase()),
    answeredCallWith: (bare) => calls.find((c) => c.answered && bareOf(c.peer) === bare.toLowerCase()),
    audioOnlyForVideo,
  };
}

const jmi = (action: string, id: string, inner = "") => `<${action} xmlns="${NS}" id="${id}">${inner}</${action}>`;
const audio = `<description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"/>`;
const message = (from: string, body: string, attrs = "") => parse(`<message from="${from}" to="${SELF}/jingled" ${attrs}>${body}</message>`) as Element;
const carbon = (from: string, direction: "sent" | "received", inner: string) =>
  parse(`<message from="${from}" to="${SELF}/jingled"><${direction} xmlns="urn:xmpp:carbons:2"><forwarded xmlns="urn:xmpp:forward:0">${inner}</forwarded></${direction}></message>`) as Element;

const proposing: CallView = { sid: "s1", peer: "bob@example.org", role: "initiator", phase: "proposed", answered: false };
const ringing: CallView = { sid: "s2", peer: BOB, role: "responder", phase: "proposed", answered: false };

test("direct messages: a proposal, a proceed to our proposal, a retract for the call ringing, the rest", () => {
  const c = ctx([proposing, ringing]);
  const propose = routeJmiMessage(message(BOB, jmi("propose", "new", audio), 'id="jm-propose-new"'), c);
  assert.equal(propose.kind, "proposal");
  assert.equal(propose.kind === "proposal" && propose.message.attrs.id, "jm-propose-new", "the message, for its receipt request");
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

test("tie-break (XEP-0353 §4.1): the lower id goes on, by i;octet; equal ids: the lower JID's", () => {
  const me = "alice@example.org/jingled";
  const table: Array<[ours: string, theirs: string, theirJid: string, want: ReturnType<typeof proposalTieBreak>]> = [
    // The XEP's example: Romeo holds ca3cf894..., Juliet fecbea35...: Romeo's goes on.
    ["ca3cf894-5325-482f-a412-a6e9f832298d", "fecbea35-08d3-404f-9ec7-2b57c566fa74", BOB, "keep-ours"],
    ["fecbea35-08d3-404f-9ec7-2b57c566fa74", "ca3cf894-5325-482f-a412-a6e9f832298d", BOB, "take-theirs"],
    // Octets, not letters: "A" (0x41) sorts before "a" (0x61), "-" (0x2d) before "_" (0x5f).
    ["A1", "a1", BOB, "keep-ours"],
    ["x_y", "x-y", BOB, "take-theirs"],
    // A prefix sorts first.
    ["abc", "abcd", BOB, "keep-ours"],
    // Equal ids (never in practice): the lower JID's proposal.
    ["same", "same", "bob@example.org/phone", "keep-ours"],
    ["same", "same", "aaron@example.org/phone", "take-theirs"],
  ];
  for (const [ours, theirs, jid, want] of table) assert.equal(proposalTieBreak({ id: ours, jid: me }, { id: theirs, jid }), want, `${ours} vs ${theirs}`);
});

test("proposals: media we do not serve are refused silently, a duplicate dropped, crossing ones tie-broken, a continuation migrates", () => {
  const none = ctx();
  const p = (id: string, media: string[] = ["audio"]) => ({ action: "propose" as const, id, media });
  assert.deepEqual(decideProposal(p("p", ["video"]), BOB, none), { kind: "refuse", reason: "unsupported-media", media: ["video"] });
  assert.deepEqual(decideProposal(p("p", ["audio", "video"]), BOB, none), { kind: "refuse", reason: "unsupported-media", media: ["audio", "video"] });
  assert.deepEqual(decideProposal(p("p", ["audio", "video"]), BOB, ctx([], true)), { kind: "ring" }, "calls.videoProposals: audio-only");
  assert.deepEqual(decideProposal(p("p", ["video"]), BOB, ctx([], true)), { kind: "refuse", reason: "unsupported-media", media: ["video"] }, "no audio at all");
  assert.deepEqual(decideProposal(p("p", []), BOB, none), { kind: "refuse", reason: "unsupported-media", media: [] });
  assert.deepEqual(decideProposal(p("p"), BOB, none), { kind: "ring" });
  assert.deepEqual(decideProposal(p("s2"), BOB, ctx([ringing])), { kind: "duplicate" });
  // Crossing: ours is "m".
  const ours = { ...proposing, sid: "m" };
  assert.deepEqual(decideProposal(p("z"), BOB, ctx([ours])), { kind: "reject", reason: "expired", tieBreak: true }, "theirs is higher: rejected");
  assert.deepEqual(decideProposal(p("a"), BOB, ctx([ours])), { kind: "ring", crossing: "m" }, "theirs is lower: ours gives way");
  // An answered call with the same bare JID: the new proposal continues it (another device of bob's, or bob's after a crash).
  const talking: CallView = { sid: "old", peer: "bob@example.org/laptop", role: "responder", phase: "session", answered: true };
  assert.deepEqual(decideProposal(p("new"), BOB, ctx([talking])), { kind: "ring", migrate: "old" });
  assert.deepEqual(decideProposal(p("new"), "carol@example.org/x", ctx([talking])), { kind: "ring" }, "someone else: an ordinary call");
  assert.deepEqual(decideProposal(p("new"), BOB, ctx([{ ...talking, answered: false }])), { kind: "ring" }, "not answered: no continuation");
});

test("receipts for our proposal (XEP-0184) and an accept from another device of ours", () => {
  const c = ctx([proposing, ringing]);
  const receipt = (from: string, id: string) => message(from, `<received xmlns="urn:xmpp:receipts" id="${id}"/>`);
  assert.deepEqual(routeJmiMessage(receipt(BOB, "jm-propose-s1"), c), { kind: "delivered", sid: "s1", from: BOB });
  assert.deepEqual(routeJmiMessage(receipt("eve@example.org/x", "jm-propose-s1"), c), { kind: "ignore" }, "not a device of the callee");
  assert.deepEqual(routeJmiMessage(receipt(BOB, "jm-propose-s2"), c), { kind: "ignore" }, "not our proposal");
  assert.deepEqual(routeJmiMessage(receipt(BOB, "m-17"), c), { kind: "ignore" });
  assert.deepEqual(routeJmiMessage(message(`${SELF}/phone`, jmi("accept", "s2")), c), { kind: "handled-elsewhere", sid: "s2", action: "proceed" });
  assert.deepEqual(routeJmiMessage(message(BOB, jmi("accept", "s2")), c), { kind: "ignore" }, "only our own account's devices");
});

test("a bare JID is called directly only when none of its devices does XEP-0353 and one does Jingle audio", () => {
  const jmiDevice = new Set([NS, "urn:xmpp:jingle:apps:rtp:audio"]);
  const audioOnly = new Set(["urn:xmpp:jingle:apps:rtp:audio"]);
  assert.equal(directDevice([{ jid: "b@x/1", features: undefined }, { jid: "b@x/2", features: audioOnly }]), "b@x/2");
  assert.equal(directDevice([{ jid: "b@x/1", features: audioOnly }, { jid: "b@x/2", features: jmiDevice }]), undefined);
  assert.equal(directDevice([{ jid: "b@x/1", features: new Set() }]), undefined);
});
