// SRTP and SRTCP with AEAD_AES_128_GCM (RFC 7714), one direction per object.
//
//   RTP:   header | AES-GCM(payload) | tag(16)            AAD = header
//          IV = (00 00 | SSRC | ROC | SEQ) XOR salt        (§8.1)
//   RTCP:  header(8) | AES-GCM(rest) | tag(16) | E|index(4)
//          AAD = header(8) | E|index;  IV = (00 00 | SSRC | 00 00 | 0|index) XOR salt   (§9.1)
//
// Session key and 96-bit session salt from the master key and salt with the
// RFC 3711 KDF (§11; key-derivation.ts). Index estimation, replay check
// before authentication, state committed after it: packet-index.ts, as for
// AES-CM. Node needs a cipher object per packet for GCM (the IV changes).
import { createCipheriv, createDecipheriv } from "node:crypto";
import { KdfLabel, deriveSessionKey } from "./key-derivation.js";
import { ReceiveIndex, RtcpReplay, SendIndex } from "./packet-index.js";
import { rtpHeaderLength, type UnprotectFailure } from "./srtp-context.js";

export const GCM_TAG_LENGTH = 16;
const SESSION_KEY_LENGTH = 16;
const SESSION_SALT_LENGTH = 12;
const SRTCP_INDEX_LENGTH = 4;

interface SessionKeys {
  key: Buffer;
  salt: Buffer;
}

function derive(masterKey: Buffer, masterSalt: Buffer, rtcp: boolean): SessionKeys {
  const base = rtcp ? KdfLabel.rtcpEncryption : KdfLabel.rtpEncryption;
  return { key: deriveSessionKey(masterKey, masterSalt, base, SESSION_KEY_LENGTH), salt: deriveSessionKey(masterKey, masterSalt, base + 2, SESSION_SALT_LENGTH) };
}

/** RFC 7714 §8.1: 00 00 | SSRC | ROC | SEQ, XOR the session salt. */
function rtpIv(salt: Buffer, ssrc: number, roc: number, seq: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(ssrc >>> 0, 2);
  iv.writeUInt32BE(roc >>> 0, 6);
  iv.writeUInt16BE(seq, 10);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
  return iv;
}

/** RFC 7714 §9.1: 00 00 | SSRC | 00 00 | 0 | 31-bit index, XOR the session salt. */
function rtcpIv(salt: Buffer, ssrc: number, index: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(ssrc >>> 0, 2);
  iv.writeUInt32BE(index & 0x7fffffff, 8);
  for (let i = 0; i < 12; i++) iv[i]! ^= salt[i]!;
  return iv;
}

/** Protects what we send (RTP and RTCP). */
export class SrtpGcmSender {
  readonly #rtp: SessionKeys;
  readonly #rtcp: SessionKeys;
  readonly #index = new SendIndex();
  /** RFC 3711 §3.3.2: starts at zero, one per SRTCP packet. */
  #rtcpIndex = 0;

  /** From session keys (the RFC 7714 §16-§17 vectors give these). */
  constructor(rtp: SessionKeys, rtcp: SessionKeys) {
    this.#rtp = rtp;
    this.#rtcp = rtcp;
  }

  static fromMaster(masterKey: Buffer, masterSalt: Buffer): SrtpGcmSender {
    return new SrtpGcmSender(derive(masterKey, masterSalt, false), derive(masterKey, masterSalt, true));
  }

  rolloverCounter(ssrc: number): number {
    return this.#index.rolloverCounter(ssrc);
  }

  protectRtp(plain: Buffer): Buffer | undefined {
    const hl = rtpHeaderLength(plain, plain.length);
    if (hl < 0) return undefined;
    const seq = plain.readUInt16BE(2);
    const ssrc = plain.readUInt32BE(8);
    const roc = this.#index.next(ssrc, seq);
    const c = createCipheriv("aes-128-gcm", this.#rtp.key, rtpIv(this.#rtp.salt, ssrc, roc, seq));
    c.setAAD(plain.subarray(0, hl));
    return Buffer.concat([plain.subarray(0, hl), c.update(plain.subarray(hl)), c.final(), c.getAuthTag()]);
  }

  protectRtcp(plain: Buffer): Buffer | undefined {
    if (plain.length < 8) return undefined;
    const index = this.#rtcpIndex;
    this.#rtcpIndex = (index + 1) & 0x7fffffff;
    const trailer = Buffer.alloc(SRTCP_INDEX_LENGTH);
    trailer.writeUInt32BE((0x80000000 | index) >>> 0); // E = 1: encrypted
    const c = createCipheriv("aes-128-gcm", this.#rtcp.key, rtcpIv(this.#rtcp.salt, plain.readUInt32BE(4), index));
    c.setAAD(Buffer.concat([plain.subarray(0, 8), trailer]));
    return Buffer.concat([plain.subarray(0, 8), c.update(plain.subarray(8)), c.final(), c.getAuthTag(), trailer]);
  }
}

/** Authenticates, replay-checks and decrypts what the peer sends. */
export class SrtpGcmReceiver {
  readonly #rtp: SessionKeys;
  readonly #rtcp: SessionKeys;
  readonly #index = new ReceiveIndex();
  readonly #rtcpReplay = new RtcpReplay();

  constructor(rtp: SessionKeys, rtcp: SessionKeys) {
    this.#rtp = rtp;
    this.#rtcp = rtcp;
  }

  static fromMaster(masterKey: Buffer, masterSalt: Buffer): SrtpGcmReceiver {
    return new SrtpGcmReceiver(derive(masterKey, masterSalt, false), derive(masterKey, masterSalt, true));
  }

  rolloverCounter(ssrc: number): number {
    return this.#index.rolloverCounter(ssrc);
  }

  /** The plain RTP packet (a view into `packet`, decrypted in place), or why it was refused (`packet` unchanged). */
  unprotectRtp(packet: Buffer): Buffer | UnprotectFailure {
    const end = packet.length - GCM_TAG_LENGTH;
    const hl = rtpHeaderLength(packet, end);
    if (hl < 0) return "malformed";
    const seq = packet.readUInt16BE(2);
    const ssrc = packet.readUInt32BE(8);
    const roc = this.#index.estimate(ssrc, seq);
    if (roc < 0) return "replay";
    let plain: Buffer;
    try {
      const d = createDecipheriv("aes-128-gcm", this.#rtp.key, rtpIv(this.#rtp.salt, ssrc, roc, seq));
      d.setAAD(packet.subarray(0, hl));
      d.setAuthTag(packet.subarray(end));
      plain = Buffer.concat([d.update(packet.subarray(hl, end)), d.final()]);
    } catch {
      return "auth";
    }
    this.#index.commit(ssrc, seq, roc);
    plain.copy(packet, hl);
    return packet.subarray(0, end);
  }

  unprotectRtcp(packet: Buffer): Buffer | UnprotectFailure {
    const indexAt = packet.length - SRTCP_INDEX_LENGTH;
    const tagAt = indexAt - GCM_TAG_LENGTH;
    if (tagAt < 8) return "malformed";
    const word = packet.readUInt32BE(indexAt);
    const index = word & 0x7fffffff;
    const ssrc = packet.readUInt32BE(4);
    if (!this.#rtcpReplay.check(ssrc, index)) return "replay";
    const trailer = packet.subarray(indexAt);
    let plain: Buffer;
    try {
      const d = createDecipheriv("aes-128-gcm", this.#rtcp.key, rtcpIv(this.#rtcp.salt, ssrc, index));
      // RFC 7714 §9.2: E = 0 means the whole packet is authenticated only.
      if (word & 0x80000000) {
        d.setAAD(Buffer.concat([packet.subarray(0, 8), trailer]));
        d.setAuthTag(packet.subarray(tagAt, indexAt));
        plain = Buffer.concat([d.update(packet.subarray(8, tagAt)), d.final()]);
      } else {
        d.setAAD(Buffer.concat([packet.subarray(0, tagAt), trailer]));
        d.setAuthTag(packet.subarray(tagAt, indexAt));
        d.final();
        plain = packet.subarray(8, tagAt);
      }
    } catch {
      return "auth";
    }
    this.#rtcpReplay.accept(ssrc, index);
    plain.copy(packet, 8);
    return packet.subarray(0, 8 + plain.length);
  }
}
