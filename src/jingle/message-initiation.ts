// XEP-0353 Jingle Message Initiation as the daemon receives it
// (https://xmpp.org/extensions/xep-0353.html, v0.6), with XEP-0280 carbons
// (https://xmpp.org/extensions/xep-0280.html): a message stanza in, what it
// means out. Pure: no I/O and no calls are touched; the app does what the
// answer says (StanzaJS keeps this in its session manager the same way).
//
//   routeJmiMessage  a direct message or a carbon -> a call's business, a
//                    proposal, a bounce, an answer on another of our devices,
//                    a XEP-0184 receipt for our proposal (the device has it)
//   decideProposal   a proposal -> refuse it silently (media we cannot do),
//                    drop a duplicate, reject it (tie-break), or ring (and
//                    give up our own crossing proposal, or migrate the call
//                    the peer continues: XEP-0353 §4)
//   directDevice     calling a bare JID: a device to call directly when none
//                    of the callee's devices does XEP-0353
import type { Element } from "ltx";
import { bareJid, isFullJid, sameBareJid, sameJid } from "../util/jid.js";
import { PROPOSE_MESSAGE_ID_PREFIX, findJmi, parseJmi, type JmiElement } from "./protocol/index.js";
import { NS_JINGLE_MESSAGE, NS_JINGLE_RTP_AUDIO } from "./protocol/namespaces.js";

const NS_CARBONS = "urn:xmpp:carbons:2";
const NS_FORWARD = "urn:xmpp:forward:0";
const NS_RECEIPTS = "urn:xmpp:receipts";

/** What routing needs to know of a call (src/app/call/call.ts has it). */
export interface CallView {
  readonly sid: string;
  /** A bare JID while our proposal is out, the device's full JID after. */
  readonly peer: string;
  readonly role: "initiator" | "responder";
  /** XEP-0353 then XEP-0166: idle, proposed, proceeded, session. */
  readonly phase: string;
  /** Answered (by either side) and not ended: a session the peer may continue elsewhere. */
  readonly answered: boolean;
}

export interface JmiContext {
  /** Our own bare JID. */
  self: string;
  /** The call with this sid (= propose id), if any. */
  call(sid: string): CallView | undefined;
}

export type JmiRoute =
  /** Nothing for us (no jingle-message, a spoofed carbon, a proposal from a bare JID, another device's business). */
  | { kind: "ignore" }
  /** A jingle-message we cannot read. */
  | { kind: "malformed"; from: string; error: string }
  /** Our proposal came back as an error (e.g. no such user): the call ends. */
  | { kind: "bounced"; sid: string }
  /** Another device of our account answered or declined a proposal we ring for (a sent carbon). */
  | { kind: "handled-elsewhere"; sid: string; action: "proceed" | "reject" }
  /** A proposal to us, from the device `from`, in `message` (which may ask for a XEP-0184 receipt). */
  | { kind: "proposal"; el: JmiElement; from: string; message: Element }
  /** The callee's device `from` said proceed to our proposal: the session goes to it. */
  | { kind: "proceeded"; sid: string; from: string }
  /** A proceed from a JID we never proposed to (ignored, worth a warning). */
  | { kind: "proceed-refused"; sid: string; from: string }
  /** About no call we know (ignored, worth a note). */
  | { kind: "unknown-call"; el: JmiElement; from: string }
  /** Ringing, reject, retract, ...: the call's own business (Call.jmiReceived). */
  | { kind: "to-call"; sid: string; el: JmiElement; from: string }
  /** A device of the callee acknowledged our proposal (XEP-0184 receipt): it has it, so it rings. */
  | { kind: "delivered"; sid: string; from: string };

/** A XEP-0280 carbon, only when it really comes from our own account (§11: anyone else's is forged). */
export function carbonOf(stanza: Element, self: string): { direction: "sent" | "received"; message: Element } | undefined {
  for (const direction of ["sent", "received"] as const) {
    const wrapper = stanza.getChild(direction, NS_CARBONS);
    if (!wrapper) continue;
    if (!sameJid(stanza.attrs.from ?? "", self)) return undefined;
    const message = wrapper.getChild("forwarded", NS_FORWARD)?.getChild("message");
    return message ? { direction, message } : undefined;
  }
  return undefined;
}

/** A message stanza: what it means for our calls. */
export function routeJmiMessage(stanza: Element, ctx: JmiContext): JmiRoute {
  const carbon = carbonOf(stanza, ctx.self);
  if (!carbon) return routeDirect(stanza, ctx);
  const inner = findJmi(carbon.message);
  if (!inner) return { kind: "ignore" };
  if (carbon.direction === "received") {
    // XEP-0353 §3.1: the server distributes a message sent to our bare JID
    // to every device "thanks to XEP-0280". RFC 6121 §8.5.2.1.1 lets it
    // deliver such a message only to the resources of highest priority
    // (Prosody and ejabberd both do): the others get it as a received
    // carbon, and must ring (propose), stop ringing (retract) or learn of
    // the answer to their own proposal (proceed) as if it had come directly.
    // A carbon of a message to another of our full JIDs is that device's business.
    return sameJid(carbon.message.attrs.to ?? "", ctx.self) ? routeDirect(carbon.message, ctx) : { kind: "ignore" };
  }
  let el: JmiElement;
  try {
    el = parseJmi(inner);
  } catch {
    return { kind: "ignore" };
  }
  return ctx.call(el.id) && (el.action === "proceed" || el.action === "reject") ? { kind: "handled-elsewhere", sid: el.id, action: el.action } : { kind: "ignore" };
}

/** A receipt (XEP-0184) for our proposal of `sid`, from a device of the callee. */
function routeReceipt(stanza: Element, ctx: JmiContext): JmiRoute {
  const id = stanza.getChild("received", NS_RECEIPTS)?.attrs.id;
  const from = stanza.attrs.from ?? "";
  if (typeof id !== "string" || !id.startsWith(PROPOSE_MESSAGE_ID_PREFIX) || !isFullJid(from) || stanza.attrs.type === "error") return { kind: "ignore" };
  const sid = id.slice(PROPOSE_MESSAGE_ID_PREFIX.length);
  const call = ctx.call(sid);
  return call?.role === "initiator" && call.phase === "proposed" && sameBareJid(from, call.peer) ? { kind: "delivered", sid, from } : { kind: "ignore" };
}

/** A jingle-message sent to us, directly or as a received carbon. */
function routeDirect(stanza: Element, ctx: JmiContext): JmiRoute {
  const from = stanza.attrs.from ?? "";
  const jmiEl = findJmi(stanza);
  if (!jmiEl) return routeReceipt(stanza, ctx);
  let el: JmiElement;
  try {
    el = parseJmi(jmiEl);
  } catch (err) {
    return { kind: "malformed", from, error: err instanceof Error ? err.message : String(err) };
  }
  if (stanza.attrs.type === "error") {
    const call = ctx.call(el.id);
    const proposing = call?.role === "initiator" && (call.phase === "proposed" || call.phase === "proceeded");
    return proposing ? { kind: "bounced", sid: el.id } : { kind: "ignore" };
  }
  if (!isFullJid(from)) return { kind: "ignore" }; // JMI comes from a device
  if (el.action === "accept") {
    // Another device of our own account took the call (to our bare JID, not a carbon).
    const call = ctx.call(el.id);
    return call && sameBareJid(from, ctx.self) && call.role === "responder" ? { kind: "handled-elsewhere", sid: el.id, action: "proceed" } : { kind: "ignore" };
  }
  if (el.action === "propose") return { kind: "proposal", el, from, message: stanza };
  const call = ctx.call(el.id);
  if (!call) return { kind: "unknown-call", el, from };
  if (el.action === "proceed") {
    const ours = call.role === "initiator" && call.phase === "proposed" && sameBareJid(from, call.peer);
    return ours ? { kind: "proceeded", sid: el.id, from } : { kind: "proceed-refused", sid: el.id, from };
  }
  return { kind: "to-call", sid: el.id, el, from };
}

/** RFC 4790 §9.3 i;octet: byte by byte of the UTF-8 text, a prefix first. */
function octetCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * Tie-break (XEP-0353 §4.1, "No existing session"): we and the peer proposed
 * to each other at once. The proposal with the LOWER id goes on, "lower" by
 * i;octet; were the ids equal, the one sent by the lower JID. Conversations
 * applies the same comparison (its id first, then the two full JIDs).
 */
export function proposalTieBreak(ours: { id: string; jid: string }, theirs: { id: string; jid: string }): "keep-ours" | "take-theirs" {
  const order = octetCompare(ours.id, theirs.id) || octetCompare(ours.jid, theirs.jid);
  return order < 0 ? "keep-ours" : "take-theirs";
}

export type ProposalDecision =
  /**
   * Media we cannot serve (video): no ringing, proceed, reject or receipt,
   * so that a device of our account that can take it answers.
   */
  | { kind: "refuse"; reason: "unsupported-media"; media: string[] }
  /** Answer with this reject (to the proposing device): we hold the lower id of two crossing proposals. */
  | { kind: "reject"; reason: "expired"; tieBreak: true }
  /** A proposal we already have (e.g. from the archive). */
  | { kind: "duplicate" }
  /**
   * Ring. `crossing`: our own proposal to the same peer, with the higher id:
   * the app retracts it (with <tie-break/>). `migrate`: our answered call
   * with the same peer, which this proposal continues (a device switch, a
   * restart after a crash): the app finishes it (<migrated/>). In both cases
   * the call is wanted: it is answered whatever the policy says.
   */
  | { kind: "ring"; crossing?: string; migrate?: string };

export interface ProposalContext extends JmiContext {
  /** Our full JID (the tie-break's last resort). */
  fullJid: string;
  /** Our unanswered proposal to this bare JID, if any. */
  ownProposalTo(bare: string): CallView | undefined;
  /** Our answered call with this bare JID, if any. */
  answeredCallWith(bare: string): CallView | undefined;
  /** calls.videoProposals "audio-only": a proposal of audio and video rings and is answered with audio alone. */
  audioOnlyForVideo: boolean;
}

/** A proposal to us from the device `from`. */
export function decideProposal(el: JmiElement, from: string, ctx: ProposalContext): ProposalDecision {
  const media = el.media ?? [];
  const audio = media.includes("audio");
  const others = media.filter((m) => m !== "audio");
  if (!audio || (others.length > 0 && !ctx.audioOnlyForVideo)) return { kind: "refuse", reason: "unsupported-media", media };
  if (ctx.call(el.id)) return { kind: "duplicate" };
  const bare = bareJid(from);
  const mine = ctx.ownProposalTo(bare);
  if (mine) {
    if (proposalTieBreak({ id: mine.sid, jid: ctx.fullJid }, { id: el.id, jid: from }) === "keep-ours") return { kind: "reject", reason: "expired", tieBreak: true };
    return { kind: "ring", crossing: mine.sid };
  }
  const current = ctx.answeredCallWith(bare);
  return current ? { kind: "ring", migrate: current.sid } : { kind: "ring" };
}

/**
 * Calling a bare JID: when we see the callee's devices (their presence and
 * disco#info) and none advertises XEP-0353 but one does Jingle audio, that
 * device (the first, the best by priority) is called directly. Otherwise
 * undefined: propose (XEP-0353 also reaches devices we cannot see: offline,
 * push, no subscription).
 */
export function directDevice(devices: { jid: string; features: ReadonlySet<string> | undefined }[]): string | undefined {
  if (devices.some((d) => d.features?.has(NS_JINGLE_MESSAGE))) return undefined;
  return devices.find((d) => d.features?.has(NS_JINGLE_RTP_AUDIO))?.jid;
}
