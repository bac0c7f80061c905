// Time for protocol logic that must be tested without sleeping: the real
// clock in production, a manual one in tests (test/fakes/manual-clock.ts).
// Timers are not unref'd: a pending protocol timer keeps the process alive,
// as a plain setTimeout would; whoever starts one clears it when done.

/** Whatever setTimeout returned; only ever passed back to clearTimeout. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds on a monotonic time line. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout | undefined),
};
