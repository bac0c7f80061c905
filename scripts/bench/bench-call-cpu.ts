// What a few calls cost two jingled daemons, thread by thread, user and
// system time apart, optionally with a `perf record` of the callee (CPU
// time, not wall time: at one call V8's own profiler, sampling every 1 ms
// of wall time, saw the main thread busy 1.2 % of a core where /proc showed
// 4-5 %; docs/performance.md, "The send path").
//
//   node dist/scripts/bench/bench-call-cpu.js [--codec=pcmu|opus] [--calls=1] [--window=10] [--settle=8] [--perf] [--node-flags=FLAG,...]
//
// With --perf the daemons run with --perf-basic-prof (JavaScript frames
// named in perf's output) and the callee is recorded for the window
// (cpu-clock at 2 kHz, call graphs); then `perf report -i FILE --children
// --sort sym -g none` shows each function's share. Needs `perf` and the
// right to record another process (root, or kernel.perf_event_paranoid <= 1).
// Every process started here is stopped by PID.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProsody } from "../lab/prosody.js";
import { writeTalk } from "./audio.js";
import { BENCH_USERS, isCall, startJingledPair, waitForCount } from "./jingled.js";
import { loadAverage } from "./proc.js";
import { sleep } from "./stats.js";

const arg = (name: string, fallback: string): string => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? fallback;
const codec = arg("codec", "pcmu") === "opus" ? "opus" : "pcmu";
const calls = Math.min(64, Math.max(1, Number(arg("calls", "1")) || 1));
const windowSec = Math.min(120, Math.max(2, Number(arg("window", "10")) || 10));
const settleSec = Math.min(120, Math.max(0, Number(arg("settle", "8")) || 0));
const perf = process.argv.includes("--perf");
/** V8/Node flags for both daemons (comma-separated), e.g. --node-flags=--interrupt-budget=8192 */
const nodeFlags = arg("node-flags", "").split(",").filter(Boolean);

/** USER_HZ: the unit of utime/stime in /proc/PID/task/TID/stat (100 on Linux). */
const HZ = 100;

function threadTimes(pid: number): Map<string, { name: string; user: number; sys: number }> {
  const out = new Map<string, { name: string; user: number; sys: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      out.set(tid, { name: s.slice(s.indexOf("(") + 1, s.lastIndexOf(")")), user: Number(f[11]) / HZ, sys: Number(f[12]) / HZ });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

const work = mkdtempSync(join(tmpdir(), "jingled-call-cpu-"));
const talk = join(work, "talk.wav");
writeTalk(talk, codec === "opus" ? 48000 : 8000, windowSec + settleSec + 20);
const prosody = await startProsody({ users: BENCH_USERS, logLevel: "info" });
const src = { type: "file", path: talk, loop: true };
const pair = await startJingledPair({ prosody, dir: join(work, "pair"), codec, dtls: "prefer", callerInput: src, calleeInput: src, ...(perf || nodeFlags.length > 0 ? { nodeFlags: [...nodeFlags, ...(perf ? ["--perf-basic-prof"] : [])] } : {}) }).catch(async (err: unknown) => {
  await prosody.stop();
  throw err;
});
try {
  for (let i = 0; i < calls; i++) await pair.caller.control.request("call", { jid: pair.callee.jid, codecs: [codec] });
  await waitForCount(pair.callee, isCall("active"), calls, 30000, "callee calls active");
  await sleep(settleSec * 1000);
  const sides = [
    { role: "caller", pid: pair.caller.process.pid! },
    { role: "callee", pid: pair.callee.process.pid! },
  ].map((s) => ({ ...s, before: threadTimes(s.pid) }));
  const load = loadAverage()[0];
  const t0 = performance.now();
  const perfFile = join(work, "callee.perf.data");
  const recorder = perf ? spawn("perf", ["record", "-F", "2000", "-g", "-o", perfFile, "-p", String(sides[1]!.pid), "--", "sleep", String(windowSec)], { stdio: "ignore" }) : undefined;
  await sleep(windowSec * 1000);
  const wall = (performance.now() - t0) / 1000;
  const pct = (sec: number) => ((100 * sec) / wall).toFixed(2);
  process.stdout.write(`${calls} ${codec} call(s), ${wall.toFixed(1)} s window, load ${load}; % of a core, user / system\n`);
  for (const s of sides) {
    let user = 0;
    let sys = 0;
    const rows: string[] = [];
    for (const [tid, t] of threadTimes(s.pid)) {
      const b = s.before.get(tid) ?? { user: 0, sys: 0 };
      user += t.user - b.user;
      sys += t.sys - b.sys;
      if (t.user - b.user + (t.sys - b.sys) > 0) rows.push(`${tid === String(s.pid) ? "main" : `${t.name}:${tid}`} ${pct(t.user - b.user)}/${pct(t.sys - b.sys)}`);
    }
    process.stdout.write(`  ${s.role}: ${pct(user)} / ${pct(sys)}  (${rows.join(", ")})\n`);
  }
  if (recorder) {
    await new Promise((r) => recorder.once("exit", r));
    process.stdout.write(`perf record of the callee: ${perfFile}\n  perf report -i ${perfFile} --children --sort sym -g none\n`);
  }
} finally {
  await pair.stop();
  await prosody.stop();
}
