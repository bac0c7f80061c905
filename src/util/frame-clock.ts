// One shared 20 ms media clock for every call in the process. A self-correcting
// timer: it schedules each tick against the ideal time line, so ticks do not
// drift, and catches up (bounded) after the event loop was blocked. Started
// by its first subscriber with an immediate tick.

export type TickHandler = (frameIndex: number) => void;

export interface FrameClock {
  /** Subscribe; returns an unsubscribe function. The clock runs only while it has subscribers. */
  subscribe(fn: TickHandler): () => void;
}

const MAX_CATCH_UP = 5;

/**
 * `onError` hears about a subscriber that threw; the other subscribers (the
 * other calls) keep their ticks — one broken call must not silence all.
 */
export function createFrameClock(
  periodMs = 20,
  now: () => number = () => performance.now(),
  onError: (err: unknown, fn: TickHandler) => void = () => undefined,
): FrameClock {
  const subscribers = new Set<TickHandler>();
  let timer: NodeJS.Timeout | undefined;
  let start = 0;
  let ticks = 0;

  function schedule(): void {
    const due = start + (ticks + 1) * periodMs;
    timer = setTimeout(run, Math.max(0, due - now()));
  }

  function run(): void {
    const elapsed = Math.floor((now() - start) / periodMs);
    let behind = elapsed - ticks;
    if (behind > MAX_CATCH_UP) {
      // Too far behind (machine stalled): skip ahead instead of bursting.
      ticks = elapsed - MAX_CATCH_UP;
      behind = MAX_CATCH_UP;
    }
    for (let i = 0; i < Math.max(1, behind); i++) {
      ticks++;
      for (const fn of subscribers) {
        try {
          fn(ticks);
        } catch (err) {
          onError(err, fn);
        }
      }
    }
    if (subscribers.size > 0) schedule();
    else timer = undefined;
  }

  return {
    subscribe(fn) {
      subscribers.add(fn);
      if (!timer) {
        // The first tick comes at once (not a period later): a call starting
        // on an idle clock sends its first frame without waiting.
        start = now() - periodMs;
        ticks = 0;
        timer = setTimeout(run, 0);
      }
      return () => {
        subscribers.delete(fn);
        if (subscribers.size === 0 && timer) {
          clearTimeout(timer);
          timer = undefined;
        }
      };
    },
  };
}
