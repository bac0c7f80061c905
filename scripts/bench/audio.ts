// Audio for the benchmarks (scripts/bench/bench.ts): the talk both agents send
// during the load runs, a click train for mouth-to-ear latency, and the onset
// finder that reads the latency off a two-channel recording.
import { writeWavFile } from "../../src/media/wav.js";
import { speechLike } from "../lab/audio-compare.js";

/** Speech-like audio (deterministic) at `rate`, mono, written to `path`. */
export function writeTalk(path: string, rate: number, seconds: number): void {
  writeWavFile(path, speechLike(rate, seconds, 11), rate, 1);
}

export function writeSilence(path: string, rate: number, seconds: number): void {
  writeWavFile(path, new Int16Array(Math.round(rate * seconds)), rate, 1);
}

export interface ClickTrain {
  /** Start of each burst in the file, seconds. */
  onsets: number[];
  seconds: number;
}

/**
 * Bursts of a 1 kHz tone (`burstMs` long, 1 ms raised-cosine attack, -6 dBFS),
 * one every `periodMs` after `leadMs` of silence. A tone burst survives Opus
 * (a single-sample click does not come out as one), and its attack is sharp.
 */
export function writeClickTrain(path: string, rate: number, o: { count: number; periodMs: number; leadMs?: number; burstMs?: number }): ClickTrain {
  const lead = (o.leadMs ?? 500) / 1000;
  const burst = Math.round(((o.burstMs ?? 30) * rate) / 1000);
  const seconds = lead + (o.count * o.periodMs) / 1000 + 0.5;
  const pcm = new Int16Array(Math.round(seconds * rate));
  const attack = Math.round(rate / 1000);
  const onsets: number[] = [];
  for (let k = 0; k < o.count; k++) {
    const t = lead + (k * o.periodMs) / 1000;
    onsets.push(t);
    const start = Math.round(t * rate);
    for (let i = 0; i < burst; i++) {
      const env = i < attack ? 0.5 - 0.5 * Math.cos((Math.PI * i) / attack) : i > burst - attack ? 0.5 - 0.5 * Math.cos((Math.PI * (burst - i)) / attack) : 1;
      pcm[start + i] = Math.round(16000 * env * Math.sin((2 * Math.PI * 1000 * i) / rate));
    }
  }
  writeWavFile(path, pcm, rate, 1);
  return { onsets, seconds };
}

/**
 * Onsets in one channel of interleaved s16le: the first sample whose
 * magnitude exceeds `fraction` of the channel's peak after at least
 * `quietMs` below it. Times in ms from the start of the recording.
 */
export function findOnsets(raw: Buffer, channels: number, channel: number, rate: number, o: { fraction?: number; quietMs?: number } = {}): number[] {
  const n = Math.floor(raw.length / 2 / channels);
  let peak = 0;
  for (let i = 0; i < n; i++) peak = Math.max(peak, Math.abs(raw.readInt16LE((i * channels + channel) * 2)));
  if (peak < 300) return []; // nothing but noise
  const threshold = peak * (o.fraction ?? 0.25);
  const quiet = Math.round(((o.quietMs ?? 200) * rate) / 1000);
  const out: number[] = [];
  let lastLoud = -quiet - 1;
  for (let i = 0; i < n; i++) {
    if (Math.abs(raw.readInt16LE((i * channels + channel) * 2)) < threshold) continue;
    if (i - lastLoud > quiet) out.push((i * 1000) / rate);
    lastLoud = i;
  }
  return out;
}

/**
 * Pairs each mouth onset with the first ear onset after it (within maxMs)
 * and returns the delays, ms. Unpaired onsets (a burst lost, noise) drop out.
 */
export function pairOnsets(mouth: number[], ear: number[], maxMs: number): number[] {
  const out: number[] = [];
  let j = 0;
  for (const m of mouth) {
    while (j < ear.length && ear[j]! < m) j++;
    if (j < ear.length && ear[j]! - m <= maxMs) {
      out.push(ear[j]! - m);
      j++;
    }
  }
  return out;
}
