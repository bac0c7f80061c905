// Opus (RFC 6716) over RTP (RFC 7587), on opusscript (libopus compiled to WASM).
//
// RFC 7587 §7: the media type is always signalled as opus/48000/2 whatever is
// actually sent; a mono stream is valid, and a decoder may output mono from a
// stereo stream. We encode and decode mono at 48 kHz (libopus downmixes a
// stereo packet when the decoder was created with one channel).
//
// Concealment. opusscript's decode() takes no frame size: it always passes
// libopus 60 ms of room, and an empty packet is concealed as 60 ms. RFC 6716
// §3.2.1 lets a frame have zero length ("DTX or lost"), and libopus conceals
// such a frame for exactly the duration its TOC byte announces. So conceal()
// hands the decoder 1-byte TOC-only packets whose frame duration adds up to
// the samples requested. Durations the current mode cannot express (e.g. 5 ms
// while SILK runs) are concealed in a bigger chunk whose surplus is handed out
// by the next conceal() calls and dropped when a real packet arrives.
// (Checked: for a lost 20 ms frame this gives the same samples as libopus's
// own PLC with data = NULL.)
//
// FEC. The decoder has no decodeFec(): opusscript 0.1.1 cannot reach libopus's
// in-band FEC. Its WASM exports only malloc/free/opus_strerror and the embind
// handler; the handler's _decode has opus_decode and opus_decode_native
// inlined with decode_fec = 0 constant-folded (the specialised
// opus_decode_frame takes no FEC argument), so not even patching the module
// would expose it. We still encode with in-band FEC (peers that can use it
// do) and the receive path takes FEC from the next packet as soon as a
// backend offers decodeFec (e.g. a native libopus binding).
import OpusScript from "opusscript";
import { JingledError } from "../../util/errors.js";
import type { AudioDecoder, AudioEncoder, CodecDescriptor, EncoderOptions } from "./codec.js";

const RATE = 48000;

/** libopus CTL request numbers (opus_defines.h). */
const Ctl = {
  SetBitrate: 4002,
  SetComplexity: 4010,
  SetInbandFec: 4012,
  SetPacketLossPerc: 4014,
  SetDtx: 4016,
} as const;

/** Frame durations Opus can encode (RFC 6716 §2.1.4), in ms. */
const VALID_PTIME_MS = [2.5, 5, 10, 20, 40, 60] as const;
/** Loss we tell the encoder to expect: with 0 % it spends no bits on FEC. */
const EXPECTED_LOSS_PERCENT = 10;

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** int16 samples as little-endian bytes, which is what opusscript reads. */
function pcmAsBytes(pcm: Int16Array): Buffer {
  if (littleEndianHost) return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const b = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i]!, i * 2);
  return b;
}

function bytesAsPcm(b: Buffer): Int16Array {
  const out = new Int16Array(b.length >> 1);
  if (littleEndianHost) new Uint8Array(out.buffer).set(b.subarray(0, out.length * 2));
  else for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(i * 2);
  return out;
}

class OpusEncoder implements AudioEncoder {
  readonly frameSamples: number;
  #enc: OpusScript | undefined;

  constructor(opts: EncoderOptions = {}) {
    const ptime = opts.ptimeMs ?? 20;
    if (!(VALID_PTIME_MS as readonly number[]).includes(ptime)) {
      throw new JingledError("codec-config", `Opus cannot use ${ptime} ms frames (valid: ${VALID_PTIME_MS.join(", ")})`);
    }
    this.frameSamples = (ptime * RATE) / 1000;
    const enc = new OpusScript(RATE, 1, OpusScript.Application.VOIP);
    try {
      enc.encoderCTL(Ctl.SetBitrate, opts.bitrate ?? 32000);
      if (opts.complexity !== undefined) enc.encoderCTL(Ctl.SetComplexity, opts.complexity);
      const fec = opts.fec ?? true;
      enc.encoderCTL(Ctl.SetInbandFec, fec ? 1 : 0);
      enc.encoderCTL(Ctl.SetPacketLossPerc, fec ? EXPECTED_LOSS_PERCENT : 0);
      enc.encoderCTL(Ctl.SetDtx, opts.dtx ? 1 : 0);
    } catch (err) {
      enc.delete();
      throw new JingledError("codec-config", `Opus encoder setup failed: ${(err as Error).message}`, { cause: err });
    }
    this.#enc = enc;
  }

  /**
   * One frame of exactly frameSamples samples. With DTX on, a payload of 1–2
   * bytes during silence may be left unsent (RFC 7587 §3.1.3).
   */
  encode(pcm: Int16Array): Buffer {
    if (!this.#enc) throw new JingledError("codec-closed", "Opus encoder is closed");
    if (pcm.length !== this.frameSamples) {
      throw new RangeError(`Opus encoder takes ${this.frameSamples} samples per frame, got ${pcm.length}`);
    }
    return this.#enc.encode(pcmAsBytes(pcm), this.frameSamples);
  }

  close(): void {
    this.#enc?.delete();
    this.#enc = undefined;
  }
}

/** TOC byte: config (5 bits) | stereo (1) | frame-count code (2) — RFC 6716 §3.1. */
const TOC_STEREO = 0x04;
/** Default when nothing was received yet: CELT-only fullband 20 ms, mono. */
const DEFAULT_TOC = 31 << 3;

/** Samples at 48 kHz of each config's frame, per mode (RFC 6716 §3.1, Table 2). */
function frameSamplesOfConfig(config: number): number {
  if (config < 12) return [480, 960, 1920, 2880][config & 3]!; // SILK-only: 10/20/40/60 ms
  if (config < 16) return [480, 960][config & 1]!; // Hybrid: 10/20 ms
  return [120, 240, 480, 960][config & 3]!; // CELT-only: 2.5/5/10/20 ms
}

/** The configs of the same mode and bandwidth as `config`, with their frame sizes, largest first. */
function sameModeConfigs(config: number): { config: number; samples: number }[] {
  const group = config < 12 ? config & ~3 : config < 16 ? config & ~1 : config & ~3;
  const count = config >= 12 && config < 16 ? 2 : 4;
  const list = [];
  for (let c = group; c < group + count; c++) list.push({ config: c, samples: frameSamplesOfConfig(c) });
  return list.sort((a, b) => b.samples - a.samples);
}

class OpusDecoder implements AudioDecoder {
  #dec: OpusScript | undefined;
  /** TOC of the last real packet: concealment keeps its mode, bandwidth and channel count. */
  #lastToc = DEFAULT_TOC;
  #surplus: Int16Array = new Int16Array(0);
  /** Packets libopus rejected (each was concealed instead). */
  corruptPackets = 0;

  constructor() {
    this.#dec = new OpusScript(RATE, 1);
  }

  decode(payload: Buffer): Int16Array {
    const dec = this.#live();
    // A lost or DTX frame (RFC 6716 §3.2.1): conceal for the duration its TOC
    // announces (an empty payload: one frame of the current size).
    if (payload.length <= 1) {
      return this.conceal(frameSamplesOfConfig((payload.length === 1 ? payload[0]! : this.#lastToc) >> 3));
    }
    this.#surplus = new Int16Array(0); // real audio resumes; stale concealment is dropped
    let raw: Buffer;
    try {
      raw = dec.decode(payload);
    } catch {
      this.corruptPackets++;
      return this.conceal(frameSamplesOfConfig(this.#lastToc >> 3));
    }
    this.#lastToc = payload[0]!;
    return bytesAsPcm(raw);
  }

  conceal(samples: number): Int16Array {
    const dec = this.#live();
    const out = new Int16Array(samples);
    let filled = Math.min(samples, this.#surplus.length);
    out.set(this.#surplus.subarray(0, filled));
    this.#surplus = this.#surplus.subarray(filled);
    const config = this.#lastToc >> 3;
    const configs = sameModeConfigs(config);
    const smallest = configs[configs.length - 1]!;
    while (filled < samples) {
      const remaining = samples - filled;
      const pick = configs.find((c) => c.samples <= remaining) ?? smallest;
      const toc = (pick.config << 3) | (this.#lastToc & TOC_STEREO); // code 0: one frame
      const pcm = bytesAsPcm(dec.decode(Buffer.of(toc)));
      const take = Math.min(pcm.length, remaining);
      out.set(pcm.subarray(0, take), filled);
      filled += take;
      if (take < pcm.length) this.#surplus = pcm.subarray(take);
      if (pcm.length === 0) break; // libopus refused: leave silence rather than spin
    }
    return out;
  }

  close(): void {
    this.#dec?.delete();
    this.#dec = undefined;
  }

  #live(): OpusScript {
    if (!this.#dec) throw new JingledError("codec-closed", "Opus decoder is closed");
    return this.#dec;
  }
}

/**
 * Samples (48 kHz) in one Opus packet: frames x frame size, from the TOC byte
 * and, for code 3, the frame count byte (RFC 6716 §3.1, §3.2.5).
 */
export function opusPacketSamples(payload: Buffer): number | undefined {
  if (payload.length < 1) return undefined;
  const toc = payload[0]!;
  const size = frameSamplesOfConfig(toc >> 3);
  const code = toc & 3;
  if (code === 0) return size;
  if (code === 1 || code === 2) return 2 * size;
  if (payload.length < 2) return undefined;
  const frames = payload[1]! & 0x3f;
  // §3.2.5: at most 120 ms per packet.
  return frames > 0 && frames * size <= 5760 ? frames * size : undefined;
}

export const opusCodec: CodecDescriptor = {
  name: "opus",
  clockRate: RATE,
  channels: 2, // RFC 7587 §7: always signalled as 2 channels
  pcmRate: RATE,
  defaultPayloadType: 111,
  parameters: [
    { name: "minptime", value: "10" },
    { name: "useinbandfec", value: "1" },
  ],
  // RFC 7587 §4.2: frames of 2.5-60 ms; the media clock ticks every 20 ms, so 10-60 ms are used.
  ptimes: [10, 20, 40, 60],
  packetSamples: opusPacketSamples,
  createEncoder: (opts?: EncoderOptions) => new OpusEncoder(opts),
  createDecoder: () => new OpusDecoder(),
};
