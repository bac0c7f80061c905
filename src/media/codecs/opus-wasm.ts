// The opusscript backend: libopus compiled to WASM (opusscript 0.1.1).
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
// FEC. This decoder has no decodeFec(): opusscript 0.1.1 cannot reach
// libopus's in-band FEC. Its WASM exports only malloc/free/opus_strerror and
// the embind handler; the handler's _decode has opus_decode and
// opus_decode_native inlined with decode_fec = 0 constant-folded (the
// specialised opus_decode_frame takes no FEC argument), so not even patching
// the module would expose it. The native backend (opus-native.ts) has it.
//
// Capacity: opusscript's WASM heap is fixed; it holds about 40 encoder +
// decoder pairs, so about 40 concurrent Opus calls.
import OpusScript from "opusscript";
import { JingledError } from "../../util/errors.js";
import type { AudioDecoder, AudioEncoder, EncoderOptions } from "./codec.js";
import { DEFAULT_TOC, OPUS_RATE, TOC_STEREO, encoderCtls, frameSamplesOfConfig, opusFrameSamples, sameModeConfigs } from "./opus-packet.js";

const littleEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** int16 samples as little-endian bytes, which is what opusscript reads. */
function pcmAsBytes(pcm: Int16Array): Buffer {
  if (littleEndianHost) return Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength);
  const b = Buffer.alloc(pcm.length * 2);
  for (let i = 0; i < pcm.length; i++) b.writeInt16LE(pcm[i]!, i * 2);
  return b;
}

/**
 * opusscript's decode() output as samples. It returns a fresh copy of its
 * WASM output each time, so on a little-endian host the samples are viewed in
 * place rather than copied again.
 */
function bytesAsPcm(b: Buffer): Int16Array {
  const n = b.length >> 1;
  if (littleEndianHost && b.byteOffset % 2 === 0) return new Int16Array(b.buffer, b.byteOffset, n);
  const out = new Int16Array(n);
  if (littleEndianHost) new Uint8Array(out.buffer).set(b.subarray(0, n * 2));
  else for (let i = 0; i < n; i++) out[i] = b.readInt16LE(i * 2);
  return out;
}

export class WasmOpusEncoder implements AudioEncoder {
  readonly frameSamples: number;
  readonly backend = "wasm";
  #enc: OpusScript | undefined;

  constructor(opts: EncoderOptions = {}) {
    this.frameSamples = opusFrameSamples(opts.ptimeMs ?? 20);
    const enc = new OpusScript(OPUS_RATE, 1, OpusScript.Application.VOIP);
    try {
      for (const [request, value] of encoderCtls(opts)) enc.encoderCTL(request, value);
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

export class WasmOpusDecoder implements AudioDecoder {
  readonly backend = "wasm";
  #dec: OpusScript | undefined;
  /** TOC of the last real packet: concealment keeps its mode, bandwidth and channel count. */
  #lastToc = DEFAULT_TOC;
  #surplus: Int16Array = new Int16Array(0);
  /** Packets libopus rejected (each was concealed instead). */
  corruptPackets = 0;

  constructor() {
    this.#dec = new OpusScript(OPUS_RATE, 1);
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
