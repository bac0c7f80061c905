// RTP packets (RFC 3550 §5.1), header extensions parsed by werift-rtp, plus RTP/RTCP demultiplexing on
// one port (RFC 5761 §4).
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |V=2|P|X|  CC   |M|     PT      |       sequence number         |
// |                           timestamp                           |
// |           synchronization source (SSRC) identifier            |
// |            contributing source (CSRC) identifiers  (CC x 32)  |
// | [extension: profile(16) length(16, in 32-bit words) data...]  |
// | payload ...                    [padding ... | padding count ] |
import { randomBytes } from "node:crypto";
import type { RtpHeader } from "werift-rtp";
import { weriftRtp } from "./werift.js";

export const RTP_VERSION = 2;
const FIXED_HEADER = 12;

export interface ParsedRtp {
  marker: boolean;
  payloadType: number;
  sequenceNumber: number;
  timestamp: number;
  ssrc: number;
  csrc: number[];
  /** the payload, without header, extension and padding (a view into the input) */
  payload: Buffer;
  /** werift's header object, e.g. for RFC 8285 header extensions */
  header: RtpHeader;
}

export interface RtpPacketizerOptions {
  ssrc?: number;
  payloadType: number;
  clockRate: number;
  initialSeq?: number;
  initialTimestamp?: number;
}

function random32(): number {
  return randomBytes(4).readUInt32BE(0);
}

/**
 * A first sequence number below 2^15, as libwebrtc picks it
 * (kMaxInitRtpSeqNumber): the first wrap then comes after at least 32768
 * packets, when the receiver's SRTP index estimate (RFC 3711 §3.3.1) is
 * settled. A start close to 65535 put the wrap among the first packets, and a
 * loss burst across it there can leave a receiver a rollover behind for good.
 */
export const MAX_INITIAL_SEQ = 0x7fff;

function randomInitialSeq(): number {
  return randomBytes(2).readUInt16BE(0) & MAX_INITIAL_SEQ;
}

/**
 * Numbers outgoing frames. SSRC, first sequence number and first timestamp
 * are random unless given (RFC 3550 §5.1: "SHOULD be random" to make
 * known-plaintext attacks on encryption harder and for SSRC uniqueness §8);
 * the sequence number within [0, MAX_INITIAL_SEQ].
 */
export class RtpPacketizer {
  readonly payloadType: number;
  readonly clockRate: number;
  readonly #ssrc: number;
  #seq: number;
  #timestamp: number;
  #packets = 0;
  #octets = 0;

  constructor(opts: RtpPacketizerOptions) {
    checkPayloadType(opts.payloadType);
    this.payloadType = opts.payloadType;
    this.clockRate = opts.clockRate;
    this.#ssrc = (opts.ssrc ?? random32()) >>> 0;
    this.#seq = (opts.initialSeq ?? randomInitialSeq()) & 0xffff;
    this.#timestamp = (opts.initialTimestamp ?? random32()) >>> 0;
  }

  get ssrc(): number {
    return this.#ssrc;
  }
  /** Packets sent so far (RFC 3550 §6.4.1 sender's packet count). */
  get packetsSent(): number {
    return this.#packets;
  }
  /** Payload octets sent so far, headers excluded (RFC 3550 §6.4.1 sender's octet count). */
  get octetsSent(): number {
    return this.#octets;
  }
  /** The sequence number the next packet will carry. */
  get nextSequenceNumber(): number {
    return this.#seq;
  }
  /** The RTP timestamp the next packet will carry. */
  get nextTimestamp(): number {
    return this.#timestamp;
  }

  /** Advance the timestamp by a frame that is not sent. */
  skip(samplesInFrame: number): void {
    this.#timestamp = (this.#timestamp + samplesInFrame) >>> 0;
  }

  /**
   * Wrap one frame. `samplesInFrame` counts at the RTP clock rate and
   * advances the timestamp for the next packet.
   */
  packetize(payload: Buffer, samplesInFrame: number, opts: { marker?: boolean; payloadType?: number; timestamp?: number } = {}): Buffer {
    const payloadType = opts.payloadType ?? this.payloadType;
    if (opts.payloadType !== undefined) checkPayloadType(payloadType);
    // The fixed header written in place: one allocation per packet (the
    // packet is sent asynchronously, so it cannot be a reused buffer).
    const out = Buffer.allocUnsafe(FIXED_HEADER + payload.length);
    out[0] = RTP_VERSION << 6;
    out[1] = (opts.marker ? 0x80 : 0) | payloadType;
    out.writeUInt16BE(this.#seq, 2);
    // An explicit timestamp (RFC 4733 §2.5.1: every packet of an event
    // carries its start) does not stop the media clock from advancing.
    out.writeUInt32BE(opts.timestamp !== undefined ? opts.timestamp >>> 0 : this.#timestamp, 4);
    out.writeUInt32BE(this.#ssrc, 8);
    payload.copy(out, FIXED_HEADER);
    this.#seq = (this.#seq + 1) & 0xffff;
    this.#timestamp = (this.#timestamp + samplesInFrame) >>> 0;
    this.#packets++;
    this.#octets += payload.length;
    return out;
  }
}

function checkPayloadType(pt: number): void {
  if (!Number.isInteger(pt) || pt < 0 || pt > 127) throw new RangeError(`RTP payload type must be 0..127, got ${pt}`);
}

/**
 * Parse an RTP packet; undefined for anything that is not a well-formed RTP
 * version 2 packet. Never throws: the input comes straight from the network.
 * Demultiplex RTCP first (isRtcpPacket): an RTCP packet can look like RTP.
 */
export function parseRtp(buf: Buffer): ParsedRtp | undefined {
  if (buf.length < FIXED_HEADER) return undefined;
  const b0 = buf[0]!;
  if (b0 >> 6 !== RTP_VERSION) return undefined;
  const hasPadding = (b0 & 0x20) !== 0;
  const hasExtension = (b0 & 0x10) !== 0;
  const csrcCount = b0 & 0x0f;
  let payloadStart = FIXED_HEADER + 4 * csrcCount;
  if (payloadStart > buf.length) return undefined;
  if (hasExtension) {
    if (payloadStart + 4 > buf.length) return undefined;
    payloadStart += 4 + 4 * buf.readUInt16BE(payloadStart + 2);
    if (payloadStart > buf.length) return undefined;
  }
  let payloadEnd = buf.length;
  if (hasPadding) {
    // §5.1: the last octet counts the padding octets, itself included.
    const pad = buf[buf.length - 1]!;
    if (pad === 0 || pad > buf.length - payloadStart) return undefined;
    payloadEnd -= pad;
  }
  let header: RtpHeader | undefined;
  if (hasExtension) {
    // RFC 8285 elements are checked by werift's parser; without an extension
    // there is nothing it would refuse, and its header object is built only
    // when asked for.
    try {
      header = weriftRtp().RtpHeader.deSerialize(buf);
    } catch {
      return undefined; // a malformed header extension
    }
  }
  const csrc: number[] = [];
  for (let i = 0; i < csrcCount; i++) csrc.push(buf.readUInt32BE(FIXED_HEADER + 4 * i));
  return new Parsed(buf, csrc, buf.subarray(payloadStart, payloadEnd), header);
}

class Parsed implements ParsedRtp {
  readonly marker: boolean;
  readonly payloadType: number;
  readonly sequenceNumber: number;
  readonly timestamp: number;
  readonly ssrc: number;
  readonly #buf: Buffer;
  #header: RtpHeader | undefined;

  constructor(
    buf: Buffer,
    readonly csrc: number[],
    readonly payload: Buffer,
    header: RtpHeader | undefined,
  ) {
    this.#buf = buf;
    this.#header = header;
    this.marker = (buf[1]! & 0x80) !== 0;
    this.payloadType = buf[1]! & 0x7f;
    this.sequenceNumber = buf.readUInt16BE(2);
    this.timestamp = buf.readUInt32BE(4);
    this.ssrc = buf.readUInt32BE(8);
  }

  get header(): RtpHeader {
    return (this.#header ??= weriftRtp().RtpHeader.deSerialize(this.#buf));
  }
}

/** RTCP packet types occupy 192..223 in the second octet (RFC 5761 §4). */
const RTCP_TYPE_MIN = 192;
const RTCP_TYPE_MAX = 223;
/** The smallest RTCP packet: a 4-octet header and the sender's SSRC (RFC 3550 §6.4.2). */
const RTCP_MIN_LENGTH = 8;

/**
 * RFC 5761 §4: with RTP and RTCP on one port, a packet whose second octet is
 * 192..223 is RTCP (RTP payload types 64..95, which would collide, are not
 * used when multiplexing).
 */
export function isRtcpPacket(buf: Buffer): boolean {
  if (buf.length < RTCP_MIN_LENGTH) return false;
  if (buf[0]! >> 6 !== RTP_VERSION) return false;
  const type = buf[1]!;
  return type >= RTCP_TYPE_MIN && type <= RTCP_TYPE_MAX;
}
