// WAV (RIFF/WAVE) reading and streaming writing.
//
// Format references: Microsoft "Multimedia Programming Interface and Data
// Specifications 1.0" (RIFF, WAVE_FORMAT_PCM) and the WAVE_FORMAT_EXTENSIBLE
// note (KSDATAFORMAT_SUBTYPE_* GUIDs whose first two bytes are the format tag).
// Reading is liberal: unknown chunks are skipped, odd chunk sizes are padded,
// and a data size that runs past the end of the file (a recorder that died
// before patching its header) is clamped to the bytes actually present.
import { close as fsClose, openSync, readSync, write, writeFileSync } from "node:fs";
import { endianness } from "node:os";
import alawmulaw from "alawmulaw";
import { JingledError } from "../util/errors.js";
import { Resampler } from "./resampler.js";

/** WAVE format tags jingled can decode. */
export const WavFormatTag = {
  Pcm: 0x0001,
  Float: 0x0003,
  Alaw: 0x0006,
  Mulaw: 0x0007,
  Extensible: 0xfffe,
} as const;
export type WavFormatTag = (typeof WavFormatTag)[keyof typeof WavFormatTag];

export const WavEncoding = { Int: "int", Float: "float", Alaw: "alaw", Mulaw: "mulaw" } as const;
export type WavEncoding = (typeof WavEncoding)[keyof typeof WavEncoding];

export interface WavFormat {
  encoding: WavEncoding;
  sampleRate: number;
  channels: number;
  /** container size of one sample */
  bitsPerSample: number;
  /** bytes per frame (all channels) */
  blockAlign: number;
}

export interface ParsedWav {
  format: WavFormat;
  /** number of sample frames (one sample per channel each) */
  frames: number;
  /** the raw sample bytes (a view into the input buffer) */
  data: Buffer;
}

/** The input is not a WAV file, or a WAV file jingled cannot decode. */
export class WavError extends JingledError {
  constructor(message: string) {
    super("wav-invalid", message);
  }
}

const KNOWN_TAG_NAMES: Record<number, string> = {
  0x0002: "Microsoft ADPCM",
  0x0011: "IMA ADPCM",
  0x0031: "GSM 6.10",
  0x0050: "MPEG",
  0x0055: "MP3",
};

const CONVERT_HINT = "convert it first, e.g. `sox in.wav -e signed-integer -b 16 out.wav`";

export function parseWav(buf: Buffer): ParsedWav {
  if (buf.length < 12) throw new WavError(`not a WAV file: only ${buf.length} bytes`);
  const riff = buf.toString("latin1", 0, 4);
  if (riff === "RF64") throw new WavError("RF64 (WAV larger than 4 GiB) is not supported");
  if (riff !== "RIFF" || buf.toString("latin1", 8, 12) !== "WAVE") {
    throw new WavError("not a WAV file: missing RIFF/WAVE header");
  }
  let format: WavFormat | undefined;
  let data: Buffer | undefined;
  for (const { id, start, declared } of riffChunks(buf)) {
    const size = Math.min(declared, buf.length - start);
    if (id === "fmt ") format = parseFmt(buf.subarray(start, start + size));
    else if (id === "data") {
      data = buf.subarray(start, start + size);
      if (format) break; // the usual order; nothing after data matters to us
    }
  }
  if (!format) throw new WavError("invalid WAV file: no 'fmt ' chunk");
  if (!data) throw new WavError("invalid WAV file: no 'data' chunk");
  const frames = Math.floor(data.length / format.blockAlign);
  return { format, frames, data: data.subarray(0, frames * format.blockAlign) };
}

/** The chunks of a RIFF/WAVE buffer after its 12-octet header: id, where the body starts, its declared size. */
function* riffChunks(buf: Buffer): Generator<{ id: string; start: number; declared: number }> {
  let off = 12;
  while (off + 8 <= buf.length) {
    const declared = buf.readUInt32LE(off + 4);
    const start = off + 8;
    yield { id: buf.toString("latin1", off, off + 4), start, declared };
    off = start + declared + (declared & 1); // chunks are padded to an even size
  }
}

/**
 * The duration of a WAV file from its header alone (the "fmt " chunk's byte
 * rate, the "data" chunk's size, clamped to the `fileSize`); undefined when
 * the header does not say.
 */
export function wavDurationMs(header: Buffer, fileSize: number): number | undefined {
  if (header.length < 12 || header.toString("latin1", 0, 4) !== "RIFF" || header.toString("latin1", 8, 12) !== "WAVE") return undefined;
  let byteRate: number | undefined;
  for (const { id, start, declared } of riffChunks(header)) {
    if (id === "fmt " && start + 16 <= header.length) byteRate = header.readUInt32LE(start + 8);
    else if (id === "data") return byteRate ? Math.round((Math.min(declared, Math.max(0, fileSize - start)) * 1000) / byteRate) : undefined;
  }
  return undefined;
}

/** Where a WAV file's samples are: its format and the byte range of its whole frames. */
export interface WavLayout {
  format: WavFormat;
  /** Offset of the first sample byte in the file. */
  dataStart: number;
  /** Bytes of whole frames (clamped to the file's size, as parseWav does). */
  dataBytes: number;
}

/** The longest 'fmt ' chunk read (WAVE_FORMAT_EXTENSIBLE needs 40 bytes; the rest is extension we ignore). */
const MAX_FMT_BYTES = 4096;

/**
 * The layout of the WAV file open as `fd` (`size` bytes), from its chunk
 * headers alone: a file is never read whole to find its samples, whatever
 * its length or the chunks before them. Same rules as parseWav.
 */
export function readWavLayout(fd: number, size: number): WavLayout {
  const read = (pos: number, len: number): Buffer => {
    const b = Buffer.alloc(Math.max(0, Math.min(len, size - pos)));
    let got = 0;
    while (got < b.length) {
      const n = readSync(fd, b, got, b.length - got, pos + got);
      if (n === 0) break;
      got += n;
    }
    return b.subarray(0, got);
  };
  const head = read(0, 12);
  if (head.length < 12) throw new WavError(`not a WAV file: only ${head.length} bytes`);
  const riff = head.toString("latin1", 0, 4);
  if (riff === "RF64") throw new WavError("RF64 (WAV larger than 4 GiB) is not supported");
  if (riff !== "RIFF" || head.toString("latin1", 8, 12) !== "WAVE") throw new WavError("not a WAV file: missing RIFF/WAVE header");
  let format: WavFormat | undefined;
  let data: { start: number; size: number } | undefined;
  for (let off = 12; off + 8 <= size; ) {
    const h = read(off, 8);
    if (h.length < 8) break;
    const id = h.toString("latin1", 0, 4);
    const declared = h.readUInt32LE(4);
    const start = off + 8;
    const body = Math.min(declared, size - start);
    if (id === "fmt ") format = parseFmt(read(start, Math.min(body, MAX_FMT_BYTES)));
    else if (id === "data") {
      data = { start, size: body };
      if (format) break; // the usual order; nothing after data matters to us
    }
    off = start + declared + (declared & 1); // chunks are padded to an even size
  }
  if (!format) throw new WavError("invalid WAV file: no 'fmt ' chunk");
  if (!data) throw new WavError("invalid WAV file: no 'data' chunk");
  return { format, dataStart: data.start, dataBytes: Math.floor(data.size / format.blockAlign) * format.blockAlign };
}

function parseFmt(c: Buffer): WavFormat {
  if (c.length < 16) throw new WavError(`invalid WAV file: 'fmt ' chunk of ${c.length} bytes`);
  let tag = c.readUInt16LE(0);
  const channels = c.readUInt16LE(2);
  const sampleRate = c.readUInt32LE(4);
  const blockAlign = c.readUInt16LE(12);
  const bitsPerSample = c.readUInt16LE(14);
  if (tag === WavFormatTag.Extensible) {
    // cbSize(2) validBits(2) channelMask(4) then the SubFormat GUID, whose first
    // two bytes are the plain format tag.
    if (c.length < 40) throw new WavError("invalid WAV file: truncated WAVE_FORMAT_EXTENSIBLE header");
    tag = c.readUInt16LE(24);
  }
  if (channels < 1) throw new WavError("invalid WAV file: 0 channels");
  if (sampleRate < 1) throw new WavError("invalid WAV file: sample rate 0");
  let encoding: WavEncoding;
  switch (tag) {
    case WavFormatTag.Pcm:
      if (![8, 16, 24, 32].includes(bitsPerSample)) {
        throw new WavError(`unsupported WAV: ${bitsPerSample}-bit integer PCM; ${CONVERT_HINT}`);
      }
      encoding = WavEncoding.Int;
      break;
    case WavFormatTag.Float:
      if (bitsPerSample !== 32 && bitsPerSample !== 64) {
        throw new WavError(`unsupported WAV: ${bitsPerSample}-bit float; ${CONVERT_HINT}`);
      }
      encoding = WavEncoding.Float;
      break;
    case WavFormatTag.Alaw:
    case WavFormatTag.Mulaw:
      if (bitsPerSample !== 8) throw new WavError(`unsupported WAV: ${bitsPerSample}-bit G.711`);
      encoding = tag === WavFormatTag.Alaw ? WavEncoding.Alaw : WavEncoding.Mulaw;
      break;
    default: {
      const name = KNOWN_TAG_NAMES[tag] ?? "unknown";
      const hex = `0x${tag.toString(16).padStart(4, "0")}`;
      throw new WavError(`unsupported WAV encoding ${hex} (${name}); ${CONVERT_HINT}`);
    }
  }
  if (blockAlign !== (channels * bitsPerSample) / 8) {
    throw new WavError(
      `invalid WAV file: block align ${blockAlign} does not match ${channels} x ${bitsPerSample} bits`,
    );
  }
  return { encoding, sampleRate, channels, bitsPerSample, blockAlign };
}

/** Decode and downmix (average of the channels) to mono floats in [-1, 1]. */
export function wavToMonoFloat(wav: ParsedWav): Float32Array {
  const { format, frames, data } = wav;
  const { channels, bitsPerSample, encoding } = format;
  const out = new Float32Array(frames);
  const bytes = bitsPerSample / 8;
  const read = sampleReader(encoding, bitsPerSample, data);
  const gain = 1 / channels;
  let off = 0;
  for (let f = 0; f < frames; f++) {
    let sum = 0;
    for (let ch = 0; ch < channels; ch++, off += bytes) sum += read(off);
    out[f] = sum * gain;
  }
  return out;
}

function sampleReader(enc: WavEncoding, bits: number, d: Buffer): (off: number) => number {
  switch (enc) {
    case WavEncoding.Float:
      return bits === 32 ? (o) => d.readFloatLE(o) : (o) => d.readDoubleLE(o);
    case WavEncoding.Alaw:
      return (o) => alawmulaw.alaw.decodeSample(d[o]!) / 32768;
    case WavEncoding.Mulaw:
      return (o) => alawmulaw.mulaw.decodeSample(d[o]!) / 32768;
    case WavEncoding.Int:
      switch (bits) {
        case 8:
          return (o) => (d[o]! - 128) / 128; // 8-bit WAV is unsigned
        case 16:
          return (o) => d.readInt16LE(o) / 32768;
        case 24:
          return (o) => d.readIntLE(o, 3) / 8388608;
        default:
          return (o) => d.readInt32LE(o) / 2147483648;
      }
  }
}

/** Float [-1, 1] to int16 with rounding and clipping. */
export function floatToInt16(x: Float32Array): Int16Array {
  const out = new Int16Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = Math.round(x[i]! * 32768);
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

/** Any supported WAV -> mono int16 at `targetRate` (channels averaged, resampled). */
export function readWavMono(buf: Buffer, targetRate: number): Int16Array {
  const wav = parseWav(buf);
  const mono = floatToInt16(wavToMonoFloat(wav));
  return wav.format.sampleRate === targetRate
    ? mono
    : Resampler.resampleAll(mono, wav.format.sampleRate, targetRate);
}

const HEADER_BYTES = 44;
const MAX_DATA_BYTES = 0xffffffff - (HEADER_BYTES - 8);
const littleEndianHost = endianness() === "LE";

/** The canonical 44-byte header of 16-bit PCM. */
export function wavHeader(sampleRate: number, channels: number, dataBytes: number): Buffer {
  const h = Buffer.alloc(HEADER_BYTES);
  h.write("RIFF", 0, "latin1");
  h.writeUInt32LE(Math.min(0xffffffff, dataBytes + HEADER_BYTES - 8), 4);
  h.write("WAVE", 8, "latin1");
  h.write("fmt ", 12, "latin1");
  h.writeUInt32LE(16, 16);
  h.writeUInt16LE(WavFormatTag.Pcm, 20);
  h.writeUInt16LE(channels, 22);
  h.writeUInt32LE(sampleRate, 24);
  h.writeUInt32LE(sampleRate * channels * 2, 28);
  h.writeUInt16LE(channels * 2, 32);
  h.writeUInt16LE(16, 34);
  h.write("data", 36, "latin1");
  h.writeUInt32LE(Math.min(0xffffffff, dataBytes), 40);
  return h;
}

/** int16 samples as little-endian bytes (copied, so the caller may reuse its array). */
function pcmBytes(pcm: Int16Array): Buffer {
  if (littleEndianHost) return Buffer.from(pcm.buffer.slice(pcm.byteOffset, pcm.byteOffset + pcm.byteLength));
  const b = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i]!, i * 2);
  return b;
}

/** 16-bit PCM WAV file bytes. */
export function encodeWav(pcm: Int16Array, sampleRate: number, channels = 1): Buffer {
  return Buffer.concat([wavHeader(sampleRate, channels, pcm.byteLength), pcmBytes(pcm)]);
}

/** Write a whole 16-bit PCM WAV file at once (tests, small files). */
export function writeWavFile(path: string, pcm: Int16Array, sampleRate: number, channels = 1): void {
  writeFileSync(path, encodeWav(pcm, sampleRate, channels));
}

/** Size of the staging buffers the writer copies frames into (~0.7 s of 48 kHz mono). */
const STAGE_BYTES = 64 * 1024;
/** Staging buffers kept for reuse once written. */
const SPARE_STAGES = 4;

/**
 * Streaming 16-bit PCM WAV writer. write() never blocks: it copies the frame
 * into a reusable staging buffer, and staged bytes are written asynchronously
 * (one write in flight; what arrives meanwhile is written next, in one go).
 * Steady state allocates nothing per frame. The header is written with
 * "unknown" sizes (0xFFFFFFFF, which readers clamp to the file length, so a
 * recording cut short by a crash stays readable) and patched on close().
 */
export class WavFileWriter {
  readonly path: string;
  readonly sampleRate: number;
  readonly channels: number;
  readonly #fd: number;
  /** Full staging buffers waiting to be written, in order. */
  #full: Buffer[] = [];
  #stage: Buffer | undefined;
  #stageLen = 0;
  #spare: Buffer[] = [];
  #writing = false;
  #position = HEADER_BYTES;
  #dataBytes = 0;
  #error: Error | undefined;
  #closed = false;
  #drained: (() => void)[] = [];

  private constructor(path: string, sampleRate: number, channels: number, fd: number) {
    this.path = path;
    this.sampleRate = sampleRate;
    this.channels = channels;
    this.#fd = fd;
  }

  /**
   * Create (truncate) the file; throws at once if it cannot be opened.
   * `fd`: write to this already open descriptor instead (a file created by
   * client-path.ts); the writer owns it from then on and closes it.
   */
  static open(path: string, sampleRate: number, channels = 1, opts: { fd?: number } = {}): WavFileWriter {
    if (!Number.isInteger(sampleRate) || sampleRate <= 0) {
      throw new RangeError(`WAV sample rate must be a positive integer, got ${sampleRate}`);
    }
    if (!Number.isInteger(channels) || channels < 1) {
      throw new RangeError(`WAV channel count must be a positive integer, got ${channels}`);
    }
    let fd: number;
    try {
      fd = opts.fd ?? openSync(path, "w");
    } catch (err) {
      throw new JingledError("media-sink", `cannot create WAV file ${path}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const w = new WavFileWriter(path, sampleRate, channels, fd);
    w.#writeAt(wavHeader(sampleRate, channels, 0xffffffff), 0, false);
    return w;
  }

  /** Bytes of sample data accepted so far. */
  get dataBytes(): number {
    return this.#dataBytes;
  }

  /** Queue samples (interleaved when channels > 1). The array may be reused at once. */
  write(pcm: Int16Array): void {
    if (this.#closed) throw new JingledError("media-sink", `WAV file ${this.path} is closed`);
    if (this.#error || pcm.length === 0) return;
    if (this.#dataBytes + pcm.byteLength > MAX_DATA_BYTES) return; // RIFF's 4 GiB limit: stop recording
    this.#dataBytes += pcm.byteLength;
    if (littleEndianHost) this.#stageBytes(new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
    else this.#stageBytes(pcmBytes(pcm));
    if (!this.#writing) this.#kick();
  }

  /** Flush queued samples, patch the RIFF and data sizes, close the file. Rejects on any I/O error. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#drain();
    if (!this.#error) {
      const h = wavHeader(this.sampleRate, this.channels, this.#dataBytes);
      await new Promise<void>((resolve) =>
        write(this.#fd, h, 0, h.length, 0, (err) => {
          if (err) this.#error = err;
          resolve();
        }),
      );
    }
    await new Promise<void>((resolve) =>
      fsClose(this.#fd, (err) => {
        if (err && !this.#error) this.#error = err;
        resolve();
      }),
    );
    if (this.#error) {
      throw new JingledError("media-sink", `writing WAV file ${this.path} failed: ${this.#error.message}`, {
        cause: this.#error,
      });
    }
  }

  #stageBytes(bytes: Uint8Array): void {
    let off = 0;
    while (off < bytes.length) {
      if (!this.#stage) {
        this.#stage = this.#spare.pop() ?? Buffer.allocUnsafe(STAGE_BYTES);
        this.#stageLen = 0;
      }
      const n = Math.min(bytes.length - off, STAGE_BYTES - this.#stageLen);
      this.#stage.set(bytes.subarray(off, off + n), this.#stageLen);
      this.#stageLen += n;
      off += n;
      if (this.#stageLen === STAGE_BYTES) {
        this.#full.push(this.#stage);
        this.#stage = undefined;
      }
    }
  }

  /** Start the next write, or wake close() when everything is written. */
  #kick(): void {
    let buf = this.#full.shift();
    let len = STAGE_BYTES;
    if (!buf && this.#stage && this.#stageLen > 0) {
      buf = this.#stage;
      len = this.#stageLen;
      this.#stage = undefined;
    }
    if (!buf) {
      const waiters = this.#drained;
      this.#drained = [];
      for (const w of waiters) w();
      return;
    }
    const pos = this.#position;
    this.#position += len;
    this.#writeAt(buf.subarray(0, len), pos, true);
  }

  #writeAt(b: Buffer, position: number, recycle: boolean): void {
    this.#writing = true;
    const writeFrom = (off: number): void => {
      write(this.#fd, b, off, b.length - off, position + off, (err, n) => {
        if (err) {
          this.#error ??= err;
          this.#full = [];
          this.#stage = undefined;
        } else if (off + n < b.length) {
          writeFrom(off + n); // short write: continue where it stopped
          return;
        }
        if (recycle && this.#spare.length < SPARE_STAGES) this.#spare.push(Buffer.from(b.buffer, b.byteOffset, STAGE_BYTES));
        this.#writing = false;
        this.#kick();
      });
    };
    writeFrom(0);
  }

  #drain(): Promise<void> {
    if (!this.#writing && this.#full.length === 0 && !(this.#stage && this.#stageLen > 0)) return Promise.resolve();
    if (!this.#writing) this.#kick();
    return new Promise((resolve) => this.#drained.push(resolve));
  }
}
