// Giving back what start-up used and no longer needs, once a thread has
// loaded its code and run it (a media thread after its warm-up call, the
// main thread before its login, and its collection again once logged in). Two things hold on to freed memory:
//
// - V8 keeps the pages a heap grew to until its memory reducer runs, and the
//   reducer is started by a full garbage collection. A thread that then
//   idles allocates too little to ever need one, so its heap stayed at the
//   size start-up left it (measured: a media thread 16 MiB committed for
//   9 MiB live, for as long as it idled). One full collection now frees the
//   garbage and starts the reducer, which returns the empty pages some
//   seconds later (when the allocation rate has been low for a while).
//   Node has no call for a collection without the --expose-gc flag; V8 adds
//   its gc() function to contexts made while the flag is set, so it is set
//   for the one context made here and cleared again (v8.setFlagsFromString).
// - glibc's malloc keeps what V8's parser and compiler, OpenSSL and the
//   rest freed, scattered between blocks still in use, in one arena per
//   thread; malloc_trim(0) gives those pages back (native/system, built by
//   scripts/build-native.mjs; without it this step is skipped). Measured on
//   an idle daemon with a preloaded media thread: 3-5 MiB.
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { systemHelper } from "./native-system.js";

let gc: (() => void) | undefined;

/** Tries to find gc() this many times before a collection is skipped. */
const EXPOSE_TRIES = 5;

/**
 * V8's gc(), from a context made while --expose-gc is set. The flag is the
 * process's, not the thread's: when a media thread and the main thread do
 * this at once, one may clear the flag between the other's set and its
 * context (seen: the main thread's context had no gc, and the daemon died of
 * the ReferenceError). So the context is asked whether it has gc, and the
 * flag set again when it has not.
 */
export function exposeGc(): (() => void) | undefined {
  for (let i = 0; i < EXPOSE_TRIES; i++) {
    setFlagsFromString("--expose-gc");
    try {
      const found = runInNewContext("typeof gc === 'function' ? gc : undefined") as unknown;
      if (typeof found === "function") return found as () => void;
    } finally {
      setFlagsFromString("--no-expose-gc");
    }
  }
  return undefined;
}

/** One full garbage collection on the calling thread (skipped when gc() could not be had: it only gives memory back sooner). */
export function collectGarbage(): void {
  gc ??= exposeGc();
  gc?.();
}

/** Whether malloc's free pages can be given back here (the helper is built and loads). */
export function canTrimMalloc(): boolean {
  return systemHelper() !== null;
}

/**
 * A full collection on the calling thread, then free malloc pages back to
 * the system (all threads' arenas). Some ms of the caller's time: only where
 * nothing waits for the thread. Returns whether malloc gave pages back.
 */
export function releaseMemory(): boolean {
  collectGarbage();
  return systemHelper()?.trim() ?? false;
}
