// A sink that writes raw s16le to a stream it does not control the pace of
// (a pipe, a player process's stdin). write() never blocks the media tick:
// when the reader falls more than `maxBacklogMs` behind (a stalled player, a
// pipe nobody reads), frames are dropped and counted instead of queueing
// without bound.
//
// A player that takes a while before it consumes anything (pacat: the sound
// server starts the stream at its sink's next wake-up, which on an idle null
// sink is up to 2 s away) would turn every frame written meanwhile into delay
// for the rest of the call: the pipe holds them, and the player then plays
// at the device's pace. With `awaitStart`, only `primeMs` of audio (enough
// for the player's start threshold) is written before the owner says the
// player started (`started()`); frames after it are dropped and counted.
// If no start is reported within `startTimeoutMs` of audio, the gate opens
// anyway (a player that never reports it must still be heard).
import type { Writable } from "node:stream";
import { PcmEncoderStream } from "../pcm-convert.js";
import type { JingledError } from "../../util/errors.js";
import type { AudioSink } from "./sink.js";

export interface StreamSinkOptions {
  /** the stream's format */
  rate?: number;
  channels?: number;
  maxBacklogMs?: number;
  /** called by close() after the stream ended (e.g. wait for the process) */
  onClose?: () => Promise<void> | void;
  /** hold back audio until started() is called (see above) */
  awaitStart?: boolean;
  /** audio written before the start, ms (default 40) */
  primeMs?: number;
  /** audio after which the gate opens without a start, ms (default 3000) */
  startTimeoutMs?: number;
}

export class StreamSink implements AudioSink {
  onError?: (err: JingledError) => void;
  readonly #stream: Writable;
  readonly #enc: PcmEncoderStream;
  readonly #maxBacklogBytes: number;
  readonly #onClose: (() => Promise<void> | void) | undefined;
  #closed = false;
  #failed = false;
  /** samples of the frames dropped because the reader lagged */
  #laggedSamples = 0;
  /** frames dropped because the reader lagged */
  dropped = 0;
  /** samples dropped while waiting for the player to start */
  startDropped = 0;
  samplesWritten = 0;
  /** Samples still to write before the start, or undefined once started (or not waiting). */
  #primeLeft: number | undefined;
  /** Samples after which the gate opens without a start. */
  #waitLeft = 0;

  constructor(
    readonly sampleRate: number,
    stream: Writable,
    opts: StreamSinkOptions = {},
  ) {
    this.#stream = stream;
    const rate = opts.rate ?? sampleRate;
    const channels = opts.channels ?? 1;
    this.#enc = new PcmEncoderStream(sampleRate, rate, channels);
    this.#maxBacklogBytes = Math.round(((opts.maxBacklogMs ?? 1000) * rate * channels * 2) / 1000);
    this.#onClose = opts.onClose;
    if (opts.awaitStart) {
      this.#primeLeft = Math.round(((opts.primeMs ?? 40) * sampleRate) / 1000);
      this.#waitLeft = Math.round(((opts.startTimeoutMs ?? 3000) * sampleRate) / 1000);
    }
  }

  /** True while audio is held back for the player's start. */
  get awaitingStart(): boolean {
    return this.#primeLeft !== undefined;
  }

  /** The player started consuming: from now on every frame is written. */
  started(): void {
    this.#primeLeft = undefined;
  }

  /** Audio dropped so far (start-up and a lagging reader), ms. */
  get droppedMs(): number {
    return Math.round(((this.startDropped + this.#laggedSamples) * 1000) / this.sampleRate);
  }

  write(pcm: Int16Array): void {
    if (this.#closed || this.#failed) return;
    if (this.#stream.destroyed) return;
    if (this.#primeLeft !== undefined) {
      this.#waitLeft -= pcm.length;
      if (this.#waitLeft < 0) this.#primeLeft = undefined;
      else if (this.#primeLeft <= 0) {
        this.startDropped += pcm.length;
        return;
      } else this.#primeLeft -= pcm.length;
    }
    if (this.#stream.writableLength > this.#maxBacklogBytes) {
      this.dropped++;
      this.#laggedSamples += pcm.length;
      return;
    }
    this.samplesWritten += pcm.length;
    this.#stream.write(this.#enc.push(pcm));
  }

  /** The consumer failed: reported once through onError. */
  fail(err: JingledError): void {
    if (this.#closed || this.#failed) return;
    this.#failed = true;
    this.onError?.(err);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await new Promise<void>((resolve) => {
      if (this.#stream.destroyed || this.#stream.writableEnded) return resolve();
      const timer = setTimeout(resolve, 2000);
      this.#stream.end(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    await this.#onClose?.();
  }
}
