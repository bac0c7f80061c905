// The process's standard input and output as streams, on whichever thread
// asks: a worker thread's process.stdin is empty and its process.stdout is
// copied through the main thread, so media on a media thread reads and
// writes descriptors 0 and 1 itself, never closing them (another call may
// use them after this one).
import { createReadStream, createWriteStream, fstatSync } from "node:fs";
import { Socket } from "node:net";
import type { Readable, Writable } from "node:stream";
import { isMainThread } from "node:worker_threads";

let stdin: Readable | undefined;

/** Standard input: one stream per thread, shared by the sources that read it one after the other. */
export function standardInput(): Readable {
  if (isMainThread) return process.stdin;
  // A pipe or socket is read without blocking; a file or terminal through the thread pool.
  const st = fstatSync(0);
  stdin ??= st.isFIFO() || st.isSocket() ? new Socket({ fd: 0, readable: true, writable: false }) : createReadStream("", { fd: 0, autoClose: false });
  return stdin;
}

/** Standard output: a stream of this sink's own, whose end() leaves descriptor 1 open. */
export function standardOutput(): Writable {
  if (isMainThread) return process.stdout;
  return createWriteStream("", { fd: 1, autoClose: false });
}
