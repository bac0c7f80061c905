// RTCP packets (RFC 3550 §6.4 SR/RR, §6.5 SDES, §6.6 BYE) and compound
// packets (§6.1), on werift-rtp's RTCP classes. werift has no BYE class: BYE
// is built and parsed here.
//
//  Report block (§6.4.1), 24 octets, one per source heard:
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |                 SSRC_1 (SSRC of first source)                 |
// | fraction lost |       cumulative number of packets lost       |
// |           extended highest sequence number received           |
// |                      interarrival jitter                      |
// |                         last SR (LSR)                         |
// |                   delay since last SR (DLSR)                  |
import type { RtcpReceiverInfo } from "werift-rtp";
import { weriftRtp } from "./werift.js";

export const RtcpType = { SR: 200, RR: 201, SDES: 202, BYE: 203, APP: 204 } as const;
export type RtcpType = (typeof RtcpType)[keyof typeof RtcpType];

/** §6.5.1 SDES item type CNAME. */
const SDES_CNAME = 1;

export interface ReportBlock {
  ssrc: number;
  /** 0..255, fraction of 256 */
  fractionLost: number;
  /** signed, 24 bits */
  packetsLost: number;
  highestSequence: number;
  /** timestamp units */
  jitter: number;
  lsr: number;
  dlsr: number;
}

export interface SenderInfo {
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

export type RtcpMessage =
  | { type: "sr"; ssrc: number; sender: SenderInfo; reports: ReportBlock[] }
  | { type: "rr"; ssrc: number; reports: ReportBlock[] }
  | { type: "sdes"; chunks: { ssrc: number; cname?: string }[] }
  | { type: "bye"; ssrcs: number[]; reason?: string }
  | { type: "other"; packetType: number };

function toReceiverInfo(r: ReportBlock): RtcpReceiverInfo {
  return new (weriftRtp().RtcpReceiverInfo)({
    ssrc: r.ssrc >>> 0,
    fractionLost: Math.max(0, Math.min(255, Math.round(r.fractionLost))),
    packetsLost: r.packetsLost & 0xffffff, // two's complement in 24 bits
    highestSequence: r.highestSequence >>> 0,
    jitter: Math.max(0, Math.round(r.jitter)) >>> 0,
    lsr: r.lsr >>> 0,
    dlsr: r.dlsr >>> 0,
  });
}

function fromReceiverInfo(r: RtcpReceiverInfo): ReportBlock {
  const lost = r.packetsLost >= 0x800000 ? r.packetsLost - 0x1000000 : r.packetsLost;
  return {
    ssrc: r.ssrc >>> 0,
    fractionLost: r.fractionLost,
    packetsLost: lost,
    highestSequence: r.highestSequence >>> 0,
    jitter: r.jitter >>> 0,
    lsr: r.lsr >>> 0,
    dlsr: r.dlsr >>> 0,
  };
}

export function buildSenderReport(ssrc: number, sender: SenderInfo, reports: ReportBlock[]): Buffer {
  return new (weriftRtp().RtcpSrPacket)({
    ssrc: ssrc >>> 0,
    senderInfo: new (weriftRtp().RtcpSenderInfo)({
      ntpTimestamp: sender.ntpTimestamp,
      rtpTimestamp: sender.rtpTimestamp >>> 0,
      packetCount: sender.packetCount >>> 0,
      octetCount: sender.octetCount >>> 0,
    }),
    reports: reports.map(toReceiverInfo),
  }).serialize();
}

export function buildReceiverReport(ssrc: number, reports: ReportBlock[]): Buffer {
  return new (weriftRtp().RtcpRrPacket)({ ssrc: ssrc >>> 0, reports: reports.map(toReceiverInfo) }).serialize();
}

/**
 * §6.5: one chunk with a CNAME item. The item list must end in at least one
 * null octet; werift pads a chunk to 32 bits but adds no terminator when it
 * is already aligned, so a terminator is forced here by the CNAME length.
 */
export function buildSdes(ssrc: number, cname: string): Buffer {
  let text = cname;
  // 4 (SSRC) + 2 (type, length) + text: must not be a multiple of 4.
  if ((6 + Buffer.byteLength(text)) % 4 === 0) text += "=";
  return new (weriftRtp().RtcpSourceDescriptionPacket)({
    chunks: [new (weriftRtp().SourceDescriptionChunk)({ source: ssrc >>> 0, items: [new (weriftRtp().SourceDescriptionItem)({ type: SDES_CNAME, text })] })],
  }).serialize();
}

/** §6.6 BYE: the SSRCs leaving, and an optional reason (at most 255 octets). */
export function buildBye(ssrcs: number[], reason?: string): Buffer {
  const parts: Buffer[] = ssrcs.map((s) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(s >>> 0);
    return b;
  });
  if (reason) {
    const text = Buffer.from(reason, "utf8").subarray(0, 255);
    parts.push(Buffer.from([text.length]), text);
  }
  let payload = Buffer.concat(parts);
  if (payload.length % 4) payload = Buffer.concat([payload, Buffer.alloc(4 - (payload.length % 4))]);
  return weriftRtp().RtcpHeader.serialize(RtcpType.BYE, ssrcs.length, payload, payload.length / 4);
}

/** §6.1: packets of a compound packet are simply concatenated. */
export function compound(...packets: Buffer[]): Buffer {
  return Buffer.concat(packets);
}

/**
 * Parse a compound RTCP packet. Never throws: malformed or truncated parts
 * end the parse and whatever was read before is returned.
 */
export function parseRtcp(buf: Buffer): RtcpMessage[] {
  const out: RtcpMessage[] = [];
  let pos = 0;
  while (pos + 4 <= buf.length) {
    const b0 = buf[pos]!;
    if (b0 >> 6 !== 2) break;
    const padding = (b0 & 0x20) !== 0;
    const count = b0 & 0x1f;
    const type = buf[pos + 1]!;
    const words = buf.readUInt16BE(pos + 2);
    const end = pos + 4 + words * 4;
    if (end > buf.length) break;
    let payload = buf.subarray(pos + 4, end);
    if (padding && payload.length > 0) {
      const pad = payload[payload.length - 1]!;
      if (pad > payload.length) break;
      payload = payload.subarray(0, payload.length - pad);
    }
    try {
      out.push(parseOne(type, count, payload));
    } catch {
      break;
    }
    pos = end;
  }
  return out;
}

function parseOne(type: number, count: number, payload: Buffer): RtcpMessage {
  switch (type) {
    case RtcpType.SR: {
      if (payload.length < 24 + count * 24) throw new RangeError("short SR");
      const sr = weriftRtp().RtcpSrPacket.deSerialize(payload, count);
      const si = sr.senderInfo;
      return {
        type: "sr",
        ssrc: sr.ssrc >>> 0,
        sender: { ntpTimestamp: BigInt(si.ntpTimestamp), rtpTimestamp: si.rtpTimestamp, packetCount: si.packetCount, octetCount: si.octetCount },
        reports: sr.reports.map(fromReceiverInfo),
      };
    }
    case RtcpType.RR: {
      if (payload.length < 4 + count * 24) throw new RangeError("short RR");
      const rr = weriftRtp().RtcpRrPacket.deSerialize(payload, count);
      return { type: "rr", ssrc: rr.ssrc >>> 0, reports: rr.reports.map(fromReceiverInfo) };
    }
    case RtcpType.SDES: {
      const chunks: { ssrc: number; cname?: string }[] = [];
      let p = 0;
      for (let i = 0; i < count && p + 4 <= payload.length; i++) {
        const ssrc = payload.readUInt32BE(p);
        p += 4;
        let cname: string | undefined;
        while (p < payload.length && payload[p] !== 0) {
          if (p + 2 > payload.length) throw new RangeError("short SDES item");
          const t = payload[p]!;
          const len = payload[p + 1]!;
          if (p + 2 + len > payload.length) throw new RangeError("short SDES item");
          if (t === SDES_CNAME) cname = payload.toString("utf8", p + 2, p + 2 + len);
          p += 2 + len;
        }
        p += 1; // the null terminator
        p = (p + 3) & ~3; // chunks are 32-bit aligned
        chunks.push(cname !== undefined ? { ssrc, cname } : { ssrc });
      }
      return { type: "sdes", chunks };
    }
    case RtcpType.BYE: {
      if (payload.length < count * 4) throw new RangeError("short BYE");
      const ssrcs: number[] = [];
      for (let i = 0; i < count; i++) ssrcs.push(payload.readUInt32BE(i * 4));
      const r = count * 4;
      if (r < payload.length) {
        const len = payload[r]!;
        const text = payload.toString("utf8", r + 1, Math.min(payload.length, r + 1 + len));
        return { type: "bye", ssrcs, reason: text };
      }
      return { type: "bye", ssrcs };
    }
    default:
      return { type: "other", packetType: type };
  }
}
