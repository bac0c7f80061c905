// A source fed by something that runs on its own clock (a capture device, a
// pipe): samples arrive in chunks of whatever size the producer likes, and
// the media tick takes 20 ms at a time. In between sits a small FIFO:
//   - reading starts once a chunk and a frame are buffered (so a producer that
//     delivers 40 or 100 ms at a time does not leave a hole every few ticks);
//   - when it runs dry, the frame is padded with silence and the FIFO fills
//     up again before reading resumes (an underrun);
//   - it never holds more than `maxMs`: a producer running fast (clock drift)
//     or a stalled tick would otherwise add delay; the oldest audio is dropped.
import type { AudioSource } from "./source.js";
import type { JingledError } from "../../util/errors.js";

export interface LiveSourceStats {
  underruns: number;
  /** samples dropped because the FIFO was full */
  dropped: number;
  /** largest chunk seen, samples */
  maxChunk: number;
}

export class LiveSource implements AudioSource {
  onEnded?: () => void;
  onError?: (err: JingledError) => void;
  readonly #chunks: Int16Array[] = [];
  #length = 0;
  #priming = true;
  readonly #maxSamples: number;
  readonly #stats: LiveSourceStats = { underruns: 0, dropped: 0, maxChunk: 0 };
  #onClose: (() => void) | undefined;
  #closed = false;
  #eof = false;
  #ended = false;

  constructor(
    readonly sampleRate: number,
    opts: { maxMs?: number; onClose?: () => void } = {},
  ) {
    this.#maxSamples = Math.round(((opts.maxMs ?? 300) * sampleRate) / 1000);
    this.#onClose = opts.onClose;
  }

  /** True once the producer finished (endOfInput) and everything buffered was read. */
  get ended(): boolean {
    return this.#ended;
  }

  get stats(): LiveSourceStats {
    return { ...this.#stats };
  }

  /** Samples buffered now. */
  get buffered(): number {
    return this.#length;
  }

  /** The producer side: samples at `sampleRate`. */
  feed(pcm: Int16Array): void {
    if (this.#closed || pcm.length === 0) return;
    if (pcm.length > this.#stats.maxChunk) this.#stats.maxChunk = pcm.length;
    this.#chunks.push(pcm);
    this.#length += pcm.length;
    while (this.#length > this.#maxSamples && this.#chunks.length > 0) {
      const over = this.#length - this.#maxSamples;
      const head = this.#chunks[0]!;
      const k = Math.min(over, head.length);
      if (k === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(k);
      this.#length -= k;
      this.#stats.dropped += k;
    }
  }

  /** The producer has no more (a pipe's writer closed it): play out what is buffered, then end. */
  endOfInput(): void {
    this.#eof = true;
  }

  read(samples: number): Int16Array {
    const out = new Int16Array(samples);
    if (this.#ended) return out;
    if (this.#priming && !this.#eof) {
      if (this.#length < Math.min(this.#maxSamples, this.#stats.maxChunk + samples)) return out;
      this.#priming = false;
    }
    let filled = 0;
    while (filled < samples && this.#chunks.length > 0) {
      const head = this.#chunks[0]!;
      const k = Math.min(samples - filled, head.length);
      out.set(head.subarray(0, k), filled);
      filled += k;
      if (k === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(k);
    }
    this.#length -= filled;
    if (filled < samples) {
      if (this.#eof) {
        this.#ended = true;
        this.onEnded?.();
        return out;
      }
      this.#stats.underruns++;
      this.#priming = true;
    }
    return out;
  }

  /** The producer failed: reported once through onError (the media session then decides). */
  fail(err: JingledError): void {
    if (this.#closed) return;
    this.onError?.(err);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#chunks.length = 0;
    this.#length = 0;
    const c = this.#onClose;
    this.#onClose = undefined;
    c?.();
  }
}
