// Where call setup time goes: two jingled daemons (debug logs) on a local
// Prosody, a few calls one at a time; for each call, the merged log timeline
// of caller and callee in ms after the call command, up to the callee's
// first played frame. Prints the median of each milestone over the calls.
//
//   node dist/scripts/bench/bench-setup-trace.js [--dtls=prefer|off] [--calls=6] [--verbose: the first two calls' timelines]
//     [--cpu-prof: both daemons profiled (100 µs samples); per thread, the CPU
//      time of the first call's first 150 ms against the median later call's,
//      and the functions (self time) that make the difference]
//
// Every process it starts is stopped by PID at the end.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProsody } from "../lab/prosody.js";
import { BENCH_USERS, isCall, startJingledPair } from "./jingled.js";
import { writeTalk } from "./audio.js";
import { sleep } from "./stats.js";

const arg = (name: string): string | undefined => process.argv.find((a) => a.startsWith(`--${name}=`))?.split("=")[1];
const dtls = arg("dtls") === "off" ? "off" : "prefer";
const calls = Math.min(20, Math.max(1, Number(arg("calls") ?? 6)));
const verbose = process.argv.includes("--verbose");
const cpuProf = process.argv.includes("--cpu-prof");
/** How long after each call command the --cpu-prof windows run, ms. */
const PROF_WINDOW_MS = 150;

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Self time per function (µs) in each window [start, start + PROF_WINDOW_MS)
 * of a V8 CPU profile. Profile timestamps and process.hrtime are both the
 * system's monotonic clock in this process and the daemons'.
 */
function windowsOf(profile: CpuProfile, starts: number[]): Map<string, number>[] {
  const frame = new Map<number, string>();
  for (const n of profile.nodes) {
    const f = n.callFrame;
    const file = f.url.replace(/^.*\/(dist|node_modules)\//, "$1/").replace(/^file:\/\//, "");
    frame.set(n.id, `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`);
  }
  const out = starts.map(() => new Map<string, number>());
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i]!;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    const w = starts.findIndex((s) => t >= s * 1000 && t < (s + PROF_WINDOW_MS) * 1000);
    if (w < 0) continue;
    const name = frame.get(profile.samples[i]!)!;
    if (name.startsWith("(idle)")) continue;
    out[w]!.set(name, (out[w]!.get(name) ?? 0) + dt);
  }
  return out;
}

function reportProfiles(profDir: string, starts: number[], pids: Record<string, number>): void {
  const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0) / 1000;
  const all = readdirSync(profDir).filter((f) => f.endsWith(".cpuprofile")).sort();
  for (const [role, pid] of Object.entries(pids)) {
    for (const f of all.filter((name) => name.split(".")[3] === String(pid))) {
      const windows = windowsOf(JSON.parse(readFileSync(join(profDir, f), "utf8")) as CpuProfile, starts);
      const later = windows.slice(1);
      const totals = later.map(total).sort((a, b) => a - b);
      const med = totals[Math.floor(totals.length / 2)] ?? 0;
      const tid = f.split(".")[4];
      const thread = tid === "0" ? "main thread" : `thread ${tid}`;
      process.stdout.write(`\n${role} ${thread}: CPU in the first ${PROF_WINDOW_MS} ms of the first call ${total(windows[0]!).toFixed(1)} ms, later calls median ${med.toFixed(1)} ms\n`);
      const extra = new Map<string, number>();
      for (const [k, v] of windows[0]!) {
        const others = later.map((m) => m.get(k) ?? 0).sort((a, b) => a - b);
        extra.set(k, v - (others[Math.floor(others.length / 2)] ?? 0));
      }
      const rows = [...extra].sort((a, b) => b[1] - a[1]).slice(0, 25);
      for (const [k, us] of rows) if (us >= 200) process.stdout.write(`  +${(us / 1000).toFixed(1).padStart(5)} ms  ${k}\n`);
    }
  }
}

interface Line {
  t: number;
  who: string;
  msg: string;
  extra: string;
}

function lines(output: string, who: string, from: number, to: number): Line[] {
  const out: Line[] = [];
  for (const raw of output.split("\n")) {
    if (!raw.startsWith("{")) continue;
    try {
      const j = JSON.parse(raw) as Record<string, unknown>;
      const t = Number(j.time);
      if (!(t >= from && t <= to)) continue;
      const { time: _t, level: _l, pid: _p, hostname: _h, msg, ...rest } = j;
      out.push({ t, who, msg: String(msg ?? ""), extra: JSON.stringify(rest).slice(0, 160) });
    } catch {
      // not a log line
    }
  }
  return out;
}

async function main(): Promise<void> {
  setTimeout(() => {
    process.stderr.write("bench-setup-trace: giving up after 5 min\n");
    process.exit(2);
  }, 300_000).unref();
  const work = mkdtempSync(join(tmpdir(), "jingled-setup-trace-"));
  const talk = join(work, "talk.wav");
  writeTalk(talk, 48000, 20);
  const prosody = await startProsody({ users: BENCH_USERS, logLevel: "info" });
  const milestones = new Map<string, number[]>();
  let firstCall: number | undefined;
  const starts: number[] = [];
  try {
    const pair = await startJingledPair({
      prosody,
      dir: work,
      codec: "opus",
      dtls,
      logLevel: "debug",
      ...(cpuProf ? { nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${join(work, "prof")}`, "--cpu-prof-interval=100"] } : {}),
      callerInput: { type: "file", path: talk, loop: true },
      calleeInput: { type: "file", path: talk, loop: true },
    });
    try {
      for (let i = 0; i < calls + 1; i++) {
        const t0 = Date.now();
        starts.push(Number(process.hrtime.bigint() / 1000n) / 1000);
        const { callId } = (await pair.caller.control.request("call", { jid: pair.callee.jid, codecs: ["opus"] })) as { callId: string };
        const inc = await pair.callee.waitForEvent((e) => isCall("incoming")(e) && !(e as { seen?: boolean }).seen, 10000, "incoming");
        (inc as { seen?: boolean }).seen = true;
        await pair.callee.waitForEvent(isCall("active", inc.callId as string), 10000, "active");
        await sleep(400);
        const t1 = Date.now();
        const all = [...lines(pair.caller.process.output(), "caller", t0, t1), ...lines(pair.callee.process.output(), "callee", t0, t1)].sort((a, b) => a.t - b.t);
        const firstPlayed = all.find((l) => l.who === "callee" && l.msg === "first frame played");
        const end = firstPlayed?.t ?? t1;
        if (i === 0 && firstPlayed) firstCall = firstPlayed.t - t0;
        const seen = new Set<string>();
        if (verbose && i <= 1) process.stdout.write(i === 0 ? "the first call after start:\n" : "the second call:\n");
        for (const l of all) {
          if (l.t > end) break;
          const key = `${l.who}: ${l.msg}`;
          if (seen.has(key)) continue;
          seen.add(key);
          if (i > 0) milestones.set(key, [...(milestones.get(key) ?? []), l.t - t0]);
          if (verbose && i <= 1) process.stdout.write(`${String(l.t - t0).padStart(5)} ms  ${key}  ${l.extra}\n`);
        }
        await pair.caller.control.request("hangup", { callId });
        await pair.callee.waitForEvent(isCall("ended", inc.callId as string), 10000, "ended");
        await sleep(300);
      }
    } finally {
      await pair.stop();
    }
    if (cpuProf) reportProfiles(join(work, "prof"), starts, { caller: pair.caller.process.pid, callee: pair.callee.process.pid });
  } finally {
    await prosody.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  process.stdout.write(`\nthe daemons' first call (not counted below; loads the media and DTLS code): callee's first frame played at ${firstCall ?? "?"} ms\n`);
  process.stdout.write(`median ms after the call command over ${calls} calls (DTLS ${dtls}), first occurrence of each log message:\n`);
  const rows = [...milestones].filter(([, xs]) => xs.length >= Math.ceil(calls / 2)).map(([k, xs]) => [median(xs), k, xs.length] as const);
  rows.sort((a, b) => a[0] - b[0]);
  for (const [m, k, n] of rows) {
    const each = verbose ? `  [${milestones.get(k)!.join(", ")}]` : "";
    process.stdout.write(`${String(m).padStart(5)}  ${k}${n < calls ? ` (${n}/${calls})` : ""}${each}\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-setup-trace failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
