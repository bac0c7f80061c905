// The built-in codecs, registered in order of preference (Opus first).
import { registerCodec } from "./codec.js";
import { opusCodec } from "./opus.js";
import { pcmuCodec } from "./pcmu.js";

registerCodec(opusCodec);
registerCodec(pcmuCodec);

export * from "./codec.js";
export { opusCodec } from "./opus.js";
export { pcmuCodec } from "./pcmu.js";
