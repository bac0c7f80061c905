// G722: ITU-T G.722 wideband audio (50-7000 Hz), 64 kbit/s, static payload
// type 9 (RFC 3551 §4.5.2, §6). The coder itself is g722-sbadpcm.ts.
//
// The clock rate quirk (RFC 3551 §4.5.2): G.722 samples at 16000 Hz, but its
// RTP clock rate is 8000 "because that value was erroneously assigned in
// RFC 1890", and SDP, XEP-0167 and every implementation kept it. So the
// descriptor says clockRate 8000 (timestamps advance 160 per 20 ms, the
// payload type is G722/8000) and pcmRate 16000 (what the encoder takes and
// the decoder gives): one octet per 1/8000 s, i.e. per two 16 kHz samples.
//
// Loss concealment: the decoded 16 kHz signal is continued like G.711's
// (pitch-synchronous repetition with fading, g711-plc.ts). The ADPCM decoder
// does not see the lost octets, so its state differs from the encoder's for
// a while after a loss; its adaptation brings them together again.
import type { AudioDecoder, AudioEncoder, CodecDescriptor, EncoderOptions } from "./codec.js";
import { G711Concealer } from "./g711-plc.js";
import { G722Decoder as SbAdpcmDecoder, G722Encoder as SbAdpcmEncoder } from "./g722-sbadpcm.js";

const PCM_RATE = 16000;
const CLOCK_RATE = 8000;

class G722Encoder implements AudioEncoder {
  readonly frameSamples: number;
  readonly #coder = new SbAdpcmEncoder();
  constructor(ptimeMs: number) {
    this.frameSamples = (ptimeMs * PCM_RATE) / 1000;
  }
  encode(pcm: Int16Array): Buffer {
    const out = Buffer.allocUnsafe(pcm.length >> 1);
    this.#coder.encode(pcm, out);
    return out;
  }
  close(): void {}
}

class G722Decoder implements AudioDecoder {
  readonly #coder = new SbAdpcmDecoder(1);
  readonly #plc = new G711Concealer(PCM_RATE);
  decode(payload: Buffer): Int16Array {
    return this.#plc.good(this.#coder.decode(payload));
  }
  conceal(samples: number): Int16Array {
    return this.#plc.conceal(samples);
  }
  close(): void {}
}

export const g722Codec: CodecDescriptor = {
  name: "G722",
  clockRate: CLOCK_RATE,
  channels: 1,
  pcmRate: PCM_RATE,
  defaultPayloadType: 9,
  parameters: [],
  ptimes: [10, 20, 30, 40, 50, 60],
  // One octet per 1/8000 s (RFC 3551 §4.5.2): the payload length in clock units.
  packetSamples: (payload: Buffer) => (payload.length > 0 ? payload.length : undefined),
  createEncoder: (opts?: EncoderOptions) => new G722Encoder(opts?.ptimeMs ?? 20),
  createDecoder: () => new G722Decoder(),
  // The two QMFs: 22 samples at 16 kHz, measured (test/unit/g722.test.ts).
  algorithmicDelayMs: 1.375,
  // G.113 rates G.722 on the wideband scale only; on the narrowband R scale
  // used here it counts as transparent, with G.711's loss robustness
  // (the same concealment).
  impairment: { ie: 0, bpl: 25.1 },
};
