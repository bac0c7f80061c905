// What sits between the ICE agent and the media session: plain RTP/AVP (for
// older peers without a fingerprint, when policy allows) or DTLS-SRTP
// (RFC 5763/5764, XEP-0320). Both take every datagram ICE delivers, tell
// RTP from RTCP once (RFC 7983, RFC 5761) and hand plain RTP and RTCP to the
// media session; both take plain RTP/RTCP to send.
import { isRtcpPacket } from "../../rtp/rtp-packet.js";
import { classifyPacket } from "../../rtp/demux.js";
import { DtlsSrtpTransport, type DtlsSrtpStats } from "../../rtp/dtls/dtls-srtp.js";
import type { DtlsCertificate } from "../../rtp/dtls/certificate.js";
import type { DtlsRole } from "../../rtp/dtls/setup-role.js";
import type { Logger } from "../../util/logger.js";
import { TransportFailure } from "./plane-protocol.js";

export { TransportFailure } from "./plane-protocol.js";

/** Where a transport hands what it received: the media session. */
export interface PacketSink {
  receiveRtp(packet: Buffer): void;
  receiveRtcp(packet: Buffer): void;
}

export interface MediaTransport {
  readonly encryption: "dtls-srtp" | "none";
  /** A datagram from ICE. */
  receive(datagram: Buffer): void;
  /** A plain RTP or RTCP packet from the media session. */
  send(packet: Buffer): void;
  /** Resolves when media may flow (DTLS: handshake done and the peer verified). */
  start(): Promise<{ profile?: string; dtlsRole?: DtlsRole }>;
  close(): void;
  stats(): DtlsSrtpStats | undefined;
}

/** Plain RTP: only RTP/RTCP passes (STUN is ICE's, DTLS has no business here). */
export function plainTransport(o: { send: (d: Buffer) => void; deliver: PacketSink }): MediaTransport {
  return {
    encryption: "none",
    receive(d) {
      const kind = classifyPacket(d);
      if (kind === "rtp") o.deliver.receiveRtp(d);
      else if (kind === "rtcp") o.deliver.receiveRtcp(d);
    },
    send: o.send,
    start: async () => ({}),
    close() {},
    stats: () => undefined,
  };
}

export function dtlsTransport(o: {
  role: DtlsRole;
  certificate: DtlsCertificate;
  remoteFingerprint: { hash: string; value: string };
  send: (d: Buffer) => void;
  deliver: PacketSink;
  logger: Logger;
}): MediaTransport {
  const dtls = new DtlsSrtpTransport({
    role: o.role,
    certificate: o.certificate,
    remoteFingerprint: o.remoteFingerprint,
    send: o.send,
    logger: o.logger,
  });
  dtls.on("rtp", (p) => o.deliver.receiveRtp(p));
  dtls.on("rtcp", (p) => o.deliver.receiveRtcp(p));
  let failure: TransportFailure | undefined;
  dtls.on("failed", (reason, condition) => (failure = new TransportFailure(reason, condition)));
  // The handshake may complete before start() is called (as DTLS server, the
  // peer's ClientHello can arrive while our ICE checks finish): remember it.
  let connectedInfo: { profile: string } | undefined;
  dtls.on("connected", (info) => (connectedInfo = info));
  return {
    encryption: "dtls-srtp",
    receive: (d) => dtls.handlePacket(d),
    send: (p) => (isRtcpPacket(p) ? dtls.sendRtcp(p) : dtls.sendRtp(p)),
    async start() {
      try {
        await dtls.start();
      } catch (err) {
        throw failure ?? new TransportFailure(err instanceof Error ? err.message : String(err), "failed-transport");
      }
      return { ...(connectedInfo ? { profile: connectedInfo.profile } : {}), dtlsRole: o.role };
    },
    close: () => dtls.close(),
    stats: () => dtls.stats,
  };
}
