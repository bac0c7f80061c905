// Adaptive playout (jitter) buffer, pure logic: the caller passes arrival
// and playout times from its own clock.
//
// The time line. Packets are placed by RTP timestamp (not sequence number:
// with DTX or telephone events the numbers run on while the timestamps
// jump). `playTs` is the timestamp of the next sample to hand out; it
// advances with every decision, so the time line keeps going whatever
// arrives: a packet that is missing when its turn comes is concealed and
// skipped, and if it turns up afterwards it is dropped as late. Nothing
// stops to re-buffer. The time line moves only on purpose:
//
//   expand      – a frame of concealment inserted without advancing (the
//                 delay grows by one frame), chosen when the expected packet
//                 is missing and recent packets have been coming too late;
//                 and tried when it is missing with nothing after it here
//                 (the sender may be running a few ms late): if it comes by
//                 the next tick it plays, if not the frame is taken back and
//                 the time line is where moving on would have left it;
//   merge       – two packets played in the time of one (the delay shrinks
//                 by one frame), chosen when even the latest-arriving recent
//                 packets wait more than a frame;
//   restart     – when the sender's time line itself jumped (a restart, a
//                 timestamp jump, a long pause without timestamps moving):
//                 several packets in a row far outside the time line.
//
// Delay control. Each packet's slack is the time from its arrival to when it
// is due (negative: late). The delay is raised by one frame (expand)
//   - when the packet due now is missing and a packet came late within the
//     last second, or more than 2 % of the last 5 s came late;
//   - ahead of time, when the smallest slack of the last second fell below
//     marginMs: the sender's clock is slower than ours, or the jitter grew,
//     and the next packets would be late (the frame is inserted before a
//     packet that is here: concealment followed by the packet). Packets more
//     than a frame late, and those in the same burst, do not count here: one
//     frame would not have saved them, and a one-off delay spike must not
//     leave its delay behind.
// It is lowered by one frame (merge) when even the 2nd-percentile slack of
// the last 5 s is at least a frame plus mergeMarginMs (default: marginMs),
// and so is the smallest slack of the last second (as for the pre-emptive
// expand): one frame less would still be in time for almost every packet,
// with the margin, so the merge is not followed by an expand, and the
// controller settles instead of see-sawing. A clean link that starts inside
// the band is left alone: playout starts at the first tick that gives the
// first packet a slack of at least initialDelayMs minus a frame (default
// 20 ms: 3..23, inside [3, 23 + margin); a caller that tries every 10 ms
// within the frame, as the media session does, starts at 3..13). A delay
// raised for a moment of lateness (a stalled sender) comes back down once
// that moment has left the 5 s window. On a jittery link the delay covers
// the jitter, within [minDelayMs, maxDelayMs]; it follows sender/
// receiver clock drift (a faster sender makes slack grow -> merges; a slower
// one makes it shrink -> expands) without growing. Choices (merge,
// pre-emptive expand) wait for a quiet moment, up to FORCE_CHANGE_MS.
import { SlackWindow } from "./slack-window.js";

export interface PlayoutInput {
  seq: number;
  timestamp: number;
  payload: Buffer;
  /** the caller's clock, ms */
  arrivalMs: number;
  /** audio duration of the packet in timestamp units (default: one frame) */
  durationTs?: number;
}

export interface PlayoutPacket {
  seq: number;
  timestamp: number;
  payload: Buffer;
  durationTs: number;
}

export const ConcealReason = {
  /** the packet is missing while later ones are here */
  Loss: "loss",
  /** nothing is buffered (loss at the tail, DTX, the peer paused) */
  Gap: "gap",
  /** inserted on purpose to raise the delay */
  Expand: "expand",
} as const;
export type ConcealReason = (typeof ConcealReason)[keyof typeof ConcealReason];

export type PlayoutDecision =
  /** not playing yet: output nothing */
  | { kind: "empty" }
  | ({ kind: "packet" } & PlayoutPacket)
  /** conceal `durationTs`; `next` is the following packet when it is already here (for FEC) */
  | { kind: "conceal"; reason: ConcealReason; durationTs: number; next?: PlayoutPacket }
  /** play both packets in one frame less than their length */
  | { kind: "merge"; first: PlayoutPacket; second: PlayoutPacket };

export const PushResult = {
  Queued: "queued",
  Duplicate: "duplicate",
  Late: "late",
  /** far outside the time line: held back until a second packet confirms it */
  JumpPending: "jump-pending",
  /** the time line restarted at this packet */
  Resync: "resync",
} as const;
export type PushResult = (typeof PushResult)[keyof typeof PushResult];

export interface PlayoutStats {
  received: number;
  played: number;
  late: number;
  duplicate: number;
  reordered: number;
  /** frames concealed per reason */
  concealedLoss: number;
  concealedGap: number;
  expands: number;
  merges: number;
  resyncs: number;
  /** total audio concealed (loss, gap and expand), ms */
  concealedMs: number;
  /** time from arrival to playout of the packets played, smoothed (ms) */
  delayMs: number;
  /** the delay the measured jitter calls for (ms) */
  targetDelayMs: number;
}

export interface PlayoutBufferOptions {
  /** RTP clock rate of the stream */
  clockRate: number;
  /** playout frame, ms (default 20) */
  frameMs?: number;
  /** delay before the first packet plays (default 20) */
  initialDelayMs?: number;
  /** the delay is not lowered below this (default 0) */
  minDelayMs?: number;
  /** the delay is not raised above this (default 300) */
  maxDelayMs?: number;
  /** the latest packets should arrive at least this long before they are due (default 3 ms: timer jitter) */
  marginMs?: number;
  /** the delay is lowered only when a frame plus this much is to spare (default: marginMs) */
  mergeMarginMs?: number;
  /** the share of packets allowed to come late (default 0.02) */
  lateQuantile?: number;
  /** how far back the slack statistics reach (default 5000 ms) */
  windowMs?: number;
  /** consecutive packets late by more than max(500 ms, maxDelayMs + a frame) that restart the time line (default 5) */
  lateRestart?: number;
}

const TS_MOD = 2 ** 32;
const SEQ_MOD = 0x10000;
/** Samples needed before the delay may be lowered. */
const MIN_SAMPLES_TO_MERGE = 25;
/** "Recent" for lateness and for the smallest slack, ms. */
const RECENT_MS = 1000;
/** No pre-emptive expand this soon after another change of the delay. */
const PREEMPT_SPACING_MS = 500;
/** A merge or pre-emptive expand waits at most this long for a quiet moment. */
const FORCE_CHANGE_MS = 2000;
/** No merge this soon after an expand (avoid see-sawing), nor right after another merge. */
const MERGE_AFTER_EXPAND_MS = 500;
const MERGE_SPACING_MS = 60;
/** Packets arriving this close after one more than a frame late came in the same burst. */
const BURST_MS = 5;
/** Smoothing of the reported delay (1/16, like RFC 3550's jitter). */
const DELAY_GAIN = 1 / 16;
/** Packets that piled up before playout started and waited at most this long beyond the start delay are played (#start). */
const START_BACKLOG_MS = 200;
/** Packets held at most (10 s of 20 ms frames): a sender far ahead is a restart case, not a queue. */
const MAX_HELD = 500;

interface Held extends PlayoutPacket {
  ext: number;
  arrivalMs: number;
}

export class PlayoutBuffer {
  readonly clockRate: number;
  readonly frameMs: number;
  readonly frameTs: number;
  readonly initialDelayMs: number;
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
  readonly marginMs: number;
  readonly mergeMarginMs: number;
  readonly lateQuantile: number;
  readonly lateRestart: number;
  /** A packet further than this from the time line, either way, is a restart candidate. */
  readonly resyncTs: number;

  /** Packets later than this (ms), several in a row, mean the sender's time line moved. */
  readonly #restartLatenessMs: number;
  readonly #held = new Map<number, Held>();
  readonly #window: SlackWindow;
  #started = false;
  #playTs = 0;
  /** When (caller's clock) the sample at `ts` is due. */
  #anchor = { t: 0, ts: 0 };
  #highestSeq: number | undefined;
  readonly #playedSeqs: number[] = [];
  #consecutiveLate = 0;
  #probation: Held | undefined;
  #lastExpandMs = -Infinity;
  #lastMergeMs = -Infinity;
  #lastLateMs = -Infinity;
  /** The play point of a #wait: the packet due there was missing, with nothing after it. */
  #waiting: number | undefined;
  /** A change of the delay that is waiting for a quiet moment. */
  #wanted: { kind: "merge" | "expand"; since: number } | undefined;
  /** Slacks of the last RECENT_MS (arrival, slack), oldest first. */
  #recent: { at: number; slack: number }[] = [];
  /** Arrival of the latest packet more than a frame late. */
  #spikeArrivalMs = -Infinity;
  #delayMs: number | undefined;
  readonly #stats = {
    received: 0,
    played: 0,
    late: 0,
    duplicate: 0,
    reordered: 0,
    concealedLoss: 0,
    concealedGap: 0,
    expands: 0,
    merges: 0,
    resyncs: 0,
    concealedTs: 0,
  };

  constructor(opts: PlayoutBufferOptions) {
    this.clockRate = opts.clockRate;
    this.frameMs = opts.frameMs ?? 20;
    this.frameTs = Math.round((this.frameMs * this.clockRate) / 1000);
    this.minDelayMs = Math.max(0, opts.minDelayMs ?? 0);
    this.maxDelayMs = Math.max(this.minDelayMs + this.frameMs, opts.maxDelayMs ?? 300);
    this.initialDelayMs = Math.min(this.maxDelayMs, Math.max(this.minDelayMs, opts.initialDelayMs ?? 20));
    this.marginMs = opts.marginMs ?? 3;
    this.mergeMarginMs = opts.mergeMarginMs ?? this.marginMs;
    this.lateQuantile = opts.lateQuantile ?? 0.02;
    this.lateRestart = opts.lateRestart ?? 5;
    this.resyncTs = Math.round(((2000 + this.maxDelayMs) * this.clockRate) / 1000);
    this.#restartLatenessMs = Math.max(500, this.maxDelayMs + this.frameMs);
    this.#window = new SlackWindow({ windowMs: opts.windowMs ?? 5000 });
  }

  get started(): boolean {
    return this.#started;
  }

  /** Audio buffered ahead of the play point, ms (up to the end of the latest packet). */
  get bufferedMs(): number {
    let end = -Infinity;
    for (const h of this.#held.values()) end = Math.max(end, h.ext + h.durationTs);
    if (end === -Infinity) return 0;
    const from = this.#started ? this.#playTs : Math.min(...[...this.#held.keys()]);
    return Math.max(0, this.#tsToMs(end - from));
  }

  get stats(): PlayoutStats {
    const s = this.#stats;
    return {
      received: s.received,
      played: s.played,
      late: s.late,
      duplicate: s.duplicate,
      reordered: s.reordered,
      concealedLoss: s.concealedLoss,
      concealedGap: s.concealedGap,
      expands: s.expands,
      merges: s.merges,
      resyncs: s.resyncs,
      concealedMs: Math.round(this.#tsToMs(s.concealedTs)),
      delayMs: Math.round((this.#delayMs ?? 0) * 10) / 10,
      targetDelayMs: Math.round(this.#targetDelayMs() * 10) / 10,
    };
  }

  push(p: PlayoutInput): PushResult {
    this.#stats.received++;
    const durationTs = p.durationTs && p.durationTs > 0 ? p.durationTs : this.frameTs;
    this.#countReorder(p.seq);

    if (!this.#started && this.#held.size === 0) {
      this.#hold({ ...this.#packet(p, durationTs), ext: TS_MOD + (p.timestamp >>> 0) });
      return PushResult.Queued;
    }
    const ref = this.#started ? this.#playTs : this.#oldestHeld()!.ext;
    const h: Held = { ...this.#packet(p, durationTs), ext: extendTs(p.timestamp, ref) };

    const existing = this.#held.get(h.ext);
    if (existing) {
      this.#stats.duplicate++;
      return PushResult.Duplicate;
    }
    if (Math.abs(h.ext - ref) > this.resyncTs) return this.#jump(h);
    this.#probation = undefined;

    if (!this.#started) {
      this.#hold(h);
      return PushResult.Queued;
    }
    if (h.ext < this.#playTs) {
      if (this.#playedSeqs.includes(h.seq)) {
        this.#stats.duplicate++;
        return PushResult.Duplicate;
      }
      this.#stats.late++;
      this.#lastLateMs = h.arrivalMs;
      const slack = this.#dueMs(h.ext) - h.arrivalMs;
      this.#addSlack(slack, h.arrivalMs);
      // Only lateness no expansion within bounds could absorb counts towards a restart.
      if (-slack > this.#restartLatenessMs) this.#consecutiveLate++;
      else this.#consecutiveLate = 0;
      if (this.#consecutiveLate >= this.lateRestart) {
        this.#restart(h);
        return PushResult.Resync;
      }
      return PushResult.Late;
    }
    this.#consecutiveLate = 0;
    this.#addSlack(this.#dueMs(h.ext) - h.arrivalMs, h.arrivalMs);
    this.#hold(h);
    return PushResult.Queued;
  }

  /**
   * The next piece of audio to produce. `nowMs` is the caller's clock at the
   * playout tick; `queuedMs` is audio the caller already has decoded and not
   * yet played (the samples at the play point are due after it). `quiet`
   * says whether the audio just played was quiet: the delay is changed by
   * choice (merge, pre-emptive expand) in quiet moments, where it cannot be
   * heard, unless the change has been waiting for FORCE_CHANGE_MS.
   */
  pop(nowMs: number, queuedMs = 0, quiet = true): PlayoutDecision {
    const dueAt = nowMs + queuedMs;
    if (!this.#started) {
      if (!this.#start(dueAt)) return { kind: "empty" };
    }
    this.#anchor = { t: dueAt, ts: this.#playTs };
    if (this.#waiting !== undefined) this.#endWait(nowMs, dueAt);
    this.#window.prune(nowMs);
    const q = this.#window.count > 0 ? this.#window.quantile(this.lateQuantile)! : undefined;
    const recentMin = this.#recentMinSlack(nowMs);

    const pkt = this.#held.get(this.#playTs);
    if (pkt) {
      const second = this.#held.get(pkt.ext + pkt.durationTs);
      const wantMerge = second !== undefined && this.#mayMerge(q, recentMin, nowMs);
      if (second && wantMerge && this.#chosen("merge", quiet, nowMs)) {
        this.#take(pkt, dueAt);
        this.#take(second, dueAt);
        this.#stats.merges++;
        this.#lastMergeMs = nowMs;
        this.#shift(-this.frameMs);
        this.#advance(pkt.durationTs + second.durationTs, dueAt, this.#tsToMs(pkt.durationTs + second.durationTs) - this.frameMs);
        return { kind: "merge", first: strip(pkt), second: strip(second) };
      }
      // Pre-emptive: the latest packets only just made it; one more frame of delay before they stop making it.
      const wantPreempt =
        !wantMerge &&
        recentMin !== undefined &&
        recentMin < this.marginMs &&
        this.#window.count >= MIN_SAMPLES_TO_MERGE &&
        nowMs - Math.max(this.#lastExpandMs, this.#lastMergeMs) >= PREEMPT_SPACING_MS &&
        this.#mayExpand();
      if (wantPreempt && this.#chosen("expand", quiet, nowMs)) return this.#expand(nowMs, dueAt);
      if (!wantMerge && !wantPreempt) this.#wanted = undefined;
      this.#take(pkt, dueAt);
      this.#advance(pkt.durationTs, dueAt, this.#tsToMs(pkt.durationTs));
      return { kind: "packet", ...strip(pkt) };
    }

    // The packet due now is missing: late (wait a frame longer) or lost (conceal it, move on)?
    const next = this.#nextHeld();
    const lateLately = nowMs - this.#lastLateMs <= RECENT_MS || (q !== undefined && q < 0);
    if (lateLately && this.#mayExpand()) return this.#expand(nowMs, dueAt);
    if (!next && this.#mayExpand()) return this.#wait(dueAt);
    if (next) {
      const gap = next.ext - this.#playTs;
      const durationTs = Math.min(this.frameTs, gap);
      this.#stats.concealedLoss++;
      this.#stats.concealedTs += durationTs;
      this.#advance(durationTs, dueAt, this.#tsToMs(durationTs));
      return gap <= this.frameTs
        ? { kind: "conceal", reason: ConcealReason.Loss, durationTs, next: strip(next) }
        : { kind: "conceal", reason: ConcealReason.Loss, durationTs };
    }
    this.#stats.concealedGap++;
    this.#stats.concealedTs += this.frameTs;
    this.#advance(this.frameTs, dueAt, this.frameMs);
    return { kind: "conceal", reason: ConcealReason.Gap, durationTs: this.frameTs };
  }

  /** A wanted change of the delay happens now if the audio is quiet, or if it has waited long enough. */
  #chosen(kind: "merge" | "expand", quiet: boolean, nowMs: number): boolean {
    if (this.#wanted?.kind !== kind) this.#wanted = { kind, since: nowMs };
    if (quiet || nowMs - this.#wanted.since >= FORCE_CHANGE_MS) {
      this.#wanted = undefined;
      return true;
    }
    return false;
  }

  /** One frame of concealment without advancing: the delay grows by a frame. */
  #expand(nowMs: number, dueAt: number): PlayoutDecision {
    this.#stats.expands++;
    this.#stats.concealedTs += this.frameTs;
    this.#lastExpandMs = nowMs;
    this.#lastLateMs = -Infinity; // that lateness is now accounted for
    this.#shift(this.frameMs);
    this.#anchor = { t: dueAt + this.frameMs, ts: this.#playTs };
    return { kind: "conceal", reason: ConcealReason.Expand, durationTs: this.frameTs };
  }

  /**
   * The packet due now is missing and nothing after it is here: the sender
   * (or the path) may only be running late, by less than a frame. Its slot is
   * concealed without moving on (as an expand: the delay grows by a frame),
   * so if it comes by the next tick it plays then instead of being dropped as
   * late, and one frame is concealed where moving on would conceal it and
   * then, with lateness in the window, expand for the next one. If it does
   * not come, the next tick takes the frame back (#endWait): the slot was the
   * concealment a lost packet or a pause needed anyway, and the time line is
   * where it would have been. Counted as a gap until it is known.
   */
  #wait(dueAt: number): PlayoutDecision {
    this.#waiting = this.#playTs;
    this.#stats.concealedGap++;
    this.#stats.concealedTs += this.frameTs;
    this.#shift(this.frameMs);
    this.#anchor = { t: dueAt + this.frameMs, ts: this.#playTs };
    return { kind: "conceal", reason: ConcealReason.Gap, durationTs: this.frameTs };
  }

  /** The tick after a #wait: the packet came (it plays; the frame was an expand) or the wait is undone. */
  #endWait(nowMs: number, dueAt: number): void {
    this.#waiting = undefined;
    if (this.#held.has(this.#playTs)) {
      this.#stats.concealedGap--;
      this.#stats.expands++;
      this.#lastExpandMs = nowMs;
      return;
    }
    if (this.#nextHeld()) {
      this.#stats.concealedGap--;
      this.#stats.concealedLoss++;
    }
    this.#shift(-this.frameMs);
    this.#advance(this.frameTs, dueAt, 0);
  }

  /** Forget the stream (e.g. the remote SSRC changed); counters are kept. */
  reset(): void {
    this.#waiting = undefined;
    this.#held.clear();
    this.#started = false;
    this.#probation = undefined;
    this.#consecutiveLate = 0;
    this.#window.clear();
    this.#recent = [];
    this.#spikeArrivalMs = -Infinity;
    this.#lastLateMs = -Infinity;
    this.#playedSeqs.length = 0;
    this.#highestSeq = undefined;
  }

  // ---------------------------------------------------------------- internals

  #packet(p: PlayoutInput, durationTs: number): Omit<Held, "ext"> {
    return { seq: p.seq & 0xffff, timestamp: p.timestamp >>> 0, payload: p.payload, durationTs, arrivalMs: p.arrivalMs };
  }

  #tsToMs(ts: number): number {
    return (ts * 1000) / this.clockRate;
  }

  #dueMs(ext: number): number {
    return this.#anchor.t + this.#tsToMs(ext - this.#anchor.ts);
  }

  #hold(h: Held): void {
    this.#held.set(h.ext, h);
    if (this.#held.size > MAX_HELD) this.#held.delete(this.#oldestHeld()!.ext);
  }

  #oldestHeld(): Held | undefined {
    let best: Held | undefined;
    for (const h of this.#held.values()) if (!best || h.ext < best.ext) best = h;
    return best;
  }

  /** The earliest held packet at or after the play point. */
  #nextHeld(): Held | undefined {
    let best: Held | undefined;
    for (const h of this.#held.values()) if (h.ext >= this.#playTs && (!best || h.ext < best.ext)) best = h;
    return best;
  }

  /**
   * Playout starts at the first tick that gives a packet a slack of at least
   * initialDelayMs minus a frame (and the margin): its slack is then in
   * [initial - frame, initial). When packets piled up before the first tick
   * (the peer started sending before we started playing: its transport was
   * up first, or our first call's setup was slow), they are the first words
   * of the call: they play, and merges take the delay they add back down in
   * the quiet moments that follow. Only what waited more than
   * START_BACKLOG_MS beyond the need is dropped: a sender far ahead would
   * otherwise leave a long delay to remove.
   */
  #start(dueAt: number): boolean {
    const need = Math.max(this.marginMs, this.initialDelayMs - this.frameMs);
    const held = [...this.#held.values()].sort((a, b) => a.ext - b.ext);
    if (!held.some((h) => dueAt - h.arrivalMs >= need)) return false;
    // Skip the packets that waited too long beyond the need (the ones after them are ready too).
    const backlog = Math.min(START_BACKLOG_MS, this.maxDelayMs);
    let i = 0;
    while (i < held.length - 1 && dueAt - held[i]!.arrivalMs > need + backlog && dueAt - held[i + 1]!.arrivalMs >= need) i++;
    const first = held[i]!;
    for (const h of this.#held.values()) if (h.ext < first.ext) this.#held.delete(h.ext);
    this.#started = true;
    this.#playTs = first.ext;
    this.#anchor = { t: dueAt, ts: first.ext };
    for (const h of this.#held.values()) this.#addSlack(this.#dueMs(h.ext) - h.arrivalMs, h.arrivalMs);
    return true;
  }

  #addSlack(slack: number, at: number): void {
    this.#window.add(slack, at);
    // The pre-emptive expand is for packets one more frame would save. A packet
    // later than that, and the packets that arrive in the same burst with it
    // (held up by the same delay spike; the last of them is only just late),
    // are no sign that the next ones will need a frame more: they count for
    // the quantiles (a lasting change raises the delay through those and the
    // late-recently rule), not here.
    if (slack < -this.frameMs) this.#spikeArrivalMs = at;
    else if (at - this.#spikeArrivalMs > BURST_MS) this.#recent.push({ at, slack });
  }

  /** Move the time line by `ms` (positive: more delay): every remembered slack moves with it. */
  #shift(ms: number): void {
    this.#window.shift(ms);
    for (const r of this.#recent) r.slack += ms;
  }

  #recentMinSlack(nowMs: number): number | undefined {
    while (this.#recent.length > 0 && this.#recent[0]!.at < nowMs - RECENT_MS) this.#recent.shift();
    let min: number | undefined;
    for (const r of this.#recent) if (min === undefined || r.slack < min) min = r.slack;
    return min;
  }

  /** A played packet leaves the buffer; its arrival-to-playout time feeds the delay figure. */
  #take(h: Held, dueAt: number): void {
    this.#held.delete(h.ext);
    this.#playedSeqs.push(h.seq);
    if (this.#playedSeqs.length > 128) this.#playedSeqs.shift();
    this.#stats.played++;
    const d = dueAt - h.arrivalMs;
    this.#delayMs = this.#delayMs === undefined ? d : this.#delayMs + (d - this.#delayMs) * DELAY_GAIN;
  }

  /** Advance the play point by `ts`; the next sample is due `outMs` after `dueAt`. */
  #advance(ts: number, dueAt: number, outMs: number): void {
    this.#playTs += ts;
    this.#anchor = { t: dueAt + outMs, ts: this.#playTs };
    // Anything left behind the play point can no longer be played.
    for (const h of this.#held.values()) if (h.ext < this.#playTs) this.#held.delete(h.ext);
  }

  #mayMerge(q: number | undefined, recentMin: number | undefined, nowMs: number): boolean {
    if (q === undefined || this.#window.count < MIN_SAMPLES_TO_MERGE) return false;
    if (nowMs - this.#lastExpandMs < MERGE_AFTER_EXPAND_MS || nowMs - this.#lastMergeMs < MERGE_SPACING_MS) return false;
    if (q < this.frameMs + this.mergeMarginMs) return false;
    // After the merge the latest recent packets must still clear the margin, or the next choice would be an expand.
    if (recentMin !== undefined && recentMin - this.frameMs < this.marginMs) return false;
    // Lower bound: the typical delay after the merge stays at or above minDelayMs.
    const median = this.#window.quantile(0.5)!;
    return median - this.frameMs >= this.minDelayMs;
  }

  /**
   * Upper bound: after one more frame, the early packets (98th percentile of
   * the slack: what the earliest arrivals wait) still wait at most maxDelayMs.
   */
  #mayExpand(): boolean {
    const early = this.#window.quantile(0.98) ?? 0;
    return early + this.frameMs <= this.maxDelayMs;
  }

  #targetDelayMs(): number {
    if (!this.#started || this.#window.count === 0) return this.initialDelayMs;
    const q = this.#window.quantile(this.lateQuantile)!;
    const median = this.#window.quantile(0.5)!;
    return Math.min(this.maxDelayMs, Math.max(this.minDelayMs, median - q + this.marginMs));
  }

  #countReorder(seq: number): void {
    if (this.#highestSeq === undefined) {
      this.#highestSeq = SEQ_MOD + (seq & 0xffff);
      return;
    }
    const ext = extendSeq(seq, this.#highestSeq);
    if (ext < this.#highestSeq) this.#stats.reordered++;
    else this.#highestSeq = ext;
  }

  /** A packet far from the time line: a second one in sequence after it confirms a restart. */
  #jump(h: Held): PushResult {
    const p = this.#probation;
    if (p && h.seq === ((p.seq + 1) & 0xffff) && Math.abs(extendTs(h.timestamp, p.ext) - p.ext) <= this.resyncTs) {
      this.#restart(p);
      this.push({ seq: h.seq, timestamp: h.timestamp, payload: h.payload, arrivalMs: h.arrivalMs, durationTs: h.durationTs });
      this.#stats.received--; // counted once already
      return PushResult.Resync;
    }
    this.#probation = h;
    return PushResult.JumpPending;
  }

  /** Start a new time line at `h` (it plays after the initial delay). */
  #restart(h: Held): void {
    this.reset();
    this.#stats.resyncs++;
    const ext = TS_MOD + (h.timestamp >>> 0);
    this.#held.set(ext, { ...h, ext });
    this.#highestSeq = SEQ_MOD + h.seq;
  }
}

function strip(h: Held): PlayoutPacket {
  return { seq: h.seq, timestamp: h.timestamp, payload: h.payload, durationTs: h.durationTs };
}

/** The number nearest to `ref` whose low 32 bits are `ts` (RTP timestamps wrap at 2^32). */
export function extendTs(ts: number, ref: number): number {
  const diff = ((((ts >>> 0) - (ref % TS_MOD)) % TS_MOD) + TS_MOD * 1.5) % TS_MOD - TS_MOD / 2;
  return ref + diff;
}

function extendSeq(seq: number, ref: number): number {
  const diff = ((((seq & 0xffff) - (ref % SEQ_MOD)) % SEQ_MOD) + SEQ_MOD * 1.5) % SEQ_MOD - SEQ_MOD / 2;
  return ref + diff;
}
