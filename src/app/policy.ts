// Call policy: who may ring us, which calls are answered by themselves, how
// many calls may exist at once. Pure decisions from the config (calls.*), the
// caller and the current call count; app/ applies them. Checked in this
// order, so a stranger never learns that we are busy:
//   1. acceptFrom: may this caller ring at all?     no -> refused (not-allowed)
//   2. maxCalls:   is there room for one more call?  no -> session-terminate <busy/>
//   3. autoAnswer: ring, or answer (after autoAnswerDelaySec)?
import { bareKey, domainOf, sameBareJid } from "../util/jid.js";

export const ACCEPT_FROM = ["roster", "allowlist", "everyone"] as const;
/** Who may ring: roster contacts (and our own account), the allowlist only, or anyone. */
export type AcceptFrom = (typeof ACCEPT_FROM)[number];

export const AUTO_ANSWER = ["off", "allowlist", "roster", "all"] as const;
/** Which incoming calls are answered without an `answer` command. */
export type AutoAnswer = (typeof AUTO_ANSWER)[number];

export interface CallPolicy {
  acceptFrom: AcceptFrom;
  /** Bare JIDs (bob@example.org) or whole domains (*@example.org). */
  allowlist: readonly string[];
  autoAnswer: AutoAnswer;
  autoAnswerDelayMs: number;
  /** Calls at once, in any state; one more is refused with busy. */
  maxCalls: number;
}

export interface Caller {
  /** The caller's JID, full or bare. */
  jid: string;
  /** The caller's bare JID is in our roster. */
  inRoster: boolean;
}

export type IncomingDecision =
  | { action: "refuse"; reason: "not-allowed" }
  | { action: "busy" }
  | { action: "ring"; autoAnswer: false }
  | { action: "ring"; autoAnswer: true; delayMs: number };

/** An allowlist entry is a bare JID, or `*@domain` for every account of a domain. Case-insensitive. */
export function onAllowlist(allowlist: readonly string[], jid: string): boolean {
  const bare = bareKey(jid);
  return allowlist.some((entry) => {
    const e = entry.toLowerCase();
    return e.startsWith("*@") ? domainOf(bare) === e.slice(2) : e === bare;
  });
}

/** A contact: in our roster, or another resource of our own account. */
function isContact(caller: Caller, self: string): boolean {
  return caller.inRoster || sameBareJid(caller.jid, self);
}

function mayRing(p: CallPolicy, caller: Caller, self: string): boolean {
  switch (p.acceptFrom) {
    case "everyone":
      return true;
    case "allowlist":
      return onAllowlist(p.allowlist, caller.jid);
    case "roster":
      return isContact(caller, self);
  }
}

function autoAnswers(p: CallPolicy, caller: Caller, self: string): boolean {
  switch (p.autoAnswer) {
    case "off":
      return false;
    case "all":
      return true;
    case "allowlist":
      return onAllowlist(p.allowlist, caller.jid);
    case "roster":
      return isContact(caller, self);
  }
}

/**
 * What to do with a new incoming call. `callCount` is the number of calls
 * that exist now, not counting this one; `self` is our own JID.
 */
export function decideIncoming(p: CallPolicy, caller: Caller, self: string, callCount: number): IncomingDecision {
  if (!mayRing(p, caller, self)) return { action: "refuse", reason: "not-allowed" };
  if (callCount >= p.maxCalls) return { action: "busy" };
  if (!autoAnswers(p, caller, self)) return { action: "ring", autoAnswer: false };
  return { action: "ring", autoAnswer: true, delayMs: p.autoAnswerDelayMs };
}

/** Whether one more outgoing call fits under maxCalls. */
export function mayPlaceCall(p: CallPolicy, callCount: number): boolean {
  return callCount < p.maxCalls;
}
