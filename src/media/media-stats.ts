// What the media of a call reports (the stats command, the stats and ended
// events, RTCP-based quality): the figures of the send and receive paths,
// RTCP's view of the peer, and an ITU-T G.107 E-model estimate from delay
// and loss. Pure: the media session hands in what it counted.
import type { CodecDescriptor } from "./codecs/codec.js";
import { eModel } from "./e-model.js";
import type { ReceivePathStats } from "./receive-path.js";
import type { RemoteView } from "../rtp/rtcp-session.js";

export type MediaStats = {
  codec: string;
  /** the codec's implementation when it has several (Opus: "native" libopus or "wasm" opusscript) */
  codecBackend?: string;
  payloadType: number;
  /** audio per packet we send, ms */
  ptimeMs: number;
  /** audio per packet the peer sends (its latest), ms */
  remotePtimeMs?: number;
  /** the media frame (clock step of the send and receive paths), ms */
  frameMs: number;
  packetsSent: number;
  /** RTP octets sent, headers included */
  bytesSent: number;
  packetsReceived: number;
  bytesReceived: number;
  /** RFC 3550 §A.3 cumulative loss of the peer's stream */
  packetsLost: number;
  /** loss over the call, 0..1 */
  fractionLost: number;
  /** arrived after their playout time (concealed, then dropped) */
  packetsLate: number;
  /** received twice (with DTLS-SRTP: caught by its replay check, counted by the call) */
  packetsDuplicate: number;
  /** SRTP packets whose authentication tag did not verify (DTLS-SRTP calls) */
  srtpAuthFailures?: number;
  packetsReordered: number;
  /** Packets dropped before the playout buffer: wrong SSRC, wrong payload type, not RTP. */
  packetsDiscarded: number;
  /** RFC 3550 §A.8 interarrival jitter of the peer's stream, ms */
  jitterMs: number;
  /** round-trip time from RTCP LSR/DLSR (§6.4.1), ms */
  rttMs?: number;
  /** what the peer's reports say about our stream */
  remote?: { fractionLost?: number; packetsLost?: number; jitterMs?: number; reports: number; cname?: string };
  /** arrival-to-playout time of the packets played, ms (smoothed) */
  jitterBufferDelayMs: number;
  /** the playout delay the measured jitter calls for, ms */
  jitterBufferTargetMs: number;
  /** audio concealed (loss, gaps, delay increases), ms */
  concealedMs: number;
  framesConcealed: number;
  /** live input (pipe, ALSA, PulseAudio) dropped to keep its latency bounded or because it overflowed, ms */
  inputDroppedMs?: number;
  /** reads of a live input that found too little audio (filled with silence) */
  inputUnderruns?: number;
  /** audio a player output (pipe, ALSA, PulseAudio) dropped: while its player was starting, or because it fell behind, ms */
  outputDroppedMs?: number;
  /** lost frames recovered from the in-band FEC of the packet after them (Opus on the native backend) */
  fecRecovered: number;
  framesPlayed: number;
  /** times the playout delay was raised / lowered by a frame */
  expands: number;
  merges: number;
  /** frames played with nothing received (the peer paused, DTX, loss at the tail) */
  underruns: number;
  /** ITU-T G.107 E-model estimate from delay and loss */
  rFactor: number;
  mos: number;
  dtmfSent: number;
  dtmfReceived: number;
  rtcpSent: number;
  rtcpReceived: number;
  /** Longest gap between two media clock ticks: event-loop stalls show here. */
  maxTickGapMs: number;
  /** Frame ticks that came LATE_TICK_SLACK_MS or more later than a frame after the one before: a window's stalls are the difference of two readings. */
  lateTicks: number;
  localSsrc: number;
  remoteSsrc?: number;
};

/** What the media session counted, as summarizeMediaStats takes it. */
export interface MediaCounts {
  codec: CodecDescriptor;
  codecBackend?: string;
  payloadType: number;
  ptimeMs: number;
  frameMs: number;
  packetsSent: number;
  counters: { packetsReceived: number; bytesReceived: number; bytesSent: number; packetsDiscarded: number; framesPlayed: number };
  /** RFC 3550 §A.3 / §A.8 figures of the peer's stream. */
  receiver: { expected: number; cumulativeLost: number; jitterMs: number };
  playout: ReceivePathStats;
  /** RTCP's view of the peer (its reports about our stream, RTT). */
  remote?: Readonly<RemoteView>;
  input: { inputDroppedMs?: number; inputUnderruns?: number };
  output: { outputDroppedMs?: number };
  dtmfSent: number;
  dtmfReceived: number;
  rtcpSent: number;
  rtcpReceived: number;
  maxTickGapMs: number;
  lateTicks: number;
  localSsrc: number;
  remoteSsrc?: number;
}

const round1 = (x: number): number => Math.round(x * 10) / 10;
const round4 = (x: number): number => Math.round(x * 10000) / 10000;

export function summarizeMediaStats(c: MediaCounts): MediaStats {
  const rx = c.playout;
  const remote = c.remote;
  const expected = c.receiver.expected;
  const lost = Math.max(0, c.receiver.cumulativeLost);
  const lossPercent = expected > 0 ? (100 * (lost + rx.late)) / expected : 0;
  const oneWayMs = (remote?.rttMs !== undefined ? remote.rttMs / 2 : 0) + rx.delayMs + c.ptimeMs + c.codec.algorithmicDelayMs;
  const q = eModel({ impairment: c.codec.impairment, delayMs: oneWayMs, lossPercent });
  return {
    codec: c.codec.name,
    ...(c.codecBackend ? { codecBackend: c.codecBackend } : {}),
    payloadType: c.payloadType,
    ptimeMs: c.ptimeMs,
    ...(rx.remotePtimeMs !== undefined ? { remotePtimeMs: round1(rx.remotePtimeMs) } : {}),
    frameMs: c.frameMs,
    packetsSent: c.packetsSent,
    bytesSent: c.counters.bytesSent,
    packetsReceived: c.counters.packetsReceived,
    bytesReceived: c.counters.bytesReceived,
    packetsLost: lost,
    fractionLost: expected > 0 ? round4(lost / expected) : 0,
    packetsLate: rx.late,
    packetsDuplicate: rx.duplicate,
    packetsReordered: rx.reordered,
    packetsDiscarded: c.counters.packetsDiscarded,
    jitterMs: round1(c.receiver.jitterMs),
    ...(remote?.rttMs !== undefined ? { rttMs: round1(remote.rttMs) } : {}),
    ...(remote && remote.reports > 0
      ? {
          remote: {
            reports: remote.reports,
            ...(remote.fractionLost !== undefined ? { fractionLost: round4(remote.fractionLost) } : {}),
            ...(remote.packetsLost !== undefined ? { packetsLost: remote.packetsLost } : {}),
            ...(remote.jitterMs !== undefined ? { jitterMs: round1(remote.jitterMs) } : {}),
            ...(remote.cname !== undefined ? { cname: remote.cname } : {}),
          },
        }
      : {}),
    jitterBufferDelayMs: rx.delayMs,
    jitterBufferTargetMs: rx.targetDelayMs,
    concealedMs: rx.concealedMs,
    framesConcealed: rx.framesConcealed,
    fecRecovered: rx.fecRecovered,
    framesPlayed: c.counters.framesPlayed,
    expands: rx.expands,
    merges: rx.merges,
    underruns: rx.concealedGap,
    rFactor: q.r,
    mos: q.mos,
    ...c.input,
    ...c.output,
    dtmfSent: c.dtmfSent,
    dtmfReceived: c.dtmfReceived,
    rtcpSent: c.rtcpSent,
    rtcpReceived: c.rtcpReceived,
    maxTickGapMs: round1(c.maxTickGapMs),
    lateTicks: c.lateTicks,
    localSsrc: c.localSsrc,
    ...(c.remoteSsrc !== undefined ? { remoteSsrc: c.remoteSsrc } : {}),
  };
}
