// What DTLS-SRTP hands media to once keys are agreed: one SRTP/SRTCP session
// (both directions). Every implementation (srtp-profiles.ts lists them) is
// built the same way: RFC 3711 Appendix A index estimation, the replay check
// before authentication, and state committed only after it (packet-index.ts).

/** Why an incoming packet was refused. */
export type UnprotectFailure = "malformed" | "auth" | "replay";

export interface SrtpContext {
  /** The SRTP packet for one plain RTP packet; undefined if it is not one. */
  protectRtp(plain: Buffer): Buffer | undefined;
  /** The SRTCP packet for one plain RTCP (compound) packet; undefined if it is too short. */
  protectRtcp(plain: Buffer): Buffer | undefined;
  /** The plain RTP packet (may be a view into `packet`, which may be overwritten), or why not. */
  unprotectRtp(packet: Buffer): Buffer | UnprotectFailure;
  unprotectRtcp(packet: Buffer): Buffer | UnprotectFailure;
}

/** Octets of the RTP header (fixed, CSRCs, extension; RFC 3550 §5.1, §5.3.1), or -1 when it does not fit in `limit`. */
export function rtpHeaderLength(p: Buffer, limit: number): number {
  if (limit < 12 || p[0]! >> 6 !== 2) return -1;
  let at = 12 + 4 * (p[0]! & 0x0f);
  if (p[0]! & 0x10) {
    if (at + 4 > limit) return -1;
    at += 4 + 4 * p.readUInt16BE(at + 2);
  }
  return at <= limit ? at : -1;
}
