// The self-signed certificate DTLS-SRTP authenticates with (RFC 5763 §5,
// RFC 8122 §5 fingerprints; XEP-0320 carries the fingerprint in Jingle).
// Nobody checks its issuer or names: the peer compares a hash of it with the
// fingerprint we signalled. ECDSA P-256, as browsers use (cheap to make, a
// small handshake; our DTLS signs with it: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256).
//
// Generated with node:crypto alone (a minimal DER encoder below, RFC 5280
// §4.1): no X.509 library to load at start-up. Standard PEM (X.509 v3
// certificate, PKCS#8 key), read back here with node:crypto.
import { X509Certificate, createHash, createPrivateKey, generateKeyPairSync, randomBytes, sign } from "node:crypto";
import { chmod, mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { errorMessage } from "../../util/errors.js";
import type { Logger } from "../../util/logger.js";

export interface DtlsCertificate {
  /** PEM "CERTIFICATE" */
  readonly certPem: string;
  /** PEM PKCS#8 "PRIVATE KEY" (EC P-256) */
  readonly keyPem: string;
  /** The DER bytes the fingerprint is computed over (RFC 8122 §5). */
  readonly der: Buffer;
  readonly notAfter: Date;
}

/** RFC 8122 §5 / RFC 4572 §5 hash function names (MD2 and MD5 are not accepted). */
export const FINGERPRINT_HASHES = ["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"] as const;
export type FingerprintHash = (typeof FINGERPRINT_HASHES)[number];

const NODE_HASH: Record<FingerprintHash, string> = {
  "sha-1": "sha1",
  "sha-224": "sha224",
  "sha-256": "sha256",
  "sha-384": "sha384",
  "sha-512": "sha512",
};

export const CERT_FILE = "dtls-cert.pem";
export const KEY_FILE = "dtls-key.pem";
/** A stored certificate closer than this to expiry is replaced. */
const RENEW_BEFORE_MS = 30 * 24 * 3600 * 1000;

/** How long a new certificate is valid (peers only compare its fingerprint). */
const VALIDITY_MS = 365 * 24 * 3600 * 1000;

export async function createCertificate(commonName = "jingled"): Promise<DtlsCertificate> {
  const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  const now = Date.now();
  const name = der(0x30, der(0x31, der(0x30, OID_COMMON_NAME, der(0x0c, Buffer.from(commonName, "utf8")))));
  const serial = randomBytes(16);
  serial[0]! &= 0x7f; // a positive INTEGER
  serial[0]! |= 0x40; // and no leading zero octet to strip
  const tbs = der(
    0x30,
    der(0xa0, der(0x02, Buffer.from([2]))), // [0] version v3
    der(0x02, serial),
    ECDSA_WITH_SHA256,
    name, // issuer = subject: self-signed
    der(0x30, asn1Time(new Date(now - 3600_000)), asn1Time(new Date(now + VALIDITY_MS))),
    name,
    publicKey.export({ type: "spki", format: "der" }),
  );
  const signature = sign("sha256", tbs, privateKey); // DER ECDSA-Sig-Value
  const cert = der(0x30, tbs, ECDSA_WITH_SHA256, der(0x03, Buffer.from([0]), signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${cert.toString("base64").match(/.{1,64}/g)!.join("\n")}\n-----END CERTIFICATE-----\n`;
  const keyPem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return parseCertificate(certPem, keyPem);
}

// DER (X.690) for the few types a certificate needs.
const OID_COMMON_NAME = Buffer.from("0603550403", "hex"); // 2.5.4.3
const ECDSA_WITH_SHA256 = Buffer.from("300a06082a8648ce3d040302", "hex"); // AlgorithmIdentifier 1.2.840.10045.4.3.2, no parameters

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  const len = n < 0x80 ? Buffer.from([n]) : n < 0x100 ? Buffer.from([0x81, n]) : Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function asn1Time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "");
  return d.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(`${digits.slice(2)}Z`, "ascii")) : der(0x18, Buffer.from(`${digits}Z`, "ascii"));
}

/**
 * Read back and check a PEM pair: the key must be EC P-256 and belong to the
 * certificate. Throws with a readable message otherwise.
 */
export function parseCertificate(certPem: string, keyPem: string): DtlsCertificate {
  const x509 = new X509Certificate(certPem);
  const key = createPrivateKey(keyPem);
  if (key.asymmetricKeyType !== "ec" || key.asymmetricKeyDetails?.namedCurve !== "prime256v1") {
    throw new Error(`DTLS key must be EC P-256, got ${key.asymmetricKeyType} ${key.asymmetricKeyDetails?.namedCurve ?? ""}`.trim());
  }
  if (!x509.checkPrivateKey(key)) throw new Error("DTLS private key does not match the certificate");
  return { certPem, keyPem, der: Buffer.from(x509.raw), notAfter: new Date(x509.validTo) };
}

export function isFingerprintHash(name: string): name is FingerprintHash {
  return (FINGERPRINT_HASHES as readonly string[]).includes(name);
}

/**
 * The fingerprint as SDP (RFC 8122 §5) and XEP-0320 write it: uppercase hex
 * octets joined by colons, e.g. "AB:CD:…".
 */
export function fingerprint(cert: DtlsCertificate | Buffer, hash: FingerprintHash = "sha-256"): string {
  const der = Buffer.isBuffer(cert) ? cert : cert.der;
  const hex = createHash(NODE_HASH[hash]).update(der).digest("hex").toUpperCase();
  return hex.match(/../g)!.join(":");
}

/**
 * Does `der` match a signalled fingerprint? Hash names are case-insensitive
 * (RFC 8122 §5: "sha-256" and "SHA-256" alike), the hex is compared without
 * colons, whitespace or case. An unknown or weak hash never matches.
 */
export function matchesFingerprint(der: Buffer, remote: { hash: string; value: string }): boolean {
  const hash = remote.hash.trim().toLowerCase();
  if (!isFingerprintHash(hash)) return false;
  const want = remote.value.replace(/[:\s]/g, "").toLowerCase();
  return want.length > 0 && want === createHash(NODE_HASH[hash]).update(der).digest("hex");
}

/**
 * Keep one certificate in `dir` (created 0700; files 0600) so our fingerprint
 * stays the same across restarts. A missing, unreadable, mismatched or
 * nearly expired pair is replaced by a fresh one (logged): Jingle signals the
 * fingerprint in every call, so a new one only costs peers nothing.
 */
export async function loadOrCreateCertificate(dir: string, logger?: Logger): Promise<DtlsCertificate> {
  const certPath = join(dir, CERT_FILE);
  const keyPath = join(dir, KEY_FILE);
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
    const cert = parseCertificate(certPem, keyPem);
    if (cert.notAfter.getTime() - Date.now() > RENEW_BEFORE_MS) {
      // Tighten modes a copy or an editor may have loosened: the key is a secret.
      await Promise.all([chmod(certPath, 0o600), chmod(keyPath, 0o600)]);
      return cert;
    }
    logger?.info({ notAfter: cert.notAfter.toISOString() }, "DTLS certificate expires soon; making a new one");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "ENOENT") logger?.warn({ err: errorMessage(err), dir }, "stored DTLS certificate unusable; making a new one");
  }
  const cert = await createCertificate();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Key first, each written to a temporary name and renamed: a crash leaves
  // either the old pair or a pair that fails the match check, never a torn file.
  await writeAtomic(keyPath, cert.keyPem);
  await writeAtomic(certPath, cert.certPem);
  logger?.info({ fingerprint: fingerprint(cert), dir }, "new DTLS certificate");
  return cert;
}

async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, data, { mode: 0o600 });
  await chmod(tmp, 0o600); // a leftover file of that name would keep its old mode
  await rename(tmp, path);
}
