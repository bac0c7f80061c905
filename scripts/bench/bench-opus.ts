// CPU per 20 ms Opus frame, encode + decode, on each backend (a benchmark: it
// prints numbers, it asserts nothing).
//
//   node dist/scripts/bench/bench-opus.js [seconds of audio, default 60] [rounds, default 5]
//
// Input: espeak-ng speech at 48 kHz when espeak-ng and sox are there, else a
// speech-like synthetic signal. Settings: the daemon's defaults (32 kbit/s,
// complexity 9, FEC on with 10 % expected loss, VOIP). Each round encodes and
// decodes every frame once on one encoder/decoder pair; the CPU time of the
// process (user + system, process.cpuUsage) is divided by the frames. The
// median round is reported, and the ratio wasm / native.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OpusBackend, createOpusDecoder, createOpusEncoder, nativeOpusProblem } from "../../src/media/codecs/index.js";
import { makeSpeechWav } from "../lab/speech.js";
import { readMono16, speechLike } from "../lab/audio-compare.js";

const FRAME = 960;
const seconds = Number(process.argv[2] ?? 60);
const rounds = Number(process.argv[3] ?? 5);

async function input(): Promise<{ pcm: Int16Array; what: string }> {
  const dir = mkdtempSync(join(tmpdir(), "bench-opus-"));
  try {
    const wav = join(dir, "speech.wav");
    await makeSpeechWav(
      "The quick brown fox jumps over the lazy dog. A headless voice call daemon encodes twenty millisecond frames of speech.",
      wav,
      { sampleRate: 48000 },
    );
    const { pcm } = readMono16(wav);
    const out = new Int16Array(seconds * 48000);
    for (let o = 0; o < out.length; o += pcm.length) out.set(pcm.subarray(0, Math.min(pcm.length, out.length - o)), o);
    return { pcm: out, what: `espeak-ng speech (${(pcm.length / 48000).toFixed(1)} s, looped)` };
  } catch {
    return { pcm: speechLike(48000, seconds), what: "speech-like synthetic signal (espeak-ng or sox missing)" };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface Round {
  encodeUs: number;
  decodeUs: number;
  totalCpuUs: number;
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function runRound(backend: OpusBackend, pcm: Int16Array): Round {
  const enc = createOpusEncoder({ bitrate: 32000, complexity: 9, fec: true }, backend);
  const dec = createOpusDecoder(backend);
  try {
    const frames = Math.floor(pcm.length / FRAME);
    let encNs = 0n;
    let decNs = 0n;
    const c0 = cpuUs();
    for (let f = 0; f < frames; f++) {
      const t0 = process.hrtime.bigint();
      const p = enc.encode(pcm.subarray(f * FRAME, (f + 1) * FRAME));
      const t1 = process.hrtime.bigint();
      dec.decode(p);
      decNs += process.hrtime.bigint() - t1;
      encNs += t1 - t0;
    }
    const cpu = cpuUs() - c0;
    return { encodeUs: Number(encNs) / 1000 / frames, decodeUs: Number(decNs) / 1000 / frames, totalCpuUs: cpu / frames };
  } finally {
    enc.close();
    dec.close();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const { pcm, what } = await input();
  const problem = nativeOpusProblem();
  const backends = problem ? [OpusBackend.Wasm] : [OpusBackend.Wasm, OpusBackend.Native];
  console.log(`bench-opus: ${seconds} s of ${what}, ${rounds} rounds per backend, 20 ms frames, 32 kbit/s, complexity 9, FEC on`);
  if (problem) console.log(`bench-opus: native backend not measured: ${problem}`);
  const results = new Map<OpusBackend, Round>();
  for (const b of backends) {
    runRound(b, pcm.subarray(0, 48000)); // warm-up (WASM compilation, caches)
    const rs = Array.from({ length: rounds }, () => runRound(b, pcm));
    const r = { encodeUs: median(rs.map((x) => x.encodeUs)), decodeUs: median(rs.map((x) => x.decodeUs)), totalCpuUs: median(rs.map((x) => x.totalCpuUs)) };
    results.set(b, r);
    console.log(
      `${b.padEnd(6)} encode ${r.encodeUs.toFixed(1)} µs + decode ${r.decodeUs.toFixed(1)} µs per frame (wall); ` +
        `process CPU ${r.totalCpuUs.toFixed(1)} µs per frame = ${((r.totalCpuUs / 20000) * 100).toFixed(2)} % of one core per call (one encode and one decode every 20 ms)`,
    );
  }
  const w = results.get(OpusBackend.Wasm);
  const n = results.get(OpusBackend.Native);
  if (w && n) {
    console.log(
      `ratio wasm/native: encode ${(w.encodeUs / n.encodeUs).toFixed(2)}x, decode ${(w.decodeUs / n.decodeUs).toFixed(2)}x, ` +
        `CPU encode+decode ${(w.totalCpuUs / n.totalCpuUs).toFixed(2)}x`,
    );
  }
}

await main();
