// PCMU: ITU-T G.711 µ-law, 8000 Hz mono, static payload type 0 (RFC 3551 §4.5.14, §6).
// One byte per sample; any frame length is valid, 20 ms (160 samples) by default.
// Loss concealment: pitch-synchronous repetition with fading, after G.711
// Appendix I (g711-plc.ts).
import alawmulaw from "alawmulaw";
import type { AudioDecoder, AudioEncoder, CodecDescriptor, EncoderOptions } from "./codec.js";
import { G711Concealer } from "./g711-plc.js";

const RATE = 8000;

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
  readonly #plc = new G711Concealer(RATE);

  decode(payload: Buffer): Int16Array {
    return this.#plc.good(alawmulaw.mulaw.decode(payload));
  }

  conceal(samples: number): Int16Array {
    return this.#plc.conceal(samples);
  }

  close(): void {}
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
