// Calls' media on this thread (media.threads: 0, and unit tests of a call,
// which hand it fake parts and a clock they tick): each call's PlaneCall
// runs here, driven by `clock`.
import { warmUpCodecs } from "../../media/codecs/index.js";
import type { FrameClock } from "../../util/frame-clock.js";
import type { Logger } from "../../util/logger.js";
import { LocalCallMedia } from "./local-call-media.js";
import type { MediaPlane } from "./media-plane.js";
import { defaultCallParts, type CallParts } from "./plane-parts.js";

export function inProcessPlane(o: { clock: FrameClock; logger: Logger; parts?: Partial<CallParts> }): MediaPlane {
  const parts: CallParts = { ...defaultCallParts, ...o.parts };
  let warm = false;
  return {
    open: (open) => new LocalCallMedia({ open, parts, clock: o.clock, logger: o.logger }),
    preload: async () => {
      // The first calls into a codec (WASM above all) are slow: not on the first frames of the first call.
      if (!warm) warmUpCodecs();
      warm = true;
    },
    setLogLevel: () => undefined,
    describe: () => [],
    close: async () => undefined,
  };
}

