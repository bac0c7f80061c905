// werift-rtp, loaded on first use: it adds several MB and tens of
// milliseconds to a process, which an idle daemon (no call yet) does not
// need. It is a CommonJS package, so a synchronous require() at the first
// call that needs it keeps every caller synchronous.
import { createRequire } from "node:module";

type WeriftRtp = typeof import("werift-rtp");

const require = createRequire(import.meta.url);
let rtp: WeriftRtp | undefined;

export function weriftRtp(): WeriftRtp {
  return (rtp ??= require("werift-rtp") as WeriftRtp);
}
