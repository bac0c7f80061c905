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

  constructor(opts: { windowMs?: number; maxSamples?: number } = {}) {
    this.windowMs = opts.windowMs ?? 5000;
    this.maxSamples = opts.maxSamples ?? 500;
  }

  get count(): number {
    return this.#samples.length;
  }

  add(slackMs: number, atMs: number): void {
    this.#samples.push({ at: atMs, slack: slackMs });
    if (this.#samples.length > this.maxSamples) this.#samples.shift();
  }

  /** Forget samples older than the window. */
  prune(nowMs: number): void {
    const cut = nowMs - this.windowMs;
    let i = 0;
    while (i < this.#samples.length && this.#samples[i]!.at < cut) i++;
    if (i > 0) this.#samples.splice(0, i);
  }

  /** The time line moved by `deltaMs` (positive: more delay). */
  shift(deltaMs: number): void {
    for (const s of this.#samples) s.slack += deltaMs;
  }

  clear(): void {
    this.#samples = [];
  }

  /** The q-quantile (0..1, nearest rank) of the slacks, or undefined when empty. */
  quantile(q: number): number | undefined {
    const n = this.#samples.length;
    if (n === 0) return undefined;
    const sorted = this.#samples.map((s) => s.slack).sort((a, b) => a - b);
    const rank = Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1));
    return sorted[rank];
  }

  /** How many samples are late (slack < 0). */
  lateCount(): number {
    let n = 0;
    for (const s of this.#samples) if (s.slack < 0) n++;
    return n;
  }
}
