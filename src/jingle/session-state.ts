// Jingle session state machine, XEP-0166 §6 (session flow) and §7.2 (which
// actions are valid when): https://xmpp.org/extensions/xep-0166.html (v1.1.2).
// Pure: the session manager asks, applies the answer, and turns a refusal
// into the matching IQ error.
//
//   (none) --session-initiate--> pending --session-accept--> active
//   pending|active --session-terminate--> ended
//
// "No session yet" is `undefined` (exported as NO_SESSION): a sid we have no
// record of. Only session-initiate may create one; anything else for an
// unknown sid is `unknown-session` (§6.7 / §9).

import { JingleAction } from "./protocol/xep0166.js";

export const SessionState = {
  Pending: "pending",
  Active: "active",
  Ended: "ended",
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];

/** The state of a sid with no session: the input for a session-initiate. */
export const NO_SESSION = undefined;

export type Direction = "incoming" | "outgoing";
export type SessionRole = "initiator" | "responder";

export interface TransitionInput {
  action: JingleAction;
  /** Whether the action was received from the peer or is about to be sent. */
  direction: Direction;
  /** Our role in the session. */
  role: SessionRole;
}

export type TransitionError =
  /** Valid action, wrong moment (§9 <out-of-order/>): e.g. session-accept twice. */
  | "out-of-order"
  /** The action cannot come from this party at all: e.g. the initiator accepting. */
  | "unexpected"
  /** No session for this sid and the action does not create one (§9 <unknown-session/>). */
  | "unknown-session";

export type Transition = { ok: true; state: SessionState } | { ok: false; error: TransitionError };

/** True when the action is sent by the initiator side of the session. */
function sentByInitiator({ direction, role }: TransitionInput): boolean {
  return (direction === "outgoing") === (role === "initiator");
}

export function nextState(state: SessionState | undefined, input: TransitionInput): Transition {
  const { action } = input;

  if (state === undefined) {
    if (action !== JingleAction.SessionInitiate) return { ok: false, error: "unknown-session" };
    // §6.2: the initiator sends it; receiving one makes us the responder.
    return sentByInitiator(input) ? { ok: true, state: SessionState.Pending } : { ok: false, error: "unexpected" };
  }

  // §6.7: once ended, nothing more belongs to this session.
  if (state === SessionState.Ended) return { ok: false, error: "out-of-order" };

  switch (action) {
    case JingleAction.SessionInitiate:
      // The session already exists (§9: "session-initiate after session-accept").
      return { ok: false, error: "out-of-order" };

    case JingleAction.SessionAccept:
      // §6.4: only the responder accepts, and only once.
      if (state !== SessionState.Pending) return { ok: false, error: "out-of-order" };
      return sentByInitiator(input) ? { ok: false, error: "unexpected" } : { ok: true, state: SessionState.Active };

    case JingleAction.SessionTerminate:
      // §6.7: either party, at any point before the end.
      return { ok: true, state: SessionState.Ended };

    default:
      // session-info, transport-info (§6.3: candidates trickle before accept),
      // and the content-*, description-info, security-info and transport-*
      // negotiation actions (§6.5, §7.2) are all valid while pending or active
      // and do not change the session state.
      return { ok: true, state };
  }
}
