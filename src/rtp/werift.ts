// werift-rtp and werift-dtls, loaded on first use: together they add ~16 MB
// and ~0.2 s to a process, which an idle daemon (no call yet) does not need.
// Both are CommonJS packages, so a synchronous require() at the first call
// that needs them keeps every caller synchronous.
import { createRequire } from "node:module";

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
  return (dtls ??= require("werift-dtls/lib/dtls/src/index.js") as WeriftDtls);
}

export function weriftDtlsRecord(): WeriftDtlsRecord {
  return (record ??= require("werift-dtls/lib/dtls/src/record/builder.js") as WeriftDtlsRecord);
}
