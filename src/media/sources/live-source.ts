// A source fed by something that runs on its own clock (a capture device, a
// pipe): samples arrive in chunks of whatever size the producer likes, and
// the media tick takes 20 ms at a time. In between sits a small FIFO:
//   - reading starts once a chunk and a frame are buffered (so a producer that
//     delivers 40 or 100 ms at a time does not leave a hole every few ticks);
//   - when it runs dry, the frame is padded with silence and the FIFO fills
//     up again before reading resumes (an underrun);
//   - a backlog is not kept as delay: a producer running fast (clock drift),
//     a burst, or media ticks skipped after the event loop stalled leave more
//     in the FIFO than the producer's chunking needs, and every sample of it
//     would delay the call from then on. After each read the level left over
//     is noted; when even the lowest level of the last window of reads (at
//     least 10 reads, and at least two producer chunks, so the troughs of a
//     chunky producer are in it) exceeds `maxBacklogFrames` frames, the oldest
//     audio is dropped down to one frame less than that (so drift costs one
//     drop per frame it accumulates, not a click every window);
//   - and it never holds more than `maxMs` at all (a hard cap for a producer
//     far ahead; the oldest audio is dropped).
import type { AudioSource } from "./source.js";
import type { JingledError } from "../../util/errors.js";

export interface LiveSourceStats {
  underruns: number;
  /** samples dropped because the FIFO was full */
  dropped: number;
  /** samples dropped as backlog (more buffered than needed for a whole window of reads) */
  backlogDropped: number;
  /** times backlog was dropped */
  backlogTrims: number;
  /** largest chunk seen, samples */
  maxChunk: number;
}

export interface LiveSourceOptions {
  /** hard cap on what is buffered, ms (default 300) */
  maxMs?: number;
  /** backlog kept beyond what the producer's chunking needs, in reads (frames) (default 2, at least 1) */
  maxBacklogFrames?: number;
  /** told each time backlog is dropped (for a log line) */
  onBacklogTrim?: (info: { droppedSamples: number; bufferedSamples: number }) => void;
  onClose?: () => void;
}

/** Reads in the backlog window at least (200 ms of 20 ms frames). */
const MIN_WINDOW_READS = 10;

export class LiveSource implements AudioSource {
  onEnded?: () => void;
  onError?: (err: JingledError) => void;
  readonly #chunks: Int16Array[] = [];
  #length = 0;
  #priming = true;
  readonly #maxSamples: number;
  readonly #maxBacklogFrames: number;
  /** Told each time backlog is dropped (the media session logs it); set by the user or through the options. */
  onBacklogTrim: LiveSourceOptions["onBacklogTrim"];
  readonly #stats: LiveSourceStats = { underruns: 0, dropped: 0, backlogDropped: 0, backlogTrims: 0, maxChunk: 0 };
  /** The level left after each read since priming ended, latest last (at most a window). */
  #levels: number[] = [];
  #onClose: (() => void) | undefined;
  #closed = false;
  #eof = false;
  #ended = false;

  constructor(
    readonly sampleRate: number,
    opts: LiveSourceOptions = {},
  ) {
    this.#maxSamples = Math.round(((opts.maxMs ?? 300) * sampleRate) / 1000);
    this.#maxBacklogFrames = Math.max(1, opts.maxBacklogFrames ?? 2);
    this.onBacklogTrim = opts.onBacklogTrim;
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
    if (this.#length > this.#maxSamples) this.#stats.dropped += this.#dropOldest(this.#length - this.#maxSamples);
  }

  #dropOldest(n: number): number {
    let dropped = 0;
    while (dropped < n && this.#chunks.length > 0) {
      const head = this.#chunks[0]!;
      const k = Math.min(n - dropped, head.length);
      if (k === head.length) this.#chunks.shift();
      else this.#chunks[0] = head.subarray(k);
      dropped += k;
    }
    this.#length -= dropped;
    // Every level remembered was that much higher than it would now be.
    for (let i = 0; i < this.#levels.length; i++) this.#levels[i] = Math.max(0, this.#levels[i]! - dropped);
    return dropped;
  }

  /** After a read: drop the backlog no read of the last window needed. */
  #trimBacklog(samples: number): void {
    const window = Math.max(MIN_WINDOW_READS, Math.ceil((2 * this.#stats.maxChunk) / samples) + 1);
    this.#levels.push(this.#length);
    if (this.#levels.length > window) this.#levels.shift();
    if (this.#levels.length < window) return;
    const lowest = Math.min(...this.#levels);
    if (lowest <= this.#maxBacklogFrames * samples) return;
    const n = this.#dropOldest(lowest - (this.#maxBacklogFrames - 1) * samples);
    this.#stats.backlogDropped += n;
    this.#stats.backlogTrims++;
    this.onBacklogTrim?.({ droppedSamples: n, bufferedSamples: this.#length });
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
      this.#levels = [];
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
      return out;
    }
    if (!this.#eof) this.#trimBacklog(samples);
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
