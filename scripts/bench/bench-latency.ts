// Mouth-to-ear latency through two jingled daemons on loopback (a benchmark:
// it prints numbers, it asserts nothing).
//
//   node dist/scripts/bench/bench-latency.js [CODEC] [seconds]      CODEC: a codec id (opus, g722, pcmu, pcma)
//
// Alice's microphone is a WAV of clicks (a 5 ms burst every 500 ms, each on a
// frame boundary); bob records what he hears. Both daemons log the wall
// clock of their first media tick (alice: the tick that read the WAV's first
// frame) and of the first frame bob played; from there every frame is one
// 20 ms tick, so a click at sample i of the WAV was captured at
//   tA = aliceFirstTick + i / rate
// and its onset found at sample j of bob's recording was played at
//   tB = bobFirstPlayed + j / rate.
// tB - tA is the delay the pipeline adds between reading a frame and
// writing it out; a live microphone adds one frame on top (the frame must
// be complete before it can be encoded), and sound devices add their own
// buffers (not measured here: file source and sink).
//
// The parts it can attribute: frame (ptime), encode and decode (CPU time per
// frame, measured here on the same codec), network (half the RTCP round-trip
// time), jitter buffer (bob's arrival-to-playout figure); the rest is the
// phase between the two daemons' media clocks and timer lateness.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProsody, type ProsodyServer } from "../lab/prosody.js";
import { startDaemon, type Daemon } from "../lab/daemon.js";
import { codecIds, findCodecById, warmUpCodecs } from "../../src/media/codecs/index.js";
import { floatToInt16, parseWav, wavToMonoFloat, writeWavFile } from "../../src/media/wav.js";
import { speechLike } from "../lab/audio-compare.js";

const codecName = (process.argv[2] ?? "opus").toLowerCase();
const seconds = Number(process.argv[3] ?? 10);
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

function codecCost(name: string): { encodeMs: number; decodeMs: number } {
  const c = findCodecById(name);
  if (!c) throw new Error(`unknown codec "${name}" (known: ${codecIds().join(", ")})`);
  warmUpCodecs();
  const enc = c.createEncoder({ ptimeMs: 20 });
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
  return { encodeMs: e / frames, decodeMs: d / frames };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const f1 = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? "   -" : x.toFixed(1).padStart(5));

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
    const bob = await startDaemon({ prosody, username: "bob", password: "b-pw", dir: join(work, "bob"), codecs: [codecName], autoAnswer: true });
    daemons.push(bob);

    const { callId } = (await alice.control.request("call", { jid: bob.jid })) as { callId: string };
    await alice.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "active", 15000, "active");
    await new Promise((r) => setTimeout(r, seconds * 1000 + 500));
    const statsA = (await alice.control.request("stats", { callId })) as unknown as { rttMs?: number; ptimeMs: number };
    const bobCalls = (await bob.control.request("calls")) as { id: string; stats?: Record<string, number> }[];
    const statsB = (bobCalls[0]?.stats ?? {}) as { jitterBufferDelayMs?: number; rttMs?: number; jitterMs?: number; expands?: number; merges?: number; framesConcealed?: number };
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
    const cost = codecCost(codecName);
    const measured = median(delays);
    const frame = statsA.ptimeMs ?? 20;
    const network = statsA.rttMs !== undefined ? statsA.rttMs / 2 : statsB.rttMs !== undefined ? statsB.rttMs / 2 : undefined;
    const jb = statsB.jitterBufferDelayMs;
    const rest = measured - cost.encodeMs - cost.decodeMs - (network ?? 0) - (jb ?? 0);
    const out = (s: string) => process.stdout.write(`${s}\n`);
    out(`jingled mouth-to-ear latency, ${codecName}, ${seconds} s of clicks through two daemons on loopback`);
    out(`  clicks found            ${delays.length} of ${src.at.length}`);
    out(`  pipeline delay          ${f1(measured)} ms median (min ${f1(Math.min(...delays))}, max ${f1(Math.max(...delays))}): frame read by alice -> written by bob`);
    out(`  + frame (live capture)  ${f1(frame)} ms  ptime: a microphone frame is complete only after it`);
    out(`  = mouth-to-ear          ${f1(measured + frame)} ms  (without sound-device buffers)`);
    out(`  attributed:`);
    out(`    encode                ${f1(cost.encodeMs)} ms per frame (CPU, measured here)`);
    out(`    network               ${f1(network)} ms (RTCP round trip / 2)`);
    out(`    jitter buffer         ${f1(jb)} ms (bob: arrival to playout; ${statsB.expands ?? 0} expands, ${statsB.merges ?? 0} merges, ${statsB.framesConcealed ?? 0} frames concealed)`);
    out(`    decode                ${f1(cost.decodeMs)} ms per frame (CPU)`);
    out(`    clock phase, timers   ${f1(rest)} ms (the rest: the two media clocks' phase, timer lateness, codec look-ahead)`);
    out(`  interarrival jitter     ${f1(statsB.jitterMs)} ms (RFC 3550)`);
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
