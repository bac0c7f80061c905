// Process accounting for the benchmarks (scripts/bench/bench.ts), from /proc:
// CPU seconds (user + system, every thread of the process) and resident
// memory, plus the machine's load average. Linux only.
//
// /proc/PID/stat fields 14 and 15 (utime, stime) are in clock ticks
// (sysconf(_SC_CLK_TCK), 100 on Linux): a 10 ms resolution, so the windows
// the benchmarks measure are seconds long.
import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync } from "node:fs";
import { loadavg } from "node:os";

let clkTck: number | undefined;

function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** user + system CPU seconds a process has used so far (all its threads). */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // The command name (field 2) may contain spaces and parentheses: split after the last ")".
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return (utime + stime) / ticksPerSecond();
}

/** Resident set size in MiB (VmRSS of /proc/PID/status). */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** Threads of a process (baresip runs one per audio source). */
export function threadCount(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const m = /^Threads:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : NaN;
}

/** The 1, 5 and 15 minute load averages, rounded. */
export function loadAverage(): [number, number, number] {
  const [a, b, c] = loadavg();
  const r = (x: number | undefined): number => Math.round((x ?? 0) * 100) / 100;
  return [r(a), r(b), r(c)];
}

/** CPU of several processes over one window. */
export class CpuWindow {
  readonly #start: Map<number, number>;
  readonly #t0: number;

  constructor(readonly pids: number[]) {
    this.#t0 = performance.now();
    this.#start = new Map(pids.map((p) => [p, cpuSeconds(p)]));
  }

  /** Seconds of CPU per PID since the window opened, and the wall time it lasted. */
  close(): { wallSec: number; cpuSec: Map<number, number> } {
    const cpu = new Map(this.pids.map((p) => [p, cpuSeconds(p) - this.#start.get(p)!]));
    return { wallSec: (performance.now() - this.#t0) / 1000, cpuSec: cpu };
  }
}

/** Samples the load average every `everyMs` while a run goes on. */
export class LoadSampler {
  readonly samples: { atSec: number; load1: number }[] = [];
  readonly #t0 = performance.now();
  readonly #timer: NodeJS.Timeout;

  constructor(everyMs = 10000) {
    const take = (): void => {
      this.samples.push({ atSec: Math.round((performance.now() - this.#t0) / 1000), load1: loadAverage()[0] });
    };
    take();
    this.#timer = setInterval(take, everyMs);
    this.#timer.unref();
  }

  stop(): { min: number; max: number; mean: number; samples: { atSec: number; load1: number }[] } {
    clearInterval(this.#timer);
    const v = this.samples.map((s) => s.load1);
    const mean = v.reduce((a, b) => a + b, 0) / (v.length || 1);
    return { min: Math.min(...v), max: Math.max(...v), mean: Math.round(mean * 100) / 100, samples: this.samples };
  }
}

/** CPU seconds of each thread of a process so far, with the thread's name (/proc/PID/task/TID/{stat,comm}). */
export function threadCpuSeconds(pid: number): Map<number, { name: string; cpuSec: number }> {
  const out = new Map<number, { name: string; cpuSec: number }>();
  for (const t of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, "utf8");
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      out.set(Number(t), { name, cpuSec: (Number(fields[11]) + Number(fields[12])) / ticksPerSecond() });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/**
 * Per-thread CPU of one process over a window, % of one core: the main
 * thread (TID = PID), each media thread (named "jingled-media" by
 * src/app/media-plane/plane-worker.ts), and every other thread together
 * (V8's helpers, libuv's pool).
 */
export class ThreadCpuWindow {
  readonly #start: Map<number, { name: string; cpuSec: number }>;
  readonly #t0 = performance.now();

  constructor(readonly pid: number) {
    this.#start = threadCpuSeconds(pid);
  }

  close(): { main: number; media: number[]; other: number } {
    const wallSec = (performance.now() - this.#t0) / 1000;
    const pct = (sec: number) => Math.round((1000 * sec) / wallSec) / 10;
    let main = 0;
    let other = 0;
    const media: number[] = [];
    for (const [tid, t] of threadCpuSeconds(this.pid)) {
      const used = t.cpuSec - (this.#start.get(tid)?.cpuSec ?? 0);
      if (tid === this.pid) main += used;
      else if (t.name.startsWith("jingled-media")) media.push(pct(used));
      else other += used;
    }
    return { main: pct(main), media: media.sort((a, b) => b - a), other: pct(other) };
  }
}
