// SRTP session keys from a master key and salt: RFC 3711 §4.3 with
// key_derivation_rate 0 and the AES-CM PRF (§4.3.3), for AES_CM_128 and, with
// a 96-bit master salt, for AEAD_AES_128_GCM (RFC 7714 §11: the salt is
// padded with zeros to 112 bits, as libsrtp does).
import { createCipheriv } from "node:crypto";

const MASTER_KEY_LENGTH = 16;
const BLOCK = 16;

/** RFC 3711 §4.3.2 labels. */
export const KdfLabel = { rtpEncryption: 0, rtpAuth: 1, rtpSalt: 2, rtcpEncryption: 3, rtcpAuth: 4, rtcpSalt: 5 } as const;

/**
 * x = label * 2^48 XOR master salt, and the session key is the AES-CM
 * keystream of the master key with IV = x * 2^16, cut to length.
 */
export function deriveSessionKey(masterKey: Buffer, masterSalt: Buffer, label: number, length: number): Buffer {
  if (masterKey.length !== MASTER_KEY_LENGTH) throw new RangeError(`SRTP master key must be ${MASTER_KEY_LENGTH} octets, got ${masterKey.length}`);
  if (masterSalt.length !== 14 && masterSalt.length !== 12) throw new RangeError(`SRTP master salt must be 14 (AES-CM) or 12 (AES-GCM) octets, got ${masterSalt.length}`);
  const blocks = Math.ceil(length / BLOCK);
  const input = Buffer.alloc(blocks * BLOCK);
  for (let j = 0; j < blocks; j++) {
    const at = j * BLOCK;
    masterSalt.copy(input, at);
    input[at + 7]! ^= label; // label * 2^48 within the 112-bit salt
    input.writeUInt16BE(j, at + 14);
  }
  const ecb = createCipheriv("aes-128-ecb", masterKey, null).setAutoPadding(false);
  return Buffer.concat([ecb.update(input), ecb.final()]).subarray(0, length);
}
