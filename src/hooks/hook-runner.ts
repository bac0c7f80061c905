// Event hooks: `hooks.run` in the config names programs (argv, no shell) to
// run on chosen events. Each run gets the event as one JSON line on stdin and
// a few environment variables (below); nothing else of the daemon's
// environment, so JINGLED_PASSWORD and the like never reach a hook. At most
// maxConcurrent run at once, at most maxQueued wait; a run past its timeout
// is sent SIGTERM, then SIGKILL, as a whole process group. Failures are
// logged and never reach the caller: publishing an event never waits here.
import { spawn, type ChildProcess } from "node:child_process";
import type { BusEvent, PublishedEvent } from "../control/event-bus.js";
import type { Logger } from "../util/logger.js";
import { errorMessage } from "../util/errors.js";

export interface HookSpec {
  /** "*", an event name ("call"), or EVENT.TYPE ("call.incoming"). */
  events: string[];
  command: string[];
  timeoutSec: number;
}

export interface HooksConfig {
  maxConcurrent: number;
  maxQueued: number;
  run: HookSpec[];
}

export interface HookRunnerOptions {
  /** Read on every event, so a reload applies at once. */
  config: () => HooksConfig;
  /** Passed as JINGLED_SOCKET, so a hook can answer with jinglectl. */
  socketPath: string;
  logger: Logger;
  /** Where PATH, HOME, LANG, LC_ALL and TZ come from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Between SIGTERM and SIGKILL (default 2000 ms). */
  killGraceMs?: number;
}

export interface HookRunner {
  onEvent(e: PublishedEvent): void;
  /** Drops what waits; running hooks get up to `graceMs` (default 5000), then are killed. */
  stop(graceMs?: number): Promise<void>;
  readonly running: number;
  readonly queued: number;
}

// Bytes of a hook's stdout and stderr kept for the log.
const OUTPUT_BYTES = 2048;
const PASSED_ENV = ["PATH", "HOME", "LANG", "LC_ALL", "TZ"] as const;

export function eventMatches(matcher: string, e: BusEvent): boolean {
  if (matcher === "*") return true;
  const dot = matcher.indexOf(".");
  if (dot < 0) return matcher === e.event;
  return matcher.slice(0, dot) === e.event && matcher.slice(dot + 1) === e.type;
}

/** The documented environment of a hook run. */
export function hookEnv(e: BusEvent, socketPath: string, from: NodeJS.ProcessEnv): Record<string, string> {
  const env: Record<string, string> = { PATH: from.PATH || "/usr/local/bin:/usr/bin:/bin" };
  for (const k of PASSED_ENV) if (k !== "PATH" && from[k]) env[k] = from[k]!;
  env.JINGLED_EVENT = e.event;
  env.JINGLED_SEQ = String(e.seq);
  env.JINGLED_SOCKET = socketPath;
  if (typeof e.type === "string") env.JINGLED_TYPE = e.type;
  if (typeof e.callId === "string") env.JINGLED_CALL_ID = e.callId;
  if (typeof e.peer === "string") env.JINGLED_PEER = e.peer;
  return env;
}

interface Job {
  hook: HookSpec;
  event: PublishedEvent;
}

export function createHookRunner(opts: HookRunnerOptions): HookRunner {
  const log = opts.logger.child({ component: "hooks" });
  const fromEnv = opts.env ?? process.env;
  const killGraceMs = opts.killGraceMs ?? 2000;
  const queue: Job[] = [];
  const running = new Map<ChildProcess, Promise<void>>();
  let stopped = false;
  let dropped = 0;

  function onEvent(e: PublishedEvent): void {
    if (stopped) return;
    const cfg = opts.config();
    for (const hook of cfg.run) {
      if (!hook.events.some((m) => eventMatches(m, e.message))) continue;
      if (running.size < cfg.maxConcurrent) start({ hook, event: e });
      else if (queue.length < cfg.maxQueued) queue.push({ hook, event: e });
      // Rate-limited: a flood of events must not flood the log as well.
      else if (dropped++ % 100 === 0) log.warn({ command: hook.command[0], event: e.message.event, dropped }, "hook queue full; run dropped");
    }
  }

  function next(): void {
    const cfg = opts.config();
    while (!stopped && running.size < cfg.maxConcurrent && queue.length > 0) start(queue.shift()!);
  }

  function start({ hook, event }: Job): void {
    const [program, ...args] = hook.command as [string, ...string[]];
    const what = { command: program, event: event.message.event, seq: event.message.seq };
    let child: ChildProcess;
    try {
      // detached: its own process group, so a timeout also ends whatever it started.
      child = spawn(program, args, { stdio: ["pipe", "pipe", "pipe"], env: hookEnv(event.message, opts.socketPath, fromEnv), detached: true });
    } catch (err) {
      log.warn({ ...what, err: errorMessage(err) }, "hook could not be started");
      return;
    }
    const output = { stdout: "", stderr: "" };
    for (const stream of ["stdout", "stderr"] as const) {
      child[stream]!.setEncoding("utf8");
      child[stream]!.on("data", (text: string) => {
        if (output[stream].length < OUTPUT_BYTES) output[stream] = (output[stream] + text).slice(0, OUTPUT_BYTES);
      });
    }
    // A hook that does not read its stdin is not an error.
    child.stdin!.on("error", () => undefined);
    child.stdin!.end(event.line);

    const started = Date.now();
    let timedOut = false;
    let killTimer: NodeJS.Timeout | undefined;
    const signal = (sig: NodeJS.Signals): void => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, sig);
      } catch {
        /* already gone */
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      log.warn({ ...what, timeoutSec: hook.timeoutSec }, "hook timed out; stopping it");
      signal("SIGTERM");
      killTimer = setTimeout(() => signal("SIGKILL"), killGraceMs);
    }, hook.timeoutSec * 1000);

    const done = new Promise<void>((resolve) => {
      let finished = false;
      const finish = (code: number | null, sig: NodeJS.Signals | null, err?: Error): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        clearTimeout(killTimer);
        running.delete(child);
        const ms = Date.now() - started;
        const tail = { ...(output.stderr ? { stderr: output.stderr.trim() } : {}), ...(output.stdout ? { stdout: output.stdout.trim() } : {}) };
        if (err) log.warn({ ...what, err: errorMessage(err) }, "hook could not be started");
        else if (code === 0 && !timedOut) log.debug({ ...what, ms, ...tail }, "hook done");
        else log.warn({ ...what, ms, ...(code !== null ? { exitCode: code } : { signal: sig }), timedOut, ...tail }, "hook failed");
        resolve();
        next();
      };
      child.once("error", (err) => finish(null, null, err));
      child.once("close", (code, sig) => finish(code, sig));
    });
    running.set(child, done);
  }

  async function stop(graceMs = 5000): Promise<void> {
    stopped = true;
    queue.length = 0;
    if (running.size === 0) return;
    const all = Promise.all(running.values());
    const timer = setTimeout(() => {
      for (const child of running.keys()) if (child.pid !== undefined) {
        try {
          process.kill(-child.pid, "SIGKILL");
        } catch {
          /* gone */
        }
      }
    }, graceMs);
    await all;
    clearTimeout(timer);
  }

  return {
    onEvent,
    stop,
    get running() {
      return running.size;
    },
    get queued() {
      return queue.length;
    },
  };
}
