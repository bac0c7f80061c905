// Demultiplexing STUN, DTLS and (S)RTP/(S)RTCP arriving on one ICE component:
// RFC 7983 §7 (first-octet ranges, updating RFC 5764 §5.1.2), then RFC 5761 §4
// to tell RTCP from RTP (see isRtcpPacket).
//
//                  +----------------+
//                  |        [0..3] -+--> STUN
//                  |      [16..19] -+--> ZRTP        (not supported: dropped)
//   packet -->     |      [20..63] -+--> DTLS
//                  |      [64..79] -+--> TURN Channel (unwrapped by the ICE library: dropped here)
//                  |    [128..191] -+--> RTP/RTCP
//                  +----------------+    anything else: dropped
import { isRtcpPacket } from "./rtp-packet.js";

export const PACKET_KINDS = ["stun", "dtls", "rtp", "rtcp", "unknown"] as const;
export type PacketKind = (typeof PACKET_KINDS)[number];

/** RFC 5389 §6: a STUN message starts with a 20-octet header. */
const STUN_HEADER = 20;
/** RFC 6347 §4.1: a DTLS record header is 13 octets. */
const DTLS_RECORD_HEADER = 13;
/** RFC 3550 §5.1: the fixed RTP header is 12 octets. */
const RTP_FIXED_HEADER = 12;

/**
 * Classify one datagram by its first octet. Pure and total: never throws, and
 * anything too short for its kind's fixed header is "unknown" (to be dropped).
 */
export function classifyPacket(buf: Buffer): PacketKind {
  if (buf.length === 0) return "unknown";
  const b0 = buf[0]!;
  if (b0 <= 3) return buf.length >= STUN_HEADER ? "stun" : "unknown";
  if (b0 >= 20 && b0 <= 63) return buf.length >= DTLS_RECORD_HEADER ? "dtls" : "unknown";
  if (b0 >= 128 && b0 <= 191) {
    // RFC 5761 §4 first (an RTCP packet also parses as RTP), then the RTP minimum.
    if (isRtcpPacket(buf)) return "rtcp";
    return buf.length >= RTP_FIXED_HEADER ? "rtp" : "unknown";
  }
  return "unknown";
}
