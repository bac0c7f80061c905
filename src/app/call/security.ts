// A call's media security, decided once its offer/answer is known: plain
// RTP/AVP or DTLS-SRTP (XEP-0320, RFC 5763 §5), and then our DTLS role and
// the setup attribute we announce (RFC 4145 §4.1). The decision is a pure
// function (the table in test/unit/call-security.test.ts holds every case);
// CallSecurity keeps what it is decided from, and what was decided.
import type { DtlsFingerprint, DtlsSetup } from "../../jingle/protocol/index.js";
import { fingerprint, type DtlsCertificate } from "../../rtp/dtls/certificate.js";
import { OFFER_SETUP, roleForAnswerer, roleFromAnswer } from "../../rtp/dtls/setup-role.js";
import type { Security } from "../media-plane/plane-protocol.js";

/** media.dtls: "require" refuses peers without a fingerprint, "off" never offers it. */
export type DtlsPolicy = "require" | "prefer" | "off";

export type { Security } from "../media-plane/plane-protocol.js";

export interface SecurityInput {
  policy: DtlsPolicy;
  /** Whether we have a certificate (none when media.dtls is off). */
  hasCertificate: boolean;
  /** Our Jingle role: the initiator offered (setup actpass), the responder answers. */
  role: "initiator" | "responder";
  /** The setup of the peer's <fingerprint/> in its offer or answer; undefined when it sent no fingerprint. */
  remote: { setup?: DtlsSetup } | undefined;
}

/** Plain RTP or DTLS-SRTP, or `refused` with the reason when our policy or the peer's setup rules the call out. */
export function decideSecurity(i: SecurityInput): Security | { refused: string } {
  if (!i.remote || i.policy === "off" || !i.hasCertificate) {
    if (i.policy === "require") return { refused: "the peer offers no DTLS-SRTP fingerprint and dtls policy is require" };
    return { mode: "plain" };
  }
  if (i.remote.setup === "holdconn") return { refused: "the peer's DTLS setup is holdconn" };
  if (i.role === "responder") {
    const d = roleForAnswerer(i.remote.setup);
    return { mode: "dtls", role: d.role, setup: d.answerSetup };
  }
  // RFC 4145 §4.1: an answer without setup means active; actpass in an answer is read the same way.
  return { mode: "dtls", role: roleFromAnswer(i.remote.setup), setup: OFFER_SETUP };
}

/**
 * Our XEP-0320 <fingerprint/> for an offer or answer: offered (actpass)
 * unless DTLS is off; answered, with the setup we chose, only when we
 * decided on DTLS-SRTP.
 */
export function localFingerprint(o: {
  policy: DtlsPolicy;
  certificate: DtlsCertificate | undefined;
  role: "initiator" | "responder";
  security: Security | undefined;
}): DtlsFingerprint | undefined {
  if (!o.certificate || o.policy === "off") return undefined;
  if (o.role === "initiator") return { hash: "sha-256", setup: OFFER_SETUP, value: fingerprint(o.certificate, "sha-256") };
  if (o.security?.mode !== "dtls") return undefined;
  return { hash: "sha-256", setup: o.security.setup, value: fingerprint(o.certificate, "sha-256") };
}

/** A call's security: the peer's latest fingerprint, the decision once made, our fingerprint. */
export class CallSecurity {
  readonly #o: { policy: DtlsPolicy; certificate: DtlsCertificate | undefined; role: "initiator" | "responder" };
  #remote: DtlsFingerprint | undefined;
  #decided: Security | undefined;

  constructor(o: { policy: DtlsPolicy; certificate: DtlsCertificate | undefined; role: "initiator" | "responder" }) {
    this.#o = o;
  }

  /** The peer's <fingerprint/> from its offer, answer or a transport-info: the latest counts. */
  takeRemote(fp: DtlsFingerprint | undefined): void {
    if (fp) this.#remote = fp;
  }

  /** Decides, once the offer/answer is known; returns the reason when our policy refuses the peer. */
  decide(): string | undefined {
    const d = decideSecurity({ policy: this.#o.policy, hasCertificate: this.#o.certificate !== undefined, role: this.#o.role, remote: this.#remote });
    if ("refused" in d) return d.refused;
    this.#decided = d;
    return undefined;
  }

  /** Our <fingerprint/> for an offer or answer. */
  local(): DtlsFingerprint | undefined {
    return localFingerprint({ ...this.#o, security: this.#decided });
  }

  /** What the transport needs, once decided. */
  forTransport(): { security: Security; certificate: DtlsCertificate | undefined; remoteFingerprint: { hash: string; value: string } | undefined } | undefined {
    if (!this.#decided) return undefined;
    const fp = this.#remote;
    return { security: this.#decided, certificate: this.#o.certificate, remoteFingerprint: fp ? { hash: fp.hash, value: fp.value } : undefined };
  }
}
