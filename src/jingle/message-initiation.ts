// XEP-0353 Jingle Message Initiation as the daemon receives it
// (https://xmpp.org/extensions/xep-0353.html, v0.6), with XEP-0280 carbons
// (https://xmpp.org/extensions/xep-0280.html): a message stanza in, what it
// means out. Pure: no I/O and no calls are touched; the app does what the
// answer says (StanzaJS keeps this in its session manager the same way).
//
//   routeJmiMessage  a direct message or a carbon -> a call's business, a
//                    proposal, a bounce, an answer on another of our devices
//   decideProposal   a proposal -> reject it, drop a duplicate, or ring
//                    (and give up our own crossing proposal: tie-break)
//   directDevice     calling a bare JID: a device to call directly when none
//                    of the callee's devices does XEP-0353
import type { Element } from "ltx";
import { bareJid, isFullJid, sameBareJid, sameJid } from "../util/jid.js";
import { findJmi, parseJmi, type JmiElement } from "./protocol/index.js";
import { NS_JINGLE_MESSAGE, NS_JINGLE_RTP_AUDIO } from "./protocol/namespaces.js";

const NS_CARBONS = "urn:xmpp:carbons:2";
const NS_FORWARD = "urn:xmpp:forward:0";

/** What routing needs to know of a call (src/app/call/call.ts has it). */
export interface CallView {
  readonly sid: string;
  /** A bare JID while our proposal is out, the device's full JID after. */
  readonly peer: string;
  readonly role: "initiator" | "responder";
  /** XEP-0353 then XEP-0166: idle, proposed, proceeded, session. */
  readonly phase: string;
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
  /** A proposal to us, from the device `from`. */
  | { kind: "proposal"; el: JmiElement; from: string }
  /** The callee's device `from` said proceed to our proposal: the session goes to it. */
  | { kind: "proceeded"; sid: string; from: string }
  /** A proceed from a JID we never proposed to (ignored, worth a warning). */
  | { kind: "proceed-refused"; sid: string; from: string }
  /** About no call we know (ignored, worth a note). */
  | { kind: "unknown-call"; el: JmiElement; from: string }
  /** Ringing, reject, retract, ...: the call's own business (Call.jmiReceived). */
  | { kind: "to-call"; sid: string; el: JmiElement; from: string };

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

/** A jingle-message sent to us, directly or as a received carbon. */
function routeDirect(stanza: Element, ctx: JmiContext): JmiRoute {
  const from = stanza.attrs.from ?? "";
  const jmiEl = findJmi(stanza);
  if (!jmiEl) return { kind: "ignore" };
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
  if (el.action === "propose") return { kind: "proposal", el, from };
  const call = ctx.call(el.id);
  if (!call) return { kind: "unknown-call", el, from };
  if (el.action === "proceed") {
    const ours = call.role === "initiator" && call.phase === "proposed" && sameBareJid(from, call.peer);
    return ours ? { kind: "proceeded", sid: el.id, from } : { kind: "proceed-refused", sid: el.id, from };
  }
  return { kind: "to-call", sid: el.id, el, from };
}

/**
 * Tie-break (XEP-0353 §3.4): we and the peer proposed to each other at once.
 * The rule as the daemon applies it today: the proposal with the greater id
 * goes on, the side holding the smaller one gives its own up.
 */
export function proposalTieBreak(ourId: string, theirId: string): "keep-ours" | "take-theirs" {
  return ourId > theirId ? "keep-ours" : "take-theirs";
}

export type ProposalDecision =
  /** Answer with this reject (to the proposing device). */
  | { kind: "reject"; reason: "unsupported-applications" | "expired"; tieBreak?: true }
  /** A proposal we already have (e.g. from the archive). */
  | { kind: "duplicate" }
  /**
   * Ring: `crossing` is our own proposal to the same peer, given up for this
   * one (the app retracts it); such a call is wanted, whatever the policy says.
   */
  | { kind: "ring"; crossing?: string };

/** A proposal to us from `from`; `ownProposal` is our own unanswered proposal to the same bare JID, if any. */
export function decideProposal(el: JmiElement, from: string, ctx: JmiContext & { ownProposalTo(bare: string): CallView | undefined }): ProposalDecision {
  if (!(el.media ?? []).includes("audio")) return { kind: "reject", reason: "unsupported-applications" };
  if (ctx.call(el.id)) return { kind: "duplicate" };
  const mine = ctx.ownProposalTo(bareJid(from));
  if (!mine) return { kind: "ring" };
  if (proposalTieBreak(mine.sid, el.id) === "keep-ours") return { kind: "reject", reason: "expired", tieBreak: true };
  return { kind: "ring", crossing: mine.sid };
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
