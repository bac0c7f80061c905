// RTCP for one two-party RTP session (RFC 3550 §6): when to report (§6.3,
// with the 5 s minimum and §6.3.1 randomisation), what to put in the report
// (SR when we sent RTP since the last report, else RR; one report block
// about the peer; SDES CNAME, §6.1), what the peer's reports tell us (its
// view of our stream; round-trip time from LSR/DLSR, §6.4.1), and BYE
// (§6.6). Pure: times are passed in (a monotonic clock for intervals, a wall
// clock for NTP timestamps).
import { randomBytes } from "node:crypto";
import { buildBye, buildReceiverReport, buildSdes, buildSenderReport, compound, parseRtcp, type ReportBlock } from "./rtcp-packets.js";
import { msToCompactNtp, ntpFromUnixMs, ntpMiddle32, ntpMiddle32FromUnixMs, roundTripMs } from "./ntp-time.js";
import type { ReceiverStats } from "./receiver-stats.js";

/** §6.2: the recommended minimum interval. */
export const RTCP_MIN_INTERVAL_MS = 5000;
/** §6.3.1: e - 3/2, the compensation for the randomisation's timer reconsideration. */
const COMPENSATION = Math.E - 1.5;

export interface RtcpSessionOptions {
  localSsrc: number;
  /** §6.5.1 CNAME; by default a random one per session (RFC 7022 §4.2: 96 random bits). */
  cname?: string;
  clockRate: number;
  intervalMs?: number;
  /** 0..1; Math.random by default */
  random?: () => number;
}

/** What we send: the figures of the SR sender-info block. */
export interface SenderState {
  /** RTP timestamp corresponding to `wallMs` (§6.4.1) */
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
}

/** The peer's view of our stream and the link, from its reports. */
export interface RemoteView {
  /** its §6.4.1 fraction lost about our stream, 0..1 */
  fractionLost?: number;
  packetsLost?: number;
  jitterMs?: number;
  rttMs?: number;
  /** reports received from the peer */
  reports: number;
  cname?: string;
  /** the peer said BYE */
  bye?: { reason?: string };
}

export type RtcpInput =
  | { kind: "report"; rttMs?: number; fractionLost: number; packetsLost: number; jitterMs: number }
  | { kind: "bye"; reason?: string }
  | { kind: "sr" };

export class RtcpSession {
  readonly localSsrc: number;
  readonly cname: string;
  readonly clockRate: number;
  readonly intervalMs: number;
  readonly #random: () => number;
  #nextDueMs: number | undefined;
  /** Middle 32 bits of the NTP timestamp of the last SR from the peer, and when it arrived. */
  #lastSr: { middle: number; atMs: number } | undefined;
  #sentSinceReport = false;
  readonly #remote: RemoteView = { reports: 0 };
  reportsSent = 0;
  packetsReceived = 0;
  malformed = 0;

  constructor(opts: RtcpSessionOptions) {
    this.localSsrc = opts.localSsrc >>> 0;
    this.cname = opts.cname ?? randomBytes(12).toString("base64");
    this.clockRate = opts.clockRate;
    this.intervalMs = opts.intervalMs ?? RTCP_MIN_INTERVAL_MS;
    this.#random = opts.random ?? Math.random;
  }

  get remote(): Readonly<RemoteView> {
    return this.#remote;
  }

  /** Note that an RTP packet went out (decides SR vs RR, §6.4). */
  rtpSent(): void {
    this.#sentSinceReport = true;
  }

  /** §6.3.1: deterministic interval T times a random factor in [0.5, 1.5], compensated. */
  #interval(initial: boolean): number {
    const t = initial ? this.intervalMs / 2 : this.intervalMs; // §6.2: the first report may come after half the minimum
    return (t * (0.5 + this.#random())) / COMPENSATION;
  }

  /** True when a report should be sent now; the first call starts the schedule. */
  due(nowMs: number): boolean {
    if (this.#nextDueMs === undefined) {
      this.#nextDueMs = nowMs + this.#interval(true);
      return false;
    }
    return nowMs >= this.#nextDueMs;
  }

  /**
   * The compound report (SR or RR, then SDES CNAME) and the next due time.
   * `receiver` and `remoteSsrc` describe the peer's stream when we hear one.
   */
  buildReport(nowMs: number, wallMs: number, sender: SenderState | undefined, receiver?: { stats: ReceiverStats; remoteSsrc: number }): Buffer {
    this.#nextDueMs = nowMs + this.#interval(false);
    const blocks: ReportBlock[] = [];
    if (receiver && receiver.stats.started) {
      const r = receiver.stats.report();
      blocks.push({
        ssrc: receiver.remoteSsrc,
        ...r,
        lsr: this.#lastSr?.middle ?? 0,
        dlsr: this.#lastSr ? msToCompactNtp(nowMs - this.#lastSr.atMs) : 0,
      });
    }
    const head =
      sender && this.#sentSinceReport
        ? buildSenderReport(this.localSsrc, { ntpTimestamp: ntpFromUnixMs(wallMs), ...sender }, blocks)
        : buildReceiverReport(this.localSsrc, blocks);
    this.#sentSinceReport = false;
    this.reportsSent++;
    return compound(head, buildSdes(this.localSsrc, this.cname));
  }

  /** §6.6: a BYE in a compound packet led by an (empty) RR, as §6.1 requires. */
  buildBye(reason?: string): Buffer {
    return compound(buildReceiverReport(this.localSsrc, []), buildSdes(this.localSsrc, this.cname), buildBye([this.localSsrc], reason));
  }

  /** An RTCP packet from the peer. `wallMs` gives the arrival time for RTT (§6.4.1 "A"). */
  receive(buf: Buffer, nowMs: number, wallMs: number): RtcpInput[] {
    const msgs = parseRtcp(buf);
    if (msgs.length === 0) {
      this.malformed++;
      return [];
    }
    this.packetsReceived++;
    const out: RtcpInput[] = [];
    for (const m of msgs) {
      if (m.type === "sr") {
        this.#lastSr = { middle: ntpMiddle32(m.sender.ntpTimestamp), atMs: nowMs };
        out.push({ kind: "sr" });
      }
      if (m.type === "sr" || m.type === "rr") {
        const block = m.reports.find((r) => r.ssrc === this.localSsrc);
        if (!block) continue;
        const rtt = roundTripMs(ntpMiddle32FromUnixMs(wallMs), block.lsr, block.dlsr);
        const r = this.#remote;
        r.reports++;
        r.fractionLost = block.fractionLost / 256;
        r.packetsLost = block.packetsLost;
        r.jitterMs = (block.jitter * 1000) / this.clockRate;
        if (rtt !== undefined) r.rttMs = rtt;
        out.push({
          kind: "report",
          fractionLost: r.fractionLost,
          packetsLost: block.packetsLost,
          jitterMs: r.jitterMs,
          ...(rtt !== undefined ? { rttMs: rtt } : {}),
        });
      } else if (m.type === "sdes") {
        const c = m.chunks.find((ch) => ch.cname !== undefined);
        if (c?.cname) this.#remote.cname = c.cname;
      } else if (m.type === "bye") {
        this.#remote.bye = m.reason !== undefined ? { reason: m.reason } : {};
        out.push({ kind: "bye", ...(m.reason !== undefined ? { reason: m.reason } : {}) });
      }
    }
    return out;
  }
}
