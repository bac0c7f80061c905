// ITU-T G.711 over RTP (RFC 3551 §4.5.14): 8000 Hz mono, one octet per
// sample, any frame length (20 ms, 160 samples, by default). The two laws,
// µ-law (PCMU, ./pcmu.ts) and A-law (PCMA, ./pcma.ts), differ only in the
// companding table (alawmulaw). Loss concealment: pitch-synchronous
// repetition with fading, after G.711 Appendix I (g711-plc.ts).
import type { AudioDecoder, AudioEncoder, CodecDescriptor, EncoderOptions } from "./codec.js";
import { G711Concealer, G711_IMPAIRMENT } from "./g711-plc.js";

const RATE = 8000;

/** One G.711 law: 16-bit linear samples to octets and back. */
export interface G711Law {
  encode(samples: Int16Array): Uint8Array;
  decode(octets: Uint8Array): Int16Array;
}

class G711Encoder implements AudioEncoder {
  readonly frameSamples: number;
  readonly #law: G711Law;
  constructor(law: G711Law, ptimeMs: number) {
    this.#law = law;
    this.frameSamples = (ptimeMs * RATE) / 1000;
  }
  encode(pcm: Int16Array): Buffer {
    const u = this.#law.encode(pcm);
    return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
  }
  close(): void {}
}

class G711Decoder implements AudioDecoder {
  readonly #law: G711Law;
  readonly #plc = new G711Concealer(RATE);
  constructor(law: G711Law) {
    this.#law = law;
  }
  decode(payload: Buffer): Int16Array {
    return this.#plc.good(this.#law.decode(payload));
  }
  conceal(samples: number): Int16Array {
    return this.#plc.conceal(samples);
  }
  close(): void {}
}

/** The descriptor of one G.711 law under its RFC 3551 name and static payload type. */
export function g711Codec(name: string, payloadType: number, law: G711Law): CodecDescriptor {
  return {
    name,
    clockRate: RATE,
    channels: 1,
    pcmRate: RATE,
    defaultPayloadType: payloadType,
    parameters: [],
    ptimes: [10, 20, 30, 40, 50, 60],
    // One octet per sample (RFC 3551 §4.5.14).
    packetSamples: (payload: Buffer) => (payload.length > 0 ? payload.length : undefined),
    createEncoder: (opts?: EncoderOptions) => new G711Encoder(law, opts?.ptimeMs ?? 20),
    createDecoder: () => new G711Decoder(law),
    algorithmicDelayMs: 0,
    impairment: G711_IMPAIRMENT,
  };
}
