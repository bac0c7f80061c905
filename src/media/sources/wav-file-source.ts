// A WAV file as a source: converted to mono at the requested rate, played
// once (then silence) or looped.
//
// Read as it plays, a chunk (CHUNK_MS of audio) at a time: opening a file
// reads its chunk headers and its first chunk, whatever its length, and the
// next chunk is read in the background (libuv's pool) while the one before
// it plays. Loaded whole, a file cost a call's setup its length: the first
// call of a benchmark's 20 s file spent 5-7 ms reading and copying it on the
// media thread (later calls found it cached), a 25 s file that needed
// conversion 20-30 ms, and an hour-long announcement would have held 345 MB
// and stalled every call on the thread while it loaded. A file no longer
// than one chunk is held decoded and looped from memory.
//
// Frames inside a chunk are views into it (no copy per frame; chunks are
// never written to once decoded, so a view stays valid after later reads).
// A chunk still on its way when it is due is read at once when it was asked
// for less than STALL_MS ago (a reader faster than real time: a test's
// simulated clock, a read of more than a chunk); asked for longer ago, the
// disk has stalled and the frame plays as silence, counted in
// `underrunSamples`: the media thread does not wait for a stalled disk.
import { close, fstatSync, openSync, read as readAsync, readSync } from "node:fs";
import { endianness } from "node:os";
import { JingledError, errorMessage } from "../../util/errors.js";
import { Resampler } from "../resampler.js";
import { WavEncoding, floatToInt16, readWavLayout, wavToMonoFloat, type WavLayout } from "../wav.js";
import type { AudioSource } from "./source.js";

/**
 * Audio per chunk read, ms: a whole number of frames at every packet time
 * jingled sends (10, 20, 30, 40, 60 ms), so a frame rarely straddles two
 * chunks; about 23 KB of a 48 kHz mono file.
 */
export const CHUNK_MS = 240;

/** A background read outstanding this long when its chunk is due means a stalled disk (see the banner), ms. */
export const STALL_MS = CHUNK_MS / 2;

const littleEndianHost = endianness() === "LE";

export class WavFileSource implements AudioSource {
  readonly path: string;
  readonly loop: boolean;
  onEnded?: () => void;
  onError?: (err: JingledError) => void;
  readonly #layout: WavLayout;
  readonly #chunkBytes: number;
  /** The samples are already mono 16-bit at our rate: a chunk is used as read (a view of its bytes), not converted. */
  readonly #asIs: boolean;
  readonly #resampler: Resampler | undefined;
  #fd: number | undefined;
  /** The whole file, decoded, when it fits in one chunk (looped from memory). */
  #whole: Int16Array | undefined;
  /** Decoded audio not yet played: chunks in order, the first from #offset. */
  readonly #queue: Int16Array[] = [];
  #offset = 0;
  #queued = 0;
  /** Next byte of the data chunk to read (relative to its start). */
  #next = 0;
  /** Output samples still to drop from the resampler's start (its filter delay), as Resampler.resampleAll does. */
  #skip = 0;
  /** Background reads not yet returned (the descriptor stays open until they have). */
  #inFlight = 0;
  /** The background read whose chunk is next, and when it was asked for. */
  #awaiting: { id: number; since: number } | undefined;
  #reads = 0;
  /** The descriptor is to be closed once the reads in flight are back. */
  #closeAfterRead = false;
  /** The last chunk of the file has been decoded (and not looping). */
  #eof = false;
  #ended = false;
  #closed = false;
  #underrun = 0;

  constructor(
    path: string,
    readonly sampleRate: number,
    opts: { loop?: boolean } = {},
  ) {
    this.path = path;
    this.loop = opts.loop ?? false;
    let size: number;
    try {
      this.#fd = openSync(path, "r");
      size = fstatSync(this.#fd).size;
    } catch (err) {
      this.#closeFd();
      const code = (err as NodeJS.ErrnoException).code;
      const why = code === "ENOENT" ? "no such file" : (err as Error).message;
      throw new JingledError("media-source", `cannot open audio file ${path}: ${why}`, { cause: err });
    }
    try {
      this.#layout = readWavLayout(this.#fd, size);
    } catch (err) {
      this.#closeFd();
      throw new JingledError("media-source", `cannot play ${path}: ${errorMessage(err)}`, { cause: err });
    }
    const f = this.#layout.format;
    this.#asIs = littleEndianHost && f.encoding === WavEncoding.Int && f.bitsPerSample === 16 && f.channels === 1 && f.sampleRate === sampleRate;
    this.#resampler = f.sampleRate === sampleRate ? undefined : new Resampler(f.sampleRate, sampleRate);
    this.#skip = this.#resampler?.delay ?? 0;
    this.#chunkBytes = Math.max(1, Math.round((f.sampleRate * CHUNK_MS) / 1000)) * f.blockAlign;
    // An empty file has ended before it started (and must not loop forever).
    if (this.#layout.dataBytes === 0) {
      this.#ended = this.#eof = true;
      this.#closeFd();
      return;
    }
    if (this.#layout.dataBytes <= this.#chunkBytes) {
      this.#whole = this.#decodeAll(this.#readNow(this.#layout.dataBytes));
      this.#closeFd();
      this.#push(this.#whole);
      if (!this.loop) this.#eof = true;
      return;
    }
    this.#take(this.#readNow(this.#chunkBytes));
    this.#readAhead();
  }

  get ended(): boolean {
    return this.#ended;
  }

  /** Length of the file's audio in samples at sampleRate. */
  get length(): number {
    const f = this.#layout.format;
    const frames = this.#layout.dataBytes / f.blockAlign;
    return f.sampleRate === this.sampleRate ? frames : Math.ceil((frames * this.sampleRate) / f.sampleRate);
  }

  /** Samples played as silence because their chunk had not been read in time. */
  get underrunSamples(): number {
    return this.#underrun;
  }

  /**
   * The next `samples` samples: a view into a decoded chunk when they lie in
   * one (callers read it and never write to it), else a copy.
   */
  read(samples: number): Int16Array {
    if (this.#ended) return new Int16Array(samples);
    const first = this.#queue[0];
    let out: Int16Array;
    if (first && first.length - this.#offset >= samples) {
      out = first.subarray(this.#offset, this.#offset + samples);
      this.#offset += samples;
      this.#queued -= samples;
      if (this.#offset === first.length) {
        this.#queue.shift();
        this.#offset = 0;
      }
    } else {
      out = new Int16Array(samples);
      let filled = 0;
      while (filled < samples) {
        const chunk = this.#queue[0];
        if (!chunk) {
          if (this.#refillFromMemory() || this.#readMoreNow()) continue;
          break;
        }
        const n = Math.min(samples - filled, chunk.length - this.#offset);
        out.set(chunk.subarray(this.#offset, this.#offset + n), filled);
        filled += n;
        this.#offset += n;
        this.#queued -= n;
        if (this.#offset >= chunk.length) {
          this.#queue.shift();
          this.#offset = 0;
        }
      }
      if (filled < samples && !this.#eof) this.#underrun += samples - filled;
    }
    // As soon as the last sample is out (not at the next read): a played file ends on the frame that carries its end.
    if (this.#queued === 0 && this.#eof) this.#end();
    else this.#readAhead();
    return out;
  }

  close(): void {
    this.#ended = true;
    this.#closed = true;
    this.#queue.length = 0;
    this.#queued = 0;
    this.#closeFd();
  }

  #end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#queue.length = 0;
    this.#queued = 0;
    this.#closeFd();
    this.onEnded?.();
  }

  /** A file held whole and looped: its next pass. */
  #refillFromMemory(): boolean {
    if (!this.#whole || this.#eof) return false;
    this.#push(this.#whole);
    return true;
  }

  #push(pcm: Int16Array): void {
    if (pcm.length === 0) return;
    this.#queue.push(pcm);
    this.#queued += pcm.length;
  }

  /** The next chunk is read in the background once less than a chunk is left. */
  #readAhead(): void {
    if (this.#awaiting || this.#eof || this.#closed || this.#whole || this.#fd === undefined) return;
    if (this.#queued >= this.#outputPerChunk()) return;
    const want = Math.min(this.#chunkBytes, this.#layout.dataBytes - this.#next);
    const buf = Buffer.allocUnsafeSlow(want);
    const id = ++this.#reads;
    this.#awaiting = { id, since: performance.now() };
    this.#inFlight++;
    readAsync(this.#fd, buf, 0, want, this.#layout.dataStart + this.#next, (err, got) => {
      this.#inFlight--;
      if (this.#closed || this.#closeAfterRead) {
        this.#closeFd();
        return;
      }
      if (this.#awaiting?.id !== id) return; // its chunk was read at once meanwhile
      this.#awaiting = undefined;
      if (err) {
        this.#fail(err);
        return;
      }
      this.#take(buf.subarray(0, got - (got % this.#layout.format.blockAlign)));
      this.#readAhead();
    });
  }

  /**
   * The queue ran dry: the next chunk is read now, unless its background
   * read has been on its way for STALL_MS or more (a stalled disk: silence
   * instead of a wait). False when none can be read.
   */
  #readMoreNow(): boolean {
    if (this.#eof || this.#closed || this.#whole || this.#fd === undefined) return false;
    if (this.#awaiting) {
      if (performance.now() - this.#awaiting.since >= STALL_MS) return false;
      this.#awaiting = undefined; // what it brings is dropped
    }
    const want = Math.min(this.#chunkBytes, this.#layout.dataBytes - this.#next);
    try {
      this.#take(this.#readNow(want));
    } catch (err) {
      this.#eof = true;
      if (err instanceof JingledError) this.onError?.(err);
      return false;
    }
    return this.#queued > 0;
  }

  #outputPerChunk(): number {
    return Math.round((this.sampleRate * CHUNK_MS) / 1000);
  }

  /** Bytes from #next decoded and queued; at the end of the data, a loop starts over and a single pass ends. */
  #take(bytes: Buffer): void {
    this.#next += bytes.length;
    this.#push(this.#decode(bytes));
    // A short read before the end: the file shrank while playing; its end is here.
    if (this.#next >= this.#layout.dataBytes || bytes.length === 0) {
      if (this.#resampler) this.#push(this.#trim(this.#resampler.flush()));
      this.#skip = this.#resampler?.delay ?? 0;
      this.#next = 0;
      if (!this.loop || bytes.length === 0) this.#eof = true;
    }
  }

  #fail(err: Error): void {
    this.#eof = true;
    const e = new JingledError("media-source", `cannot read ${this.path}: ${err.message}`, { cause: err });
    this.onError?.(e);
    this.#closeFd();
  }

  #readNow(len: number): Buffer {
    const buf = Buffer.allocUnsafeSlow(len);
    let got = 0;
    try {
      while (got < len) {
        const n = readSync(this.#fd!, buf, got, len - got, this.#layout.dataStart + this.#next + got);
        if (n === 0) break;
        got += n;
      }
    } catch (err) {
      this.#closeFd();
      throw new JingledError("media-source", `cannot play ${this.path}: ${errorMessage(err)}`, { cause: err });
    }
    return buf.subarray(0, got - (got % this.#layout.format.blockAlign));
  }

  /** A file of one chunk: decoded with the resampler's tail, as one pass. */
  #decodeAll(bytes: Buffer): Int16Array {
    const head = this.#decode(bytes);
    if (!this.#resampler) return head;
    const tail = this.#trim(this.#resampler.flush());
    const all = new Int16Array(head.length + tail.length);
    all.set(head);
    all.set(tail, head.length);
    return all;
  }

  /** Whole frames of the file's samples -> mono 16-bit at our rate (the resampler keeps its state between chunks). */
  #decode(bytes: Buffer): Int16Array {
    if (bytes.length === 0) return new Int16Array(0);
    const f = this.#layout.format;
    let pcm: Int16Array;
    if (this.#asIs) {
      // The bytes were read into memory of their own (allocUnsafeSlow, at offset 0): the samples are a view of them, no copy.
      pcm = new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length / 2);
    } else {
      pcm = floatToInt16(wavToMonoFloat({ format: f, frames: bytes.length / f.blockAlign, data: bytes }));
    }
    return this.#resampler ? this.#trim(this.#resampler.process(pcm)) : pcm;
  }

  /** Drops what is left of the resampler's start-up delay. */
  #trim(pcm: Int16Array): Int16Array {
    if (this.#skip === 0) return pcm;
    const n = Math.min(this.#skip, pcm.length);
    this.#skip -= n;
    return pcm.subarray(n);
  }

  #closeFd(): void {
    const fd = this.#fd;
    if (fd === undefined) return;
    if (this.#inFlight > 0) {
      this.#closeAfterRead = true;
      return;
    }
    this.#fd = undefined;
    close(fd, () => undefined);
  }
}
