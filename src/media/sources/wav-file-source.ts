// A WAV file as a source: loaded whole at open, converted to mono at the
// requested rate, played once (then silence) or looped.
//
// Loading sits on the call-setup path (a 25 s file took 20-30 ms through the
// float conversion), so 16-bit mono files at the call's rate are taken as
// they are, and the decoded audio is shared by every call playing the same
// unchanged file (it is never written to: read() hands out views).
import { readFileSync, statSync } from "node:fs";
import { endianness } from "node:os";
import { JingledError } from "../../util/errors.js";
import { WavEncoding, parseWav, readWavMono } from "../wav.js";
import type { AudioSource } from "./source.js";

interface Loaded {
  size: number;
  mtimeMs: number;
  pcm: WeakRef<Int16Array>;
}

/** path + rate -> decoded audio, while some source still holds it (WeakRef: idle daemons keep nothing). */
const loaded = new Map<string, Loaded>();
const MAX_CACHED = 32;
const littleEndianHost = endianness() === "LE";

function decode(bytes: Buffer, sampleRate: number): Int16Array {
  const wav = parseWav(bytes);
  const f = wav.format;
  if (littleEndianHost && f.encoding === WavEncoding.Int && f.bitsPerSample === 16 && f.channels === 1 && f.sampleRate === sampleRate) {
    // Already what we send: one copy into an aligned array, no conversion.
    const pcm = new Int16Array(wav.frames);
    Buffer.from(pcm.buffer).set(wav.data.subarray(0, wav.frames * 2));
    return pcm;
  }
  return readWavMono(bytes, sampleRate);
}

function load(path: string, sampleRate: number): Int16Array {
  const key = `${sampleRate}\0${path}`;
  let st: { size: number; mtimeMs: number };
  let bytes: Buffer;
  try {
    st = statSync(path);
    const hit = loaded.get(key);
    const pcm = hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs ? hit.pcm.deref() : undefined;
    if (pcm) return pcm;
    bytes = readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "ENOENT" ? "no such file" : (err as Error).message;
    throw new JingledError("media-source", `cannot open audio file ${path}: ${why}`, { cause: err });
  }
  let pcm: Int16Array;
  try {
    pcm = decode(bytes, sampleRate);
  } catch (err) {
    throw new JingledError("media-source", `cannot play ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (loaded.size >= MAX_CACHED) {
    for (const [k, v] of loaded) if (!v.pcm.deref()) loaded.delete(k);
    if (loaded.size >= MAX_CACHED) loaded.delete(loaded.keys().next().value!);
  }
  loaded.set(key, { size: st.size, mtimeMs: st.mtimeMs, pcm: new WeakRef(pcm) });
  return pcm;
}

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
    this.#pcm = load(path, sampleRate);
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
