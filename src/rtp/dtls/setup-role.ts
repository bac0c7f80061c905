// Who is DTLS client and who is server: the `setup` attribute of RFC 4145 §4
// as used by RFC 5763 §5 (DTLS-SRTP offer/answer) and XEP-0320 §3
// (https://xmpp.org/extensions/xep-0320.html, the <fingerprint setup=…/>).
//
//   setup     meaning (for the side that wrote it)
//   active    "I will connect":      DTLS client, sends the ClientHello
//   passive   "connect to me":       DTLS server
//   actpass   "either" (offers only) — the answerer decides
//   holdconn  "not now"              — no media can flow
//
// RFC 5763 §5: the offerer MUST say actpass; the answerer MUST say active or
// passive, never actpass, and SHOULD prefer active (fewer round trips: its
// ClientHello can leave as soon as ICE works).
//
// Pure: these types mirror src/jingle/protocol (rtp/ must not import jingle/).
import { JingledError } from "../../util/errors.js";

export const DTLS_SETUP_VALUES = ["actpass", "active", "passive", "holdconn"] as const;
export type DtlsSetupValue = (typeof DTLS_SETUP_VALUES)[number];

export const DTLS_ROLES = ["client", "server"] as const;
export type DtlsRole = (typeof DTLS_ROLES)[number];

/** What we put in an offer (session-initiate): RFC 5763 §5. */
export const OFFER_SETUP = "actpass" as const satisfies DtlsSetupValue;

export interface AnswererDecision {
  /** What we put in our answer (session-accept): never actpass. */
  answerSetup: "active" | "passive";
  role: DtlsRole;
}

/** The peer said it will not connect now; there is no role to take. */
export class DtlsSetupError extends JingledError {
  constructor(message: string) {
    super("dtls-setup", message);
  }
}

/**
 * We offered actpass; the answer says what the peer does, we do the opposite.
 * An answer with actpass (forbidden by RFC 5763 §5) or without setup is read
 * as `active`, the role answerers take in practice (JSEP) and the RFC 4145
 * default: we wait as server. Guessing wrong ends in a handshake timeout
 * either way; this guess matches the peers that exist.
 */
export function roleFromAnswer(remoteSetup: DtlsSetupValue | undefined): DtlsRole {
  switch (remoteSetup) {
    case "passive":
      return "client";
    case "active":
    case "actpass":
    case undefined:
      return "server";
    case "holdconn":
      throw new DtlsSetupError("peer answered setup=holdconn: it will not establish DTLS");
  }
}

/**
 * We answer an offer. actpass (or no setup at all, as some older Jingle
 * clients send) and passive: we answer active and connect as client, the
 * RFC 5763 §5 preference. active: the peer connects, we answer passive and
 * serve.
 */
export function roleForAnswerer(remoteOfferSetup: DtlsSetupValue | undefined): AnswererDecision {
  switch (remoteOfferSetup) {
    case "actpass":
    case "passive":
    case undefined:
      return { answerSetup: "active", role: "client" };
    case "active":
      return { answerSetup: "passive", role: "server" };
    case "holdconn":
      throw new DtlsSetupError("peer offered setup=holdconn: it will not establish DTLS");
  }
}
