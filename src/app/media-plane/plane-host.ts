// A media thread's calls: it applies what the main thread sends (a call
// opened, an operation on it, the log level) to the thread's PlaneCalls and
// sends back replies, the calls' events and, every second, their figures
// and how busy the thread was.
// The thread's one media clock drives every call on it. Used by the worker
// (./plane-worker.ts) and, over a MessageChannel, by unit tests.
import type { PlaneIceAgent } from "./plane-parts.js";
import { defaultCallParts, type CallParts } from "./plane-parts.js";
import { PlaneCall } from "./plane-call.js";
import { STATS_EVERY_MS, toWireError, type CallMediaStats, type MainMessage, type OpMessage, type PlaneEvent, type PlaneMessage } from "./plane-protocol.js";
import { MEDIA_CLOCK_MS, createFrameClock, type FrameClock } from "../../util/frame-clock.js";
import { errorMessage } from "../../util/errors.js";
import type { LogLevel, Logger } from "../../util/logger.js";

export interface PlaneHostOptions {
  post: (m: PlaneMessage) => void;
  logger: Logger;
  parts?: Partial<CallParts>;
  clock?: FrameClock;
  /** How often the calls' figures are sent (0: never). */
  statsEveryMs?: number;
  /** Sets the level of `logger` and of the loggers made from it (default: `logger.level = level`). */
  setLogLevel?: (level: LogLevel) => void;
  /** The main thread's warm-up call on this thread is over (./warm-up-call.ts). */
  warmedUp?: () => void;
}

export class PlaneHost {
  readonly #o: PlaneHostOptions;
  readonly #log: Logger;
  readonly #parts: CallParts;
  readonly #clock: FrameClock;
  readonly #calls = new Map<string, PlaneCall>();
  readonly #statsTimer: NodeJS.Timeout | undefined;
  #elu = performance.eventLoopUtilization();

  constructor(o: PlaneHostOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#parts = { ...defaultCallParts, ...o.parts };
    this.#clock = o.clock ?? createFrameClock(MEDIA_CLOCK_MS);
    const every = o.statsEveryMs ?? STATS_EVERY_MS;
    if (every > 0) {
      this.#statsTimer = setInterval(() => this.#sendStats(), every);
      this.#statsTimer.unref();
    }
  }

  /** Calls on this thread. */
  get calls(): number {
    return this.#calls.size;
  }

  handle(m: MainMessage): void {
    switch (m.kind) {
      case "open":
        this.#calls.set(
          m.call,
          new PlaneCall({ open: m.open, parts: this.#parts, clock: this.#clock, logger: this.#log, emit: (event) => this.#o.post({ kind: "event", call: m.call, event }) }),
        );
        return;
      case "op":
        this.#op(m);
        return;
      case "logLevel":
        if (this.#o.setLogLevel) this.#o.setLogLevel(m.level);
        else this.#log.level = m.level;
        return;
      case "warmedUp":
        // The thread's load counts from here: loading and warming up are no call's cost.
        this.#elu = performance.eventLoopUtilization();
        this.#o.warmedUp?.();
        return;
    }
  }

  #op(m: OpMessage): void {
    const call = this.#calls.get(m.call);
    if (!call) {
      if (m.req !== undefined) this.#o.post({ kind: "reply", req: m.req, error: { name: "JingledError", code: "invalid-state", message: `no media for call ${m.call}` } });
      return;
    }
    let out: unknown;
    try {
      out = (call[m.op] as (...args: unknown[]) => unknown).apply(call, m.args);
    } catch (err) {
      if (m.req !== undefined) this.#o.post({ kind: "reply", req: m.req, error: toWireError(err) });
      else call.fail(err);
      return;
    }
    if (m.op === "iceCreate") {
      this.#forwardIce(m.call, out as PlaneIceAgent);
      out = undefined;
    }
    const req = m.req;
    if (req === undefined) {
      if (out instanceof Promise) out.catch((err: unknown) => call.fail(err));
      return;
    }
    Promise.resolve(out).then(
      (value) => {
        this.#o.post({ kind: "reply", req, ...(value !== undefined ? { value } : {}) });
        if (call.finished) this.#calls.delete(m.call);
      },
      (err: unknown) => this.#o.post({ kind: "reply", req, error: toWireError(err) }),
    );
  }

  /** The agent's events go to the call's ICE negotiation on the main thread; its datagrams stay here. */
  #forwardIce(call: string, agent: PlaneIceAgent): void {
    const post = (event: PlaneEvent) => this.#o.post({ kind: "event", call, event });
    agent.on("candidate", (candidate) => post({ type: "candidate", candidate, generation: agent.generation }));
    agent.on("gatheringDone", () => post({ type: "gatheringDone", generation: agent.generation }));
    agent.on("connected", (pair, info) => post({ type: "connected", pair, restart: info.restart, generation: info.generation }));
    agent.on("disconnected", (reason) => post({ type: "disconnected", reason }));
    agent.on("failed", (reason) => post({ type: "iceFailed", reason }));
  }

  #sendStats(): void {
    const calls: [string, CallMediaStats][] = [];
    for (const [id, call] of this.#calls) {
      if (call.stopped) continue;
      try {
        const s = call.stats();
        if (s) calls.push([id, s]);
      } catch (err) {
        this.#log.warn({ call: id, err: errorMessage(err) }, "media statistics failed");
        call.fail(err);
      }
    }
    const now = performance.eventLoopUtilization();
    const load = performance.eventLoopUtilization(now, this.#elu).utilization;
    this.#elu = now;
    this.#o.post({ kind: "stats", calls, load: Math.round(load * 1000) / 1000 });
  }

  close(): void {
    clearInterval(this.#statsTimer);
  }
}
