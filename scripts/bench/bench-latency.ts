// Mouth-to-ear latency through two jingled daemons on loopback (a benchmark:
// it prints numbers, it asserts nothing).
//
//   node dist/scripts/bench/bench-latency.js [CODEC] [seconds] [--runs=N] [--ptime=10|20] [--each]
//     CODEC: a codec id (opus, g722, pcmu, pcma); --runs: calls, one after
//     the other (default 5: each call starts the daemons' media clocks afresh,
//     so each has its own phase between the two clocks); --ptime: the
//     callee's XEP-0167 ptime, announced in its answer (default 20: none);
//     --each: every click's delay, call by call.
//
// Alice's microphone is a WAV of clicks (a 5 ms burst every 500 ms, each on a
// frame boundary); bob records what he hears. Both daemons log the wall
// clock of their first media tick (alice: the tick that read the WAV's first
// frame) and of the first frame bob played; from there every frame is one
// media frame, so a click at sample i of the WAV was captured at
//   tA = aliceFirstTick + i / rate
// and its onset found at sample j of bob's recording was played at
//   tB = bobFirstPlayed + j / rate.
// tB - tA is the delay the pipeline adds between reading a frame and
// writing it out; a live microphone adds one packet on top (the packet's
// audio must be complete before it can be encoded), and sound devices add
// their own buffers (not measured here: file source and sink; the
// configured device latencies are printed beside).
//
// The stages it can attribute: packetisation (ptime), encode and decode (CPU
// time per frame, measured here on the same codec), the codec's look-ahead,
// network (half the RTCP round-trip time), jitter buffer (bob's
// arrival-to-playout figure); the rest is timer lateness and rounding.
// Median and 95th percentile are over every click of every call.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { startProsody, type ProsodyServer } from "../lab/prosody.js";
import { startDaemon, type Daemon } from "../lab/daemon.js";
import { codecIds, findCodecById, warmUpCodecs } from "../../src/media/codecs/index.js";
import { floatToInt16, parseWav, wavToMonoFloat, writeWavFile } from "../../src/media/wav.js";
import { speechLike } from "../lab/audio-compare.js";

const args = process.argv.slice(2);
const positional = args.filter((a) => !a.startsWith("--"));
const flag = (name: string): string | undefined => args.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
const codecName = (positional[0] ?? "opus").toLowerCase();
const seconds = Number(positional[1] ?? 10);
const runs = Number(flag("runs") ?? 5);
const ptimeMs = Number(flag("ptime") ?? 20);
const RATE = 48000;
const CLICK_EVERY_MS = 500;

function clicks(rate: number, secs: number): { pcm: Int16Array; at: number[] } {
  const pcm = new Int16Array(Math.round(rate * secs));
  const at: number[] = [];
  const burst = Math.round(rate * 0.005);
  for (let t = 0.5; t < secs - 0.5; t += CLICK_EVERY_MS / 1000) {
    const i = Math.round(t * rate);
    at.push(i);
    for (let k = 0; k < burst; k++) pcm[i + k] = Math.round(20000 * Math.sin((2 * Math.PI * 1000 * k) / rate) * Math.sin((Math.PI * k) / burst));
  }
  return { pcm, at };
}

/** Onsets: the first sample above a threshold after at least 200 ms below it. */
function onsets(pcm: Int16Array, rate: number): number[] {
  let peak = 0;
  for (const v of pcm) peak = Math.max(peak, Math.abs(v));
  const threshold = peak * 0.2;
  const quiet = Math.round(rate * 0.2);
  const out: number[] = [];
  let last = -Infinity;
  for (let i = 0; i < pcm.length; i++) {
    if (Math.abs(pcm[i]!) >= threshold) {
      if (i - last > quiet) out.push(i);
      last = i;
    }
  }
  return out;
}

function logWall(d: Daemon, msg: string): number {
  const text = readFileSync(join(d.configFile, "..", "jingled.log"), "utf8");
  const lines = text.split("\n").filter((l) => l.includes(`"msg":"${msg}"`));
  const last = lines.at(-1);
  if (!last) throw new Error(`no "${msg}" in ${d.configFile} log`);
  return (JSON.parse(last) as { wallMs: number }).wallMs;
}

function codecCost(name: string, ptime: number): { encodeMs: number; decodeMs: number; lookAheadMs: number } {
  const c = findCodecById(name);
  if (!c) throw new Error(`unknown codec "${name}" (known: ${codecIds().join(", ")})`);
  warmUpCodecs();
  const enc = c.createEncoder({ ptimeMs: ptime });
  const dec = c.createDecoder();
  const pcm = speechLike(c.pcmRate, 4);
  const n = enc.frameSamples;
  let e = 0;
  let d = 0;
  let frames = 0;
  for (let i = 0; i + n <= pcm.length; i += n) {
    const t0 = performance.now();
    const p = enc.encode(pcm.subarray(i, i + n));
    const t1 = performance.now();
    dec.decode(p);
    d += performance.now() - t1;
    e += t1 - t0;
    frames++;
  }
  enc.close();
  dec.close();
  return { encodeMs: e / frames, decodeMs: d / frames, lookAheadMs: c.algorithmicDelayMs };
}

const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))] ?? NaN;
const median = (xs: number[]) => quantile(xs, 0.5);
const mean = (xs: number[]) => (xs.length > 0 ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const f1 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "   -" : x.toFixed(1).padStart(5));

interface Run {
  delays: number[];
  clicks: number;
  ptimeMs: number;
  remotePtimeMs: number | undefined;
  frameMs: number | undefined;
  networkMs: number | undefined;
  jitterBufferMs: number | undefined;
  jitterMs: number | undefined;
  expands: number;
  merges: number;
  concealed: number;
}

async function oneCall(alice: Daemon, bob: Daemon, src: { at: number[] }): Promise<Run> {
  const { callId } = (await alice.control.request("call", { jid: bob.jid })) as { callId: string };
  await alice.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "active", 15000, "active");
  await new Promise((r) => setTimeout(r, seconds * 1000 + 500));
  const statsA = (await alice.control.request("stats", { callId })) as unknown as { rttMs?: number; ptimeMs: number };
  const bobCalls = (await bob.control.request("calls")) as { id: string; stats?: Record<string, number> }[];
  const statsB = (bobCalls[0]?.stats ?? {}) as { jitterBufferDelayMs?: number; rttMs?: number; jitterMs?: number; expands?: number; merges?: number; framesConcealed?: number; remotePtimeMs?: number; frameMs?: number };
  await alice.control.request("hangup", { callId });
  const ended = await bob.waitForEvent((e) => e.event === "call" && e.type === "ended", 10000, "bob ended");
  const recording = (ended.stats as { recording: string }).recording;

  const w = parseWav(readFileSync(recording));
  const rec = floatToInt16(wavToMonoFloat(w));
  const recRate = w.format.sampleRate;
  const tA = logWall(alice, "first media tick");
  const tB = logWall(bob, "first frame played");
  const found = onsets(rec, recRate);
  // Pair each onset with the latest click that could have caused it.
  const delays: number[] = [];
  for (const j of found) {
    const played = tB + (j / recRate) * 1000;
    const cands = src.at.map((i) => played - (tA + (i / RATE) * 1000)).filter((d) => d >= 0 && d < CLICK_EVERY_MS);
    if (cands.length > 0) delays.push(Math.min(...cands));
  }
  return {
    delays,
    clicks: src.at.length,
    ptimeMs: statsA.ptimeMs ?? 20,
    remotePtimeMs: statsB.remotePtimeMs,
    frameMs: statsB.frameMs,
    networkMs: statsA.rttMs !== undefined ? statsA.rttMs / 2 : statsB.rttMs !== undefined ? statsB.rttMs / 2 : undefined,
    jitterBufferMs: statsB.jitterBufferDelayMs,
    jitterMs: statsB.jitterMs,
    expands: statsB.expands ?? 0,
    merges: statsB.merges ?? 0,
    concealed: statsB.framesConcealed ?? 0,
  };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), "jingled-bench-latency-"));
  let prosody: ProsodyServer | undefined;
  const daemons: Daemon[] = [];
  try {
    prosody = await startProsody({ users: [{ username: "alice", password: "a-pw" }, { username: "bob", password: "b-pw" }] });
    const src = clicks(RATE, seconds);
    const wav = join(work, "clicks.wav");
    writeWavFile(wav, src.pcm, RATE);
    const alice = await startDaemon({ prosody, username: "alice", password: "a-pw", dir: join(work, "alice"), input: { type: "file", path: wav }, output: { type: "null" }, codecs: [codecName] });
    daemons.push(alice);
    const bobMedia = { codecs: [codecName], input: { type: "silence" }, output: { type: "file", path: join(work, "bob", "recordings", "{callId}.wav") }, ptimeMs };
    const bob = await startDaemon({ prosody, username: "bob", password: "b-pw", dir: join(work, "bob"), autoAnswer: true, config: { media: bobMedia } });
    daemons.push(bob);

    const made: Run[] = [];
    for (let i = 0; i < runs; i++) made.push(await oneCall(alice, bob, src));
    // A call whose clicks come out far later than its playout delay explains has lost
    // its time line: bob's recording is short of frames (the media clock skipped ticks
    // after a long stall, or playout restarted), so every onset pairs with the click
    // before the one that caused it. Such a call measured nothing; it is left out.
    const lost = made.filter((r) => median(r.delays) - (r.jitterBufferMs ?? 0) > 150);
    const results = made.filter((r) => !lost.includes(r));
    if (results.length === 0) throw new Error(`every call lost its time line (medians ${made.map((r) => median(r.delays).toFixed(0)).join(", ")} ms)`);

    const all = results.flatMap((r) => r.delays);
    const cost = codecCost(codecName, results[0]!.ptimeMs);
    const measured = median(all);
    const p95 = quantile(all, 0.95);
    const frame = results[0]!.ptimeMs;
    const network = mean(results.flatMap((r) => (r.networkMs !== undefined ? [r.networkMs] : [])));
    const jb = mean(results.flatMap((r) => (r.jitterBufferMs !== undefined ? [r.jitterBufferMs] : [])));
    const rest = measured - cost.encodeMs - cost.decodeMs - cost.lookAheadMs - (Number.isNaN(network) ? 0 : network) - (Number.isNaN(jb) ? 0 : jb);
    const out = (s: string) => process.stdout.write(`${s}\n`);
    const sum = (f: (r: Run) => number) => results.reduce((a, r) => a + f(r), 0);
    out(`jingled mouth-to-ear latency, ${codecName}, ptime ${frame} ms (bob receives ${results[0]!.remotePtimeMs ?? "?"} ms packets, media frame ${results[0]!.frameMs ?? "?"} ms), ${results.length} calls of ${seconds} s of clicks through two daemons on loopback`);
    out(`  clicks found            ${all.length} of ${sum((r) => r.clicks)}`);
    if (lost.length > 0) out(`  left out                ${lost.length} call(s) whose recording lost its time line (medians ${lost.map((r) => median(r.delays).toFixed(0)).join(", ")} ms, playout delay ${lost.map((r) => (r.jitterBufferMs ?? 0).toFixed(0)).join(", ")} ms)`);
    out(`  per call (median)       ${results.map((r) => f1(median(r.delays)).trim()).join(", ")} ms`);
    if (args.includes("--each")) for (const [i, r] of results.entries()) out(`  call ${i + 1}, click by click  ${r.delays.map((d) => d.toFixed(0)).join(" ")}`);
    out(`  pipeline delay          ${f1(measured)} ms median, ${f1(p95)} ms p95 (min ${f1(Math.min(...all))}, max ${f1(Math.max(...all))}): frame read by alice -> written by bob`);
    out(`  + packet (live capture) ${f1(frame)} ms  ptime: a microphone packet is complete only after it`);
    out(`  = mouth-to-ear          ${f1(measured + frame)} ms median, ${f1(p95 + frame)} ms p95  (without sound-device buffers)`);
    out(`  by stage (means over the calls):`);
    out(`    capture buffering       0.0 ms file source (a PulseAudio source asks parec for 20 ms)`);
    out(`    packetisation         ${f1(frame)} ms (ptime)`);
    out(`    encode                ${f1(cost.encodeMs)} ms per packet (CPU, measured here)`);
    out(`    codec look-ahead      ${f1(cost.lookAheadMs)} ms`);
    out(`    network               ${f1(network)} ms (RTCP round trip / 2)`);
    out(`    jitter buffer         ${f1(jb)} ms (bob: arrival to playout; ${sum((r) => r.expands)} expands, ${sum((r) => r.merges)} merges, ${sum((r) => r.concealed)} frames concealed in all)`);
    out(`    decode                ${f1(cost.decodeMs)} ms per packet (CPU)`);
    out(`    sink buffering          0.0 ms file sink (a PulseAudio sink asks pacat for 40 ms)`);
    out(`    timers, rounding      ${f1(rest)} ms (the rest: timer lateness, the onset detector)`);
    out(`  interarrival jitter     ${f1(mean(results.flatMap((r) => (r.jitterMs !== undefined ? [r.jitterMs] : []))))} ms (RFC 3550)`);
    out(`  load average            ${loadavg().map((x) => x.toFixed(2)).join(" ")}`);
  } finally {
    for (const d of daemons) await d.stop().catch(() => undefined);
    await prosody?.stop();
    if (!process.env.KEEP_TEST_DIR) rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench-latency: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
