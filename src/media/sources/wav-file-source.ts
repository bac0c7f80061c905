// A WAV file as a source: loaded whole at open, converted to mono at the
// requested rate, played once (then silence) or looped.
import { readFileSync } from "node:fs";
import { JingledError } from "../../util/errors.js";
import { readWavMono } from "../wav.js";
import type { AudioSource } from "./source.js";

export class WavFileSource implements AudioSource {
  readonly path: string;
  readonly loop: boolean;
  onEnded?: () => void;
  readonly #pcm: Int16Array;
  #pos = 0;
  #ended = false;

  constructor(
    path: string,
    readonly sampleRate: number,
    opts: { loop?: boolean } = {},
  ) {
    this.path = path;
    this.loop = opts.loop ?? false;
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? "no such file" : (err as Error).message;
      throw new JingledError("media-source", `cannot open audio file ${path}: ${why}`, { cause: err });
    }
    try {
      this.#pcm = readWavMono(bytes, sampleRate);
    } catch (err) {
      throw new JingledError("media-source", `cannot play ${path}: ${(err as Error).message}`, { cause: err });
    }
    // An empty file has ended before it started (and must not loop forever).
    if (this.#pcm.length === 0) this.#ended = true;
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Length of the loaded audio in samples at sampleRate. */
  get length(): number {
    return this.#pcm.length;
  }

  /**
   * The next `samples` samples. Within the file this is a view into the
   * loaded audio (no copy per frame): callers read it and never write to it.
   */
  read(samples: number): Int16Array {
    const pcm = this.#pcm;
    if (!this.#ended && this.#pos + samples < pcm.length) {
      const view = pcm.subarray(this.#pos, this.#pos + samples);
      this.#pos += samples;
      return view;
    }
    const out = new Int16Array(samples);
    let filled = 0;
    while (filled < samples && !this.#ended) {
      const n = Math.min(samples - filled, pcm.length - this.#pos);
      out.set(pcm.subarray(this.#pos, this.#pos + n), filled);
      filled += n;
      this.#pos += n;
      if (this.#pos >= pcm.length) {
        if (this.loop) this.#pos = 0;
        else {
          this.#ended = true;
          this.onEnded?.();
        }
      }
    }
    return out;
  }

  close(): void {
    this.#ended = true;
  }
}
