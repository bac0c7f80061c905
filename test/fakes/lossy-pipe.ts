// An in-process datagram path between two endpoints on a ManualClock: each
// datagram is delayed, and may be lost, duplicated or overtaken, by a seeded
// random source (so a failing case replays exactly).
import type { ManualClock } from "./manual-clock.js";
import { prng } from "../../scripts/lab/audio-compare.js";

export interface PipeImpairment {
  /** Probability that a datagram is lost. */
  loss?: number;
  /** Probability that a datagram arrives twice. */
  duplicate?: number;
  /** One-way delay, ms. */
  delayMs?: number;
  /** Extra random delay up to this, ms: datagrams overtake each other. */
  jitterMs?: number;
}

/** A seeded random source, uniform in [0, 1) (mulberry32). */
export const seededRandom = prng;

export type Side = "a" | "b";

export class LossyPipe {
  readonly #clock: ManualClock;
  readonly #random: () => number;
  readonly #imp: Required<PipeImpairment>;
  readonly #deliver: Record<Side, (d: Buffer) => void> = { a: () => {}, b: () => {} };
  /** Datagrams each side handed to the pipe, and how many of them were lost. */
  readonly sent: Record<Side, number> = { a: 0, b: 0 };
  readonly lost: Record<Side, number> = { a: 0, b: 0 };
  /** Sees (and may replace) every datagram before the impairment: an attacker on the path. */
  tap: ((from: Side, d: Buffer) => Buffer[]) | undefined;

  constructor(clock: ManualClock, random: () => number, imp: PipeImpairment = {}) {
    this.#clock = clock;
    this.#random = random;
    this.#imp = { loss: 0, duplicate: 0, delayMs: 10, jitterMs: 0, ...imp };
  }

  /** Where datagrams for `side` go. */
  onDeliver(side: Side, fn: (d: Buffer) => void): void {
    this.#deliver[side] = fn;
  }

  /** What `from` puts on the wire. */
  send(from: Side, datagram: Buffer): void {
    const to: Side = from === "a" ? "b" : "a";
    for (const d of this.tap ? this.tap(from, datagram) : [datagram]) {
      this.sent[from]++;
      if (this.#random() < this.#imp.loss) {
        this.lost[from]++;
        continue;
      }
      const copies = this.#random() < this.#imp.duplicate ? 2 : 1;
      for (let i = 0; i < copies; i++) {
        const copy = Buffer.from(d);
        this.#clock.setTimeout(() => this.#deliver[to](copy), this.#imp.delayMs + this.#random() * this.#imp.jitterMs);
      }
    }
  }

  /** Puts a datagram in front of `to` as if it came over the path (an injected one). */
  inject(to: Side, datagram: Buffer, afterMs = 0): void {
    const copy = Buffer.from(datagram);
    this.#clock.setTimeout(() => this.#deliver[to](copy), afterMs);
  }
}
