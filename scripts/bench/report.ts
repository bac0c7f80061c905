// The benchmark results (scripts/bench/bench.ts): their JSON shape, and the
// readable summary table printed at the end of a run. Every ratio is
// jingled / baresip from the same run (lower is better for jingled).
import type { SetupResult } from "./setup.js";
import type { MouthToEarResult, PipelineLatency } from "./mouth-to-ear.js";
import { SETTLED_SEC, type LoadResult, type MemoryResult } from "./load.js";
import type { ProfileSummary } from "./profile.js";
import type { OpusFloor } from "./floor.js";
import { fmt, ratio, table } from "./stats.js";

export interface BenchPlan {
  setupIterations: number;
  latencyCodecs: string[];
  clicks: number;
  loadLevels: number[];
  loadCodecs: string[];
  windowSec: number;
  memoryCalls: number;
  profile: boolean;
  /** concurrent calls in the profile phase (default 10) */
  profileCalls?: number;
  /** Opus backends the load phase runs jingled with (media.opus.backend), and the most calls it gives wasm */
  opusBackends?: string[];
  wasmMaxCalls?: number;
  /** what media.opus.backend "auto" meant in this run (setup, latency, memory and profile phases) */
  opusDefaultBackend?: string;
  /** media settings given to every jingled daemon (--threads, --preload, --priority); none: the config defaults */
  media?: Record<string, unknown>;
  /** the setup phase's first call came this long after the daemons were online (--first-call-after; none: at once) */
  firstCallAfterMs?: number;
  /** V8/Node flags given to every jingled daemon (--node-flags) */
  nodeFlags?: string[];
}

export interface BenchResults {
  version: 1;
  mode: "full" | "quick";
  startedAt: string;
  finishedAt?: string;
  durationSec?: number;
  machine: { cpus: number; cpuModel: string; memMiB: number; kernel: string; node: string; baresip: string; jingled: string };
  /** 1/5/15-minute load averages at the start and the end, and 1-minute samples during the run */
  loadAverage: { atStart: number[]; atEnd?: number[]; during?: { min: number; max: number; mean: number; samples: { atSec: number; load1: number }[] } };
  plan: BenchPlan;
  setup?: Record<string, (SetupResult & { encryption?: string }) | undefined>;
  /** through the PulseAudio lab, devices included: "jingled-opus", "baresip-opus", ... */
  mouthToEar?: Record<string, MouthToEarResult | undefined>;
  /** the lab's mic piped straight to its speaker with jingled's device latencies */
  soundServerPath?: MouthToEarResult;
  /** jingled file to file, no devices (scripts/bench/bench-latency.ts, issue 4), by codec */
  pipelineLatency?: Record<string, Omit<PipelineLatency, "output"> & { output?: string }>;
  perCall?: LoadResult[];
  /** what libopus alone costs per call in this run (scripts/bench/floor.ts) */
  opusFloor?: OpusFloor;
  memory?: MemoryResult[];
  /** per codec: each daemon's main thread, and its media threads (one profile each) */
  profile?: Record<string, { calls: number; caller?: ProfileSummary; callee?: ProfileSummary; callerMedia?: ProfileSummary[]; calleeMedia?: ProfileSummary[]; files: string[] }>;
  errors: { phase: string; message: string }[];
}

const pct = (cpuPerCallSec: number | undefined): number | undefined => (cpuPerCallSec === undefined ? undefined : cpuPerCallSec * 100);

function row(label: string, j: number | undefined, b: number | undefined, digits: number, goal = ""): string[] {
  return [label, fmt(j, digits), fmt(b, digits), fmt(ratio(j, b), 2), goal];
}

export function summaryTable(r: BenchResults): string {
  const rows: string[][] = [["figure", "jingled", "baresip", "ratio j/b", "goal"]];
  const s = r.setup ?? {};
  for (const [mode, label] of [["dtls", "DTLS-SRTP"], ["plain", "plain RTP"]] as const) {
    const j = s[`jingled-${mode}`];
    const b = s[`baresip-${mode}`];
    if (!j && !b) continue;
    rows.push(row(`setup to 1st decoded frame, ${label}, median ms (n=${j?.firstAudio.n ?? 0}/${b?.firstAudio.n ?? 0})`, j?.firstAudio.median, b?.firstAudio.median, 0, mode === "dtls" ? "j < 150" : ""));
    rows.push(row(`  fastest 10 % (p10), ms`, j?.firstAudio.p10, b?.firstAudio.p10, 0));
    rows.push(row(`setup to 1st RTP packet at callee, ${label}, median ms`, j?.firstPacket.median, b?.firstPacket.median, 0));
    if (j?.firstCall) {
      const f = j.firstCall.firstAudioMs;
      rows.push([`  jingled's first call after start (${label}): 1st decoded frame ms, x median of later calls`, `${fmt(f, 0)} (x${fmt(f / j.firstAudio.median, 2)})`, "", "", "j <= 1.2x"]);
    }
  }
  const m2e = r.mouthToEar ?? {};
  for (const codec of new Set(Object.keys(m2e).map((k) => k.split("-")[1]!))) {
    const j = m2e[`jingled-${codec}`];
    const b = m2e[`baresip-${codec}`];
    rows.push(row(`mouth-to-ear ${codec} via PulseAudio, devices incl., median ms (bursts ${j?.bursts.paired ?? 0}/${b?.bursts.paired ?? 0})`, j?.latency.median, b?.latency.median, 0));
  }
  if (r.soundServerPath) rows.push(row("  the sound-server path alone (parec 20 ms | pacat 40 ms)", r.soundServerPath.latency.median, undefined, 0));
  for (const [codec, p] of Object.entries(r.pipelineLatency ?? {})) {
    rows.push(row(`mouth-to-ear ${codec}, jingled pipeline only (scripts/bench/bench-latency), ms`, p.mouthToEarMs, undefined, 0, "j < 60"));
  }
  const floor = r.opusFloor;
  if (floor) rows.push(row(`libopus floor: encode + decode every 20 ms (native, ${floor.encodeUs}+${floor.decodeUs} µs), % of a core per call`, floor.perCallPercent, undefined, 2));
  const per = r.perCall ?? [];
  const find = (agent: string, codec: string, calls: number): LoadResult | undefined => per.find((x) => x.agent === agent && x.codec === codec && x.calls === calls);
  // One row group per jingled Opus backend measured, each against the same baresip figures.
  const variants = (codec: string, n: number): { name: string; j: LoadResult | undefined }[] => {
    const js = per.filter((x) => x.agent === "jingled" && x.codec === codec && x.calls === n);
    if (codec !== "opus" || js.length === 0) return [{ name: codec, j: js[0] }];
    return js.map((j) => ({ name: j.codecBackend ? `${codec} (${j.codecBackend})` : codec, j }));
  };
  for (const codec of r.plan.loadCodecs) {
    for (const n of r.plan.loadLevels) {
      const b = find("baresip", codec, n);
      for (const { name, j } of variants(codec, n)) {
        if (!j && !b) continue;
        // A run that carried no audio has no meaningful CPU figure.
        const ok = (x: LoadResult | undefined): LoadResult | undefined => (x && x.health.framesPlayed !== 0 ? x : undefined);
        for (const sideName of ["caller", "callee"] as const) {
          const r0 = row(`CPU ${name} x${n} ${sideName}, % of a core per call`, pct(ok(j)?.[sideName].cpuPerCallSec), pct(ok(b)?.[sideName].cpuPerCallSec), 2, codec === "opus" ? "ratio <= 1" : "");
          if (j && !ok(j)) r0[1] = "failed";
          rows.push(r0);
          if (codec === "opus" && floor) {
            const over = (x: LoadResult | undefined) => (x ? (x[sideName].cpuPerCallSec * 100) / floor.perCallPercent : undefined);
            rows.push([`  as a multiple of the libopus floor`, fmt(over(ok(j)), 2), fmt(over(ok(b)), 2), "", n === 1 ? "j <= 1.5" : n === 10 ? "j <= 1.15" : ""]);
          }
          const th = j?.[sideName].threadCpu;
          if (th) rows.push([`  jingled's threads, % of a core: main / media threads / other`, `${fmt(th.main, 1)} / ${th.media.map((m) => fmt(m, 1)).join("+") || "-"} / ${fmt(th.other, 1)}`, "", "", ""]);
        }
        const jh = j?.health;
        const bh = b?.health;
        rows.push([
          `  health ${name} x${n}: j concealed % / b lost %`,
          jh ? (jh.framesPlayed === 0 ? "FAILED: no audio" : `${fmt(jh.concealedPercent, 2)}${jh.callsDropped ? ` (${jh.callsDropped} dropped)` : ""}`) : "—",
          bh ? `${fmt(bh.lossPercent, 2)}${bh.callsDropped ? ` (${bh.callsDropped} dropped)` : ""}` : "—",
          "",
          codec === "opus" && n >= 50 ? "j < 1 %" : "",
        ]);
      }
    }
  }
  const ji = per.find((x) => x.agent === "jingled");
  const bi = per.find((x) => x.agent === "baresip");
  if (ji || bi) rows.push(row("idle CPU of one process, % of a core (callee)", ji?.callee.idleCpuPercent, bi?.callee.idleCpuPercent, 1));
  const jm = r.memory?.find((m) => m.agent === "jingled");
  const bm = r.memory?.find((m) => m.agent === "baresip");
  if (jm || bm) {
    const mean = (x: [number, number] | undefined): number | undefined => (x ? (x[0] + x[1]) / 2 : undefined);
    rows.push(row("idle RSS of one process, MiB (mean of caller and callee)", mean(jm?.idleRssMiB), mean(bm?.idleRssMiB), 1, "j < 80"));
    if (jm?.idleSettledRssMiB) rows.push(row(`  the same ${SETTLED_SEC} s later`, mean(jm.idleSettledRssMiB), mean(bm?.idleSettledRssMiB), 1, "j < 80"));
    rows.push(row(`RSS per added call, opus x${jm?.calls ?? bm?.calls}, MiB (mean of both ends)`, mean(jm?.perCallMiB), mean(bm?.perCallMiB), 2));
  }
  const la = r.loadAverage;
  const lines = [
    table(rows),
    "",
    ...(r.plan.opusDefaultBackend ? [`Opus backend: ${r.plan.opusDefaultBackend} (auto) in setup, latency, memory and profile; load: ${r.plan.opusBackends?.join(", ") ?? "?"}${r.plan.opusBackends?.includes("wasm") && (r.plan.wasmMaxCalls ?? 64) < 64 ? ` (wasm up to ${r.plan.wasmMaxCalls} calls)` : ""}`] : []),
    ...(r.plan.media && Object.keys(r.plan.media).length > 0 ? [`jingled's media settings: ${Object.entries(r.plan.media).map(([k, v]) => `${k} ${String(v)}`).join(", ")}`] : []),
    `load average: ${la.atStart.join(" ")} at start, ${la.atEnd?.join(" ") ?? "?"} at end; 1-min during the run ${la.during ? `${la.during.min}–${la.during.max} (mean ${la.during.mean})` : "?"} on ${r.machine.cpus} CPUs`,
  ];
  for (const [codec, p] of Object.entries(r.profile ?? {})) {
    const threads: [string, ProfileSummary | undefined][] = [["callee daemon, main thread", p.callee], ...(p.calleeMedia ?? []).map((m, i): [string, ProfileSummary] => [`callee daemon, media thread ${i + 1}`, m])];
    for (const [what, c] of threads) {
      if (!c) continue;
      const cats = Object.entries(c.categories)
        .slice(0, 8)
        .map(([k, v]) => `${k} ${v}%`)
        .join(", ");
      lines.push(`profile ${codec} x${p.calls}, ${what} (busy ${c.busyMs} of ${c.durationMs} ms): ${cats}`);
      for (const t of c.top.slice(0, 8)) lines.push(`    ${t.percent.toFixed(1).padStart(5)}%  ${t.fn}  ${t.where}`);
    }
  }
  const runErrors = per.flatMap((x) => (x.health.errors ?? []).map((e) => `  ${x.agent} ${x.codec}${x.codecBackend ? ` (${x.codecBackend})` : ""} x${x.calls}: ${e}`));
  if (r.errors.length || runErrors.length) lines.push("", "errors:", ...r.errors.map((e) => `  ${e.phase}: ${e.message}`), ...runErrors);
  return lines.join("\n");
}
