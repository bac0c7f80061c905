// Child processes for tests and the demo (servers, daemons, tools).
// No test-framework imports here: scripts (the demo) import this from dist too.
//
// - Output (stdout and stderr, line by line, in arrival order) is kept in a
//   bounded in-memory buffer and optionally appended to a file.
// - `startProcess` resolves once `readyPattern` matches a line (or at once
//   without one) and rejects with the captured output if the process exits or
//   the timeout passes first (the process is killed then).
// - Every process started here is remembered; whatever still runs when this
//   Node process exits (normally, by an uncaught error, or on SIGINT/SIGTERM/
//   SIGHUP) is killed by PID, so a failing test never leaves servers behind.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, type WriteStream } from "node:fs";

export interface StartOptions {
  /** Added to (and overriding) process.env; a value of undefined removes the variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Name used in error messages; defaults to the command. */
  name?: string;
  /** Resolve once a line of stdout or stderr matches. */
  readyPattern?: RegExp;
  /** How long to wait for readyPattern (default 15000 ms). */
  readyTimeoutMs?: number;
  /** Also append every output line to this file. */
  logFile?: string;
  /** Lines kept in memory (default 5000, oldest dropped first). */
  maxLines?: number;
  /** Start the child in its own process group and signal the whole group. */
  processGroup?: boolean;
  /** Data written to the child's stdin (then closed); stdin is /dev/null otherwise. */
  stdin?: string | Buffer;
}

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly child: ChildProcess;
  /** Captured output, one line per line, in arrival order (bounded). */
  output(): string;
  /** Number of lines seen so far (use as `after` to wait only for new lines). */
  mark(): number;
  /** Resolves with the first line matching `re` (already seen lines included unless `after` is given). */
  waitForLine(re: RegExp, timeoutMs?: number, opts?: { after?: number }): Promise<string>;
  /** Signal by PID, wait up to timeoutMs, then SIGKILL; resolves with the exit code (null if killed by a signal). */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<number | null>;
  /** Resolves with the exit code (null when ended by a signal) once the process has exited. Never rejects. */
  readonly exited: Promise<number | null>;
  /** True until the process has exited. */
  running(): boolean;
}

// ---- registry and exit cleanup -------------------------------------------

interface Entry {
  pid: number;
  group: boolean;
  alive: () => boolean;
}

const live = new Set<Entry>();
const exitCleanups = new Set<() => void>();
let hooksInstalled = false;

function killNow(e: Entry, signal: NodeJS.Signals): void {
  try {
    process.kill(e.group ? -e.pid : e.pid, signal);
  } catch {
    /* already gone */
  }
}

function cleanupAllSync(): void {
  for (const e of live) if (e.alive()) killNow(e, "SIGKILL");
  live.clear();
  for (const fn of exitCleanups) {
    try {
      fn();
    } catch {
      /* best effort */
    }
  }
  exitCleanups.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", cleanupAllSync);
  const signals: [NodeJS.Signals, number][] = [
    ["SIGINT", 2],
    ["SIGTERM", 15],
    ["SIGHUP", 1],
  ];
  for (const [sig, num] of signals) {
    const handler = (): void => {
      cleanupAllSync();
      // Someone else (e.g. the demo) handles this signal: let them decide.
      if (process.listenerCount(sig) > 1) return;
      process.exit(128 + num);
    };
    process.on(sig, handler);
  }
}

/**
 * Register a synchronous cleanup (e.g. removing a temp dir) run when this
 * Node process exits. Returns a function that unregisters it.
 */
export function onExitCleanup(fn: () => void): () => void {
  installHooks();
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/** Processes started by this module that are still running. */
export function runningProcesses(): number[] {
  return [...live].filter((e) => e.alive()).map((e) => e.pid);
}

/** True if a process with this PID exists (signal 0). */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

// ---- startProcess ----------------------------------------------------------

export function startProcess(cmd: string, args: string[], opts: StartOptions = {}): Promise<ManagedProcess> {
  installHooks();
  const name = opts.name ?? cmd;
  const maxLines = opts.maxLines ?? 5000;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 15000;

  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...(opts.env ?? {}) })) {
    if (v !== undefined) env[k] = v;
  }

  const child = spawn(cmd, args, {
    cwd: opts.cwd,
    env,
    stdio: [opts.stdin !== undefined ? "pipe" : "ignore", "pipe", "pipe"],
    detached: opts.processGroup === true,
  });

  const lines: string[] = [];
  let firstIndex = 0; // absolute index of lines[0]
  let total = 0;
  let exitCode: number | null = null;
  let hasExited = false;
  let spawnError: Error | undefined;
  const watchers = new Set<(line: string) => void>();
  let logStream: WriteStream | undefined;
  if (opts.logFile) logStream = createWriteStream(opts.logFile, { flags: "a" });

  const pushLine = (line: string): void => {
    lines.push(line);
    total++;
    if (lines.length > maxLines) {
      lines.shift();
      firstIndex++;
    }
    logStream?.write(line + "\n");
    for (const w of [...watchers]) w(line);
  };

  const attach = (stream: NodeJS.ReadableStream | null): void => {
    if (!stream) return;
    let partial = "";
    stream.setEncoding("utf8");
    stream.on("data", (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf("\n")) >= 0) {
        pushLine(partial.slice(0, nl).replace(/\r$/, ""));
        partial = partial.slice(nl + 1);
      }
    });
    stream.on("end", () => {
      if (partial) pushLine(partial);
      partial = "";
    });
  };
  attach(child.stdout);
  attach(child.stderr);
  if (opts.stdin !== undefined && child.stdin) {
    child.stdin.on("error", () => {});
    child.stdin.end(opts.stdin);
  }

  const output = (): string => lines.join("\n");

  let entry: Entry | undefined;
  const exited = new Promise<number | null>((resolve) => {
    child.once("error", (err) => {
      spawnError = err;
      if (child.pid === undefined) {
        hasExited = true;
        resolve(null);
      }
    });
    let settled = false;
    const finish = (code: number | null): void => {
      if (settled) return;
      settled = true;
      hasExited = true;
      exitCode = code;
      if (entry) live.delete(entry);
      logStream?.end();
      resolve(code);
    };
    // "close" waits for stdio to end, so the output is complete when it fires.
    child.once("close", (code) => finish(code));
    // A grandchild holding the pipes open would delay "close" indefinitely:
    // after "exit", give the pipes a moment to drain, then settle anyway.
    child.once("exit", (code) => {
      exitCode = code;
      if (entry) live.delete(entry);
      setTimeout(() => {
        if (settled) return;
        // Stop reading so the grandchild's pipes do not keep this process alive.
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(code);
      }, 300).unref();
    });
  });

  const running = (): boolean => !hasExited && child.exitCode === null && child.signalCode === null;

  if (child.pid !== undefined) {
    entry = { pid: child.pid, group: opts.processGroup === true, alive: running };
    live.add(entry);
  }

  const waitForLine = (re: RegExp, timeoutMs = 10000, wopts: { after?: number } = {}): Promise<string> => {
    const after = wopts.after;
    if (after === undefined) {
      const found = lines.find((l) => re.test(l));
      if (found !== undefined) return Promise.resolve(found);
    } else {
      for (let i = Math.max(after, firstIndex); i < total; i++) {
        const l = lines[i - firstIndex]!;
        if (re.test(l)) return Promise.resolve(l);
      }
    }
    return new Promise((resolve, reject) => {
      const done = (): void => {
        watchers.delete(watcher);
        clearTimeout(timer);
      };
      const watcher = (line: string): void => {
        if (re.test(line)) {
          done();
          resolve(line);
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${name}: no line matching ${re} within ${timeoutMs} ms\n--- output of ${name} ---\n${output()}`));
      }, timeoutMs);
      watchers.add(watcher);
      void exited.then((code) => {
        if (!watchers.has(watcher)) return;
        done();
        reject(
          new Error(`${name} exited (code ${code}) before a line matched ${re}\n--- output of ${name} ---\n${output()}`),
        );
      });
    });
  };

  const stop = async (signal: NodeJS.Signals = "SIGTERM", timeoutMs = 5000): Promise<number | null> => {
    if (!running() || !entry) return exited;
    killNow(entry, signal);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = await Promise.race([
      exited.then(() => false),
      new Promise<boolean>((r) => (timer = setTimeout(() => r(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (timedOut && running()) killNow(entry, "SIGKILL");
    return exited;
  };

  const proc: ManagedProcess = {
    name,
    pid: child.pid ?? -1,
    child,
    output,
    mark: () => total,
    waitForLine,
    stop,
    exited,
    running,
  };

  return new Promise<ManagedProcess>((resolve, reject) => {
    if (child.pid === undefined) {
      void exited.then(() =>
        reject(new Error(`${name}: cannot start ${cmd}: ${spawnError?.message ?? "unknown error"}`)),
      );
      return;
    }
    if (!opts.readyPattern) {
      resolve(proc);
      return;
    }
    waitForLine(opts.readyPattern, readyTimeoutMs).then(
      () => resolve(proc),
      async (err: Error) => {
        const wasRunning = running();
        if (wasRunning) await stop("SIGKILL", 2000);
        const why = wasRunning ? `was not ready within ${readyTimeoutMs} ms` : `exited with code ${exitCode}`;
        reject(new Error(`${name} ${why} (waiting for ${opts.readyPattern})\n--- output of ${name} ---\n${output()}`, { cause: err }));
      },
    );
  });
}
