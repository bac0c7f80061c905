// werift-rtp, loaded on first use: it adds several MB and tens of
// milliseconds to a process, which an idle daemon (no call yet) does not
// need. It is a CommonJS package, so a synchronous require() at the first
// call that needs it keeps every caller synchronous.
//
// Only the files of what we use (the RTP header, RTCP SR/RR/SDES and the
// RTCP header): the package's index also loads its video codecs, RED, RTX,
// TWCC, NACK and SRTP (68 files where these need 12; 1.7 MiB less per media
// thread). Its "exports" map offers the index only, so the files are
// required by their path in the installed package (the version is pinned).
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

type WeriftRtp = Pick<
  typeof import("werift-rtp"),
  "RtpHeader" | "RtcpHeader" | "RtcpSrPacket" | "RtcpSenderInfo" | "RtcpRrPacket" | "RtcpReceiverInfo" | "RtcpSourceDescriptionPacket" | "SourceDescriptionChunk" | "SourceDescriptionItem"
>;

const require = createRequire(import.meta.url);
let rtp: WeriftRtp | undefined;

function load(): WeriftRtp {
  // lib/rtp/src/index.js
  const src = dirname(require.resolve("werift-rtp"));
  const part = (file: string) => require(join(src, file)) as Partial<WeriftRtp>;
  return { ...part("rtp/rtp.js"), ...part("rtcp/header.js"), ...part("rtcp/sr.js"), ...part("rtcp/rr.js"), ...part("rtcp/sdes.js") } as WeriftRtp;
}

export function weriftRtp(): WeriftRtp {
  return (rtp ??= load());
}
