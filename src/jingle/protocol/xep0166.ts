// XEP-0166: Jingle — https://xmpp.org/extensions/xep-0166.html (v1.1.2)
// The envelope: actions, <content/> attributes, <reason/>, and the
// Jingle-specific IQ errors of §9. Application and transport payloads live
// in xep0167.ts / xep0176.ts; index.ts puts them together.

import { createElement, type Element } from "ltx";
import { NS } from "./namespaces.js";
import { LIMITS, childElements, optAttr, optEnum, reqAttr } from "./errors.js";
import { SENDERS, type RtpDescription, type SessionInfo, type Senders } from "./xep0167.js";
import type { IceUdpTransport } from "./xep0176.js";

// -------------------------------------------------------------------- actions

/** §7.2 Action attribute values. */
export const JingleAction = {
  ContentAccept: "content-accept",
  ContentAdd: "content-add",
  ContentModify: "content-modify",
  ContentReject: "content-reject",
  ContentRemove: "content-remove",
  DescriptionInfo: "description-info",
  SecurityInfo: "security-info",
  SessionAccept: "session-accept",
  SessionInfo: "session-info",
  SessionInitiate: "session-initiate",
  SessionTerminate: "session-terminate",
  TransportAccept: "transport-accept",
  TransportInfo: "transport-info",
  TransportReject: "transport-reject",
  TransportReplace: "transport-replace",
} as const;
export type JingleAction = (typeof JingleAction)[keyof typeof JingleAction];
export const JINGLE_ACTIONS: readonly JingleAction[] = Object.values(JingleAction);

// -------------------------------------------------------------------- content

export const CREATORS = ["initiator", "responder"] as const;
export type Creator = (typeof CREATORS)[number];

export interface JingleContent {
  creator: Creator;
  name: string;
  senders?: Senders;
  /** §7.3: defaults to "session"; "early-session" is early media (RFC 3959). */
  disposition?: string;
  description?: RtpDescription;
  transport?: IceUdpTransport;
  /** Namespace of a <description/> this layer does not handle (e.g. file transfer). */
  unsupportedDescriptionNs?: string;
  /** Namespace of a <transport/> this layer does not handle (e.g. raw-udp). */
  unsupportedTransportNs?: string;
}

/** The envelope attributes of one <content/>; payloads are added by the caller. */
export function parseContentAttrs(el: Element): JingleContent {
  // §7.3 makes creator REQUIRED but also gives "initiator" as its default;
  // accept its absence rather than fail a call over it.
  const c: JingleContent = {
    creator: optEnum(el, "creator", CREATORS) ?? "initiator",
    name: reqAttr(el, "name"),
  };
  const senders = optEnum(el, "senders", SENDERS);
  if (senders !== undefined) c.senders = senders;
  const disposition = optAttr(el, "disposition");
  if (disposition !== undefined) c.disposition = disposition;
  return c;
}

/** A <content/> element with its attributes and no payloads yet. */
export function buildContentEnvelope(c: JingleContent): Element {
  const attrs: Record<string, string> = { creator: c.creator, name: c.name };
  if (c.senders !== undefined) attrs.senders = c.senders;
  if (c.disposition !== undefined) attrs.disposition = c.disposition;
  return createElement("content", attrs);
}

// --------------------------------------------------------------------- reason

/** §7.4 Defined conditions. */
export const ReasonCondition = {
  AlternativeSession: "alternative-session",
  Busy: "busy",
  Cancel: "cancel",
  ConnectivityError: "connectivity-error",
  Decline: "decline",
  Expired: "expired",
  FailedApplication: "failed-application",
  FailedTransport: "failed-transport",
  GeneralError: "general-error",
  Gone: "gone",
  IncompatibleParameters: "incompatible-parameters",
  MediaError: "media-error",
  SecurityError: "security-error",
  Success: "success",
  Timeout: "timeout",
  UnsupportedApplications: "unsupported-applications",
  UnsupportedTransports: "unsupported-transports",
} as const;
export type ReasonCondition = (typeof ReasonCondition)[keyof typeof ReasonCondition];
export const REASON_CONDITIONS: readonly ReasonCondition[] = Object.values(ReasonCondition);

export interface JingleReason {
  condition: ReasonCondition;
  text?: string;
  /** <alternative-session><sid/></alternative-session>: the session to use instead. */
  alternativeSid?: string;
}

/**
 * Map a condition element name to a ReasonCondition. Dino writes some with
 * underscores (`failed_application`); unknown names become general-error so
 * a peer's new condition still ends the call cleanly.
 */
export function normaliseReasonCondition(name: string): ReasonCondition {
  const hyphenated = name.replace(/_/g, "-");
  return (REASON_CONDITIONS as readonly string[]).includes(hyphenated) ? (hyphenated as ReasonCondition) : ReasonCondition.GeneralError;
}

export function parseReason(el: Element): JingleReason {
  let condition: ReasonCondition | undefined;
  let alternativeSid: string | undefined;
  let text: string | undefined;
  for (const child of childElements(el)) {
    // Only children in the Jingle namespace carry the condition; others
    // (e.g. rtp:errors <crypto-required/>) are application detail.
    if (child.getNS() !== NS.jingle) continue;
    const name = child.getName();
    if (name === "text") {
      // Bounded like an attribute: it ends up in logs and control-socket events.
      text ??= child.getText().slice(0, LIMITS.attributeLength);
      continue;
    }
    if (condition !== undefined) continue;
    condition = normaliseReasonCondition(name);
    if (condition === ReasonCondition.AlternativeSession) {
      const sid = child.getChildText("sid")?.trim();
      if (sid && sid.length <= LIMITS.attributeLength) alternativeSid = sid;
    }
  }
  // §7.4 says the condition MUST be present; a bare <reason/> still ends the call.
  const r: JingleReason = { condition: condition ?? ReasonCondition.GeneralError };
  if (text !== undefined) r.text = text;
  if (alternativeSid !== undefined) r.alternativeSid = alternativeSid;
  return r;
}

export function buildReason(r: JingleReason): Element {
  const reason = createElement("reason");
  const cond = reason.c(r.condition);
  if (r.condition === ReasonCondition.AlternativeSession && r.alternativeSid !== undefined) {
    cond.c("sid").t(r.alternativeSid);
  }
  if (r.text !== undefined) reason.c("text").t(r.text);
  return reason;
}

// --------------------------------------------------------------------- jingle

export interface Jingle {
  action: JingleAction;
  sid: string;
  initiator?: string;
  responder?: string;
  contents: JingleContent[];
  reason?: JingleReason;
  /** Only on session-info. */
  info?: SessionInfo;
}

// ----------------------------------------------------------------- IQ errors

/** §9 Jingle-specific error conditions (urn:xmpp:jingle:errors:1). */
export const JingleErrorCondition = {
  OutOfOrder: "out-of-order",
  TieBreak: "tie-break",
  UnknownSession: "unknown-session",
  UnsupportedInfo: "unsupported-info",
} as const;
export type JingleErrorCondition = (typeof JingleErrorCondition)[keyof typeof JingleErrorCondition];

/** RFC 6120 §8.3.2 error types. */
export type StanzaErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

export interface JingleIqErrorSpec {
  type: StanzaErrorType;
  /** RFC 6120 §8.3.3 defined condition, e.g. "item-not-found". */
  condition: string;
  jingleCondition?: JingleErrorCondition;
  text?: string;
}

/**
 * The stanza error that goes with each Jingle condition (§9 table), plus
 * bad-request for stanzas this layer could not parse. Spread into
 * buildJingleIqError: `buildJingleIqError(iq, JINGLE_IQ_ERRORS["tie-break"])`.
 */
export const JINGLE_IQ_ERRORS = {
  "unknown-session": { type: "cancel", condition: "item-not-found", jingleCondition: "unknown-session" },
  "out-of-order": { type: "wait", condition: "unexpected-request", jingleCondition: "out-of-order" },
  "tie-break": { type: "cancel", condition: "conflict", jingleCondition: "tie-break" },
  "unsupported-info": { type: "modify", condition: "feature-not-implemented", jingleCondition: "unsupported-info" },
  "bad-request": { type: "modify", condition: "bad-request" },
} as const satisfies Record<string, JingleIqErrorSpec>;

/**
 * The error reply to an IQ: to/from swapped, same id, with the stanza
 * condition and, when given, the Jingle condition and a human-readable text.
 */
export function buildJingleIqError(iq: Element, spec: JingleIqErrorSpec): Element {
  const attrs: Record<string, string> = { type: "error" };
  const from = iq.attrs.from;
  const to = iq.attrs.to;
  const id = iq.attrs.id;
  if (from !== undefined) attrs.to = from;
  if (to !== undefined) attrs.from = to;
  if (id !== undefined) attrs.id = id;
  const reply = createElement("iq", attrs);
  const error = reply.c("error", { type: spec.type });
  error.c(spec.condition, { xmlns: NS.stanzas });
  if (spec.jingleCondition !== undefined) error.c(spec.jingleCondition, { xmlns: NS.jingleErrors });
  if (spec.text !== undefined) error.c("text", { xmlns: NS.stanzas }).t(spec.text);
  return reply;
}

/**
 * The jingle condition carried by an IQ error reply, if any; lets the caller
 * tell a tie-break or unknown-session from a generic failure.
 */
export function readJingleIqError(iq: Element): { type?: string; condition?: string; jingleCondition?: JingleErrorCondition; text?: string } {
  const error = iq.getChild("error");
  if (error === undefined) return {};
  const out: { type?: string; condition?: string; jingleCondition?: JingleErrorCondition; text?: string } = {};
  const type = optAttr(error, "type");
  if (type !== undefined) out.type = type;
  for (const child of childElements(error)) {
    const ns = child.getNS();
    const name = child.getName();
    if (ns === NS.stanzas && name === "text") out.text = child.getText();
    else if (ns === NS.stanzas && out.condition === undefined) out.condition = name;
    else if (ns === NS.jingleErrors && (Object.values(JingleErrorCondition) as string[]).includes(name)) {
      out.jingleCondition = name as JingleErrorCondition;
    }
  }
  return out;
}
