// Reordering playout buffer (a fixed-delay jitter buffer), pure logic.
//
// The caller pushes RTP packets as they arrive and pops one frame per 20 ms
// tick. Nothing here reads a clock: `arrivalMs` is stored for the adaptive
// delay estimator a later issue adds, which only has to change
// `targetFrames` (a field, read at the moments the buffer (re)starts).
//
// Sequence numbers are extended to more than 16 bits (RFC 3550 §A.1) so that
// wrap-around at 65535 is ordinary arithmetic. A jump of more than `maxJump`
// sequence numbers either way is not trusted at once: like the probation of
// RFC 3550 §A.1, it takes a second packet in sequence after the jump to
// accept that the sender restarted; the buffer then starts over.
//
// States:
//   buffering – nothing is played until the frames buffered (counted from the
//               next sequence number to play to the highest received) reach
//               targetFrames; pop() returns "empty".
//   playing   – each pop() returns the next packet in order, or "lost" when
//               it is missing but later packets are already here. When the
//               buffer runs dry, pop() returns "empty" and buffering starts
//               again (the sender may be in DTX; its sequence numbers
//               continue where they stopped). If the packets that then
//               arrive skip some numbers, those frames' time has passed
//               already (the ticks returned "empty"): they count as lost but
//               are not returned as "lost", so the delay does not grow.

export interface PlayoutInput {
  seq: number;
  timestamp: number;
  payload: Buffer;
  /** the caller's clock, ms; kept for delay estimation */
  arrivalMs: number;
}

export type PlayoutOutput =
  | { kind: "packet"; seq: number; timestamp: number; payload: Buffer }
  | { kind: "lost"; seq: number }
  | { kind: "empty" };

/** What push() did with a packet. */
export const PushResult = {
  Queued: "queued",
  Duplicate: "duplicate",
  Late: "late",
  /** a big jump, held until a second packet confirms it */
  JumpPending: "jump-pending",
  /** a confirmed jump: the buffer started over */
  Resync: "resync",
} as const;
export type PushResult = (typeof PushResult)[keyof typeof PushResult];

export const PlayoutState = { Buffering: "buffering", Playing: "playing" } as const;
export type PlayoutState = (typeof PlayoutState)[keyof typeof PlayoutState];

export interface PlayoutStats {
  /** packets given to push() */
  received: number;
  /** packets returned by pop() */
  played: number;
  /** frames for which no packet came in time: returned as "lost", or skipped after an underrun */
  lost: number;
  /** arrived after their turn (already concealed): dropped */
  late: number;
  /** already buffered or already played: dropped */
  duplicate: number;
  /** arrived after a packet with a higher sequence number */
  reordered: number;
  /** pop() found nothing at all to play while playing */
  underruns: number;
  /** dropped because the buffer exceeded its capacity */
  overflow: number;
  /** the sender restarted (confirmed sequence jump) */
  resyncs: number;
}

export interface PlayoutBufferOptions {
  /** frames to hold before playing starts (default 2 = 40 ms at 20 ms frames) */
  targetFrames?: number;
  /** frames the buffer may span before the oldest are dropped (default 50) */
  capacity?: number;
  /** a sequence step larger than this, either way, is a restart candidate (default 100) */
  maxJump?: number;
}

const SEQ_MOD = 0x10000;
/** How many played sequence numbers are remembered to tell duplicates from late packets. */
const PLAYED_MEMORY = 128;

interface Held {
  ext: number;
  pkt: PlayoutInput;
}

export class PlayoutBuffer {
  /** Frames to hold before (re)starting to play; an adaptive controller may change it. */
  targetFrames: number;
  readonly capacity: number;
  readonly maxJump: number;

  #state: PlayoutState = PlayoutState.Buffering;
  readonly #held = new Map<number, PlayoutInput>();
  /** Highest extended sequence number received, or undefined before the first packet. */
  #highest: number | undefined;
  /** Next extended sequence number to play; undefined until playing first starts. */
  #next: number | undefined;
  /** Extended numbers played recently, indexed by ext % PLAYED_MEMORY. */
  readonly #played = new Float64Array(PLAYED_MEMORY).fill(-1);
  #probation: Held | undefined;
  readonly #stats: PlayoutStats = {
    received: 0,
    played: 0,
    lost: 0,
    late: 0,
    duplicate: 0,
    reordered: 0,
    underruns: 0,
    overflow: 0,
    resyncs: 0,
  };

  constructor(opts: PlayoutBufferOptions = {}) {
    this.targetFrames = Math.max(1, Math.floor(opts.targetFrames ?? 2));
    this.capacity = Math.max(this.targetFrames + 1, opts.capacity ?? 50);
    this.maxJump = opts.maxJump ?? 100;
  }

  get state(): PlayoutState {
    return this.#state;
  }

  /** A snapshot of the counters. */
  get stats(): PlayoutStats {
    return { ...this.#stats };
  }

  /**
   * Frames currently spanned up to the highest received: from the next to
   * play while playing, from the oldest held while buffering (so a packet
   * that is merely reordered is waited for rather than declared lost).
   */
  get depth(): number {
    if (this.#highest === undefined || this.#held.size === 0) return 0;
    const from = this.#state === PlayoutState.Playing ? this.#next! : this.#oldestHeld();
    return this.#highest - from + 1;
  }

  push(pkt: PlayoutInput): PushResult {
    this.#stats.received++;
    if (this.#highest === undefined) {
      // Extended numbers start one cycle up so that a reordered packet from
      // just before the first one still gets a non-negative number.
      this.#highest = SEQ_MOD + (pkt.seq & 0xffff);
      this.#held.set(this.#highest, pkt);
      return PushResult.Queued;
    }
    const ext = this.#extend(pkt.seq, this.#highest);
    const delta = ext - this.#highest;
    if (delta > this.maxJump || delta < -this.maxJump) return this.#jump(pkt);
    this.#probation = undefined; // the stream continues as before: forget a stray jump

    if (this.#next !== undefined && ext < this.#next) {
      if (this.#played[ext % PLAYED_MEMORY] === ext) {
        this.#stats.duplicate++;
        return PushResult.Duplicate;
      }
      this.#stats.late++;
      return PushResult.Late;
    }
    if (this.#held.has(ext)) {
      this.#stats.duplicate++;
      return PushResult.Duplicate;
    }
    if (delta < 0) this.#stats.reordered++;
    else this.#highest = ext;
    this.#held.set(ext, pkt);
    this.#enforceCapacity();
    return PushResult.Queued;
  }

  pop(): PlayoutOutput {
    if (this.#state === PlayoutState.Buffering) {
      if (this.#held.size === 0 || this.depth < this.targetFrames) return { kind: "empty" };
      this.#startPlaying();
    }
    if (this.#held.size === 0) {
      // Ran dry: conceal nothing here, rebuild the target delay first.
      this.#stats.underruns++;
      this.#state = PlayoutState.Buffering;
      return { kind: "empty" };
    }
    const ext = this.#next!;
    this.#next = ext + 1;
    const pkt = this.#held.get(ext);
    if (!pkt) {
      this.#stats.lost++;
      return { kind: "lost", seq: ext % SEQ_MOD };
    }
    this.#held.delete(ext);
    this.#played[ext % PLAYED_MEMORY] = ext;
    this.#stats.played++;
    return { kind: "packet", seq: ext % SEQ_MOD, timestamp: pkt.timestamp, payload: pkt.payload };
  }

  /** Forget everything buffered (e.g. the remote SSRC changed); counters are kept. */
  reset(): void {
    this.#held.clear();
    this.#highest = undefined;
    this.#next = undefined;
    this.#probation = undefined;
    this.#played.fill(-1);
    this.#state = PlayoutState.Buffering;
  }

  /** The nearest extended number to `ref` whose low 16 bits are `seq`. */
  #extend(seq: number, ref: number): number {
    const diff = (((seq - ref) % SEQ_MOD) + SEQ_MOD + SEQ_MOD / 2) % SEQ_MOD - SEQ_MOD / 2;
    return ref + diff;
  }

  #oldestHeld(): number {
    let min = Infinity;
    for (const ext of this.#held.keys()) if (ext < min) min = ext;
    return min;
  }

  #startPlaying(): void {
    const min = this.#oldestHeld();
    if (this.#next !== undefined && min > this.#next) {
      // Resuming after an underrun: the skipped frames' ticks have already passed.
      this.#stats.lost += min - this.#next;
    }
    this.#next = min;
    this.#state = PlayoutState.Playing;
  }

  /** Keep the span within `capacity` frames by dropping the oldest. */
  #enforceCapacity(): void {
    const lowest = this.#highest! - this.capacity + 1;
    let dropped = 0;
    for (const ext of this.#held.keys()) {
      if (ext < lowest) {
        this.#held.delete(ext); // deleting the current key is safe while iterating a Map
        dropped++;
      }
    }
    this.#stats.overflow += dropped;
    if (this.#next !== undefined && this.#next < lowest) {
      // Frames skipped here without a packet were lost; those with one are counted as overflow.
      this.#stats.lost += lowest - this.#next - dropped;
      this.#next = lowest;
    }
  }

  #jump(pkt: PlayoutInput): PushResult {
    const seq = pkt.seq & 0xffff;
    const p = this.#probation;
    if (p && seq === (p.ext + 1) % SEQ_MOD) {
      // Two packets in sequence after the jump: the sender restarted (RFC 3550 §A.1).
      this.reset();
      this.#stats.resyncs++;
      this.#highest = SEQ_MOD + seq;
      const prev = this.#extend(p.ext, this.#highest);
      this.#held.set(prev, p.pkt);
      this.#held.set(this.#highest, pkt);
      return PushResult.Resync;
    }
    this.#probation = { ext: seq, pkt };
    return PushResult.JumpPending;
  }
}
