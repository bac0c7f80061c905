// The send half of a call's media: source (+ a file being played into the
// call, mixed or instead) -> mute -> packets of the negotiated ptime ->
// encoder -> RTP; DTMF events replace the audio while they last. One tick()
// per 20 ms media frame; returns the RTP packets to send (pure apart from
// the encoder and the sources).
import type { AudioEncoder, CodecDescriptor, EncoderOptions } from "./codecs/codec.js";
import type { AudioSource } from "./sources/source.js";
import { DtmfSender } from "./dtmf-sender.js";
import { RtpPacketizer } from "../rtp/rtp-packet.js";

export const PlayMode = { Replace: "replace", Mix: "mix" } as const;
export type PlayMode = (typeof PlayMode)[keyof typeof PlayMode];

export interface SendPathOptions {
  codec: CodecDescriptor;
  payloadType: number;
  source: AudioSource;
  /** the media tick, ms */
  frameMs?: number;
  /** audio per packet, ms (the peer's ptime); one of codec.ptimes */
  ptimeMs?: number;
  encoder?: Omit<EncoderOptions, "ptimeMs">;
  telephoneEvent?: { payloadType: number; clockRate: number };
  dtmf?: { toneMs?: number; gapMs?: number };
  ssrc?: number;
}

interface Playing {
  source: AudioSource;
  mode: PlayMode;
}

export class SendPath {
  readonly packetizer: RtpPacketizer;
  readonly ptimeMs: number;
  readonly dtmf: DtmfSender | undefined;
  readonly #o: SendPathOptions;
  readonly #encoder: AudioEncoder;
  readonly #frameSamples: number;
  readonly #packetSamples: number;
  readonly #rtpPerPacket: number;
  readonly #dtx: boolean;
  #source: AudioSource;
  #playing: Playing | undefined;
  #muted = false;
  /** Sources' frames wait here until a packet's worth is there; nothing here is written to. */
  #pending: Int16Array[] = [];
  #silence = new Int16Array(0);
  #pendingLen = 0;
  /** Next audio packet starts a talkspurt (RFC 3551 §4.1: marker bit). */
  #talkspurt = true;
  /** Frames the encoder produced but DTX left unsent. */
  dtxSkipped = 0;
  /** Payload octets and packets sent (RFC 3550 §6.4.1 sender counts). */
  octets = 0;
  packets = 0;

  constructor(opts: SendPathOptions) {
    this.#o = opts;
    const frameMs = opts.frameMs ?? 20;
    this.ptimeMs = opts.ptimeMs ?? 20;
    if (!opts.codec.ptimes.includes(this.ptimeMs)) {
      throw new RangeError(`${opts.codec.name} cannot send ${this.ptimeMs} ms packets (valid: ${opts.codec.ptimes.join(", ")})`);
    }
    this.#encoder = opts.codec.createEncoder({ ...opts.encoder, ptimeMs: this.ptimeMs });
    this.#dtx = opts.encoder?.dtx ?? false;
    this.#frameSamples = Math.round((opts.codec.pcmRate * frameMs) / 1000);
    this.#packetSamples = this.#encoder.frameSamples;
    this.#rtpPerPacket = Math.round((opts.codec.clockRate * this.ptimeMs) / 1000);
    this.packetizer = new RtpPacketizer({
      payloadType: opts.payloadType,
      clockRate: opts.codec.clockRate,
      ...(opts.ssrc !== undefined ? { ssrc: opts.ssrc } : {}),
    });
    this.#source = opts.source;
    const te = opts.telephoneEvent;
    this.dtmf =
      te && te.clockRate === opts.codec.clockRate
        ? new DtmfSender({ clockRate: te.clockRate, tickMs: frameMs, ...opts.dtmf })
        : undefined;
  }

  get source(): AudioSource {
    return this.#source;
  }

  get muted(): boolean {
    return this.#muted;
  }

  set muted(on: boolean) {
    this.#muted = on;
  }

  /** Swap the source; returns the old one (the caller closes it). */
  replaceSource(src: AudioSource): AudioSource {
    const old = this.#source;
    this.#source = src;
    return old;
  }

  /** Play `src` into the call (instead of or on top of the source); returns what was playing before. */
  play(src: AudioSource, mode: PlayMode): AudioSource | undefined {
    const old = this.#playing?.source;
    this.#playing = { source: src, mode };
    return old;
  }

  /** Stop the file being played; returns it. */
  stopPlaying(): AudioSource | undefined {
    const old = this.#playing?.source;
    this.#playing = undefined;
    return old;
  }

  get playing(): AudioSource | undefined {
    return this.#playing?.source;
  }

  /** One media frame: the RTP packets to send now. */
  tick(): Buffer[] {
    const n = this.#frameSamples;
    let pcm = this.#source.read(n);
    const p = this.#playing;
    if (p) {
      const f = p.source.read(n);
      pcm = p.mode === PlayMode.Mix ? mix(pcm, f) : f;
      if (p.source.ended && this.#playing === p) this.#playing = undefined;
    }
    const out: Buffer[] = [];
    const te = this.dtmf?.tick(this.packetizer.nextTimestamp);
    if (te && this.#o.telephoneEvent) {
      // The event replaces the audio of this frame (RFC 4733 §2.5.1.2).
      this.#pending = [];
      this.#pendingLen = 0;
      out.push(this.#emit(te.payload, Math.round((this.#o.codec.clockRate * n) / this.#o.codec.pcmRate), {
        marker: te.marker,
        payloadType: this.#o.telephoneEvent.payloadType,
        timestamp: te.timestamp,
      }));
      this.#talkspurt = true;
      return out;
    }
    if (this.#muted) pcm = this.#silence.length === n ? this.#silence : (this.#silence = new Int16Array(n));
    this.#pending.push(pcm);
    this.#pendingLen += pcm.length;
    while (this.#pendingLen >= this.#packetSamples) {
      const frame = this.#takePending(this.#packetSamples);
      const payload = this.#encoder.encode(frame);
      if (this.#dtx && payload.length <= 2) {
        // RFC 7587 §3.1.3: a DTX frame need not be sent; the timestamp runs on.
        this.packetizer.skip(this.#rtpPerPacket);
        this.dtxSkipped++;
        this.#talkspurt = true;
        continue;
      }
      out.push(this.#emit(payload, this.#rtpPerPacket, { marker: this.#talkspurt }));
      this.#talkspurt = false;
    }
    return out;
  }

  /**
   * One media frame on hold: nothing is read, encoded or sent, and the RTP
   * clock runs on (RFC 3550 §5.1: the timestamp advances with the sampling
   * clock, the sequence number only with packets sent), so the first packet
   * after the hold follows the last one in sequence and in time, and starts
   * a talkspurt (marker bit). Audio waiting for a packet is dropped; its
   * time passes with the rest.
   */
  idle(): void {
    const { clockRate, pcmRate } = this.#o.codec;
    this.packetizer.skip(Math.round(((this.#frameSamples + this.#pendingLen) * clockRate) / pcmRate));
    this.#pending = [];
    this.#pendingLen = 0;
    this.#talkspurt = true;
  }

  close(): void {
    this.dtmf?.cancel();
    this.#encoder.close();
  }

  #emit(payload: Buffer, samples: number, opts: { marker: boolean; payloadType?: number; timestamp?: number }): Buffer {
    this.packets++;
    this.octets += payload.length;
    return this.packetizer.packetize(payload, samples, opts);
  }

  #takePending(n: number): Int16Array {
    // Frame and packet the same length (20 ms ptime): the source's frame as it is.
    const first = this.#pending[0]!;
    if (first.length === n) {
      this.#pending.shift();
      this.#pendingLen -= n;
      return first;
    }
    const out = new Int16Array(n);
    let filled = 0;
    while (filled < n) {
      const head = this.#pending[0]!;
      const k = Math.min(n - filled, head.length);
      out.set(head.subarray(0, k), filled);
      filled += k;
      if (k === head.length) this.#pending.shift();
      else this.#pending[0] = head.subarray(k);
    }
    this.#pendingLen -= n;
    return out;
  }
}

/** Sum of two signals, clipped to 16 bits. */
export function mix(a: Int16Array, b: Int16Array): Int16Array {
  const out = new Int16Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = a[i]! + (b[i] ?? 0);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}
