// A sink that writes raw s16le to a stream it does not control the pace of
// (a pipe, a player process's stdin). write() never blocks the media tick:
// when the reader falls more than `maxBacklogMs` behind (a stalled player, a
// pipe nobody reads), frames are dropped and counted instead of queueing
// without bound.
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
}

export class StreamSink implements AudioSink {
  onError?: (err: JingledError) => void;
  readonly #stream: Writable;
  readonly #enc: PcmEncoderStream;
  readonly #maxBacklogBytes: number;
  readonly #onClose: (() => Promise<void> | void) | undefined;
  #closed = false;
  #failed = false;
  /** frames dropped because the reader lagged */
  dropped = 0;
  samplesWritten = 0;

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
  }

  write(pcm: Int16Array): void {
    if (this.#closed || this.#failed) return;
    if (this.#stream.destroyed) return;
    if (this.#stream.writableLength > this.#maxBacklogBytes) {
      this.dropped++;
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
