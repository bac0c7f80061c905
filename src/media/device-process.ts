// A helper process that moves raw audio for a device source or sink (arecord,
// aplay, parec, pacat). Whatever goes wrong with it — not installed, no such
// device, it dies — becomes one clear error through `onFailure`, never an
// unhandled 'error' event: a device problem must not take the daemon down.
// close() stops it by its own PID. It runs with a minimal environment
// (util/child-env.ts): nothing of the daemon's but what sound needs.
import { spawn, type ChildProcess } from "node:child_process";
import { JingledError } from "../util/errors.js";
import { helperEnv } from "../util/child-env.js";

/** Which Debian package provides a helper, for the error message. */
const PACKAGE_OF: Record<string, string> = {
  arecord: "alsa-utils",
  aplay: "alsa-utils",
  parec: "pulseaudio-utils",
  pacat: "pulseaudio-utils",
};

const STDERR_KEEP = 2000;

export interface DeviceProcess {
  readonly child: ChildProcess;
  readonly command: string;
  /** The last lines the process wrote to stderr. */
  stderrTail(): string;
  /** Stop it (SIGTERM by PID); no failure is reported after this. */
  close(): void;
  readonly closed: boolean;
}

export function deviceError(what: string, message: string, cause?: unknown): JingledError {
  return new JingledError("media-device", `${what}: ${message}`, cause !== undefined ? { cause } : undefined);
}

/**
 * Spawn `command`. `onFailure` is called at most once: when it cannot start,
 * when it exits on its own (any exit code: a device helper only ends when
 * told to), or when its pipes fail.
 */
export function startDeviceProcess(
  what: string,
  command: string,
  args: string[],
  onFailure: (err: JingledError) => void,
  opts: {
    stdin?: boolean;
    /** told each piece of stderr as it arrives (status lines a helper prints) */
    onStderr?: (text: string) => void;
    /** parts of stderr not kept for error messages (a helper's periodic status output) */
    stderrNoise?: RegExp;
  } = {},
): DeviceProcess {
  let stderr = "";
  let closed = false;
  let failed = false;
  const fail = (message: string, cause?: unknown): void => {
    if (closed || failed) return;
    failed = true;
    onFailure(deviceError(what, message, cause));
  };
  const child = spawn(command, args, {
    stdio: [opts.stdin ? "pipe" : "ignore", opts.stdin ? "ignore" : "pipe", "pipe"],
    env: helperEnv(),
  });
  child.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "ENOENT") {
      const pkg = PACKAGE_OF[command];
      fail(`${command} is not installed${pkg ? ` (Debian package ${pkg})` : ""}`, err);
    } else fail(`${command}: ${err.message}`, err);
  });
  child.stderr?.on("data", (d: Buffer) => {
    const text = d.toString("utf8");
    opts.onStderr?.(text);
    stderr = (stderr + (opts.stderrNoise ? text.replace(opts.stderrNoise, "") : text)).slice(-STDERR_KEEP);
  });
  child.stdin?.on("error", (err) => fail(`${command} stopped taking audio: ${err.message}`, err));
  child.stdout?.on("error", (err) => fail(`${command} output failed: ${err.message}`, err));
  child.on("exit", (code, signal) => {
    const tail = lastLines(stderr);
    fail(`${command} exited (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ""}`);
  });
  return {
    child,
    command,
    stderrTail: () => lastLines(stderr),
    get closed() {
      return closed;
    },
    close() {
      if (closed) return;
      closed = true;
      child.stdin?.end();
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, "SIGTERM");
        } catch {
          /* already gone */
        }
      }
    },
  };
}

function lastLines(s: string, n = 3): string {
  return s
    .trim()
    .split("\n")
    .slice(-n)
    .map((l) => l.trim())
    .filter(Boolean)
    .join(" / ");
}
