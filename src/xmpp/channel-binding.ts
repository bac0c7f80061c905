// SASL channel binding (RFC 5802 §6, RFC 5056): SCRAM-*-PLUS binds the login
// to this TLS connection, so a man in the middle holding a certificate we
// trust cannot relay it to the real server — the server sees a binding of
// its own TLS connection, not ours, and refuses.
//
// The bindings Node can produce on a TLS socket:
//   tls-exporter          RFC 9266: exportKeyingMaterial(32, "EXPORTER-Channel-Binding"), TLS 1.3
//   tls-server-end-point  RFC 5929 §4.1: the hash of the server's certificate (DER),
//                         with its signature's hash (MD5 and SHA-1 become SHA-256)
//   tls-unique            RFC 5929 §3.1: the first Finished message. RFC 9266 §1 leaves it
//                         undefined for TLS 1.3, but OpenSSL-based servers that predate
//                         XEP-0440 (ejabberd 23.01) compute it there from the client's
//                         Finished, which Node's getFinished() gives too
// XEP-0440 <sasl-channel-binding/> lists the types a server supports. Without
// it: tls-unique, RFC 5802 §6's mandatory type. RFC 9266 §3 would make
// tls-exporter the TLS 1.3 default, but the servers that know tls-exporter
// announce it with XEP-0440 (Prosody 13, ejabberd >= 23.10), and the one in
// our suite that offers -PLUS without the list (ejabberd 23.01) takes only
// tls-unique: docs/interop.md.
//
// Never downgraded (RFC 5802 §6): a server offering -PLUS is logged into with
// -PLUS or not at all; without -PLUS the gs2 flag is "y" ("I could bind, I
// think you cannot"), which a server that can bind refuses — a man in the
// middle who struck -PLUS from the list gets a login the real server rejects.
import { createHash } from "node:crypto";
import type tls from "node:tls";
import type { Element } from "ltx";
import { AccountError } from "../util/errors.js";

export const NS_SASL_CB = "urn:xmpp:sasl-cb:0";

export const CB_TYPES = {
  tlsExporter: "tls-exporter",
  tlsServerEndPoint: "tls-server-end-point",
  tlsUnique: "tls-unique",
} as const;
export type CbType = (typeof CB_TYPES)[keyof typeof CB_TYPES];

/** Our preference, best first: tls-exporter binds the session's keys (RFC 9266), tls-unique the handshake, tls-server-end-point only the certificate. */
const PREFERENCE: readonly CbType[] = [CB_TYPES.tlsExporter, CB_TYPES.tlsUnique, CB_TYPES.tlsServerEndPoint];

/** Mechanisms by preference, best first. */
const PLUS = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS"] as const;
const PLAIN_ORDER = ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"] as const;

/** The RFC 5802 gs2 channel-binding flag and what goes with it. */
export type Gs2Binding = { flag: "n" } | { flag: "y" } | { flag: "p"; type: CbType; data: Buffer };

/** XEP-0440: the types listed in the stream features, or undefined when the server says nothing. */
export function serverCbTypes(features: Element | undefined): string[] | undefined {
  const el = features?.getChild("sasl-channel-binding", NS_SASL_CB);
  if (!el) return undefined;
  return el.getChildren("channel-binding").map((c) => String(c.attrs.type ?? "")).filter(Boolean);
}

/**
 * Which mechanism and gs2 flag, from what the server offers (`mechanisms`,
 * already limited to ours), the XEP-0440 list (`serverTypes`), the bindings
 * this connection can produce (`available`) and its TLS version. Throws
 * AccountError "channel-binding" rather than downgrade.
 */
export function chooseMechanism(o: {
  mechanisms: string[];
  serverTypes: string[] | undefined;
  available: CbType[];
  secure: boolean;
}): { mechanism: string; flag: "n" | "y" } | { mechanism: string; flag: "p"; type: CbType } {
  const plus = PLUS.find((m) => o.mechanisms.includes(m));
  const usable = (t: CbType) => o.available.includes(t);
  if (plus) {
    const wanted = o.serverTypes ?? [CB_TYPES.tlsUnique];
    const type = PREFERENCE.find((t) => wanted.includes(t) && usable(t));
    if (!type) {
      throw new AccountError(
        "channel-binding",
        `the server offers ${plus} with channel binding ${wanted.join(", ") || "(no type)"}, and this connection can give only ${o.available.join(", ") || "none"}: refusing to log in without channel binding (it is what stops a man in the middle relaying the login)`,
      );
    }
    return { mechanism: plus, flag: "p", type };
  }
  // No -PLUS. A server that lists channel-binding types it could use with us, yet offers no -PLUS mechanism, had them struck on the way.
  const struck = o.serverTypes?.filter((t) => usable(t as CbType));
  if (o.secure && struck && struck.length > 0 && o.mechanisms.some((m) => m.startsWith("SCRAM-"))) {
    throw new AccountError(
      "channel-binding",
      `the server announces channel binding (${struck.join(", ")}, XEP-0440) but offers no SCRAM-*-PLUS mechanism: the list was altered on the way (a man in the middle?); refusing to log in`,
    );
  }
  const mechanism = PLAIN_ORDER.find((m) => o.mechanisms.includes(m));
  if (!mechanism) throw new AccountError("auth-failed", `no usable SASL mechanism (server offers ${o.mechanisms.join(", ") || "none"})`);
  // "y": we can bind but the server seems not to (RFC 5802 §6); "n" only without TLS, where there is nothing to bind.
  return { mechanism, flag: o.secure && o.available.length > 0 ? "y" : "n" };
}

// ---------------------------------------------------------------- producing the bindings

/** The bindings this TLS connection can give, best first. */
export function availableBindings(socket: tls.TLSSocket): CbType[] {
  const out: CbType[] = [];
  // RFC 9266 §2: tls-exporter with TLS 1.3 (with TLS 1.2 only under extended master secret, which Node does not report).
  if (socket.getProtocol() === "TLSv1.3") out.push(CB_TYPES.tlsExporter);
  if (socket.getFinished()) out.push(CB_TYPES.tlsUnique);
  const cert = socket.getPeerCertificate();
  if (cert?.raw && endPointHash(cert.raw)) out.push(CB_TYPES.tlsServerEndPoint);
  return PREFERENCE.filter((t) => out.includes(t));
}

/** The channel-binding data of `type` on `socket`. */
export function bindingData(socket: tls.TLSSocket, type: CbType): Buffer {
  switch (type) {
    case CB_TYPES.tlsExporter:
      // RFC 9266 §2: 32 bytes, label "EXPORTER-Channel-Binding", no context (Node's context argument is optional; its types say otherwise).
      return (socket.exportKeyingMaterial as (length: number, label: string) => Buffer).call(socket, 32, "EXPORTER-Channel-Binding");
    case CB_TYPES.tlsUnique: {
      // RFC 5929 §3.1: the first Finished message of the latest handshake: ours, or the server's on a resumed session.
      const finished = socket.isSessionReused() ? socket.getPeerFinished() : socket.getFinished();
      if (!finished) throw new AccountError("channel-binding", "tls-unique: no Finished message on this connection");
      return finished;
    }
    case CB_TYPES.tlsServerEndPoint: {
      const raw = socket.getPeerCertificate()?.raw;
      const hash = raw ? endPointHash(raw) : undefined;
      if (!raw || !hash) throw new AccountError("channel-binding", "tls-server-end-point: the server certificate's signature hash is not one RFC 5929 defines");
      return createHash(hash).update(raw).digest();
    }
  }
}

// RFC 5929 §4.1: the hash of the certificate's signatureAlgorithm; MD5 and SHA-1 are replaced by SHA-256.
const SIGNATURE_HASH: Record<string, string> = {
  "1.2.840.113549.1.1.4": "sha256", // md5WithRSAEncryption
  "1.2.840.113549.1.1.5": "sha256", // sha1WithRSAEncryption
  "1.2.840.113549.1.1.14": "sha224",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.1": "sha256", // ecdsa-with-SHA1
  "1.2.840.10045.4.3.1": "sha224",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
};

/** A DER element's tag, where its content starts and its length. */
function tlv(buf: Buffer, at: number): { tag: number; start: number; length: number } {
  const tag = buf[at]!;
  let length = buf[at + 1]!;
  let start = at + 2;
  if (length & 0x80) {
    const n = length & 0x7f;
    if (n < 1 || n > 4) throw new Error("DER: bad length");
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + buf[start + i]!;
    start += n;
  }
  if (start + length > buf.length) throw new Error("DER: truncated");
  return { tag, start, length };
}

function oidText(bytes: Buffer): string {
  const parts: number[] = [Math.floor(bytes[0]! / 40), bytes[0]! % 40];
  let v = 0;
  for (const b of bytes.subarray(1)) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      parts.push(v);
      v = 0;
    }
  }
  return parts.join(".");
}

/** The hash tls-server-end-point uses for this certificate (DER), or undefined (Ed25519, RSA-PSS, unknown). */
export function endPointHash(der: Buffer): string | undefined {
  try {
    // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm AlgorithmIdentifier, signatureValue } (RFC 5280 §4.1)
    const cert = tlv(der, 0);
    const tbs = tlv(der, cert.start);
    const alg = tlv(der, tbs.start + tbs.length);
    const oid = tlv(der, alg.start);
    if (cert.tag !== 0x30 || alg.tag !== 0x30 || oid.tag !== 0x06) return undefined;
    return SIGNATURE_HASH[oidText(der.subarray(oid.start, oid.start + oid.length))];
  } catch {
    return undefined;
  }
}
