// The codec's own cost, measured in the benchmark's run (scripts/bench/bench.ts):
// what libopus alone spends per call — one 20 ms frame encoded and one
// decoded every 20 ms, at the benchmark's settings (48 kHz mono, 32 kbit/s,
// complexity 9, in-band FEC with 10 % expected loss, no DTX: the daemon's
// defaults), on the native backend (the system libopus through
// native/opus). A call's CPU in the load phase is reported as a multiple
// of this floor: what is above 1 is our own overhead (and the kernel's work
// for the packets).
import { OpusBackend, createOpusDecoder, createOpusEncoder } from "../../src/media/codecs/index.js";
import { readMono16 } from "../lab/audio-compare.js";

const FRAME = 960;

export interface OpusFloor {
  backend: "native";
  /** frames encoded and decoded per round */
  frames: number;
  rounds: number;
  /** process CPU (user + system) per frame, encode + decode, µs: median of the rounds */
  cpuUsPerFrame: number;
  /** the same split by wall time inside each call, µs */
  encodeUs: number;
  decodeUs: number;
  /** one call's floor: CPU seconds per call-second, as % of one core */
  perCallPercent: number;
}

function cpuUs(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

/** Encodes and decodes `seconds` of `wav` (48 kHz, looped) `rounds` times; the median round counts. */
export function measureOpusFloor(wav: string, o: { seconds?: number; rounds?: number } = {}): OpusFloor {
  const { pcm: talk, rate } = readMono16(wav);
  if (rate !== 48000) throw new Error(`opus floor: ${wav} is ${rate} Hz, not 48000`);
  const seconds = o.seconds ?? 20;
  const rounds = o.rounds ?? 5;
  const pcm = new Int16Array(seconds * 48000);
  for (let off = 0; off < pcm.length; off += talk.length) pcm.set(talk.subarray(0, Math.min(talk.length, pcm.length - off)), off);
  const frames = Math.floor(pcm.length / FRAME);
  const round = (n: number) => {
    const enc = createOpusEncoder({ bitrate: 32000, complexity: 9, fec: true, ptimeMs: 20 }, OpusBackend.Native);
    const dec = createOpusDecoder(OpusBackend.Native);
    try {
      let encNs = 0n;
      let decNs = 0n;
      const c0 = cpuUs();
      for (let f = 0; f < n; f++) {
        const t0 = process.hrtime.bigint();
        const packet = enc.encode(pcm.subarray(f * FRAME, (f + 1) * FRAME));
        const t1 = process.hrtime.bigint();
        dec.decode(packet);
        decNs += process.hrtime.bigint() - t1;
        encNs += t1 - t0;
      }
      return { cpu: (cpuUs() - c0) / n, enc: Number(encNs) / 1000 / n, dec: Number(decNs) / 1000 / n };
    } finally {
      enc.close();
      dec.close();
    }
  };
  round(Math.min(frames, 250)); // warm-up
  const rs = Array.from({ length: rounds }, () => round(frames)).sort((a, b) => a.cpu - b.cpu);
  const mid = rs[Math.floor(rs.length / 2)]!;
  const r = (x: number, d = 1) => Math.round(x * 10 ** d) / 10 ** d;
  return { backend: "native", frames, rounds, cpuUsPerFrame: r(mid.cpu), encodeUs: r(mid.enc), decodeUs: r(mid.dec), perCallPercent: r((mid.cpu / 20_000) * 100, 3) };
}
