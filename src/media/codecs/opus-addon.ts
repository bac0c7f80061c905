// Loads the native libopus binding (native/opus/opus_addon.c, built by
// scripts/build-native.mjs into native/opus/build/jingled_opus.node). Loaded
// once; when it is missing or does not load, says why instead of throwing.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** An opaque native handle (a type-tagged external). */
export type OpusHandle = { readonly __opusHandle: unique symbol };

/** What native/opus/opus_addon.c exports. */
export interface OpusAddon {
  encoderCreate(rate: number, channels: number, application: number): OpusHandle;
  encoderDestroy(enc: OpusHandle): void;
  /** A SET request with one int argument (whitelisted in C). */
  encoderCtl(enc: OpusHandle, request: number, value: number): void;
  /** A GET request (whitelisted in C). */
  encoderGet(enc: OpusHandle, request: number): number;
  /** Encodes frameSize samples per channel of pcm into out; returns the bytes written. */
  encode(enc: OpusHandle, pcm: Int16Array, frameSize: number, out: Uint8Array): number;
  decoderCreate(rate: number, channels: number): OpusHandle;
  decoderDestroy(dec: OpusHandle): void;
  decoderGet(dec: OpusHandle, request: number): number;
  /** packet null: concealment; fec: the frame before `packet` from its in-band FEC. Returns samples per channel. */
  decode(dec: OpusHandle, packet: Uint8Array | null, out: Int16Array, frameSize: number, fec: boolean): number;
  /** [samples per channel, frames, 1 when the first frame carries LBRR (FEC) data] */
  packetInfo(packet: Uint8Array, rate: number): [number, number, number];
  version(): string;
}

const ADDON_PATH = join("native", "opus", "build", "jingled_opus.node");

let loaded: { addon: OpusAddon } | { problem: string } | undefined;

/** The repository root: the nearest directory above this module holding package.json and native/. */
function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const p = join(dir, ADDON_PATH);
    if (existsSync(p)) return p;
    if (existsSync(join(dir, "package.json"))) return undefined;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export function loadOpusAddon(): { addon: OpusAddon } | { problem: string } {
  if (loaded) return loaded;
  const path = findAddon();
  if (!path) {
    loaded = { problem: `${ADDON_PATH} is not built (it needs libopus-dev; npm run build builds it)` };
    return loaded;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as OpusAddon;
    addon.version(); // proves libopus is linked
    loaded = { addon };
  } catch (err) {
    loaded = { problem: `${ADDON_PATH} does not load: ${(err as Error).message.split("\n")[0]}` };
  }
  return loaded;
}
