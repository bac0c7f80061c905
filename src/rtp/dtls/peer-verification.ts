// Is the peer who its signalled fingerprint says? Pure checks on what the
// peer sent, used by both handshake roles before anything it sent is acted
// on (table-tested in test/unit/dtls-peer-verification.test.ts):
//
//   certificate   RFC 5763 §5 / RFC 8122 §5: its hash equals the fingerprint
//                 from Jingle (XEP-0320); self-signed, nothing else is checked.
//   server        RFC 8422 §5.4: the ServerKeyExchange signature over
//                 client_random + server_random + ServerECDHParams, by the
//                 certificate's key, of the type its cipher suite names.
//   client        RFC 5246 §7.4.8: the CertificateVerify signature over every
//                 handshake message before it.
//   both          RFC 9155: no MD5 or SHA-1 signature is taken.
import { X509Certificate, timingSafeEqual, verify, constants, type KeyObject } from "node:crypto";
import { fingerprint, isFingerprintHash, matchesFingerprint } from "./certificate.js";
import { CipherSuite, type DigitallySigned } from "./handshake-messages.js";

/** SignatureScheme code points (RFC 8446 §4.2.3; in TLS 1.2 the same two octets are hash and signature algorithm). */
export const SignatureScheme = {
  ecdsaSecp256r1Sha256: 0x0403,
  ecdsaSecp384r1Sha384: 0x0503,
  ecdsaSecp521r1Sha512: 0x0603,
  rsaPssRsaeSha256: 0x0804,
  rsaPssRsaeSha384: 0x0805,
  rsaPssRsaeSha512: 0x0806,
  rsaPkcs1Sha256: 0x0401,
  rsaPkcs1Sha384: 0x0501,
  rsaPkcs1Sha512: 0x0601,
  // Refused (RFC 9155), named for messages and tests:
  rsaPkcs1Sha1: 0x0201,
  ecdsaSha1: 0x0203,
} as const;

interface SchemeInfo {
  hash: "sha256" | "sha384" | "sha512";
  key: "ec" | "rsa";
  pss?: true;
}

const SCHEMES: Record<number, SchemeInfo> = {
  [SignatureScheme.ecdsaSecp256r1Sha256]: { hash: "sha256", key: "ec" },
  [SignatureScheme.ecdsaSecp384r1Sha384]: { hash: "sha384", key: "ec" },
  [SignatureScheme.ecdsaSecp521r1Sha512]: { hash: "sha512", key: "ec" },
  [SignatureScheme.rsaPssRsaeSha256]: { hash: "sha256", key: "rsa", pss: true },
  [SignatureScheme.rsaPssRsaeSha384]: { hash: "sha384", key: "rsa", pss: true },
  [SignatureScheme.rsaPssRsaeSha512]: { hash: "sha512", key: "rsa", pss: true },
  [SignatureScheme.rsaPkcs1Sha256]: { hash: "sha256", key: "rsa" },
  [SignatureScheme.rsaPkcs1Sha384]: { hash: "sha384", key: "rsa" },
  [SignatureScheme.rsaPkcs1Sha512]: { hash: "sha512", key: "rsa" },
};

/** What we take from a peer, preferred first (BoringSSL's order): signature_algorithms and CertificateRequest list these. */
export const ACCEPTED_SIGNATURE_SCHEMES: readonly number[] = [
  SignatureScheme.ecdsaSecp256r1Sha256,
  SignatureScheme.rsaPssRsaeSha256,
  SignatureScheme.rsaPkcs1Sha256,
  SignatureScheme.ecdsaSecp384r1Sha384,
  SignatureScheme.rsaPssRsaeSha384,
  SignatureScheme.rsaPkcs1Sha384,
  SignatureScheme.ecdsaSecp521r1Sha512,
  SignatureScheme.rsaPssRsaeSha512,
  SignatureScheme.rsaPkcs1Sha512,
];

/** RFC 9155 §2: hash octet 1 (MD5) or 2 (SHA-1). */
export function isWeakScheme(scheme: number): boolean {
  const hash = scheme >> 8;
  return hash === 1 || hash === 2;
}

export const schemeName = (scheme: number): string => `0x${scheme.toString(16).padStart(4, "0")}`;

export type Verdict<T> = { ok: true; value: T } | { ok: false; problem: string };

/** The peer's public key, if its certificate is the one the fingerprint names. */
export function peerCertificateKey(chain: readonly Buffer[], expected: { hash: string; value: string }): Verdict<KeyObject> {
  const der = chain[0];
  if (!der) return { ok: false, problem: "peer sent no certificate" };
  if (!matchesFingerprint(der, expected)) {
    const hash = expected.hash.trim().toLowerCase();
    return { ok: false, problem: `peer certificate fingerprint ${isFingerprintHash(hash) ? fingerprint(der, hash) : "?"} does not match the signalled ${expected.hash} ${expected.value}` };
  }
  try {
    return { ok: true, value: new X509Certificate(der).publicKey };
  } catch (err) {
    return { ok: false, problem: `peer certificate unreadable: ${(err as Error).message}` };
  }
}

/** undefined when `signed` is an acceptable signature of `data` by `key`; else why not. */
export function checkSignature(key: KeyObject, signed: DigitallySigned, data: Buffer, what: string): string | undefined {
  if (isWeakScheme(signed.scheme)) return `${what} signed with ${signed.scheme >> 8 === 2 ? "SHA-1" : "MD5"} (scheme ${schemeName(signed.scheme)}), refused (RFC 9155)`;
  const info = SCHEMES[signed.scheme];
  if (!info) return `${what} signed with scheme ${schemeName(signed.scheme)}, which we did not offer`;
  if (key.asymmetricKeyType !== info.key) return `${what} scheme ${schemeName(signed.scheme)} does not fit the ${key.asymmetricKeyType ?? "?"} key of the peer certificate`;
  let good = false;
  try {
    if (info.key === "ec") good = verify(info.hash, data, { key, dsaEncoding: "der" }, signed.signature);
    else if (info.pss) good = verify(info.hash, data, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, signed.signature);
    else good = verify(info.hash, data, key, signed.signature);
  } catch {
    good = false;
  }
  return good ? undefined : `${what} signature does not verify with the peer certificate`;
}

/** RFC 8422 §5.4 and §2: the server's certificate key and signature match the fingerprint and the suite. */
export function verifyServerKeyExchange(o: {
  chain: readonly Buffer[];
  fingerprint: { hash: string; value: string };
  cipherSuite: number;
  clientRandom: Buffer;
  serverRandom: Buffer;
  params: Buffer;
  signed: DigitallySigned;
}): Verdict<KeyObject> {
  const cert = peerCertificateKey(o.chain, o.fingerprint);
  if (!cert.ok) return cert;
  const wantKey = o.cipherSuite === CipherSuite.ecdheRsaAes128Gcm ? "rsa" : "ec";
  if (cert.value.asymmetricKeyType !== wantKey) return { ok: false, problem: `cipher suite ${schemeName(o.cipherSuite)} needs an ${wantKey} certificate, the peer's is ${cert.value.asymmetricKeyType ?? "?"}` };
  const problem = checkSignature(cert.value, o.signed, Buffer.concat([o.clientRandom, o.serverRandom, o.params]), "ServerKeyExchange");
  return problem ? { ok: false, problem } : cert;
}

/** RFC 5246 §7.4.8: the client's signature over the handshake so far, by the fingerprinted certificate's key. */
export function verifyCertificateVerify(o: {
  chain: readonly Buffer[];
  fingerprint: { hash: string; value: string };
  /** Every handshake message before CertificateVerify, as hashed (transcriptBytes). */
  handshakeMessages: Buffer;
  signed: DigitallySigned;
}): Verdict<KeyObject> {
  const cert = peerCertificateKey(o.chain, o.fingerprint);
  if (!cert.ok) return cert;
  const problem = checkSignature(cert.value, o.signed, o.handshakeMessages, "CertificateVerify");
  return problem ? { ok: false, problem } : cert;
}

/** RFC 5246 §7.4.9, compared in constant time. */
export function finishedMatches(expected: Buffer, got: Buffer): boolean {
  return expected.length === got.length && timingSafeEqual(expected, got);
}
