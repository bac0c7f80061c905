// A media thread (worker_threads): its PlaneHost takes the main thread's
// messages from the parent port. It loads everything a call needs and runs
// each codec once before it says it is ready, so a call never waits for
// that; the main thread then puts a call to itself through it
// (./warm-up-call.ts) before it gives it calls. What it is told at start:
// ./plane-protocol.ts PlaneThreadData.
import { writeFileSync } from "node:fs";
import { PerformanceObserver } from "node:perf_hooks";
import { parentPort, threadId, workerData } from "node:worker_threads";
import { warmUpCodecs } from "../../media/codecs/index.js";
import { planeLogger } from "./plane-log.js";
import { releaseMemory } from "../../util/release-memory.js";
import { raiseThreadPriority } from "../../util/thread-priority.js";
import { PlaneHost } from "./plane-host.js";
import { type MainMessage, type PlaneMessage, type PlaneThreadData } from "./plane-protocol.js";

/** GC pauses logged (debug), ms. */
const GC_PAUSE_LOG_MS = 2;
const port = parentPort!;
// Linux: the thread's name in top -H, ps -L and /proc (the benchmark finds media threads by it).
try {
  writeFileSync("/proc/thread-self/comm", "jingled-media");
} catch {
  // not Linux, or no /proc: the name is cosmetic
}
const data = workerData as PlaneThreadData;
// Its lines are written by the main thread's logger (./plane-log.ts): no pino here.
const root = planeLogger({ level: data.log.level, post: (record) => port.postMessage({ kind: "log", record } satisfies PlaneMessage) });
const logger = root.child({ thread: threadId });
// Audio before signalling when the machine is short of CPU (media.priority,
// ../../util/thread-priority.ts): real-time where the system allows it.
const priority = raiseThreadPriority(data.priority);
if (priority.got !== priority.wanted) logger.info({ wanted: priority.wanted, got: priority.got, refused: priority.refused }, "media thread priority lower than configured (media.priority)");
else logger.debug({ priority: priority.got }, "media thread priority");
// A pause of this thread's garbage collector stalls the clock of every call
// on it: the debug log says when and how long (beside "media clock stalled";
// the level may change at run time, so the observer always runs: a few
// entries a second).
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (e.duration >= GC_PAUSE_LOG_MS) logger.debug({ kind: (e as unknown as { detail?: { kind?: number } }).detail?.kind, ms: Math.round(e.duration * 10) / 10 }, "media thread gc pause");
}).observe({ entryTypes: ["gc"] });
const host = new PlaneHost({
  post: (m: PlaneMessage) => port.postMessage(m),
  logger,
  statsEveryMs: data.statsEveryMs,
  setLogLevel: (level) => (root.level = level),
  // What loading and the warm-up left behind goes now, not never (../../util/release-memory.ts).
  warmedUp: releaseMemory,
});
port.on("message", (m: MainMessage) => host.handle(m));
// As on the main thread (main.ts): a stray error from a library is logged and
// the thread's calls go on (what a call's own media throws ends that call:
// plane-call.ts).
process.on("uncaughtException", (err) => logger.error({ err }, "uncaught exception on a media thread"));
process.on("unhandledRejection", (err) => logger.error({ err }, "unhandled rejection on a media thread"));
warmUpCodecs();
port.postMessage({ kind: "ready" } satisfies PlaneMessage);
