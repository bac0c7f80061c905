// A Clock (src/util/clock.ts) that moves only when told: advance(ms) runs
// every timer that falls due, in time order, each at its own due time.
import type { Clock, TimerHandle } from "../../src/util/clock.js";

interface Timer {
  id: number;
  due: number;
  fn: () => void;
}

export class ManualClock implements Clock {
  #now = 0;
  #next = 1;
  readonly #timers = new Map<number, Timer>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#next++;
    this.#timers.set(id, { id, due: this.#now + Math.max(0, ms), fn });
    return id as unknown as TimerHandle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle !== undefined) this.#timers.delete(handle as unknown as number);
  }

  /** Timers still pending. */
  get pending(): number {
    return this.#timers.size;
  }

  /** The due time of the next timer, if any. */
  nextDue(): number | undefined {
    let min: number | undefined;
    for (const t of this.#timers.values()) if (min === undefined || t.due < min) min = t.due;
    return min;
  }

  /** Moves time forward by `ms`, firing what falls due on the way (also timers set by those). */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let first: Timer | undefined;
      for (const t of this.#timers.values()) if (t.due <= end && (!first || t.due < first.due || (t.due === first.due && t.id < first.id))) first = t;
      if (!first) break;
      this.#timers.delete(first.id);
      this.#now = Math.max(this.#now, first.due);
      first.fn();
    }
    this.#now = end;
  }
}
