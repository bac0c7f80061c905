// One shared 20 ms media clock for every call in the process (or media
// thread). A self-correcting timer: it schedules each tick against the ideal
// time line, so ticks do not drift, and catches up (bounded) after the event
// loop was blocked. Started by its first subscriber with an immediate tick.
//
// Catching up waits for the sockets: Node runs timers before it polls for
// I/O, so ticks run straight from a timer that fired late would play out
// frames whose packets arrived during the stall but were not read yet (each
// one concealed, the packet then late). A late timer therefore runs its
// ticks from setImmediate, after the poll phase of the same loop turn has
// taken in what the stall held back.

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
  let catchingUp: NodeJS.Immediate | undefined;

  function schedule(): void {
    const next = start + (ticks + 1) * periodMs;
    timer = setTimeout(due, Math.max(0, next - now()));
  }

  /** The timer: on time, the tick runs now; late by a frame or more, after this turn's I/O. */
  function due(): void {
    const behind = Math.floor((now() - start) / periodMs) - ticks;
    if (behind > 1) {
      timer = undefined;
      catchingUp = setImmediate(() => {
        catchingUp = undefined;
        if (subscribers.size > 0) run();
      });
    } else run();
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
      if (!timer && !catchingUp) {
        // The first tick comes at once (not a period later): a call starting
        // on an idle clock sends its first frame without waiting.
        start = now() - periodMs;
        ticks = 0;
        timer = setTimeout(run, 0);
      }
      return () => {
        subscribers.delete(fn);
        if (subscribers.size === 0) {
          clearTimeout(timer);
          timer = undefined;
          clearImmediate(catchingUp);
          catchingUp = undefined;
        }
      };
    },
  };
}
