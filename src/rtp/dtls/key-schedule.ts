// The TLS 1.2 key schedule with the SHA-256 PRF (both our cipher suites use
// it): PRF (RFC 5246 §5), master secret (§8.1) or extended master secret
// (RFC 7627 §4), key block for AES-128-GCM records (§6.3, RFC 5288 §3),
// Finished verify_data (§7.4.9), and the exporter that gives SRTP its keys
// (RFC 5705 §4, RFC 5764 §4.2).
import { createHash, createHmac } from "node:crypto";

/** RFC 5246 §5: PRF(secret, label, seed) = P_SHA256(secret, label + seed). */
export function prf(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, "ascii"), seed]);
  const out: Buffer[] = [];
  let a = labelSeed;
  for (let have = 0; have < length; ) {
    a = createHmac("sha256", secret).update(a).digest();
    const block = createHmac("sha256", secret).update(a).update(labelSeed).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

export const sha256 = (data: Buffer): Buffer => createHash("sha256").update(data).digest();

/** RFC 5246 §8.1. */
export function masterSecret(preMaster: Buffer, clientRandom: Buffer, serverRandom: Buffer): Buffer {
  return prf(preMaster, "master secret", Buffer.concat([clientRandom, serverRandom]), 48);
}

/** RFC 7627 §4: bound to the hash of the handshake up to and including ClientKeyExchange. */
export function extendedMasterSecret(preMaster: Buffer, sessionHash: Buffer): Buffer {
  return prf(preMaster, "extended master secret", sessionHash, 48);
}

export interface KeyBlock {
  clientKey: Buffer;
  serverKey: Buffer;
  clientIv: Buffer;
  serverIv: Buffer;
}

/** RFC 5246 §6.3 for an AEAD suite (no MAC keys): AES-128 keys and 4-octet implicit nonces. */
export function keyBlock(master: Buffer, clientRandom: Buffer, serverRandom: Buffer): KeyBlock {
  const b = prf(master, "key expansion", Buffer.concat([serverRandom, clientRandom]), 40);
  return { clientKey: b.subarray(0, 16), serverKey: b.subarray(16, 32), clientIv: b.subarray(32, 36), serverIv: b.subarray(36, 40) };
}

/** RFC 5246 §7.4.9: verify_data over the hash of every handshake message before this Finished. */
export function verifyData(master: Buffer, sender: "client" | "server", transcriptHash: Buffer): Buffer {
  return prf(master, `${sender} finished`, transcriptHash, 12);
}

/** RFC 5705 §4 without a context value, e.g. label EXTRACTOR-dtls_srtp (RFC 5764 §4.2). */
export function exportKeyingMaterial(master: Buffer, clientRandom: Buffer, serverRandom: Buffer, label: string, length: number): Buffer {
  return prf(master, label, Buffer.concat([clientRandom, serverRandom]), length);
}
