// Opus (RFC 6716) over RTP (RFC 7587), on one of two backends (opus-backend.ts):
// the system libopus through a native binding (opus-native.ts), or opusscript,
// libopus compiled to WASM (opus-wasm.ts).
//
// RFC 7587 §7: the media type is always signalled as opus/48000/2 whatever is
// actually sent; a mono stream is valid, and a decoder may output mono from a
// stereo stream. We encode and decode mono at 48 kHz (libopus downmixes a
// stereo packet when the decoder was created with one channel).
//
// FEC. We always encode with in-band FEC unless configured off (peers that
// can use it do). Only the native decoder can decode it (decodeFec); the
// receive path takes FEC from the next packet whenever the decoder offers it.
import type { AudioDecoder, AudioEncoder, CodecDescriptor, EncoderOptions } from "./codec.js";
import { OpusBackend, opusBackend } from "./opus-backend.js";
import { NativeOpusDecoder, NativeOpusEncoder } from "./opus-native.js";
import { OPUS_RATE, opusPacketSamples } from "./opus-packet.js";
import { WasmOpusDecoder, WasmOpusEncoder } from "./opus-wasm.js";

export { opusPacketSamples } from "./opus-packet.js";

/** An Opus encoder on `backend` (default: the selected one, see selectOpusBackend). */
export function createOpusEncoder(opts?: EncoderOptions, backend: OpusBackend = opusBackend()): AudioEncoder {
  return backend === OpusBackend.Native ? new NativeOpusEncoder(opts) : new WasmOpusEncoder(opts);
}

/** An Opus decoder on `backend` (default: the selected one). */
export function createOpusDecoder(backend: OpusBackend = opusBackend()): AudioDecoder {
  return backend === OpusBackend.Native ? new NativeOpusDecoder() : new WasmOpusDecoder();
}

export const opusCodec: CodecDescriptor = {
  name: "opus",
  clockRate: OPUS_RATE,
  channels: 2, // RFC 7587 §7: always signalled as 2 channels
  pcmRate: OPUS_RATE,
  defaultPayloadType: 111,
  parameters: [
    { name: "minptime", value: "10" },
    { name: "useinbandfec", value: "1" },
  ],
  // RFC 7587 §4.2: frames of 2.5-60 ms; the media clock ticks every 20 ms, so 10-60 ms are used.
  ptimes: [10, 20, 40, 60],
  packetSamples: opusPacketSamples,
  createEncoder: (opts?: EncoderOptions) => createOpusEncoder(opts),
  createDecoder: () => createOpusDecoder(),
  // RFC 6716 §2: 2.5 ms look-ahead + 4 ms of SILK/CELT delay compensation.
  algorithmicDelayMs: 6.5,
  // Not in G.113; on the narrowband R scale transparent at voice bit rates,
  // with a loss robustness between G.711+PLC and newer codecs (an estimate).
  impairment: { ie: 0, bpl: 20 },
  // RFC 7587 §6.1: useinbandfec says whether we send FEC, usedtx that we use DTX.
  offerParameters(parameters, encoder) {
    const out = parameters.map((p) => (p.name === "useinbandfec" && encoder.fec === false ? { ...p, value: "0" } : p));
    if (encoder.dtx) out.push({ name: "usedtx", value: "1" });
    return out;
  },
  // RFC 7587 §6.1: maxaveragebitrate caps the bitrate, useinbandfec=0 says FEC
  // would be wasted, usedtx=1 asks for DTX unless the configuration decided.
  encoderOptions(configured, peer) {
    const out = { ...configured };
    const maxAvg = Number(peer["maxaveragebitrate"]);
    if (Number.isFinite(maxAvg) && maxAvg >= 6000) out.bitrate = Math.min(configured.bitrate ?? 32000, maxAvg);
    if (peer["useinbandfec"] === "0") out.fec = false;
    if (configured.dtx === undefined && peer["usedtx"] === "1") out.dtx = true;
    return out;
  },
};
