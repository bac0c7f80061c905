// What the account connection does after it lost (or could not get) its
// stream: try again later, or stop and say why. A pure function of the
// failure and what came before, so the rule is one table (reconnect-policy.test.ts).
//
//   lost            connection dropped, server unreachable, DNS  -> retry, backoff
//   refused         this side refused the server (TLS, SCRAM)     -> retry, backoff
//   temporary       the server refused for now (SASL
//                   temporary-auth-failure, RFC 6120 §6.5.12)     -> retry, backoff
//   not-authorized  the server refused our credentials
//                   (RFC 6120 §6.5.10, and account-disabled,
//                   credentials-expired)                          -> stop: retrying cannot fix it
//   conflict        <conflict/> stream error: another session
//                   took our full JID (RFC 6120 §4.9.3.3, §7.7.2.2) -> retry once; a second within
//                   CONFLICT_WINDOW_MS stops: two clients on one resource
//                   would otherwise kick each other off forever
//
// Backoff: exponential with jitter (x2 per failure, ±20 %), 1 s to 60 s,
// back to the start once online.
export const FAILURE_KINDS = {
  lost: "lost",
  refused: "refused",
  temporary: "temporary",
  notAuthorized: "not-authorized",
  conflict: "conflict",
} as const;
export type FailureKind = (typeof FAILURE_KINDS)[keyof typeof FAILURE_KINDS];

export interface Failure {
  kind: FailureKind;
  /** What happened, for a person. */
  reason: string;
}

export interface PolicyState {
  /** The delay of the last retry (ms); the next doubles it. */
  delayMs: number;
  /** When the last <conflict/> came (ms, the caller's clock), if any. */
  lastConflictAt?: number;
}

export type Step = { action: "retry"; delayMs: number; state: PolicyState } | { action: "stop"; reason: string; state: PolicyState };

export const BACKOFF_MIN_MS = 1000;
export const BACKOFF_MAX_MS = 60_000;
/** A second conflict within this long of the first: another client uses our resource. */
export const CONFLICT_WINDOW_MS = 10 * 60_000;

export const INITIAL_POLICY: PolicyState = { delayMs: BACKOFF_MIN_MS };

/** After a successful login: the next failure starts the backoff again (a conflict is still remembered). */
export function online(state: PolicyState): PolicyState {
  return { ...state, delayMs: BACKOFF_MIN_MS };
}

/**
 * The next step after `failure` at time `now`. `jid`: our full JID, for the
 * conflict message. `random` in [0, 1) sets the jitter.
 */
export function nextStep(state: PolicyState, failure: Failure, now: number, jid: string, random: () => number = Math.random): Step {
  if (failure.kind === "not-authorized") {
    return { action: "stop", reason: `${failure.reason}; not trying again: fix the password (or the account) and restart`, state };
  }
  let next = state;
  if (failure.kind === "conflict") {
    const again = state.lastConflictAt !== undefined && now - state.lastConflictAt <= CONFLICT_WINDOW_MS;
    next = { ...state, lastConflictAt: now };
    if (again) {
      return {
        action: "stop",
        reason: `another client took ${jid} (a second <conflict/>); not reconnecting: set account.resource to a resource of its own for each client`,
        state: next,
      };
    }
  }
  const doubled = Math.min(BACKOFF_MAX_MS, state.delayMs * 2);
  const delayMs = Math.round(doubled * (0.8 + random() * 0.4));
  return { action: "retry", delayMs, state: { ...next, delayMs: Math.max(BACKOFF_MIN_MS, Math.min(BACKOFF_MAX_MS, delayMs)) } };
}

/** SASL failure conditions (RFC 6120 §6.5) that no retry can fix. */
const FINAL_SASL = new Set(["not-authorized", "account-disabled", "credentials-expired", "invalid-authzid", "encryption-required"]);

/** The kind of a SASL <failure/> condition. */
export function saslFailureKind(condition: string | undefined): FailureKind {
  if (condition && FINAL_SASL.has(condition)) return "not-authorized";
  if (condition === "temporary-auth-failure") return "temporary";
  return "refused";
}
