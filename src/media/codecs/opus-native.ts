// The native Opus backend: the system libopus through native/opus/opus_addon.c.
// Unlike opusscript it decodes in-band FEC (RFC 6716 §2.1.7: the LBRR copy of
// a frame that the next packet carries), conceals an exact number of samples
// with libopus's own PLC (opus_decode with no packet), has no fixed heap (any
// number of calls), and runs native code.
//
// Buffers: the encoder encodes into one scratch buffer per encoder and copies
// out only the bytes produced. Decoded and concealed samples are returned in
// new arrays, each exactly as long as the audio: the receive path keeps them
// in its FIFO and hands them to sinks (which may hold on to them), so they are
// never reused.
import { JingledError } from "../../util/errors.js";
import type { AudioDecoder, AudioEncoder, EncoderOptions } from "./codec.js";
import { loadOpusAddon, type OpusAddon, type OpusHandle } from "./opus-addon.js";
import { DEFAULT_TOC, OPUS_APPLICATION_VOIP, OPUS_RATE, encoderCtls, frameSamplesOfConfig, opusFrameSamples, opusPacketSamples } from "./opus-packet.js";

/** libopus's recommended output room for one packet (opus_encode docs). */
const MAX_PACKET_BYTES = 4000;
/** libopus conceals and recovers in whole 2.5 ms units (opus_decode: frame_size % (Fs/400) == 0). */
const PLC_UNIT = OPUS_RATE / 400;
/** At most 120 ms per call (RFC 6716 §3.2.5). */
const MAX_FRAME = 5760;

function addon(): OpusAddon {
  const r = loadOpusAddon();
  if ("problem" in r) throw new JingledError("codec-config", `the native Opus backend is not available: ${r.problem}`);
  return r.addon;
}

function wrap(err: unknown, what: string): JingledError {
  return new JingledError("codec-config", `${what}: ${(err as Error).message}`, { cause: err });
}

export class NativeOpusEncoder implements AudioEncoder {
  readonly frameSamples: number;
  readonly backend = "native";
  readonly #a: OpusAddon;
  #enc: OpusHandle | undefined;
  readonly #scratch = Buffer.alloc(MAX_PACKET_BYTES);

  constructor(opts: EncoderOptions = {}) {
    this.frameSamples = opusFrameSamples(opts.ptimeMs ?? 20);
    this.#a = addon();
    const enc = this.#a.encoderCreate(OPUS_RATE, 1, OPUS_APPLICATION_VOIP);
    try {
      for (const [request, value] of encoderCtls(opts)) this.#a.encoderCtl(enc, request, value);
    } catch (err) {
      this.#a.encoderDestroy(enc);
      throw wrap(err, "Opus encoder setup failed");
    }
    this.#enc = enc;
  }

  /** One frame of exactly frameSamples samples (see WasmOpusEncoder.encode). */
  encode(pcm: Int16Array): Buffer {
    const n = this.encodeInto(pcm, this.#scratch);
    return Buffer.from(this.#scratch.subarray(0, n));
  }

  /** Encodes into `out` (at least a few hundred bytes; 4000 always suffice) and returns the bytes written. */
  encodeInto(pcm: Int16Array, out: Uint8Array): number {
    if (!this.#enc) throw new JingledError("codec-closed", "Opus encoder is closed");
    if (pcm.length !== this.frameSamples) {
      throw new RangeError(`Opus encoder takes ${this.frameSamples} samples per frame, got ${pcm.length}`);
    }
    return this.#a.encode(this.#enc, pcm, this.frameSamples, out);
  }

  /** A libopus GET request (e.g. OpusCtl.GetBitrate): what the encoder is really set to. */
  get(request: number): number {
    if (!this.#enc) throw new JingledError("codec-closed", "Opus encoder is closed");
    return this.#a.encoderGet(this.#enc, request);
  }

  close(): void {
    if (this.#enc) this.#a.encoderDestroy(this.#enc);
    this.#enc = undefined;
  }
}

export class NativeOpusDecoder implements AudioDecoder {
  readonly backend = "native";
  readonly #a: OpusAddon;
  #dec: OpusHandle | undefined;
  /** TOC of the last real packet: a TOC-only (DTX) packet is concealed for its announced duration. */
  #lastToc = DEFAULT_TOC;
  /** Concealment made in whole 2.5 ms units beyond what was asked, handed out first by the next conceal(). */
  #surplus: Int16Array = new Int16Array(0);
  /** Packets libopus rejected (each was concealed instead). */
  corruptPackets = 0;

  constructor() {
    this.#a = addon();
    this.#dec = this.#a.decoderCreate(OPUS_RATE, 1);
  }

  decode(payload: Buffer): Int16Array {
    const dec = this.#live();
    // A lost or DTX frame (RFC 6716 §3.2.1): conceal for the duration its TOC
    // announces (an empty payload: one frame of the current size).
    if (payload.length <= 1) {
      return this.conceal(frameSamplesOfConfig((payload.length === 1 ? payload[0]! : this.#lastToc) >> 3));
    }
    this.#surplus = new Int16Array(0); // real audio resumes; stale concealment is dropped
    const samples = opusPacketSamples(payload);
    if (samples !== undefined) {
      const out = new Int16Array(samples);
      try {
        const n = this.#a.decode(dec, payload, out, samples, false);
        this.#lastToc = payload[0]!;
        return n === samples ? out : out.subarray(0, n);
      } catch {
        // corrupt: concealed below
      }
    }
    this.corruptPackets++;
    return this.conceal(frameSamplesOfConfig(this.#lastToc >> 3));
  }

  conceal(samples: number): Int16Array {
    const dec = this.#live();
    const out = new Int16Array(samples);
    let filled = Math.min(samples, this.#surplus.length);
    out.set(this.#surplus.subarray(0, filled));
    this.#surplus = this.#surplus.subarray(filled);
    while (filled < samples) {
      const remaining = samples - filled;
      if (remaining % PLC_UNIT === 0) {
        const n = Math.min(remaining, MAX_FRAME);
        const got = this.#a.decode(dec, null, out.subarray(filled, filled + n), n, false);
        if (got <= 0) break; // never expected: leave silence rather than spin
        filled += got;
      } else {
        // Not a whole number of 2.5 ms units: conceal a little more and keep the rest.
        const n = Math.min(Math.ceil(remaining / PLC_UNIT) * PLC_UNIT, MAX_FRAME);
        const pcm = new Int16Array(n);
        const got = this.#a.decode(dec, null, pcm, n, false);
        if (got <= 0) break;
        const take = Math.min(got, remaining);
        out.set(pcm.subarray(0, take), filled);
        filled += take;
        if (take < got) this.#surplus = pcm.subarray(take, got);
      }
    }
    return out;
  }

  /**
   * The `samples` lost before `nextPayload`, from the in-band FEC (LBRR) data
   * of its first frame; undefined when it carries none (CELT-only packets
   * never do; SILK and Hybrid ones do when the sender's encoder has FEC on and
   * expects loss) or `samples` is not a whole number of 2.5 ms units.
   */
  decodeFec(nextPayload: Buffer, samples: number): Int16Array | undefined {
    const dec = this.#live();
    if (samples <= 0 || samples > MAX_FRAME || samples % PLC_UNIT !== 0 || nextPayload.length < 2) return undefined;
    let hasLbrr: number;
    try {
      hasLbrr = this.#a.packetInfo(nextPayload, OPUS_RATE)[2];
    } catch {
      return undefined; // a malformed packet: concealment instead, decode() will count it
    }
    if (!hasLbrr) return undefined;
    const out = new Int16Array(samples);
    try {
      const n = this.#a.decode(dec, nextPayload, out, samples, true);
      this.#surplus = new Int16Array(0);
      return n === samples ? out : out.subarray(0, n);
    } catch {
      return undefined;
    }
  }

  /** Does the first frame of this packet carry in-band FEC (LBRR) data? */
  static hasFec(payload: Buffer): boolean {
    if (payload.length < 2) return false;
    try {
      return addon().packetInfo(payload, OPUS_RATE)[2] === 1;
    } catch {
      return false;
    }
  }

  close(): void {
    if (this.#dec) this.#a.decoderDestroy(this.#dec);
    this.#dec = undefined;
  }

  #live(): OpusHandle {
    if (!this.#dec) throw new JingledError("codec-closed", "Opus decoder is closed");
    return this.#dec;
  }
}
