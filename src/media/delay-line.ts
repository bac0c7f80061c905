// A delay line from a call's decoded audio back to its own source: the echo
// service (calls.echo) plays the caller what it said `delayMs` earlier.
//
//   media tick: source.read(n) (send path) ... sink.write(frame) (receive path)
//
// The media session reads its source and writes its sink once per tick, so
// the line starts filled with `delayMs` of silence and stays at that fill.
// Memory is bounded: at most `delayMs + MAX_SLACK_MS` of audio is held; a
// writer that gets ahead (a burst after a stall) loses its oldest audio, a
// reader that finds too little (a held call, a peer that pauses) gets
// silence, so the delay never grows and never shrinks for good.
import type { AudioSink } from "./sinks/sink.js";
import type { AudioSource } from "./sources/source.js";

/** Audio held beyond the delay at most, ms. */
export const MAX_SLACK_MS = 500;
/** The longest delay a line takes, ms. */
export const MAX_DELAY_MS = 10_000;

export class DelayLine {
  readonly sampleRate: number;
  readonly delayMs: number;
  readonly #ring: Int16Array;
  #readAt = 0;
  #fill: number;
  #closed = false;
  /** Samples dropped because the writer got ahead, and read as silence because it fell behind. */
  dropped = 0;
  underrun = 0;

  constructor(sampleRate: number, delayMs: number) {
    if (!(delayMs >= 0 && delayMs <= MAX_DELAY_MS)) throw new RangeError(`delay ${delayMs} ms: expected 0..${MAX_DELAY_MS}`);
    this.sampleRate = sampleRate;
    this.delayMs = delayMs;
    const delay = Math.round((sampleRate * delayMs) / 1000);
    this.#ring = new Int16Array(delay + Math.round((sampleRate * MAX_SLACK_MS) / 1000));
    // The delay is silence to start with (the ring is zeroed).
    this.#fill = delay;
  }

  /** Samples held now. */
  get held(): number {
    return this.#fill;
  }

  write(pcm: Int16Array): void {
    if (this.#closed) return;
    const cap = this.#ring.length;
    let src = pcm;
    if (src.length > cap) {
      this.dropped += src.length - cap;
      src = src.subarray(src.length - cap);
    }
    const over = this.#fill + src.length - cap;
    if (over > 0) {
      // The oldest audio goes: the delay stays bounded.
      this.#readAt = (this.#readAt + over) % cap;
      this.#fill -= over;
      this.dropped += over;
    }
    let at = (this.#readAt + this.#fill) % cap;
    for (let i = 0; i < src.length; i++) {
      this.#ring[at] = src[i]!;
      at = at + 1 === cap ? 0 : at + 1;
    }
    this.#fill += src.length;
  }

  read(samples: number): Int16Array {
    const out = new Int16Array(samples);
    const n = Math.min(samples, this.#fill);
    const cap = this.#ring.length;
    for (let i = 0; i < n; i++) {
      out[i] = this.#ring[this.#readAt]!;
      this.#readAt = this.#readAt + 1 === cap ? 0 : this.#readAt + 1;
    }
    this.#fill -= n;
    this.underrun += samples - n;
    return out;
  }

  close(): void {
    this.#closed = true;
    this.#fill = 0;
  }

  /** The line's input, as the call's sink. */
  sink(): AudioSink {
    return {
      sampleRate: this.sampleRate,
      write: (pcm) => this.write(pcm),
      close: async () => this.close(),
    };
  }

  /** The line's output, as the call's source (it never ends). */
  source(): AudioSource {
    return {
      sampleRate: this.sampleRate,
      ended: false,
      read: (n) => this.read(n),
      close: () => this.close(),
    };
  }
}
