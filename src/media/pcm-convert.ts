// Raw PCM (signed 16-bit little-endian, interleaved) <-> the pipeline's mono
// samples at the codec's rate: channel down/up-mixing and rate conversion for
// pipes and devices whose format differs. Streams arrive in arbitrary chunks,
// so a byte or a partial sample frame left over is carried to the next one.
import { Resampler } from "./resampler.js";

export class PcmDecoderStream {
  readonly #channels: number;
  readonly #resampler: Resampler | undefined;
  #carry: Buffer = Buffer.alloc(0);

  constructor(inRate: number, inChannels: number, outRate: number) {
    this.#channels = Math.max(1, inChannels);
    this.#resampler = inRate === outRate ? undefined : new Resampler(inRate, outRate);
  }

  /** Bytes in, mono samples at the output rate out. */
  push(chunk: Buffer): Int16Array {
    const frameBytes = 2 * this.#channels;
    const data = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    const frames = Math.floor(data.length / frameBytes);
    this.#carry = Buffer.from(data.subarray(frames * frameBytes));
    const mono = new Int16Array(frames);
    for (let f = 0; f < frames; f++) {
      let sum = 0;
      for (let c = 0; c < this.#channels; c++) sum += data.readInt16LE(f * frameBytes + 2 * c);
      mono[f] = Math.round(sum / this.#channels);
    }
    return this.#resampler ? this.#resampler.process(mono) : mono;
  }
}

export class PcmEncoderStream {
  readonly #channels: number;
  readonly #resampler: Resampler | undefined;

  constructor(inRate: number, outRate: number, outChannels: number) {
    this.#channels = Math.max(1, outChannels);
    this.#resampler = inRate === outRate ? undefined : new Resampler(inRate, outRate);
  }

  /** Mono samples in, interleaved s16le bytes at the output format out. */
  push(pcm: Int16Array): Buffer {
    const x = this.#resampler ? this.#resampler.process(pcm) : pcm;
    const out = Buffer.alloc(x.length * 2 * this.#channels);
    for (let i = 0; i < x.length; i++) {
      for (let c = 0; c < this.#channels; c++) out.writeInt16LE(x[i]!, (i * this.#channels + c) * 2);
    }
    return out;
  }
}
