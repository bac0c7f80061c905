// ICE short-term credentials: ours, and the check that an incoming
// connectivity check was made with them.
//
// - Our ufrag/password (RFC 8445 §5.3): at least 24 bits of randomness in the
//   ufrag and 128 in the password, from a CSPRNG, in ice-chars (RFC 8839
//   §5.4: ALPHA / DIGIT / "+" / "/"). werift-ice's own are 4 and 22 hex
//   characters (16 and 88 bits): a ufrag was brute-forced in about 2 s.
// - A Binding request is a check of our peer only if it verifies on its raw
//   bytes (RFC 8445 §7.3, RFC 5389 §10.1.2): USERNAME "<our ufrag>:<theirs>"
//   (§7.2.2), MESSAGE-INTEGRITY an HMAC-SHA1 with our password over the
//   message up to it, the header length counting up to its end (RFC 5389
//   §15.4), and FINGERPRINT right after it as the last attribute (§15.5,
//   RFC 8445 §7.1: "MUST be used for connectivity checks"). Nothing may
//   follow MESSAGE-INTEGRITY but FINGERPRINT (and RFC 8489's
//   MESSAGE-INTEGRITY-SHA256): otherwise an on-path attacker could append
//   USE-CANDIDATE or a role attribute to a genuine check, recompute the
//   (unkeyed) CRC, and the library behind us would act on it.
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { crc32 } from "node:zlib";

export interface LocalCredentials {
  ufrag: string;
  pwd: string;
}

/** 48-bit ufrag (8 ice-chars) and 144-bit password (24 ice-chars): above RFC 8445 §5.3's 24 and 128. */
export function newLocalCredentials(): LocalCredentials {
  // Base64 of a multiple of 3 bytes: no padding, only ice-chars.
  return { ufrag: randomBytes(6).toString("base64"), pwd: randomBytes(18).toString("base64") };
}

export const CHECK_REJECTIONS = {
  notBindingRequest: "not-binding-request",
  malformed: "malformed",
  noUsername: "no-username",
  unknownUfrag: "unknown-ufrag",
  wrongRemoteUfrag: "wrong-remote-ufrag",
  noIntegrity: "no-integrity",
  badIntegrity: "bad-integrity",
  noFingerprint: "no-fingerprint",
  badFingerprint: "bad-fingerprint",
  noPriority: "no-priority",
} as const;
export type CheckRejection = (typeof CHECK_REJECTIONS)[keyof typeof CHECK_REJECTIONS];

export type CheckVerdict = { ok: true } | { ok: false; reason: CheckRejection };

const HEADER = 20;
const MAGIC_COOKIE = 0x2112a442;
const BINDING_REQUEST = 0x0001;
const ATTR = { username: 0x0006, messageIntegrity: 0x0008, messageIntegritySha256: 0x001c, priority: 0x0024, fingerprint: 0x8028 } as const;
const FINGERPRINT_XOR = 0x5354554e;

/** True when `d` looks like STUN at all (RFC 7983: first byte 0–3; RFC 5389 §6: magic cookie). */
export function isStun(d: Buffer): boolean {
  return d.length >= HEADER && d[0]! <= 3 && d.readUInt32BE(4) === MAGIC_COOKIE;
}

const reject = (reason: CheckRejection): CheckVerdict => ({ ok: false, reason });

/**
 * Whether `d` is a connectivity check made with `local` (and naming
 * `remoteUfrag` as the sender's, when given). Cheap tests first: a stranger
 * who does not know our ufrag costs no HMAC.
 */
export function verifyCheck(d: Buffer, local: LocalCredentials, remoteUfrag?: string): CheckVerdict {
  if (!isStun(d) || d.readUInt16BE(0) !== BINDING_REQUEST) return reject(CHECK_REJECTIONS.notBindingRequest);
  if (d.readUInt16BE(2) !== d.length - HEADER || d.length % 4 !== 0) return reject(CHECK_REJECTIONS.malformed);
  let username: Buffer | undefined;
  let priority = false;
  let integrityAt = -1;
  let fingerprintAt = -1;
  for (let pos = HEADER; pos < d.length; ) {
    if (pos + 4 > d.length) return reject(CHECK_REJECTIONS.malformed);
    const type = d.readUInt16BE(pos);
    const len = d.readUInt16BE(pos + 2);
    const end = pos + 4 + len + ((4 - (len % 4)) % 4);
    if (end > d.length) return reject(CHECK_REJECTIONS.malformed);
    // RFC 5389 §15.4/§15.5 (RFC 8489 §14.5/§14.6): after MESSAGE-INTEGRITY only FINGERPRINT, and nothing after FINGERPRINT.
    if (fingerprintAt >= 0) return reject(CHECK_REJECTIONS.malformed);
    if (integrityAt >= 0 && type !== ATTR.fingerprint && type !== ATTR.messageIntegritySha256) return reject(CHECK_REJECTIONS.malformed);
    if (type === ATTR.username) {
      if (username) return reject(CHECK_REJECTIONS.malformed);
      username = d.subarray(pos + 4, pos + 4 + len);
    } else if (type === ATTR.priority) {
      if (priority || len !== 4) return reject(CHECK_REJECTIONS.malformed);
      priority = true;
    } else if (type === ATTR.messageIntegrity) {
      if (len !== 20 || integrityAt >= 0) return reject(CHECK_REJECTIONS.malformed);
      integrityAt = pos;
    } else if (type === ATTR.fingerprint) {
      if (len !== 4) return reject(CHECK_REJECTIONS.malformed);
      fingerprintAt = pos;
    }
    pos = end;
  }
  if (!username) return reject(CHECK_REJECTIONS.noUsername);
  const name = username.toString("utf8");
  const colon = name.indexOf(":");
  if (colon < 0 || name.slice(0, colon) !== local.ufrag) return reject(CHECK_REJECTIONS.unknownUfrag);
  if (integrityAt < 0) return reject(CHECK_REJECTIONS.noIntegrity);
  if (fingerprintAt < 0) return reject(CHECK_REJECTIONS.noFingerprint);
  const crc = (crc32(d.subarray(0, fingerprintAt)) ^ FINGERPRINT_XOR) >>> 0;
  if (d.readUInt32BE(fingerprintAt + 4) !== crc) return reject(CHECK_REJECTIONS.badFingerprint);
  const signed = Buffer.from(d.subarray(0, integrityAt));
  signed.writeUInt16BE(integrityAt + 24 - HEADER, 2);
  const mac = createHmac("sha1", Buffer.from(local.pwd, "utf8")).update(signed).digest();
  if (!timingSafeEqual(mac, d.subarray(integrityAt + 4, integrityAt + 24))) return reject(CHECK_REJECTIONS.badIntegrity);
  // Only now is the rest of the message the peer's word.
  if (remoteUfrag !== undefined && name.slice(colon + 1) !== remoteUfrag) return reject(CHECK_REJECTIONS.wrongRemoteUfrag);
  // RFC 8445 §7.1.1: a check MUST carry PRIORITY (a learned peer-reflexive candidate takes it).
  if (!priority) return reject(CHECK_REJECTIONS.noPriority);
  return { ok: true };
}
