// Reception statistics of one RTP source, as RFC 3550 defines them for
// receiver reports: extended highest sequence number and source validation
// (§A.1), cumulative and interval loss (§A.3, §6.4.1) and interarrival
// jitter (§A.8). Pure: arrival times are passed in by the caller.

const SEQ_MOD = 0x10000;
/** §A.1: steps larger than this (forward) or MAX_MISORDER (backward) are suspicious. */
const MAX_DROPOUT = 3000;
const MAX_MISORDER = 100;

export interface ReceptionReport {
  /** §6.4.1 fraction lost since the previous report, 0..255 (an 8-bit fixed-point fraction) */
  fractionLost: number;
  /** §6.4.1 cumulative number of packets lost (may be negative with duplicates), 24-bit signed */
  packetsLost: number;
  /** §6.4.1 extended highest sequence number received */
  highestSequence: number;
  /** §6.4.1 interarrival jitter, timestamp units */
  jitter: number;
}

export class ReceiverStats {
  readonly clockRate: number;
  #baseSeq = 0;
  #maxSeq = 0;
  #cycles = 0;
  #badSeq = SEQ_MOD + 1;
  #received = 0;
  #receivedPrior = 0;
  #expectedPrior = 0;
  #started = false;
  /** The sender paused on purpose (pause()): its next packet's sequence gap is not loss. */
  #paused = false;
  /** Sequence numbers skipped across pauses: never expected. */
  #skipped = 0;
  /** §A.8: J, scaled by 16 to keep precision (the RFC's integer variant). */
  #jitter16 = 0;
  #lastTransit: number | undefined;
  /** Octets of payload received (for statistics only). */
  octets = 0;

  constructor(clockRate: number) {
    this.clockRate = clockRate;
  }

  get received(): number {
    return this.#received;
  }

  get started(): boolean {
    return this.#started;
  }

  /** §A.3: extended highest sequence number received. */
  get extendedMax(): number {
    return this.#cycles + this.#maxSeq;
  }

  /** §A.3: packets expected since the first one (less those a pause skipped). */
  get expected(): number {
    return this.#started ? this.extendedMax - this.#baseSeq + 1 - this.#skipped : 0;
  }

  /**
   * The sender stopped on purpose (a hold, XEP-0167 §7.2): what its next
   * packet skips in sequence numbers was never sent to us (a peer may count
   * on while holding, or send what we dropped while we held), so it is not
   * loss; and the time until then is no transit-time difference (§A.8).
   */
  pause(): void {
    this.#paused = true;
    this.#lastTransit = undefined;
  }

  /** §A.3: cumulative loss (expected - received; negative when duplicates outnumber losses). */
  get cumulativeLost(): number {
    return this.expected - this.#received;
  }

  /** §A.8 jitter in timestamp units. */
  get jitter(): number {
    return this.#jitter16 / 16;
  }

  /** Jitter in milliseconds. */
  get jitterMs(): number {
    return (this.jitter * 1000) / this.clockRate;
  }

  /**
   * A packet of this source arrived. `arrivalMs` is the receiver's clock.
   * Returns false when §A.1 validation rejects it as a stray (it is not counted).
   */
  update(seq: number, rtpTimestamp: number, arrivalMs: number, payloadOctets = 0): boolean {
    seq &= 0xffff;
    if (!this.#started) {
      this.#init(seq);
      this.#started = true;
    } else if (this.#paused && this.#resume(seq)) {
      // counted below, its gap skipped
    } else {
      const udelta = (seq - this.#maxSeq + SEQ_MOD) % SEQ_MOD;
      if (udelta < MAX_DROPOUT) {
        // In order, with a permissible gap.
        if (seq < this.#maxSeq) this.#cycles += SEQ_MOD; // wrapped
        this.#maxSeq = seq;
      } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
        // A very large jump: accept it only if the next packet follows it (the sender restarted).
        if (seq === this.#badSeq) {
          this.#init(seq);
        } else {
          this.#badSeq = (seq + 1) % SEQ_MOD;
          return false;
        }
      }
      // else: a duplicate or reordered packet; counted below.
    }
    this.#received++;
    this.octets += payloadOctets;
    this.#updateJitter(rtpTimestamp, arrivalMs);
    return true;
  }

  /** §A.3 / §6.4.1: the figures of a report block; starts a new interval. */
  report(): ReceptionReport {
    const expected = this.expected;
    const expectedInterval = expected - this.#expectedPrior;
    this.#expectedPrior = expected;
    const receivedInterval = this.#received - this.#receivedPrior;
    this.#receivedPrior = this.#received;
    const lostInterval = expectedInterval - receivedInterval;
    const fractionLost = expectedInterval === 0 || lostInterval <= 0 ? 0 : Math.floor((lostInterval * 256) / expectedInterval);
    // §6.4.1: clamp to the 24-bit signed field.
    const lost = Math.max(-0x800000, Math.min(0x7fffff, this.cumulativeLost));
    return {
      fractionLost: Math.min(255, fractionLost),
      packetsLost: lost,
      highestSequence: this.extendedMax >>> 0,
      jitter: Math.round(this.jitter) >>> 0,
    };
  }

  /** The first packet after a pause: true when it is ahead (its gap is skipped, not lost). */
  #resume(seq: number): boolean {
    this.#paused = false;
    const udelta = (seq - this.#maxSeq + SEQ_MOD) % SEQ_MOD;
    if (udelta === 0 || udelta > SEQ_MOD - MAX_MISORDER) return false; // a duplicate or a straggler
    if (seq < this.#maxSeq) this.#cycles += SEQ_MOD;
    this.#skipped += udelta - 1;
    this.#maxSeq = seq;
    return true;
  }

  #init(seq: number): void {
    this.#paused = false;
    this.#skipped = 0;
    this.#baseSeq = seq;
    this.#maxSeq = seq;
    this.#badSeq = SEQ_MOD + 1;
    this.#cycles = 0;
    this.#received = 0;
    this.#receivedPrior = 0;
    this.#expectedPrior = 0;
    this.#lastTransit = undefined;
  }

  /**
   * §A.8: D(i-1,i) = (Rj - Ri) - (Sj - Si) = transit_j - transit_i, with the
   * arrival time converted to timestamp units; J += (|D| - J) / 16.
   */
  #updateJitter(rtpTimestamp: number, arrivalMs: number): void {
    const arrival = (arrivalMs * this.clockRate) / 1000;
    // Timestamps wrap at 2^32: take the transit difference modulo 2^32, signed.
    const transit = arrival - rtpTimestamp;
    if (this.#lastTransit !== undefined) {
      let d = transit - this.#lastTransit;
      d = ((((d + 2 ** 31) % 2 ** 32) + 2 ** 32) % 2 ** 32) - 2 ** 31;
      this.#jitter16 += Math.abs(d) - this.#jitter16 / 16;
    }
    this.#lastTransit = transit;
  }
}
