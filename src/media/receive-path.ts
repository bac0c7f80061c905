// The receive half of a call's media: RTP payloads -> adaptive playout
// buffer -> decoder / concealment / time-scale changes -> one frame of PCM
// per tick. Pure apart from the decoder (deterministic): times come in as
// arguments, so tests drive it with scripted arrivals.
//
// The decoder may produce more than a frame at once (a 40 or 60 ms packet,
// a merge); the surplus waits in a FIFO, and the buffer is told how much is
// waiting, so its due times stay right.
import type { AudioDecoder, CodecDescriptor } from "./codecs/codec.js";
import { PlayoutBuffer, type PlayoutBufferOptions, type PlayoutDecision, type PlayoutStats, type PushResult } from "./playout-buffer.js";

export interface ReceivePathOptions {
  codec: CodecDescriptor;
  decoder: AudioDecoder;
  /** output frame, ms (the media tick) */
  frameMs?: number;
  jitter?: Omit<PlayoutBufferOptions, "clockRate" | "frameMs">;
}

export interface ReceivePathStats extends PlayoutStats {
  /** frames handed to the sink */
  framesOut: number;
  /** frames of the output that were (wholly or partly) concealment */
  framesConcealed: number;
  /** frames recovered from the next packet's forward error correction */
  fecRecovered: number;
  /** packets the decoder rejected (concealed instead) */
  decodeErrors: number;
  /** audio in the peer's latest packet, ms (its ptime); absent before the first */
  remotePtimeMs?: number;
}

/** A frame quieter than this share of the other's energy is dropped whole in a merge. */
const QUIET_RATIO = 0.1;
/** Output is "quiet" below -20 dB of the recent speech level, or below about -60 dBFS. */
const QUIET_RELATIVE = 0.01;
const QUIET_ABSOLUTE_ENERGY = 33 * 33;

export class ReceivePath {
  readonly buffer: PlayoutBuffer;
  readonly frameSamples: number;
  readonly #codec: CodecDescriptor;
  readonly #decoder: AudioDecoder;
  readonly #frameMs: number;
  #fifo: Int16Array[] = [];
  #fifoLen = 0;
  /** Concealed samples still waiting in the FIFO (to count concealed output frames). */
  #concealedInFifo = 0;
  /** Slowly tracked energy of active (non-quiet) frames. */
  #activeEnergy = 0;
  #lastQuiet = true;
  #remotePtimeMs: number | undefined;
  readonly #s = { framesOut: 0, framesConcealed: 0, fecRecovered: 0, decodeErrors: 0 };

  constructor(opts: ReceivePathOptions) {
    this.#codec = opts.codec;
    this.#decoder = opts.decoder;
    this.#frameMs = opts.frameMs ?? 20;
    this.frameSamples = Math.round((opts.codec.pcmRate * this.#frameMs) / 1000);
    this.buffer = new PlayoutBuffer({ ...opts.jitter, clockRate: opts.codec.clockRate, frameMs: this.#frameMs });
  }

  get stats(): ReceivePathStats {
    return { ...this.buffer.stats, ...this.#s, ...(this.#remotePtimeMs !== undefined ? { remotePtimeMs: this.#remotePtimeMs } : {}) };
  }

  /**
   * The peer stopped sending on purpose (a hold, either side): what is
   * buffered is dropped and playout starts afresh with the next packet, after
   * the initial delay, as at the start of the call. The silence between is
   * neither concealed nor counted; the counters stay.
   */
  pause(): void {
    this.buffer.reset();
    this.#fifo = [];
    this.#fifoLen = 0;
    this.#concealedInFifo = 0;
    this.#lastQuiet = true;
  }

  push(seq: number, timestamp: number, payload: Buffer, arrivalMs: number): PushResult {
    const durationTs = this.#codec.packetSamples(payload);
    this.#remotePtimeMs = ((durationTs || this.buffer.frameTs) * 1000) / this.#codec.clockRate;
    return this.buffer.push({ seq, timestamp, payload, arrivalMs, ...(durationTs ? { durationTs } : {}) });
  }

  /** The next frame to play, or undefined while playout has not started. */
  frame(nowMs: number): Int16Array | undefined {
    while (this.#fifoLen < this.frameSamples) {
      const queuedMs = (this.#fifoLen * 1000) / this.#codec.pcmRate;
      const d = this.buffer.pop(nowMs, queuedMs, this.#lastQuiet);
      if (d.kind === "empty") {
        if (this.#fifoLen === 0) return undefined;
        // Not expected once playing; pad rather than stall.
        this.#append(new Int16Array(this.frameSamples - this.#fifoLen), true);
        break;
      }
      this.#render(d);
    }
    this.#s.framesOut++;
    const concealed = this.#concealedInFifo > 0;
    const out = this.#take(this.frameSamples);
    if (concealed) this.#s.framesConcealed++;
    this.#trackLevel(out);
    return out;
  }

  #render(d: Exclude<PlayoutDecision, { kind: "empty" }>): void {
    switch (d.kind) {
      case "packet":
        this.#append(...this.#decode(d.payload));
        return;
      case "conceal": {
        const samples = this.#pcmSamples(d.durationTs);
        if (d.reason === "loss" && d.next && this.#decoder.decodeFec) {
          const rec = this.#decoder.decodeFec(d.next.payload, samples);
          if (rec) {
            this.#s.fecRecovered++;
            this.#append(rec, false);
            return;
          }
        }
        this.#append(this.#decoder.conceal(samples), true);
        return;
      }
      case "merge": {
        const [a, ac] = this.#decode(d.first.payload);
        const [b, bc] = this.#decode(d.second.payload);
        this.#append(mergeFrames(a, b, this.frameSamples), ac || bc);
        return;
      }
    }
  }

  /** Is the audio quiet now (a pause in speech)? The buffer changes the delay in such moments. */
  #trackLevel(frame: Int16Array): void {
    const e = energy(frame);
    this.#lastQuiet = e < QUIET_ABSOLUTE_ENERGY || e < QUIET_RELATIVE * this.#activeEnergy;
    if (!this.#lastQuiet) this.#activeEnergy += (e - this.#activeEnergy) * (this.#activeEnergy === 0 ? 1 : 0.05);
  }

  #decode(payload: Buffer): [Int16Array, boolean] {
    try {
      return [this.#decoder.decode(payload), false];
    } catch {
      this.#s.decodeErrors++;
      const n = this.#codec.packetSamples(payload);
      return [this.#decoder.conceal(n ? this.#pcmSamples(n) : this.frameSamples), true];
    }
  }

  #pcmSamples(ts: number): number {
    return Math.round((ts * this.#codec.pcmRate) / this.#codec.clockRate);
  }

  #append(pcm: Int16Array, concealed: boolean): void {
    if (pcm.length === 0) return;
    this.#fifo.push(pcm);
    this.#fifoLen += pcm.length;
    if (concealed) this.#concealedInFifo += pcm.length;
  }

  /**
   * The next n samples. When the oldest queued array holds them all (the
   * usual case: one decoded packet per frame) they are handed out as a view of
   * it, without a copy: decoders never reuse what they returned (codec.ts), so
   * the view stays valid for sinks that keep it.
   */
  #take(n: number): Int16Array {
    const first = this.#fifo[0];
    if (first && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.#fifo.shift();
      else this.#fifo[0] = first.subarray(n);
      this.#fifoLen -= n;
      this.#concealedInFifo = Math.max(0, this.#concealedInFifo - n);
      return out;
    }
    const out = new Int16Array(n);
    let filled = 0;
    while (filled < n && this.#fifo.length > 0) {
      const head = this.#fifo[0]!;
      const k = Math.min(n - filled, head.length);
      out.set(head.subarray(0, k), filled);
      filled += k;
      if (k === head.length) this.#fifo.shift();
      else this.#fifo[0] = head.subarray(k);
    }
    this.#fifoLen -= filled;
    // Concealed audio is counted FIFO-order approximately: it leaves with the frames taken.
    this.#concealedInFifo = Math.max(0, this.#concealedInFifo - filled);
    return out;
  }
}

function energy(x: Int16Array): number {
  let e = 0;
  for (let i = 0; i < x.length; i++) e += x[i]! * x[i]!;
  return e / Math.max(1, x.length);
}

/**
 * Two decoded packets in `frame` samples less than their total length. A
 * quiet packet (pause, breath) is dropped whole, which is inaudible; else the
 * first frame fades into the second over one frame (a cross-fade of 20 ms is
 * smooth for speech; the removed frame is the overlap).
 */
export function mergeFrames(a: Int16Array, b: Int16Array, frame: number): Int16Array {
  const total = a.length + b.length;
  if (total <= frame) return new Int16Array(0);
  // Every branch builds its result in one array of total - frame samples.
  const out = new Int16Array(total - frame);
  const ea = energy(a);
  const eb = energy(b);
  if (a.length >= frame && ea <= QUIET_RATIO * eb) {
    out.set(a.subarray(0, a.length - frame));
    out.set(b, a.length - frame);
    return out;
  }
  if (b.length >= frame && eb <= QUIET_RATIO * ea) {
    out.set(a);
    out.set(b.subarray(frame), a.length);
    return out;
  }
  // Packets shorter than a frame (10 ms ptime): drop the oldest frame of a then b.
  if (a.length < frame || b.length < frame) {
    if (a.length > frame) {
      out.set(a.subarray(frame));
      out.set(b, a.length - frame);
    } else {
      out.set(b.subarray(frame - a.length));
    }
    return out;
  }
  // Cross-fade the last `frame` samples of a with the first `frame` of b.
  const start = a.length - frame;
  out.set(a.subarray(0, start));
  for (let i = 0; i < frame; i++) {
    const w = (i + 0.5) / frame;
    out[start + i] = Math.round(a[start + i]! * (1 - w) + b[i]! * w);
  }
  out.set(b.subarray(frame), start + frame);
  return out;
}
