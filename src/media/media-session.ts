// The media of one call: a clocked send path (source -> encoder -> RTP) and a
// clocked receive path (RTP -> playout buffer -> decoder/concealment -> sink).
// Transport-agnostic: packets go out through `send` and come in through
// `receive`, so ICE, DTLS/SRTP or a test harness can sit underneath.
import type { CodecDescriptor, AudioDecoder, AudioEncoder } from "./codecs/codec.js";
import type { AudioSource } from "./sources/source.js";
import type { AudioSink } from "./sinks/sink.js";
import { PlayoutBuffer } from "./playout-buffer.js";
import { RtpPacketizer, isRtcpPacket, parseRtp } from "../rtp/rtp-packet.js";
import type { FrameClock } from "../util/frame-clock.js";
import type { Logger } from "../util/logger.js";

export const FRAME_MS = 20;

export interface MediaSessionOptions {
  codec: CodecDescriptor;
  /** Payload type negotiated for the codec (the offerer's number). */
  payloadType: number;
  source: AudioSource;
  sink: AudioSink;
  clock: FrameClock;
  send: (packet: Buffer) => void;
  jitterFrames: number;
  logger: Logger;
}

export interface MediaStats {
  codec: string;
  payloadType: number;
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  bytesReceived: number;
  packetsLost: number;
  packetsLate: number;
  packetsDuplicate: number;
  /** Packets dropped before the playout buffer: wrong SSRC, wrong payload type, not RTP. */
  packetsDiscarded: number;
  framesConcealed: number;
  framesPlayed: number;
  /** Times the playout buffer ran dry after the stream started (each re-buffers). */
  underruns: number;
  /** Longest gap between two media clock ticks: event-loop stalls show here. */
  maxTickGapMs: number;
  localSsrc: number;
  remoteSsrc?: number;
}

export class MediaSession {
  readonly #o: MediaSessionOptions;
  readonly #encoder: AudioEncoder;
  readonly #decoder: AudioDecoder;
  readonly #packetizer: RtpPacketizer;
  readonly #playout: PlayoutBuffer;
  readonly #frameSamples: number;
  readonly #rtpSamplesPerFrame: number;
  #unsubscribe: (() => void) | undefined;
  #remoteSsrc: number | undefined;
  #muted = false;
  #stopped = false;
  #first = { sent: false, received: false };
  readonly #stats = { packetsReceived: 0, bytesReceived: 0, packetsDiscarded: 0, framesConcealed: 0, framesPlayed: 0 };
  #lastTick: number | undefined;
  #ticks = 0;
  #maxTickGap = 0;
  /** Called once, when the first frame from the peer has been decoded. */
  onFirstAudio?: () => void;

  constructor(opts: MediaSessionOptions) {
    this.#o = opts;
    this.#encoder = opts.codec.createEncoder({ ptimeMs: FRAME_MS });
    this.#decoder = opts.codec.createDecoder();
    this.#frameSamples = (opts.codec.pcmRate * FRAME_MS) / 1000;
    this.#rtpSamplesPerFrame = (opts.codec.clockRate * FRAME_MS) / 1000;
    this.#packetizer = new RtpPacketizer({ payloadType: opts.payloadType, clockRate: opts.codec.clockRate });
    this.#playout = new PlayoutBuffer({ targetFrames: opts.jitterFrames });
  }

  start(): void {
    if (this.#unsubscribe || this.#stopped) return;
    this.#unsubscribe = this.#o.clock.subscribe(() => this.#tick());
  }

  set muted(v: boolean) {
    this.#muted = v;
  }

  /** An incoming datagram from the transport (RTP or RTCP). Never throws. */
  receive(packet: Buffer): void {
    if (this.#stopped) return;
    if (isRtcpPacket(packet)) return; // RTCP reports arrive in a later issue's statistics
    const rtp = parseRtp(packet);
    if (!rtp || rtp.payloadType !== this.#o.payloadType) {
      this.#stats.packetsDiscarded++;
      return;
    }
    // Plain RTP has no authentication: lock on to the first SSRC (RFC 3550 §8.2
    // collisions aside, a second source on this port is not our peer).
    if (this.#remoteSsrc === undefined) this.#remoteSsrc = rtp.ssrc;
    else if (rtp.ssrc !== this.#remoteSsrc) {
      this.#stats.packetsDiscarded++;
      return;
    }
    this.#stats.packetsReceived++;
    this.#stats.bytesReceived += packet.length;
    this.#playout.push({ seq: rtp.sequenceNumber, timestamp: rtp.timestamp, payload: rtp.payload, arrivalMs: performance.now() });
  }

  #tick(): void {
    if (this.#stopped) return;
    const now = performance.now();
    if (this.#lastTick !== undefined) {
      const gap = now - this.#lastTick;
      if (gap > this.#maxTickGap) this.#maxTickGap = gap;
      if (gap > 2 * FRAME_MS) this.#o.logger.debug({ gapMs: Math.round(gap), frame: this.#ticks }, "media clock stalled");
    }
    this.#ticks++;
    this.#lastTick = now;
    // Send path.
    const pcm = this.#o.source.read(this.#frameSamples);
    const frame = this.#muted ? new Int16Array(this.#frameSamples) : pcm;
    const payload = this.#encoder.encode(frame);
    const packet = this.#packetizer.packetize(payload, this.#rtpSamplesPerFrame, { marker: !this.#first.sent });
    this.#first.sent = true;
    this.#o.send(packet);

    // Receive path.
    const out = this.#playout.pop();
    if (out.kind === "packet") {
      let decoded: Int16Array;
      try {
        decoded = this.#decoder.decode(out.payload);
      } catch {
        decoded = this.#decoder.conceal(this.#frameSamples);
        this.#stats.framesConcealed++;
      }
      this.#stats.framesPlayed++;
      this.#o.sink.write(decoded);
      if (!this.#first.received) {
        this.#first.received = true;
        this.onFirstAudio?.();
      }
    } else if (out.kind === "lost") {
      this.#stats.framesConcealed++;
      this.#o.sink.write(this.#decoder.conceal(this.#frameSamples));
    } else if (this.#first.received) {
      // Underrun after the stream started: keep the sink's time line continuous.
      this.#o.sink.write(new Int16Array(this.#frameSamples));
    }
  }

  stats(): MediaStats {
    const pb = this.#playout.stats;
    return {
      codec: this.#o.codec.name,
      payloadType: this.#o.payloadType,
      packetsSent: this.#packetizer.packetsSent,
      bytesSent: this.#packetizer.octetsSent,
      packetsReceived: this.#stats.packetsReceived,
      bytesReceived: this.#stats.bytesReceived,
      packetsLost: pb.lost,
      packetsLate: pb.late,
      packetsDuplicate: pb.duplicate,
      packetsDiscarded: this.#stats.packetsDiscarded,
      framesConcealed: this.#stats.framesConcealed,
      framesPlayed: this.#stats.framesPlayed,
      underruns: pb.underruns,
      maxTickGapMs: Math.round(this.#maxTickGap * 10) / 10,
      localSsrc: this.#packetizer.ssrc,
      ...(this.#remoteSsrc !== undefined ? { remoteSsrc: this.#remoteSsrc } : {}),
    };
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#encoder.close();
    this.#decoder.close();
    this.#o.source.close();
    await this.#o.sink.close();
  }
}
