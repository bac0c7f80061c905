// Files in a call's media: a WAV file played into the call (instead of the
// source, or mixed over it) and a WAV recording (16-bit mono at the codec's
// rate) of what the peer says. The media session has one of each and feeds
// them from its tick.
import { JingledError, errorMessage } from "../util/errors.js";
import type { PlayMode, SendPath } from "./send-path.js";
import type { AudioSource } from "./sources/source.js";
import { WavFileSource } from "./sources/wav-file-source.js";
import { WavFileWriter } from "./wav.js";

export type PlaybackEnd = "finished" | "stopped" | "replaced";

/** A file played into the call through the send path. */
export class Playback {
  readonly #send: SendPath;
  readonly #pcmRate: number;
  readonly #onEnded: (info: { path: string; reason: PlaybackEnd }) => void;
  #current: { path: string; source: AudioSource; done: () => void } | undefined;

  constructor(send: SendPath, pcmRate: number, onEnded: (info: { path: string; reason: PlaybackEnd }) => void) {
    this.#send = send;
    this.#pcmRate = pcmRate;
    this.#onEnded = onEnded;
  }

  /** Resolves when the file has played out, was replaced or stopped; rejects when it cannot be read. */
  play(path: string, mode: PlayMode): Promise<void> {
    let source: WavFileSource;
    try {
      source = new WavFileSource(path, this.#pcmRate);
    } catch (err) {
      return Promise.reject(err);
    }
    this.end("replaced");
    return new Promise((resolve) => {
      this.#current = { path, source, done: () => resolve() };
      source.onEnded = () => {
        // Called from inside the send tick; finish after it.
        queueMicrotask(() => {
          if (this.#current?.source === source) this.end("finished");
        });
      };
      if (source.ended) source.onEnded();
      this.#send.play(source, mode);
    });
  }

  /** Ends the file being played, if any (its play() resolves). */
  end(reason: PlaybackEnd): void {
    const p = this.#current;
    if (!p) return;
    this.#current = undefined;
    if (this.#send.playing === p.source) this.#send.stopPlaying();
    p.source.close();
    this.#onEnded({ path: p.path, reason });
    p.done();
  }
}

/** A WAV recording of the frames played. */
export class Recorder {
  readonly #pcmRate: number;
  #current: { path: string; writer: WavFileWriter } | undefined;

  constructor(pcmRate: number) {
    this.#pcmRate = pcmRate;
  }

  get path(): string | undefined {
    return this.#current?.path;
  }

  /** `fd`: the file, already created (media/client-path.ts claimWritableFile); the recorder owns it from now on. */
  start(path: string, fd?: number): void {
    if (this.#current) throw new JingledError("invalid-state", `already recording to ${this.#current.path}`);
    try {
      this.#current = { path, writer: WavFileWriter.open(path, this.#pcmRate, 1, fd === undefined ? {} : { fd }) };
    } catch (err) {
      throw new JingledError("media-sink", `cannot record to ${path}: ${errorMessage(err)}`, { cause: err });
    }
  }

  write(frame: Int16Array): void {
    this.#current?.writer.write(frame);
  }

  /** Finishes the recording. */
  async stop(): Promise<{ path: string; durationMs: number }> {
    const rec = this.#current;
    if (!rec) throw new JingledError("invalid-state", "not recording");
    this.#current = undefined;
    const durationMs = Math.round((rec.writer.dataBytes / 2 / this.#pcmRate) * 1000);
    await rec.writer.close();
    return { path: rec.path, durationMs };
  }

  /** Closes a recording in progress, if any (the session stops). */
  async close(): Promise<void> {
    const rec = this.#current;
    this.#current = undefined;
    await rec?.writer.close();
  }
}
