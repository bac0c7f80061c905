// The recent "slack" of received packets, for the jitter buffer's delay
// control (pure). A packet's slack is the time from its arrival to the
// moment it is due for playout: negative means it came too late. The
// buffer's delay is right when a small quantile of the slack (the
// latest-arriving few percent of packets) sits just above zero.
//
// When the playout time line moves (a frame inserted or removed), every
// remembered slack moves with it: shift() keeps the window consistent with
// the new time line, so a decision is not repeated on stale figures.

export class SlackWindow {
  readonly windowMs: number;
  readonly maxSamples: number;
  /** [arrivalMs, slackMs] pairs, oldest first */
  #samples: { at: number; slack: number }[] = [];
  /** The same slacks, sorted (quantiles are read every media tick: no sorting there). */
  #sorted: number[] = [];

  constructor(opts: { windowMs?: number; maxSamples?: number } = {}) {
    this.windowMs = opts.windowMs ?? 5000;
    this.maxSamples = opts.maxSamples ?? 500;
  }

  get count(): number {
    return this.#samples.length;
  }

  add(slackMs: number, atMs: number): void {
    this.#samples.push({ at: atMs, slack: slackMs });
    this.#sorted.splice(this.#lowerBound(slackMs), 0, slackMs);
    if (this.#samples.length > this.maxSamples) this.#remove(this.#samples.shift()!.slack);
  }

  /** Forget samples older than the window. */
  prune(nowMs: number): void {
    const cut = nowMs - this.windowMs;
    let i = 0;
    while (i < this.#samples.length && this.#samples[i]!.at < cut) i++;
    if (i > 0) for (const old of this.#samples.splice(0, i)) this.#remove(old.slack);
  }

  /** The time line moved by `deltaMs` (positive: more delay). */
  shift(deltaMs: number): void {
    for (const s of this.#samples) s.slack += deltaMs;
    for (let i = 0; i < this.#sorted.length; i++) this.#sorted[i]! += deltaMs;
  }

  clear(): void {
    this.#samples = [];
    this.#sorted = [];
  }

  /** The q-quantile (0..1, nearest rank) of the slacks, or undefined when empty. */
  quantile(q: number): number | undefined {
    const n = this.#sorted.length;
    if (n === 0) return undefined;
    const rank = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
    return this.#sorted[rank];
  }

  /** How many samples are late (slack < 0). */
  lateCount(): number {
    return this.#lowerBound(0);
  }

  /** Index of the first sorted slack >= v. */
  #lowerBound(v: number): number {
    let lo = 0;
    let hi = this.#sorted.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#sorted[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #remove(v: number): void {
    const i = this.#lowerBound(v);
    // Shifts add the same delta to both copies, so the value is found exactly.
    if (this.#sorted[i] === v) this.#sorted.splice(i, 1);
  }
}
