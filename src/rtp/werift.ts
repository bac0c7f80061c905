// werift-rtp and werift-dtls, loaded on first use: together they add ~16 MB
// and ~0.2 s to a process, which an idle daemon (no call yet) does not need.
// Both are CommonJS packages, so a synchronous require() at the first call
// that needs them keeps every caller synchronous.
//
// werift-dtls loads @peculiar/x509 at its top level (~90 ms, several MB) only
// for its certificate generator, which jingled does not use (certificate.ts
// makes its own). A stand-in takes its place in the require cache and loads
// the real module only if something else than cryptoProvider.set() is asked
// of it, so the first DTLS call does not pay for it.
import { createRequire, Module } from "node:module";
import { dirname } from "node:path";

type WeriftRtp = typeof import("werift-rtp");
type WeriftDtls = typeof import("werift-dtls/lib/dtls/src/index.js");
type WeriftDtlsRecord = typeof import("werift-dtls/lib/dtls/src/record/builder.js");

const require = createRequire(import.meta.url);
let rtp: WeriftRtp | undefined;
let dtls: WeriftDtls | undefined;
let record: WeriftDtlsRecord | undefined;

export function weriftRtp(): WeriftRtp {
  return (rtp ??= require("werift-rtp") as WeriftRtp);
}

export function weriftDtls(): WeriftDtls {
  if (!dtls) {
    deferX509();
    dtls = require("werift-dtls/lib/dtls/src/index.js") as WeriftDtls;
  }
  return dtls;
}

function deferX509(): void {
  let path: string;
  try {
    path = require.resolve("@peculiar/x509", { paths: [dirname(require.resolve("werift-dtls/lib/dtls/src/index.js"))] });
  } catch {
    return; // laid out differently: werift-dtls loads it as usual
  }
  if (require.cache[path]) return;
  let real: Record<string | symbol, unknown> | undefined;
  let provider: unknown;
  const load = (): Record<string | symbol, unknown> => {
    if (!real) {
      delete require.cache[path];
      real = require(path) as Record<string | symbol, unknown>;
      if (provider !== undefined) (real.cryptoProvider as { set(c: unknown): void }).set(provider);
    }
    return real;
  };
  const standIn = new Module(path);
  standIn.filename = path;
  standIn.loaded = true;
  standIn.exports = new Proxy(
    {},
    {
      get(_, key) {
        if (key === "__esModule") return true; // TypeScript's __importStar then uses this object as it is
        if (key === "cryptoProvider" && !real) return { set: (c: unknown) => void (provider = c) };
        return load()[key];
      },
      has: (_, key) => key in load(),
      ownKeys: () => Reflect.ownKeys(load()),
      getOwnPropertyDescriptor: (_, key) => {
        const d = Reflect.getOwnPropertyDescriptor(load(), key);
        return d ? { ...d, configurable: true } : undefined; // a proxy of {} may not report fixed properties
      },
    },
  );
  require.cache[path] = standIn;
}

export function weriftDtlsRecord(): WeriftDtlsRecord {
  return (record ??= require("werift-dtls/lib/dtls/src/record/builder.js") as WeriftDtlsRecord);
}
