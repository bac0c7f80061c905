// Compare a recording with the reference that was sent, for integration
// tests ("did the audio arrive intact?"). Both are resampled to one rate
// (8 kHz by default, so Opus and PCMU calls are judged on the same band),
// the lag that maximises their cross-correlation is found with an FFT, and
// the normalised correlation is computed over the part of the reference
// that has sound in it (leading and trailing silence excluded), overlapped
// with the recording at that lag.
//
// Also exports deterministic test signals (a speech-like signal and white
// noise) so unit and integration tests need no audio files.
import { readFileSync } from "node:fs";
import { Resampler } from "../../src/media/resampler.js";
import { floatToInt16, parseWav, wavToMonoFloat } from "../../src/media/wav.js";

/** A WAV file as mono 16-bit samples at its own rate (recordings and references alike). */
export function readMono16(path: string): { pcm: Int16Array; rate: number } {
  const w = parseWav(readFileSync(path));
  return { pcm: floatToInt16(wavToMonoFloat(w)), rate: w.format.sampleRate };
}

export interface CompareOptions {
  /** largest delay of the recording against the reference, either way (ms); 5000 by default */
  maxLagMs?: number;
  /** rate both signals are compared at; 8000 by default */
  compareRate?: number;
}

export interface CompareResult {
  /** how much later the reference appears in the recording, ms (fractional) */
  lagMs: number;
  /** normalised cross-correlation at that lag, -1..1 (1 = same waveform, any gain) */
  correlation: number;
  /** RMS of the reference's voiced part, int16 units */
  refRms: number;
  /** RMS of the matching stretch of the recording, int16 units */
  recRms: number;
}

/** Frames quieter than this, relative to the loudest, are "silence" at the ends. */
const SILENCE_DB = -40;
const FRAME_MS = 20;

export function compareAudio(
  reference: Int16Array,
  refRate: number,
  recorded: Int16Array,
  recRate: number,
  opts: CompareOptions = {},
): CompareResult {
  const rate = opts.compareRate ?? 8000;
  const maxLag = Math.round(((opts.maxLagMs ?? 5000) * rate) / 1000);
  const ref = toFloatNoDc(Resampler.resampleAll(reference, refRate, rate));
  const rec = toFloatNoDc(Resampler.resampleAll(recorded, recRate, rate));
  const none: CompareResult = { lagMs: 0, correlation: 0, refRms: 0, recRms: 0 };
  if (ref.length === 0 || rec.length === 0) return none;

  const [vStart, vEnd] = voicedSpan(ref, Math.round((rate * FRAME_MS) / 1000));
  if (vEnd <= vStart) return none;
  const voiced = ref.subarray(vStart, vEnd);

  // Where does the voiced part of the reference best match the recording?
  // lag = position in rec of voiced[0], i.e. rec[t + lag] ~ voiced[t].
  const xc = crossCorrelate(voiced, rec);
  let bestLag = 0;
  let best = -Infinity;
  const lo = Math.max(-maxLag + vStart, -(voiced.length - 1));
  const hi = Math.min(maxLag + vStart, rec.length - 1);
  for (let lag = lo; lag <= hi; lag++) {
    const v = xc.at(lag);
    if (v > best) {
      best = v;
      bestLag = lag;
    }
  }
  if (best === -Infinity) return none;

  // Normalised correlation at the best lag and its neighbours; a parabola
  // through the three refines both for a delay that falls between samples.
  const c0 = normalised(voiced, rec, bestLag);
  const cm = normalised(voiced, rec, bestLag - 1);
  const cp = normalised(voiced, rec, bestLag + 1);
  let frac = 0;
  let peak = c0.corr;
  const denom = cm.corr - 2 * c0.corr + cp.corr;
  if (denom < 0) {
    frac = Math.max(-0.5, Math.min(0.5, (0.5 * (cm.corr - cp.corr)) / denom));
    peak = Math.min(1, c0.corr - 0.25 * (cm.corr - cp.corr) * frac);
  }
  return {
    lagMs: ((bestLag - vStart + frac) * 1000) / rate,
    correlation: Math.max(c0.corr, peak),
    refRms: c0.refRms,
    recRms: c0.recRms,
  };
}

export interface SegmentCompareResult {
  /** Energy-weighted mean of the per-segment correlations: the score to assert on. */
  correlation: number;
  /** The worst voiced segment's correlation. */
  worst: number;
  /** Voiced segments compared. */
  segments: number;
  /** Voiced segments of the reference past the end of the recording (the call ended first): not compared. */
  uncovered: number;
  /** Overall lag (ms) and how far the per-segment lags wandered from it (ms): jitter-buffer time warping. */
  lagMs: number;
  lagSpreadMs: number;
}

/**
 * Like compareAudio, but each 250 ms voiced segment of the reference is
 * aligned on its own (within ±60 ms of the previous segment's lag), the way
 * speech quality measures align utterances. A jitter buffer that drops or
 * inserts a frame to adapt its delay shifts the rest of the recording by
 * 20 ms: one global alignment would call that a broken call, segment
 * alignment does not — while lost, garbled or concealed audio still lowers
 * the score.
 */
export function compareAudioSegments(
  reference: Int16Array,
  refRate: number,
  recorded: Int16Array,
  recRate: number,
  opts: CompareOptions & { segmentMs?: number; searchMs?: number; firstSearchMs?: number } = {},
): SegmentCompareResult {
  const rate = opts.compareRate ?? 8000;
  const global = compareAudio(reference, refRate, recorded, recRate, opts);
  const ref = toFloatNoDc(Resampler.resampleAll(reference, refRate, rate));
  const rec = toFloatNoDc(Resampler.resampleAll(recorded, recRate, rate));
  const seg = Math.round(((opts.segmentMs ?? 250) * rate) / 1000);
  const search = Math.round(((opts.searchMs ?? 60) * rate) / 1000);
  const none = { correlation: 0, worst: 0, segments: 0, uncovered: 0, lagMs: global.lagMs, lagSpreadMs: 0 };
  if (ref.length < seg || rec.length === 0) return none;

  const energies: number[] = [];
  for (let s = 0; s + seg <= ref.length; s += seg) {
    let e = 0;
    for (let i = s; i < s + seg; i++) e += ref[i]! * ref[i]!;
    energies.push(e);
  }
  const maxE = Math.max(...energies);
  if (maxE === 0) return none;
  let lag = Math.round((global.lagMs * rate) / 1000);
  const lag0 = lag;
  // The global lag is where most of the audio sits. A receiver that merges away a start-up backlog plays the
  // first words up to ~200 ms later than the rest, so the first voiced segment's score is its best match that
  // far either side; the lag followed is still the best within `searchMs` (a match far off must not lead the
  // later segments astray), and each later segment looks within `searchMs` of the one before.
  const firstSearch = Math.max(search, Math.round(((opts.firstSearchMs ?? 250) * rate) / 1000));
  let compared = 0;
  let sumW = 0;
  let sumWC = 0;
  let worst = 1;
  let segments = 0;
  let uncovered = 0;
  let spread = 0;
  energies.forEach((e, k) => {
    if (e < maxE * 10 ** (-30 / 10)) return; // silent segment: nothing to compare
    const s = k * seg;
    if (s + lag + seg > rec.length) {
      uncovered++;
      return; // the recording ended before this part of the reference could arrive
    }
    const block = ref.subarray(s, s + seg);
    let best = -1;
    let bestLag = lag;
    let bestFar = -1;
    const within = compared++ === 0 ? firstSearch : search;
    for (let l = lag - within; l <= lag + within; l++) {
      if (s + l < 0 || s + l + seg > rec.length) continue;
      let ab = 0;
      let bb = 0;
      let aa = 0;
      for (let i = 0; i < seg; i++) {
        const x = block[i]!;
        const y = rec[s + l + i]!;
        ab += x * y;
        aa += x * x;
        bb += y * y;
      }
      const c = aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
      if (c > best && Math.abs(l - lag) <= search) {
        best = c;
        bestLag = l;
      }
      if (c > bestFar) bestFar = c;
    }
    lag = bestLag;
    spread = Math.max(spread, Math.abs(bestLag - lag0));
    const score = Math.max(0, best, bestFar);
    sumW += e;
    sumWC += e * score;
    worst = Math.min(worst, score);
    segments++;
  });
  return {
    correlation: sumW > 0 ? sumWC / sumW : 0,
    worst: segments ? worst : 0,
    segments,
    uncovered,
    lagMs: global.lagMs,
    lagSpreadMs: (spread * 1000) / rate,
  };
}

function toFloatNoDc(x: Int16Array): Float64Array {
  const out = new Float64Array(x.length);
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i]!;
  mean /= x.length || 1;
  for (let i = 0; i < x.length; i++) out[i] = x[i]! - mean;
  return out;
}

/** [first, last) sample of the frames within SILENCE_DB of the loudest frame. */
function voicedSpan(x: Float64Array, frame: number): [number, number] {
  const frames = Math.ceil(x.length / frame);
  const energy = new Float64Array(frames);
  let max = 0;
  for (let f = 0; f < frames; f++) {
    let e = 0;
    const end = Math.min(x.length, (f + 1) * frame);
    for (let i = f * frame; i < end; i++) e += x[i]! * x[i]!;
    energy[f] = e / (end - f * frame);
    if (energy[f]! > max) max = energy[f]!;
  }
  if (max === 0) return [0, 0];
  const threshold = max * 10 ** (SILENCE_DB / 10);
  let first = 0;
  while (first < frames && energy[first]! < threshold) first++;
  let last = frames - 1;
  while (last > first && energy[last]! < threshold) last--;
  return [first * frame, Math.min(x.length, (last + 1) * frame)];
}

function normalised(
  a: Float64Array,
  b: Float64Array,
  lag: number,
): { corr: number; refRms: number; recRms: number } {
  const start = Math.max(0, -lag);
  const end = Math.min(a.length, b.length - lag);
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let t = start; t < end; t++) {
    const x = a[t]!;
    const y = b[t + lag]!;
    ab += x * y;
    aa += x * x;
    bb += y * y;
  }
  const n = end - start;
  if (n <= 0 || aa === 0 || bb === 0) return { corr: 0, refRms: 0, recRms: 0 };
  return { corr: ab / Math.sqrt(aa * bb), refRms: Math.sqrt(aa / n), recRms: Math.sqrt(bb / n) };
}

/** c(lag) = sum_t a[t] * b[t + lag], for -(a.length-1) <= lag <= b.length-1, via FFT. */
function crossCorrelate(a: Float64Array, b: Float64Array): { at(lag: number): number } {
  let n = 1;
  while (n < a.length + b.length) n <<= 1;
  const ar = new Float64Array(n);
  const ai = new Float64Array(n);
  const br = new Float64Array(n);
  const bi = new Float64Array(n);
  ar.set(a);
  br.set(b);
  fft(ar, ai, false);
  fft(br, bi, false);
  // conj(A) * B
  for (let k = 0; k < n; k++) {
    const re = ar[k]! * br[k]! + ai[k]! * bi[k]!;
    const im = ar[k]! * bi[k]! - ai[k]! * br[k]!;
    ar[k] = re;
    ai[k] = im;
  }
  fft(ar, ai, true);
  return { at: (lag) => ar[lag >= 0 ? lag : n + lag]! / n };
}

/** In-place iterative radix-2 complex FFT (inverse without the 1/n scaling). */
function fft(re: Float64Array, im: Float64Array, inverse: boolean): void {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j]!, re[i]!];
      [im[i], im[j]] = [im[j]!, im[i]!];
    }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const ang = ((inverse ? 2 : -2) * Math.PI) / len;
    const wr = Math.cos(ang);
    const wi = Math.sin(ang);
    const half = len >> 1;
    for (let i = 0; i < n; i += len) {
      let cr = 1;
      let ci = 0;
      for (let k = 0; k < half; k++) {
        const p = i + k;
        const q = p + half;
        const tr = re[q]! * cr - im[q]! * ci;
        const ti = re[q]! * ci + im[q]! * cr;
        re[q] = re[p]! - tr;
        im[q] = im[p]! - ti;
        re[p] = re[p]! + tr;
        im[p] = im[p]! + ti;
        const ncr = cr * wr - ci * wi;
        ci = cr * wi + ci * wr;
        cr = ncr;
      }
    }
  }
}

// ---- deterministic test signals ----

/** A small deterministic PRNG (mulberry32), so test signals are reproducible. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform white noise with the given RMS (int16 units). */
export function whiteNoise(samples: number, rms: number, seed = 1): Int16Array {
  const r = prng(seed);
  const out = new Int16Array(samples);
  const amp = rms * Math.sqrt(3); // uniform on [-a, a] has RMS a / sqrt(3)
  for (let i = 0; i < samples; i++) out[i] = Math.round((r() * 2 - 1) * amp);
  return out;
}

/**
 * Speech-like audio: a glottal pulse train with a wandering pitch (90–160 Hz)
 * through three formant resonators that change per "syllable", with short
 * pauses between syllables and a little aspiration noise. Peak about -6 dBFS.
 */
export function speechLike(rate: number, seconds: number, seed = 7): Int16Array {
  const r = prng(seed);
  const n = Math.round(rate * seconds);
  const out = new Float64Array(n);
  const vowels = [
    [730, 1090, 2440],
    [270, 2290, 3010],
    [300, 870, 2240],
    [530, 1840, 2480],
    [570, 840, 2410],
    [440, 1020, 2240],
  ] as const;
  // Resonator state per formant (two-pole filters).
  const y1 = [0, 0, 0];
  const y2 = [0, 0, 0];
  let t = 0;
  let phase = 0;
  while (t < n) {
    const syllable = Math.round(rate * (0.12 + 0.2 * r()));
    const pause = Math.round(rate * (0.03 + 0.12 * r()));
    const vowel = vowels[Math.floor(r() * vowels.length)]!;
    const f0Start = 90 + 70 * r();
    const f0End = 90 + 70 * r();
    const coefs = vowel.map((f, k) => {
      const bw = 60 + 40 * k;
      const rad = Math.exp((-Math.PI * bw) / rate);
      const fr = Math.min(f, rate * 0.45);
      return { a1: 2 * rad * Math.cos((2 * Math.PI * fr) / rate), a2: -rad * rad, g: 1 - rad };
    });
    for (let i = 0; i < syllable && t < n; i++, t++) {
      const u = i / syllable;
      const f0 = f0Start + (f0End - f0Start) * u;
      phase += f0 / rate;
      let excitation = 0;
      if (phase >= 1) {
        phase -= 1;
        excitation = 1;
      }
      excitation += 0.02 * (r() * 2 - 1);
      const env = Math.sin(Math.PI * u) ** 0.6;
      let s = 0;
      for (let k = 0; k < 3; k++) {
        const c = coefs[k]!;
        const y = c.g * excitation + c.a1 * y1[k]! + c.a2 * y2[k]!;
        y2[k] = y1[k]!;
        y1[k] = y;
        s += y / (k + 1);
      }
      out[t] = s * env;
    }
    t += pause; // silence (zeros) between syllables
  }
  let peak = 0;
  for (let i = 0; i < n; i++) peak = Math.max(peak, Math.abs(out[i]!));
  const pcm = new Int16Array(n);
  const gain = peak > 0 ? 16000 / peak : 0;
  for (let i = 0; i < n; i++) pcm[i] = Math.round(out[i]! * gain);
  return pcm;
}
