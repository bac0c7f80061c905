// Ephemeral ECDH for the handshake (RFC 8422 §5.4, §5.10): X25519 (RFC 7748)
// and P-256 (uncompressed points, RFC 8422 §5.4.1), on node:crypto.
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync } from "node:crypto";
import { NamedGroup } from "./handshake-messages.js";

/** Preferred first: X25519 is what Chromium and GnuTLS pick too. */
export const SUPPORTED_GROUPS: readonly number[] = [NamedGroup.x25519, NamedGroup.secp256r1];

export interface EcdheKey {
  readonly group: number;
  /** As it goes on the wire: 32 octets (X25519) or an uncompressed point (P-256). */
  readonly publicKey: Buffer;
  /** The premaster secret with the peer's public key; undefined for an invalid key. */
  computeSecret(peerPublicKey: Buffer): Buffer | undefined;
}

// SubjectPublicKeyInfo for X25519 before the 32 key octets (RFC 8410 §4).
const X25519_SPKI = Buffer.from("302a300506032b656e032100", "hex");

export function generateEcdhe(group: number): EcdheKey {
  if (group === NamedGroup.x25519) {
    const { privateKey, publicKey } = generateKeyPairSync("x25519");
    return {
      group,
      publicKey: publicKey.export({ format: "der", type: "spki" }).subarray(X25519_SPKI.length),
      computeSecret(peer) {
        if (peer.length !== 32) return undefined;
        try {
          const secret = diffieHellman({ privateKey, publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI, peer]), format: "der", type: "spki" }) });
          // RFC 7748 §6.1: an all-zero result means a low-order point.
          return secret.some((b) => b !== 0) ? secret : undefined;
        } catch {
          return undefined;
        }
      },
    };
  }
  if (group === NamedGroup.secp256r1) {
    const ecdh = createECDH("prime256v1");
    ecdh.generateKeys();
    return {
      group,
      publicKey: ecdh.getPublicKey(),
      computeSecret(peer) {
        if (peer.length !== 65 || peer[0] !== 4) return undefined; // RFC 8422 §5.4.1: uncompressed only
        try {
          return ecdh.computeSecret(peer); // throws for a point not on the curve
        } catch {
          return undefined;
        }
      },
    };
  }
  throw new RangeError(`unsupported group ${group}`);
}
