// npm run bench: jingled side by side with baresip (a native C SIP agent) on
// this machine, on 127.0.0.1 only. Every figure is measured for both agents
// in the same run; compare the ratios, not absolute numbers across runs (the
// machine is shared). docs/performance.md explains each figure.
//
//   node dist/scripts/bench/bench.js            full suite (~10-15 min on 2 cores)
//   node dist/scripts/bench/bench.js --quick    ~3 min: fewer samples, 1 and 10 calls
//   node dist/scripts/bench/bench.js --only=setup,latency,load,memory,profile
//   node dist/scripts/bench/bench.js --only=load --levels=50 --codecs=opus --window=10
//   node dist/scripts/bench/bench.js --quick --only=load,profile --profile --codecs=opus --opus-backends=native
//   node dist/scripts/bench/bench.js --quick --only=setup --first-call-after=3000 --node-flags=--no-memory-reducer
//                                          (the first call 3 s after the daemons came online; V8 flags for them)
//   node dist/scripts/bench/bench.js --report=bench/results/FILE.json   (the table of an earlier run)
//
// Writes bench/results/<timestamp>.json and prints a summary table. Installs
// baresip (and PulseAudio with ALSA's pulse plugin) from Debian when missing.
// Every process started here is stopped here, by PID.
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { startProsody, type ProsodyServer } from "../lab/prosody.js";
import { REPO_ROOT } from "../lab/daemon.js";
import { ensureBaresip, startBaresip, type Baresip, type BaresipOptions } from "./baresip.js";
import { BENCH_USERS, isCall, startJingledPair, type JingledPairOptions } from "./jingled.js";
import { writeClickTrain, writeSilence, writeTalk } from "./audio.js";
import { baresipSetup, jingledSetup } from "./setup.js";
import { SETTLED_SEC, baresipLoad, baresipMemory, jingledLoad, jingledMemory } from "./load.js";
import { measureMouthToEar, measureSoundServerPath, runPipelineLatency } from "./mouth-to-ear.js";
import { startPulseLab, LAB_RATE } from "./pulse-lab.js";
import { summarizeCpuProfile } from "./profile.js";
import { measureOpusFloor } from "./floor.js";
import { loadAverage, LoadSampler } from "./proc.js";
import { summaryTable, type BenchPlan, type BenchResults } from "./report.js";
import { sleep } from "./stats.js";
import { nativeOpusProblem } from "../../src/media/codecs/opus-backend.js";

type Codec = "opus" | "pcmu";
const RATE: Record<Codec, number> = { opus: 48000, pcmu: 8000 };
const PHASES = ["setup", "latency", "load", "memory", "profile"] as const;

interface Args {
  quick: boolean;
  only: Set<string>;
  levels?: number[];
  codecs?: string[];
  window?: number;
  report?: string;
  opusBackends?: string[];
  profile?: boolean;
  /** media.threads, media.preload and media.priority of every jingled daemon (default: the config defaults) */
  media: Record<string, unknown>;
  profileCalls?: number;
  firstCallAfterMs?: number;
  /** V8/Node flags for every jingled daemon (not the profile phase's, which sets its own) */
  nodeFlags?: string[];
}

function parseArgs(argv: string[]): Args {
  const args: Args = { quick: false, only: new Set<string>(PHASES), media: {} };
  const list = (a: string): string[] => a.slice(a.indexOf("=") + 1).split(",").filter(Boolean);
  for (const a of argv) {
    if (a === "--quick") args.quick = true;
    else if (a === "--profile") args.profile = true;
    else if (a.startsWith("--profile-calls=")) args.profileCalls = Math.min(64, Math.max(1, Math.round(Number(list(a)[0])) || 10));
    else if (a.startsWith("--only=")) args.only = new Set(list(a));
    else if (a.startsWith("--levels=")) args.levels = list(a).map((x) => Math.min(64, Math.max(1, Math.round(Number(x)) || 1)));
    else if (a.startsWith("--codecs=")) args.codecs = list(a).filter((c) => c === "opus" || c === "pcmu");
    else if (a.startsWith("--window=")) args.window = Math.min(120, Math.max(2, Number(list(a)[0]) || 10));
    else if (a.startsWith("--report=")) args.report = a.slice(9);
    else if (a.startsWith("--opus-backends=")) args.opusBackends = list(a).filter((b) => b === "native" || b === "wasm");
    else if (a.startsWith("--threads=")) args.media.threads = a.slice(10) === "auto" ? "auto" : Number(a.slice(10));
    else if (a.startsWith("--preload=")) args.media.preload = a.slice(10) !== "false";
    else if (a.startsWith("--priority=")) args.media.priority = a.slice(11);
    else if (a.startsWith("--first-call-after=")) args.firstCallAfterMs = Math.min(60_000, Math.max(0, Number(a.slice(19)) || 0));
    else if (a.startsWith("--node-flags=")) args.nodeFlags = list(a);
    else if (a === "--help" || a === "-h") {
      process.stdout.write("usage: bench [--quick] [--only=setup,latency,load,memory,profile] [--levels=1,10,50] [--codecs=opus,pcmu] [--window=SEC] [--opus-backends=native,wasm] [--threads=auto|N] [--preload=true|false] [--priority=realtime|raised|normal] [--first-call-after=MS] [--node-flags=FLAG,...] [--profile] [--profile-calls=N] | --report=RESULTS.json\n");
      process.exit(0);
    } else {
      process.stderr.write(`bench: unknown argument ${a}\n`);
      process.exit(64);
    }
  }
  for (const p of args.only) if (!(PHASES as readonly string[]).includes(p)) throw new Error(`bench: unknown phase ${p} (known: ${PHASES.join(", ")})`);
  return args;
}

const log = (s: string): void => void process.stdout.write(`• ${s}\n`);

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.report) {
    // Only print the summary of an earlier run.
    process.stdout.write(`${summaryTable(JSON.parse(readFileSync(args.report, "utf8")) as BenchResults)}\n`);
    return;
  }
  const { quick, only } = args;
  const plan: BenchPlan = quick
    ? { setupIterations: 8, latencyCodecs: ["opus"], clicks: 10, loadLevels: [1, 10], loadCodecs: ["opus", "pcmu"], windowSec: 5, memoryCalls: 10, profile: false }
    : { setupIterations: 20, latencyCodecs: ["opus", "pcmu"], clicks: 16, loadLevels: [1, 10, 50], loadCodecs: ["opus", "pcmu"], windowSec: 10, memoryCalls: 20, profile: true };
  if (args.profile) plan.profile = true;
  if (Object.keys(args.media).length > 0) plan.media = args.media;
  if (args.profileCalls) plan.profileCalls = args.profileCalls;
  if (args.firstCallAfterMs) plan.firstCallAfterMs = args.firstCallAfterMs;
  if (args.nodeFlags) plan.nodeFlags = args.nodeFlags;
  if (!only.has("profile")) plan.profile = false;
  if (args.levels?.length) plan.loadLevels = args.levels;
  if (args.codecs?.length) plan.loadCodecs = plan.latencyCodecs = args.codecs;
  if (args.window) plan.windowSec = args.window;
  // The load phase runs jingled's Opus calls on each backend there is: native
  // (libopus, when built) at every level, wasm (opusscript) up to 10 calls
  // (its heap does not hold 50 calls). Every other phase uses the default (auto).
  const nativeProblem = nativeOpusProblem();
  plan.opusBackends = args.opusBackends ?? (nativeProblem ? ["wasm"] : ["native", "wasm"]);
  plan.wasmMaxCalls = args.opusBackends ? 64 : 10;
  plan.opusDefaultBackend = nativeProblem ? "wasm" : "native";
  // A hard bound on the whole run: whatever hangs, everything is stopped (process.ts kills by PID on exit).
  const deadlineMin = quick ? 10 : 30;
  setTimeout(() => {
    process.stderr.write(`bench: still running after ${deadlineMin} min: giving up\n`);
    process.exit(2);
  }, deadlineMin * 60_000).unref();

  const t0 = Date.now();
  const baresipVersion = ensureBaresip(log);
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string };
  const results: BenchResults = {
    version: 1,
    mode: quick ? "quick" : "full",
    startedAt: new Date(t0).toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "?", memMiB: Math.round(totalmem() / 2 ** 20), kernel: release(), node: process.version, baresip: baresipVersion, jingled: pkg.version },
    loadAverage: { atStart: loadAverage() },
    plan,
    errors: [],
  };
  log(`${results.mode} run; load average ${results.loadAverage.atStart.join(" ")} on ${results.machine.cpus} CPUs; ${baresipVersion}`);
  const sampler = new LoadSampler(5000);
  const work = mkdtempSync(join(tmpdir(), "jingled-bench-"));
  const stamp = new Date(t0).toISOString().replace(/[:.]/g, "-");
  const outDir = join(REPO_ROOT, "bench", "results");
  mkdirSync(outDir, { recursive: true });
  let prosody: ProsodyServer | undefined;

  // The talk every source sends (loaded whole per call by both agents; baresip
  // ends a call at the end of its file, so it outlasts the longest call).
  const talkSec = plan.windowSec + (Math.max(...plan.loadLevels) >= 50 ? 35 : 15);
  const talk: Record<Codec, string> = { opus: join(work, "talk-48k.wav"), pcmu: join(work, "talk-8k.wav") };
  const silence: Record<Codec, string> = { opus: join(work, "silence-48k.wav"), pcmu: join(work, "silence-8k.wav") };
  for (const c of ["opus", "pcmu"] as Codec[]) {
    writeTalk(talk[c], RATE[c], talkSec);
    writeSilence(silence[c], RATE[c], 60);
  }

  const phase = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const started = performance.now();
    log(`${name}: start (load ${loadAverage()[0]})`);
    try {
      await fn();
    } catch (err) {
      const message = (err as Error).message.split("\n").slice(0, 3).join(" | ");
      results.errors.push({ phase: name, message });
      log(`${name}: FAILED: ${message}`);
    }
    log(`${name}: done in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  };

  const jingledPair = (name: string, o: Omit<JingledPairOptions, "prosody" | "dir">) => startJingledPair({ prosody: prosody!, dir: join(work, name), media: args.media, ...(args.nodeFlags ? { nodeFlags: args.nodeFlags } : {}), ...o });
  const baresipPair = async (name: string, callee: Omit<BaresipOptions, "dir" | "name">, caller: Omit<BaresipOptions, "dir" | "name">): Promise<[Baresip, Baresip]> => {
    const b = await startBaresip({ dir: join(work, name, "callee"), name: "callee", ...callee });
    try {
      return [await startBaresip({ dir: join(work, name, "caller"), name: "caller", ...caller }), b];
    } catch (err) {
      await b.stop();
      throw err;
    }
  };

  try {
    prosody = await startProsody({ users: BENCH_USERS, logLevel: "info" });
    log(`Prosody on 127.0.0.1:${prosody.port}`);

    if (only.has("setup")) {
      results.setup = {};
      await phase("setup jingled", async () => {
        for (const dtls of ["prefer", "off"] as const) {
          const pair = await jingledPair(`setup-j-${dtls}`, { codec: "opus", dtls, callerInput: { type: "file", path: talk.opus, loop: true }, calleeInput: { type: "file", path: talk.opus, loop: true } });
          try {
            const r = await jingledSetup(pair, "opus", plan.setupIterations, 1, plan.firstCallAfterMs ?? 0);
            const media = [...pair.callee.events].reverse().find((e) => e.event === "media");
            results.setup![`jingled-${dtls === "off" ? "plain" : "dtls"}`] = { ...r, encryption: String(media?.encryption ?? "none") };
            log(`  jingled ${dtls === "off" ? "plain" : "DTLS"}: first frame median ${r.firstAudio.median} ms, first packet ${r.firstPacket.median} ms (${String(media?.encryption ?? "none")}); the first call after start: first frame ${r.firstCall ? Math.round(r.firstCall.firstAudioMs) : "?"} ms`);
          } finally {
            await pair.stop();
          }
        }
      });
      await phase("setup baresip", async () => {
        for (const dtls of [true, false]) {
          const snd = join(work, `setup-b-${dtls}`, "snd");
          const src = `aufile,${talk.opus}`;
          const [caller, callee] = await baresipPair(`setup-b-${dtls}`, { codec: "opus", dtls, source: src, player: "aubridge,null-callee", sndfileDir: snd }, { codec: "opus", dtls, source: src, player: "aubridge,null-caller" });
          try {
            const r = await baresipSetup(caller, callee, snd, plan.setupIterations);
            results.setup![`baresip-${dtls ? "dtls" : "plain"}`] = { ...r, encryption: dtls ? "dtls-srtp" : "none" };
            log(`  baresip ${dtls ? "DTLS" : "plain"}: first frame median ${r.firstAudio.median} ms, first packet ${r.firstPacket.median} ms`);
          } finally {
            await Promise.allSettled([caller.stop(), callee.stop()]);
          }
        }
      });
    }

    if (only.has("latency")) {
      results.mouthToEar = {};
      results.pipelineLatency = {};
      await phase("pipeline latency (scripts/bench/bench-latency, issue 4)", async () => {
        for (const codec of plan.latencyCodecs) {
          const r = await runPipelineLatency(codec, quick ? 6 : 10);
          const { output, ...figures } = r;
          results.pipelineLatency![codec] = r.mouthToEarMs === undefined ? r : figures;
          log(`  jingled ${codec} pipeline only: mouth-to-ear ${r.mouthToEarMs ?? "?"} ms (jitter buffer ${r.jitterBufferMs ?? "?"} ms, clicks ${r.clicks ?? "?"})`);
          if (r.mouthToEarMs === undefined) log(output);
        }
      });
      await phase("mouth-to-ear", async () => {
        const lab = await startPulseLab(join(work, "lab"));
        try {
          const clicks = join(work, "clicks.wav");
          const train = writeClickTrain(clicks, LAB_RATE, { count: plan.clicks, periodMs: 600 });
          const pulse = (device: string) => ({ type: "pulse", device, server: lab.server });
          results.soundServerPath = await measureSoundServerPath(lab, clicks, train, join(work, "m2e-path.raw"));
          log(`  sound-server path alone: median ${results.soundServerPath.latency.median} ms`);
          for (const codec of plan.latencyCodecs as Codec[]) {
            const pair = await jingledPair(`m2e-j-${codec}`, { codec, dtls: "prefer", callerInput: pulse("mic"), calleeInput: { type: "silence" }, calleeOutput: pulse("spk") });
            try {
              const { callId } = (await pair.caller.control.request("call", { jid: pair.callee.jid, codecs: [codec] })) as { callId: string };
              const active = await pair.callee.waitForEvent(isCall("active"), 15000, "callee active");
              await sleep(1500);
              const r = await measureMouthToEar(lab, clicks, train, join(work, `m2e-j-${codec}.raw`));
              const st = (await pair.callee.control.request("stats", { callId: active.callId })) as Record<string, unknown>;
              r.receiver = { jitterBufferDelayMs: st.jitterBufferDelayMs, jitterBufferTargetMs: st.jitterBufferTargetMs, framesConcealed: st.framesConcealed };
              results.mouthToEar![`jingled-${codec}`] = r;
              log(`  jingled ${codec}: median ${r.latency.median} ms over ${r.bursts.paired}/${r.bursts.played} bursts (playout buffer ${String(st.jitterBufferDelayMs)} ms)`);
              await pair.caller.control.request("hangup", { callId }).catch(() => undefined);
            } finally {
              await pair.stop();
            }
            const env = { HOME: lab.alsaHome, PULSE_SERVER: lab.server };
            const [caller, callee] = await baresipPair(
              `m2e-b-${codec}`,
              { codec, dtls: true, source: `aufile,${silence[codec]}`, player: "alsa,benchspk", modules: ["alsa.so"], env },
              { codec, dtls: true, source: "alsa,benchmic", player: "aubridge,null-caller", modules: ["alsa.so"], env },
            );
            try {
              await caller.ctrl.request("dial", callee.uri).reply;
              await callee.ctrl.waitForEvent((e) => e.type === "CALL_RTPESTAB", 15000, "callee RTP");
              await sleep(1500);
              const r = await measureMouthToEar(lab, clicks, train, join(work, `m2e-b-${codec}.raw`));
              results.mouthToEar![`baresip-${codec}`] = r;
              log(`  baresip ${codec}: median ${r.latency.median} ms over ${r.bursts.paired}/${r.bursts.played} bursts`);
            } finally {
              await Promise.allSettled([caller.stop(), callee.stop()]);
            }
          }
        } finally {
          await lab.stop();
        }
      });
    }

    if (only.has("load")) {
      results.perCall = [];
      if (plan.loadCodecs.includes("opus") && !nativeProblem) {
        await phase("libopus floor", async () => {
          results.opusFloor = measureOpusFloor(talk.opus);
          log(`  libopus (native) alone: ${results.opusFloor.cpuUsPerFrame} µs CPU per 20 ms frame encoded and decoded = ${results.opusFloor.perCallPercent} % of a core per call`);
        });
      }
      for (const codec of plan.loadCodecs as Codec[]) {
        for (const n of plan.loadLevels) {
          const backends = codec === "opus" ? plan.opusBackends.filter((b) => b !== "wasm" || n <= plan.wasmMaxCalls!) : [undefined];
          for (const backend of backends) {
            await phase(`cpu ${codec}${backend ? ` (${backend})` : ""} x${n} jingled`, async () => {
              const src = { type: "file", path: talk[codec], loop: true };
              const pair = await jingledPair(`load-j-${codec}-${backend ?? "x"}-${n}`, { codec, dtls: "prefer", callerInput: src, calleeInput: src, ...(backend ? { opusBackend: backend as "native" | "wasm" } : {}) });
              try {
                const r = await jingledLoad(pair, codec, n, plan.windowSec);
                results.perCall!.push(r);
                log(`  jingled${r.codecBackend ? ` (${r.codecBackend})` : ""}: caller ${(r.caller.cpuPerCallSec * 100).toFixed(2)} %/call, callee ${(r.callee.cpuPerCallSec * 100).toFixed(2)} %/call, concealed ${r.health.concealedPercent} %, all up in ${r.setupAllSec} s`);
              } finally {
                await pair.stop();
              }
            });
          }
          await phase(`cpu ${codec} x${n} baresip`, async () => {
            const src = `aufile,${talk[codec]}`;
            const [caller, callee] = await baresipPair(`load-b-${codec}-${n}`, { codec, dtls: true, source: src, player: "aubridge,null-callee" }, { codec, dtls: true, source: src, player: "aubridge,null-caller" });
            try {
              const r = await baresipLoad(caller, callee, codec, n, plan.windowSec);
              results.perCall!.push(r);
              log(`  baresip: caller ${(r.caller.cpuPerCallSec * 100).toFixed(2)} %/call, callee ${(r.callee.cpuPerCallSec * 100).toFixed(2)} %/call, lost ${r.health.lossPercent} %, all up in ${r.setupAllSec} s`);
            } finally {
              await Promise.allSettled([caller.stop(), callee.stop()]);
            }
          });
        }
      }
    }

    if (only.has("memory")) {
      results.memory = [];
      await phase(`memory opus x${plan.memoryCalls}`, async () => {
        const pair = await jingledPair("mem-j", { codec: "opus", dtls: "prefer", callerInput: { type: "tone" }, calleeInput: { type: "tone" } });
        try {
          results.memory!.push(await jingledMemory(pair, "opus", plan.memoryCalls));
        } finally {
          await pair.stop();
        }
        const [caller, callee] = await baresipPair("mem-b", { codec: "opus", dtls: true, source: "ausine,440", sourceChannels: 2, player: "aubridge,null-callee", modules: ["ausine.so"] }, { codec: "opus", dtls: true, source: "ausine,440", sourceChannels: 2, player: "aubridge,null-caller", modules: ["ausine.so"] });
        try {
          results.memory!.push(await baresipMemory(caller, callee, "opus", plan.memoryCalls));
        } finally {
          await Promise.allSettled([caller.stop(), callee.stop()]);
        }
        for (const m of results.memory!) log(`  ${m.agent}: idle ${m.idleRssMiB.join("/")} MiB${m.idleSettledRssMiB ? ` (${m.idleSettledRssMiB.join("/")} MiB ${SETTLED_SEC} s later)` : ""}, per call ${m.perCallMiB.join("/")} MiB (caller/callee)`);
      });
    }

    if (plan.profile) {
      results.profile = {};
      for (const codec of (args.codecs?.length ? args.codecs : ["opus", "pcmu"]) as Codec[]) {
        await phase(`profile ${codec}`, async () => {
          const dir = join(work, `prof-${codec}`);
          mkdirSync(dir, { recursive: true });
          const src = { type: "file", path: talk[codec], loop: true };
          const calls = plan.profileCalls ?? 10;
          const pair = await jingledPair(`prof-j-${codec}`, { codec, dtls: "prefer", callerInput: src, calleeInput: src, nodeFlags: ["--cpu-prof", `--cpu-prof-dir=${dir}`] });
          const pids = { caller: pair.caller.process.pid, callee: pair.callee.process.pid };
          try {
            // A long window, so that the calls' steady state outweighs start-up and call setup in the profile.
            await jingledLoad(pair, codec, calls, Math.max(plan.windowSec, 30));
          } finally {
            await pair.stop();
          }
          const keep = join(outDir, `${stamp}-profiles`);
          mkdirSync(keep, { recursive: true });
          const entry: NonNullable<BenchResults["profile"]>[string] = { calls, files: [] };
          // node --cpu-prof writes one profile per thread: CPU.<date>.<time>.<pid>.<thread id>.<n>.cpuprofile (0: the main thread).
          for (const f of readdirSync(dir).filter((x) => x.endsWith(".cpuprofile"))) {
            const m = /\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(f);
            const role = m && Number(m[1]) === pids.caller ? "caller" : m && Number(m[1]) === pids.callee ? "callee" : undefined;
            if (!role || !m) continue;
            const thread = Number(m[2]);
            const dest = join(keep, `${codec}-${role}${thread ? `-media${thread}` : ""}.cpuprofile`);
            copyFileSync(join(dir, f), dest);
            entry.files.push(dest);
            const summary = summarizeCpuProfile(join(dir, f), REPO_ROOT);
            if (thread === 0) entry[role] = summary;
            else (entry[`${role}Media`] ??= []).push(summary);
          }
          results.profile![codec] = entry;
        });
      }
    }
  } finally {
    await prosody?.stop().catch(() => undefined);
    results.loadAverage.atEnd = loadAverage();
    results.loadAverage.during = sampler.stop();
    results.finishedAt = new Date().toISOString();
    results.durationSec = Math.round((Date.now() - t0) / 1000);
    const file = join(outDir, `${stamp}.json`);
    writeFileSync(file, JSON.stringify(results, null, 2) + "\n");
    if (!process.env.KEEP_BENCH_DIR) rmSync(work, { recursive: true, force: true });
    process.stdout.write(`\n${summaryTable(results)}\n\nresults: ${file} (${results.durationSec} s)\n`);
  }
  if (results.errors.length > 0) process.exitCode = 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
