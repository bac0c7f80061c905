// Which Opus implementation new encoders and decoders use (config
// media.opus.backend): "native" (the libopus binding in native/opus, with
// in-band FEC decoding), "wasm" (opusscript), or "auto": native when it
// loads, else opusscript. Light on purpose (no codec code): the config
// schema checks and applies the choice through it.
import { JingledError } from "../../util/errors.js";
import { loadOpusAddon } from "./opus-addon.js";

export const OpusBackendChoice = { Auto: "auto", Native: "native", Wasm: "wasm" } as const;
export type OpusBackendChoice = (typeof OpusBackendChoice)[keyof typeof OpusBackendChoice];

/** An implementation actually in use. */
export const OpusBackend = { Native: "native", Wasm: "wasm" } as const;
export type OpusBackend = (typeof OpusBackend)[keyof typeof OpusBackend];

let current: OpusBackend | undefined;

/** Why the native backend cannot be used, or undefined when it can. */
export function nativeOpusProblem(): string | undefined {
  const r = loadOpusAddon();
  return "problem" in r ? r.problem : undefined;
}

/** The implementation `choice` means on this machine; "native" when unavailable throws. */
export function resolveOpusBackend(choice: OpusBackendChoice): OpusBackend {
  if (choice === OpusBackendChoice.Wasm) return OpusBackend.Wasm;
  const problem = nativeOpusProblem();
  if (choice === OpusBackendChoice.Native && problem) {
    throw new JingledError("codec-config", `the native Opus backend is not available: ${problem}`);
  }
  return problem ? OpusBackend.Wasm : OpusBackend.Native;
}

/** Sets the backend of the encoders and decoders made from now on (calls in progress keep theirs). */
export function selectOpusBackend(choice: OpusBackendChoice): OpusBackend {
  current = resolveOpusBackend(choice);
  return current;
}

/** The backend new encoders and decoders get ("auto" until selectOpusBackend was called). */
export function opusBackend(): OpusBackend {
  current ??= resolveOpusBackend(OpusBackendChoice.Auto);
  return current;
}
