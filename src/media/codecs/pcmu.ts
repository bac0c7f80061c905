// PCMU: ITU-T G.711 µ-law, 8000 Hz mono, static payload type 0 (RFC 3551 §4.5.14, §6).
// One byte per sample; any frame length is valid, 20 ms (160 samples) by default.
// Loss concealment follows the spirit of G.711 Appendix I: repeat the last
// good audio, full level for the first 10 ms, then fade linearly to silence
// at 60 ms of consecutive loss (repeating longer only produces a buzz).
import alawmulaw from "alawmulaw";
import type { AudioDecoder, AudioEncoder, CodecDescriptor, EncoderOptions } from "./codec.js";

const RATE = 8000;
const FADE_START = (10 * RATE) / 1000;
const FADE_END = (60 * RATE) / 1000;
/** How much recent audio the concealment repeats. */
const HISTORY = (20 * RATE) / 1000;

class PcmuEncoder implements AudioEncoder {
  readonly frameSamples: number;
  constructor(ptimeMs: number) {
    this.frameSamples = (ptimeMs * RATE) / 1000;
  }
  encode(pcm: Int16Array): Buffer {
    const u = alawmulaw.mulaw.encode(pcm);
    return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  }
  close(): void {}
}

class PcmuDecoder implements AudioDecoder {
  /** The last HISTORY decoded samples, oldest first once filled. */
  readonly #history = new Int16Array(HISTORY);
  #historyFilled = 0;
  /** Consecutive samples concealed since the last real packet. */
  #concealed = 0;

  decode(payload: Buffer): Int16Array {
    const pcm = alawmulaw.mulaw.decode(payload);
    this.#remember(pcm);
    this.#concealed = 0;
    return pcm;
  }

  conceal(samples: number): Int16Array {
    const out = new Int16Array(samples);
    const n = this.#historyFilled;
    if (n === 0) return out; // nothing heard yet: silence
    const h = this.#history;
    const start = HISTORY - n;
    for (let i = 0; i < samples; i++) {
      const t = this.#concealed + i;
      if (t >= FADE_END) break; // the rest stays silent
      const gain = t < FADE_START ? 1 : (FADE_END - t) / (FADE_END - FADE_START);
      out[i] = Math.round(h[start + (t % n)]! * gain);
    }
    this.#concealed += samples;
    return out;
  }

  close(): void {}

  #remember(pcm: Int16Array): void {
    const h = this.#history;
    if (pcm.length >= HISTORY) {
      h.set(pcm.subarray(pcm.length - HISTORY));
      this.#historyFilled = HISTORY;
    } else {
      h.copyWithin(0, pcm.length);
      h.set(pcm, HISTORY - pcm.length);
      this.#historyFilled = Math.min(HISTORY, this.#historyFilled + pcm.length);
    }
  }
}

export const pcmuCodec: CodecDescriptor = {
  name: "PCMU",
  clockRate: RATE,
  channels: 1,
  pcmRate: RATE,
  defaultPayloadType: 0,
  parameters: [],
  ptimes: [10, 20, 30, 40, 50, 60],
  // One octet per sample (RFC 3551 §4.5.14).
  packetSamples: (payload: Buffer) => (payload.length > 0 ? payload.length : undefined),
  createEncoder: (opts?: EncoderOptions) => new PcmuEncoder(opts?.ptimeMs ?? 20),
  createDecoder: () => new PcmuDecoder(),
};
