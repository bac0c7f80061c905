// One shared media clock for every call in the process (or media thread).
// A self-correcting timer: it schedules each tick against the ideal time
// line, so ticks do not drift, and catches up (bounded) after the event loop
// was blocked. Started by its first subscriber with an immediate tick.
//
// The daemon's clock ticks every 10 ms: a call with 10 ms packets runs on
// every tick, a call with 20 ms frames on every other one (its own count,
// from its first tick), and its receive side picks the tick within the frame
// at which its first packet is ready, so the playout buffer waits for the
// peer's packets at most one clock period, not one frame
// (src/media/media-session.ts).
//
// Catching up waits for the sockets: Node runs timers before it polls for
// I/O, so ticks run straight from a timer that fired late would play out
// frames whose packets arrived during the stall but were not read yet (each
// one concealed, the packet then late). A late timer therefore runs its
// ticks from setImmediate, after the poll phase of the same loop turn has
// taken in what the stall held back.

export type TickHandler = (frameIndex: number) => void;

export interface FrameClock {
  /** Time between two ticks, ms (20 when not given). */
  readonly periodMs?: number;
  /** Subscribe; returns an unsubscribe function. The clock runs only while it has subscribers. */
  subscribe(fn: TickHandler): () => void;
}

/** Ticks made up at once after a stall, at most (100 ms of them), before the clock skips ahead instead. */
/** The daemon's media clock period, ms, on the main thread and on every media thread. */
export const MEDIA_CLOCK_MS = 10;

const MAX_CATCH_UP_MS = 100;

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
  const maxCatchUp = Math.max(1, Math.round(MAX_CATCH_UP_MS / periodMs));

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
    if (behind > maxCatchUp) {
      // Too far behind (machine stalled): skip ahead instead of bursting.
      ticks = elapsed - maxCatchUp;
      behind = maxCatchUp;
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
    periodMs,
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
