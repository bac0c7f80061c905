// Giving back what start-up used and no longer needs. V8 keeps the pages a
// heap grew to until its memory reducer runs, and the reducer is started by
// a full garbage collection: a thread that loads its code, runs it once and
// then idles (a media thread after its warm-up call, the main thread once
// online) allocates too little to ever need one, so its heap would stay at
// the size start-up left it (measured: a media thread 16 MiB committed for
// 9 MiB live, for as long as it idles). One full collection at that point
// frees the garbage now and starts the reducer, which returns the empty
// pages to the system some seconds later.
//
// Node has no call for a collection without the --expose-gc flag; V8 adds
// its gc() function to contexts made while the flag is set, so it is set
// for the one context made here and cleared again (v8.setFlagsFromString).
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

let gc: (() => void) | undefined;

/** One full garbage collection on the calling thread (some ms: only where nothing waits for the thread). */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString("--expose-gc");
    try {
      gc = runInNewContext("gc") as () => void;
    } finally {
      setFlagsFromString("--no-expose-gc");
    }
  }
  gc();
}
