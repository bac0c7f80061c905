// jingled as the agent under test in the benchmarks (scripts/bench/bench.ts): a
// caller and an auto-answering callee daemon on one local Prosody, with the
// media settings of a run (codec, DTLS policy, source, sink, call limit).
import { join } from "node:path";
import { startDaemon, type Daemon } from "../lab/daemon.js";
import type { ProsodyServer } from "../lab/prosody.js";
import type { AnyEvent } from "../../src/control/client.js";

export const BENCH_USERS = [
  { username: "caller", password: "caller-bench" },
  { username: "callee", password: "callee-bench" },
];

export interface JingledPairOptions {
  prosody: ProsodyServer;
  dir: string;
  codec: "opus" | "pcmu";
  dtls: "prefer" | "off";
  callerInput: Record<string, unknown>;
  calleeInput: Record<string, unknown>;
  callerOutput?: Record<string, unknown>;
  calleeOutput?: Record<string, unknown>;
  maxCalls?: number;
  /** node flags for both daemons, e.g. ["--cpu-prof", "--cpu-prof-dir=DIR"]. */
  nodeFlags?: string[];
  logLevel?: string;
  /** media.opus.backend of both daemons (default: the config default, auto). */
  opusBackend?: "auto" | "native" | "wasm";
  /** More media settings of both daemons, e.g. { threads: "auto", preload: true } (default: the config defaults). */
  media?: Record<string, unknown>;
}

export interface JingledPair {
  caller: Daemon;
  callee: Daemon;
  stop(): Promise<void>;
}

export async function startJingledPair(o: JingledPairOptions): Promise<JingledPair> {
  const common = (role: "caller" | "callee", input: Record<string, unknown>, output: Record<string, unknown>) => {
    const user = BENCH_USERS.find((u) => u.username === role)!;
    return startDaemon({
      prosody: o.prosody,
      username: user.username,
      password: user.password,
      dir: join(o.dir, role),
      logLevel: o.logLevel ?? "info",
      ...(o.nodeFlags ? { wrap: (cmd: string, args: string[]): [string, string[]] => [cmd, [...o.nodeFlags!, ...args]] } : {}),
      config: {
        media: { ...o.media, codecs: [o.codec], input, output, dtls: o.dtls, ...(o.opusBackend ? { opus: { backend: o.opusBackend } } : {}) },
        calls: { autoAnswer: "all", acceptFrom: "everyone", maxCalls: o.maxCalls ?? 64 },
      },
    });
  };
  const caller = await common("caller", o.callerInput, o.callerOutput ?? { type: "null" });
  let callee: Daemon;
  try {
    callee = await common("callee", o.calleeInput, o.calleeOutput ?? { type: "null" });
  } catch (err) {
    await caller.stop();
    throw err;
  }
  return {
    caller,
    callee,
    async stop() {
      await Promise.allSettled([caller.stop(), callee.stop()]);
    },
  };
}

export const isCall = (type: string, callId?: string) => (e: AnyEvent): boolean =>
  e.event === "call" && e.type === type && (callId === undefined || e.callId === callId);

/** Number of events so far matching `pred`. */
export function countEvents(d: Daemon, pred: (e: AnyEvent) => boolean): number {
  return d.events.filter(pred).length;
}

/** Waits until `count` events match (bounded). */
export async function waitForCount(d: Daemon, pred: (e: AnyEvent) => boolean, count: number, timeoutMs: number, what: string): Promise<void> {
  await d.waitForEvent(() => countEvents(d, pred) >= count, timeoutMs, what).catch((err: Error) => {
    throw new Error(`${what}: ${countEvents(d, pred)}/${count}: ${err.message.split("\n")[0]}`);
  });
}
