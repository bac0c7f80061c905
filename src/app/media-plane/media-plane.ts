// Where calls' media run (docs/architecture.md, "The media plane"):
//
//   inProcessPlane  on this thread, driven by the given clock
//                   (media.threads: 0; unit tests of a call): ./in-process-plane.ts
//   workerPlane     on a pool of media threads (worker_threads), several
//                   calls per thread
//
// The pool starts no thread until asked: preload() (at start, media.preload)
// or the first call starts the first, and the next starts in the background once every
// running thread is more than half busy, up to `threads` (a thread costs
// about 15 MiB: calls share one until they need another). A call goes to
// the least busy ready thread, or to a starting one when every ready thread
// is more than half busy (chooseThread), and stays there. A thread that dies
// ends its calls with failed-application; the next call starts a new one in
// its place.
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";
import { errorMessage } from "../../util/errors.js";
import type { FrameClock } from "../../util/frame-clock.js";
import type { LogFormat, LogLevel, Logger } from "../../util/logger.js";
import type { MediaPriority } from "../../util/thread-priority.js";
import type { CallMedia } from "./call-media.js";
import { PlaneLink } from "./plane-link.js";
import { writePlaneLog } from "./plane-log.js";
import { STATS_EVERY_MS, type OpenCall, type PlaneThreadData } from "./plane-protocol.js";
import { RemoteCallMedia } from "./remote-call-media.js";
import { warmUpCall } from "./warm-up-call.js";

export interface MediaPlane {
  /** A new call's media; nothing runs for it until the call first needs it. */
  open(o: OpenCall): CallMedia;
  /** Starts what calls will need (the first media thread) ahead of the first call; resolves once it is ready (or failed to start). */
  preload(): Promise<void>;
  setLogLevel(level: LogLevel): void;
  /** Each media thread: its id and calls (none for an in-process plane). */
  describe(): { threadId: number; calls: number; ready: boolean }[];
  /** Stops the media threads (after the calls ended). */
  close(): Promise<void>;
}

/**
 * Another thread is started when every running one is busier than this
 * (event loop utilisation, with the calls just given to it counted in): a
 * thread more than half busy delays its calls' ticks by up to half a frame.
 */
export const START_NEXT_LOAD = 0.5;

/** media.threads "auto": one thread per core, at most this many. */
export const MAX_AUTO_THREADS = 4;

/** media.threads: "auto" is one per core (at most MAX_AUTO_THREADS), 0 keeps media on the main thread. */
export function threadCount(setting: number | "auto"): number {
  return setting === "auto" ? Math.max(1, Math.min(availableParallelism(), MAX_AUTO_THREADS)) : setting;
}

/** What choosing a thread for a call looks at. */
export interface ThreadLoad {
  ready: boolean;
  calls: number;
  /** PlaneLink.expectedLoad: reported, plus the calls given to it since. */
  expectedLoad: number;
}

/**
 * The live thread a new call's media goes to (an index into `threads`), or -1
 * when there is none (start one): the least busy ready thread while it is
 * under START_NEXT_LOAD, else the least busy starting one (the call's media
 * waits for it, 0.6-0.7 s on this machine), else the least busy ready one.
 * Without the second rule a burst of calls all went to the first thread while
 * the next was starting, and calls never move: 30-35 Opus calls ran on one
 * thread at 85-94 % of a core, the second carrying none.
 */
export function chooseThread(threads: readonly ThreadLoad[]): number {
  const least = (ready: boolean) =>
    threads.reduce((best, t, i) => (t.ready === ready && (best < 0 || t.expectedLoad < threads[best]!.expectedLoad) ? i : best), -1);
  const ready = least(true);
  if (ready >= 0 && threads[ready]!.expectedLoad < START_NEXT_LOAD) return ready;
  const starting = least(false);
  return starting >= 0 ? starting : ready;
}

/**
 * Whether to start another thread (when a slot is free): every live one is
 * ready, has at least two calls and is busier than START_NEXT_LOAD. A thread
 * with one call cannot hand any of it to another; when it reads as busy, that
 * is the machine (a thread preempted mid-callback counts as busy) or a
 * profiler, not calls.
 */
export function shouldGrow(threads: readonly ThreadLoad[]): boolean {
  return threads.length > 0 && threads.every((t) => t.ready && t.calls >= 2 && t.expectedLoad >= START_NEXT_LOAD);
}

interface MediaThread {
  worker: Worker;
  link: PlaneLink;
}

export interface WorkerPlaneOptions {
  threads: number;
  logger: Logger;
  log: { level: LogLevel; format: LogFormat };
  statsEveryMs?: number;
  /** What each media thread asks the scheduler for (media.priority; default realtime). */
  priority?: MediaPriority;
}

export class WorkerPlane implements MediaPlane {
  readonly #o: WorkerPlaneOptions;
  readonly #log: Logger;
  readonly #slots: (MediaThread | undefined)[];
  #level: LogLevel;
  #closing = false;

  constructor(o: WorkerPlaneOptions) {
    this.#o = o;
    this.#log = o.logger.child({ module: "media-plane" });
    this.#slots = new Array<MediaThread | undefined>(Math.max(1, o.threads)).fill(undefined);
    this.#level = o.log.level;
  }

  open(open: OpenCall): CallMedia {
    return new RemoteCallMedia({ open, attach: () => this.#attach() });
  }

  preload(): Promise<void> {
    if (this.#closing) return Promise.resolve();
    const thread = this.#live()[0] ?? this.#start(0);
    return thread.link.whenReady();
  }

  setLogLevel(level: LogLevel): void {
    this.#level = level;
    for (const t of this.#slots) t?.link.setLogLevel(level);
  }

  describe(): { threadId: number; calls: number; ready: boolean }[] {
    return this.#slots.flatMap((t) => (t ? [{ threadId: t.worker.threadId, calls: t.link.calls, ready: t.link.ready }] : []));
  }

  /** The thread a new call's media goes to (chooseThread). */
  #attach(): PlaneLink {
    const live = this.#live();
    const chosen = live[chooseThread(live.map((t) => t.link))] ?? this.#start(this.#freeSlot());
    // Counted before the next one is considered: this call's cost is part of the decision.
    setImmediate(() => this.#maybeGrow());
    return chosen.link;
  }

  #live(): MediaThread[] {
    return this.#slots.filter((t): t is MediaThread => t !== undefined && !t.link.dead);
  }

  #freeSlot(): number {
    return this.#slots.findIndex((t) => t === undefined || t.link.dead);
  }

  /** The next thread starts (once, in the background) when shouldGrow says so. */
  #maybeGrow(): void {
    if (this.#closing) return;
    const free = this.#freeSlot();
    if (free >= 0 && shouldGrow(this.#live().map((t) => t.link))) this.#start(free);
  }

  #start(slot: number): MediaThread {
    const data: PlaneThreadData = {
      log: { level: this.#level },
      statsEveryMs: this.#o.statsEveryMs ?? STATS_EVERY_MS,
      priority: this.#o.priority ?? "realtime",
    };
    const started = performance.now();
    const worker = new Worker(new URL("./plane-worker.js", import.meta.url), { workerData: data });
    const link: PlaneLink = new PlaneLink(worker, {
      ready: () => this.#log.debug({ thread: worker.threadId, ms: Math.round(performance.now() - started) }, "media thread ready"),
      report: () => this.#maybeGrow(),
      calls: (n) => (n > 0 ? worker.ref() : worker.unref()),
      log: (r) => writePlaneLog(this.#o.logger, r),
      // Every step of a call's media, both sides of the thread boundary, run once before the first call's.
      warmUp: () => warmUpCall({ open: (open) => new RemoteCallMedia({ open, attach: () => link }), logger: this.#log.child({ thread: worker.threadId }) }),
    });
    const thread: MediaThread = { worker, link };
    this.#slots[slot] = thread;
    // Idle, it must not keep a stopping daemon alive; with calls it does.
    worker.unref();
    const gone = (reason: Error) => {
      if (this.#slots[slot] === thread) this.#slots[slot] = undefined;
      if (link.dead) return;
      if (!this.#closing) this.#log.error({ thread: worker.threadId, err: reason.message, calls: link.calls }, "media thread ended");
      link.died(reason);
    };
    worker.on("error", (err) => gone(err instanceof Error ? err : new Error(errorMessage(err))));
    worker.on("messageerror", (err) => this.#log.error({ thread: worker.threadId, err: errorMessage(err) }, "media thread message not readable"));
    worker.on("exit", (code) => gone(new Error(`exited with code ${code}`)));
    return thread;
  }

  /** Ends a thread as a crash would (its calls end with failed-application): for tests. */
  async crashThread(index: number): Promise<void> {
    await this.#slots[index]?.worker.terminate();
  }

  async close(): Promise<void> {
    this.#closing = true;
    await Promise.allSettled(this.#slots.map((t) => t?.worker.terminate()));
  }
}

/**
 * The plane media.threads asks for. The main thread loads the media code
 * (ICE library, DTLS, codecs) only when it runs the media itself.
 */
export async function createMediaPlane(o: { threads: number | "auto"; priority: MediaPriority; clock: FrameClock; logger: Logger; log: { level: LogLevel; format: LogFormat } }): Promise<MediaPlane> {
  const threads = threadCount(o.threads);
  if (threads > 0) return new WorkerPlane({ threads, priority: o.priority, logger: o.logger, log: o.log });
  const { inProcessPlane } = await import("./in-process-plane.js");
  return inProcessPlane({ clock: o.clock, logger: o.logger });
}
