// The SRTP protection profiles DTLS-SRTP can negotiate (RFC 5764 §4.1.2,
// RFC 7714 §14.2) and the SrtpContext each one gets:
//
//   SRTP_AES128_CM_HMAC_SHA1_80  srtp-cm.ts   (RFC 3711)
//   AEAD_AES_128_GCM             srtp-gcm.ts  (RFC 7714)
import { SrtpCmReceiver, SrtpCmSender } from "./srtp-cm.js";
import { SrtpGcmReceiver, SrtpGcmSender } from "./srtp-gcm.js";
import type { SrtpContext } from "./srtp-context.js";

/** RFC 5764 §4.1.2 and RFC 7714 §14.2 protection profile ids. */
export const SRTP_PROFILES = {
  SRTP_AES128_CM_HMAC_SHA1_80: 0x0001,
  AEAD_AES_128_GCM: 0x0007,
} as const;
export type SrtpProfileName = keyof typeof SRTP_PROFILES;
export type SrtpProfileId = (typeof SRTP_PROFILES)[SrtpProfileName];

/** Master key and salt lengths (RFC 3711 §8.2, RFC 7714 §12): what the DTLS exporter must give. */
export const MASTER_LENGTHS: Record<SrtpProfileId, { key: number; salt: number }> = { 1: { key: 16, salt: 14 }, 7: { key: 16, salt: 12 } };

export function profileName(id: number): SrtpProfileName | undefined {
  return (Object.keys(SRTP_PROFILES) as SrtpProfileName[]).find((n) => SRTP_PROFILES[n] === id);
}

export interface SrtpMasterKeys {
  /** Protects what we send. */
  localKey: Buffer;
  localSalt: Buffer;
  /** Protects what the peer sends. */
  remoteKey: Buffer;
  remoteSalt: Buffer;
}

/** Both directions of one SRTP session; the local keys protect what we send. */
export function createSrtpContext(profile: SrtpProfileId, k: SrtpMasterKeys): SrtpContext {
  const [tx, rx] =
    profile === SRTP_PROFILES.AEAD_AES_128_GCM
      ? [SrtpGcmSender.fromMaster(k.localKey, k.localSalt), SrtpGcmReceiver.fromMaster(k.remoteKey, k.remoteSalt)]
      : [new SrtpCmSender(k.localKey, k.localSalt), new SrtpCmReceiver(k.remoteKey, k.remoteSalt)];
  return {
    protectRtp: (p) => tx.protectRtp(p),
    protectRtcp: (p) => tx.protectRtcp(p),
    unprotectRtp: (p) => rx.unprotectRtp(p),
    unprotectRtcp: (p) => rx.unprotectRtcp(p),
  };
}

