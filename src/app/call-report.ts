// The network report of a call, as the echo service (./echo-service.ts)
// sends it to its caller in chat: how the call's media travelled, in both
// directions. Pure: the figures come from the call's media event (the ICE
// pair, the DTLS-SRTP profile, the codec) and its final statistics
// (media/media-stats.ts), the peer's side from its RTCP receiver reports
// (RFC 3550 §6.4: fraction lost, interarrival jitter; RTT from LSR/DLSR).
import type { MediaStats } from "../media/media-stats.js";
import { findCodecById } from "../media/codecs/index.js";
import { eModel } from "../media/e-model.js";
import type { CandidateSummary, Encryption, SelectedPair } from "../control/messages.js";

export interface MediaInfo {
  codec: string;
  pair: SelectedPair;
  encryption: Encryption;
  srtpProfile?: string;
}

/** One direction of the media. */
export interface DirectionReport {
  /** percent of the packets lost (RTP sequence gaps, or the peer's RTCP fraction lost) */
  lossPercent: number;
  jitterMs: number;
  /** G.107 E-model estimate, 1..4.5 */
  mos: number;
}

export interface NetworkReport {
  /** The candidate types and transport of the pair: "host/udp <-> srflx/udp". */
  path: string;
  /** Either side relayed through TURN. */
  relayed: boolean;
  codec: string;
  encryption: Encryption;
  srtpProfile?: string;
  rttMs?: number;
  durationMs: number;
  /** What reached us from the caller. */
  received: DirectionReport & { concealedMs: number; packets: number };
  /** What reached the caller from us, by its RTCP reports; undefined when it sent none. */
  sent: (DirectionReport & { packets: number }) | undefined;
}

const describe = (c: CandidateSummary): string => `${c.type}/${c.protocol ?? "udp"}`;
const round1 = (x: number): number => Math.round(x * 10) / 10;

export function networkReport(media: MediaInfo, stats: MediaStats, durationMs: number): NetworkReport {
  const { pair } = media;
  const relayed = pair.local.type === "relay" || pair.remote.type === "relay";
  const codec = findCodecById(media.codec);
  const remote = stats.remote;
  let sent: NetworkReport["sent"];
  if (remote && remote.reports > 0) {
    const lossPercent = round1((remote.fractionLost ?? 0) * 100);
    // The caller's mouth-to-ear delay: half the RTT, a playout delay like ours, a frame, the codec's own.
    const oneWayMs = (stats.rttMs ?? 0) / 2 + stats.jitterBufferDelayMs + stats.ptimeMs + (codec?.algorithmicDelayMs ?? 0);
    const mos = codec ? eModel({ impairment: codec.impairment, delayMs: oneWayMs, lossPercent }).mos : 0;
    sent = { lossPercent, jitterMs: round1(remote.jitterMs ?? 0), mos, packets: stats.packetsSent };
  }
  return {
    path: `${describe(pair.local)} <-> ${describe(pair.remote)}`,
    relayed,
    codec: media.codec,
    encryption: media.encryption,
    ...(media.srtpProfile ? { srtpProfile: media.srtpProfile } : {}),
    ...(stats.rttMs !== undefined ? { rttMs: Math.round(stats.rttMs) } : {}),
    durationMs,
    received: {
      lossPercent: round1(stats.fractionLost * 100),
      jitterMs: round1(stats.jitterMs),
      mos: stats.mos,
      concealedMs: stats.concealedMs,
      packets: stats.packetsReceived,
    },
    sent,
  };
}

/** The report as chat text, one figure per line. */
export function reportText(r: NetworkReport): string {
  const dir = (d: DirectionReport) => `loss ${d.lossPercent} %, jitter ${d.jitterMs} ms, MOS ${d.mos.toFixed(2)}`;
  return [
    `Call quality report (${Math.round(r.durationMs / 1000)} s)`,
    `Path: ${r.path}${r.relayed ? " (relayed by TURN)" : " (direct)"}`,
    `RTT: ${r.rttMs !== undefined ? `${r.rttMs} ms` : "unknown (no RTCP round trip)"}`,
    `You -> echo: ${dir(r.received)}, concealed ${r.received.concealedMs} ms, ${r.received.packets} packets`,
    r.sent ? `Echo -> you: ${dir(r.sent)}, ${r.sent.packets} packets (your RTCP reports)` : "Echo -> you: unknown (your client sent no RTCP reports)",
    `Codec: ${r.codec}`,
    `Encryption: ${r.encryption === "dtls-srtp" ? `DTLS-SRTP ${r.srtpProfile ?? ""}`.trim() : "none (plain RTP)"}`,
  ].join("\n");
}
