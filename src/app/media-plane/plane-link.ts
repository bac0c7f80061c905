// The main thread's end of one media thread's port: operations go out in
// order, replies are matched to their requests, events and statistics go to
// the call they are about. When the thread dies every request waiting on it
// fails and every call on it is told (the calls end with failed-application).
import { JingledError } from "../../util/errors.js";
import type { LogLevel } from "../../util/logger.js";
import type { LogRecord } from "./plane-log.js";
import { fromWireError, type CallMediaStats, type MainMessage, type OpName, type OpResult, type OpenCall, type PlaneEvent, type PlaneMessage, type PlaneOps } from "./plane-protocol.js";

/** A Worker, or one end of a MessageChannel. */
export interface PlanePort {
  postMessage(m: MainMessage): void;
  on(event: "message", fn: (m: PlaneMessage) => void): unknown;
}

/** What a call on this thread hears. */
export interface CallListener {
  event(e: PlaneEvent): void;
  stats(s: CallMediaStats): void;
}

/** What a call is expected to cost a thread before the thread has reported on calls (an Opus call at complexity 9 is about 0.025). */
export const DEFAULT_CALL_LOAD = 0.03;

export class PlaneLink {
  readonly #port: PlanePort;
  #nextReq = 1;
  readonly #pending = new Map<number, { resolve: (v: unknown) => void; reject: (err: Error) => void }>();
  readonly #calls = new Map<string, CallListener>();
  /** Of #calls, the warm-up's (OpenCall.quiet): not counted as calls or load. */
  readonly #quiet = new Set<string>();
  #ready = false;
  readonly #waiting: (() => void)[] = [];
  #dead: Error | undefined;
  #load = 0;
  #assignedSinceReport = 0;
  readonly #onReady: () => void;
  readonly #onReport: () => void;
  readonly #onCalls: (calls: number) => void;
  readonly #onLog: (r: LogRecord) => void;
  readonly #warmUp: (() => Promise<void>) | undefined;

  /**
   * `on.calls`: the number of calls changed (a thread with calls keeps the
   * process alive, an idle one does not); `on.log`: a line the thread logged;
   * `on.warmUp`: run once the thread has loaded its code, before the link
   * is ready (./warm-up-call.ts through this link; it must not reject).
   */
  constructor(
    port: PlanePort,
    on: { ready?: () => void; report?: () => void; calls?: (calls: number) => void; log?: (r: LogRecord) => void; warmUp?: () => Promise<void> } = {},
  ) {
    this.#port = port;
    this.#warmUp = on.warmUp;
    this.#onReady = on.ready ?? (() => undefined);
    this.#onReport = on.report ?? (() => undefined);
    this.#onCalls = on.calls ?? (() => undefined);
    this.#onLog = on.log ?? (() => undefined);
    port.on("message", (m) => this.#receive(m));
  }

  /** The thread has loaded its code. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Resolves once the thread has loaded its code, or has died (never rejects). */
  whenReady(): Promise<void> {
    if (this.#ready || this.#dead) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Why the thread is gone, once it is. */
  get dead(): Error | undefined {
    return this.#dead;
  }

  /** Calls on this thread (the warm-up's not counted). */
  get calls(): number {
    return this.#calls.size - this.#quiet.size;
  }

  /**
   * How busy the thread will be, 0..1 and more: as last reported, plus what
   * the calls given to it since would add. A thread with calls also pays a
   * fixed cost (waking every 10 ms, its event loop), measured at about one
   * call's worth (Opus: 4.8 % of a core with one call, 25.6 % with ten), so
   * the reported load is shared by the reported calls plus one. Shared by the
   * calls alone, one call's load made ten look like a half-busy thread.
   */
  get expectedLoad(): number {
    const calls = this.calls;
    const fresh = Math.min(this.#assignedSinceReport, calls);
    const reported = calls - fresh;
    const perCall = reported > 0 && this.#load > 0 ? this.#load / (reported + 1) : DEFAULT_CALL_LOAD;
    return this.#load + fresh * perCall;
  }

  #receive(m: PlaneMessage): void {
    switch (m.kind) {
      case "ready":
        if (!this.#warmUp) this.#becomeReady();
        else
          void this.#warmUp().then(() => {
            if (this.#dead) return;
            this.#port.postMessage({ kind: "warmedUp" });
            this.#becomeReady();
          });
        return;
      case "reply": {
        const p = this.#pending.get(m.req);
        if (!p) return;
        this.#pending.delete(m.req);
        if (m.error) p.reject(fromWireError(m.error));
        else p.resolve(m.value);
        return;
      }
      case "event":
        this.#calls.get(m.call)?.event(m.event);
        return;
      case "stats":
        // Before it is ready the thread is loading its code and taking the warm-up call (warm-up-call.ts): not load to plan by.
        if (this.#ready) this.#load = m.load;
        this.#assignedSinceReport = 0;
        for (const [call, s] of m.calls) this.#calls.get(call)?.stats(s);
        this.#onReport();
        return;
      case "log":
        this.#onLog(m.record);
        return;
    }
  }

  #becomeReady(): void {
    this.#ready = true;
    this.#onReady();
    for (const w of this.#waiting.splice(0)) w();
  }

  /** Makes a call's media on the thread; `listener` hears its events until release(). */
  open(call: string, open: OpenCall, listener: CallListener): void {
    this.#calls.set(call, listener);
    if (open.quiet) this.#quiet.add(call);
    else {
      this.#assignedSinceReport++;
      this.#onCalls(this.calls);
    }
    if (!this.#dead) this.#port.postMessage({ kind: "open", call, open });
  }

  /** The call is over on this thread (its media stopped, its agent closed). */
  release(call: string): void {
    if (!this.#calls.delete(call)) return;
    if (!this.#quiet.delete(call)) this.#onCalls(this.calls);
  }

  /** An operation whose outcome the caller waits for. */
  request<K extends OpName>(call: string, op: K, args: Parameters<PlaneOps[K]>): Promise<OpResult<K>> {
    if (this.#dead) return Promise.reject(this.#deadError());
    const req = this.#nextReq++;
    return new Promise<OpResult<K>>((resolve, reject) => {
      this.#pending.set(req, { resolve: resolve as (v: unknown) => void, reject });
      this.#port.postMessage({ kind: "op", call, req, op, args } as MainMessage);
    });
  }

  /** An operation nobody waits for (its failure fails the call, on the thread). */
  post<K extends OpName>(call: string, op: K, args: Parameters<PlaneOps[K]>): void {
    if (!this.#dead) this.#port.postMessage({ kind: "op", call, op, args } as MainMessage);
  }

  setLogLevel(level: LogLevel): void {
    if (!this.#dead) this.#port.postMessage({ kind: "logLevel", level });
  }

  #deadError(): JingledError {
    return new JingledError("media-error", `the media thread ended: ${this.#dead?.message ?? "unknown"}`);
  }

  /** The thread is gone: its requests fail, its calls are told. */
  died(reason: Error): void {
    if (this.#dead) return;
    this.#dead = reason;
    for (const w of this.#waiting.splice(0)) w();
    const err = this.#deadError();
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    const calls = [...this.#calls.values()];
    this.#calls.clear();
    this.#quiet.clear();
    for (const c of calls) c.event({ type: "failed", message: err.message });
  }
}
