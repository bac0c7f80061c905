// The built-in codecs, registered in order of preference: Opus, then
// wideband G.722, then the two G.711 laws.
import { listCodecs, registerCodec } from "./codec.js";
import { g722Codec } from "./g722.js";
import { opusCodec } from "./opus.js";
import { pcmaCodec } from "./pcma.js";
import { pcmuCodec } from "./pcmu.js";

registerCodec(opusCodec);
registerCodec(g722Codec);
registerCodec(pcmuCodec);
registerCodec(pcmaCodec);

export * from "./codec.js";
export { opusCodec, createOpusDecoder, createOpusEncoder } from "./opus.js";
export { OpusBackend, OpusBackendChoice, nativeOpusProblem, opusBackend, resolveOpusBackend, selectOpusBackend } from "./opus-backend.js";
export { pcmuCodec } from "./pcmu.js";
export { pcmaCodec } from "./pcma.js";
export { g722Codec } from "./g722.js";

/**
 * Runs every codec once (a few frames of silence through an encoder and a
 * decoder): the first calls into WASM code are slow (tens of ms), and that
 * must happen at daemon start, not on the first frames of the first call.
 */
export function warmUpCodecs(frames = 5): void {
  for (const codec of listCodecs()) {
    const enc = codec.createEncoder({ ptimeMs: 20 });
    const dec = codec.createDecoder();
    try {
      const silence = new Int16Array(enc.frameSamples);
      for (let i = 0; i < frames; i++) dec.decode(enc.encode(silence));
      dec.conceal(enc.frameSamples);
    } finally {
      enc.close();
      dec.close();
    }
  }
}
