// Frame-level quality of a received signal against what was sent, for tests
// of loss concealment. A global correlation (audio-compare.ts) barely moves
// when 5 % of the frames are silent; these measures look at each 20 ms frame:
//
//   levelAgreement – the share of the reference's voiced 10 ms frames whose level in
//                    the recording is within ±maxDb (6) of the reference's: a
//                    concealed frame should sound like speech, a zeroed or
//                    re-buffered one does not;
//   segmentalSnr   – mean per-frame SNR in dB (each frame clamped to
//                    [-10, 35] dB, ITU-style), over voiced frames;
//   blockCorrelation – the normalised correlation of each 200 ms block at its
//                    own best lag, averaged over the blocks weighted by their
//                    energy: like a global correlation, but a time line that
//                    moved by a frame somewhere does not ruin it.
// An adaptive jitter buffer moves the time line now and then by a frame, so
// the alignment is local: each 200 ms block of the reference is matched at
// its own lag (the global one plus whole 20 ms frames, up to ±blockSearchMs),
// as PESQ aligns each utterance.
// No test-framework imports: benchmarks use it too.
import { Resampler } from "../../src/media/resampler.js";
import { compareAudio } from "../../scripts/lab/audio-compare.js";

export interface QualityResult {
  /** global correlation at one lag (compareAudio) */
  correlation: number;
  blockCorrelation: number;
  lagMs: number;
  levelAgreement: number;
  segmentalSnrDb: number;
  voicedFrames: number;
}

export function frameQuality(
  reference: Int16Array,
  refRate: number,
  recorded: Int16Array,
  recRate: number,
  opts: { rate?: number; maxDb?: number; maxLagMs?: number; blockSearchMs?: number } = {},
): QualityResult {
  const rate = opts.rate ?? 8000;
  const cmp = compareAudio(reference, refRate, recorded, recRate, { compareRate: rate, maxLagMs: opts.maxLagMs ?? 2000 });
  const ref = Resampler.resampleAll(reference, refRate, rate);
  const rec = Resampler.resampleAll(recorded, recRate, rate);
  const globalLag = Math.round((cmp.lagMs * rate) / 1000);
  // 10 ms analysis frames: a concealed 20 ms frame, wherever the alignment
  // puts it, covers at least one of them completely.
  const frame = Math.round(rate * 0.01);
  const frames = Math.floor(ref.length / frame);
  const block = 20 * frame;
  const search = Math.round(((opts.blockSearchMs ?? 80) * rate) / 1000);
  const lagOfBlock: number[] = [];
  let corrSum = 0;
  let corrWeight = 0;
  for (let b = 0; b * block < ref.length; b++) {
    let best = globalLag;
    let bestC = -Infinity;
    // The time line moves in whole frames (expand/merge): try the global lag
    // plus multiples of 20 ms, each refined by a few samples.
    const candidates: number[] = [];
    for (let k = -Math.floor(search / (2 * frame)); k <= Math.floor(search / (2 * frame)); k++) {
      for (let d = -3; d <= 3; d++) candidates.push(globalLag + k * 2 * frame + d);
    }
    for (const l of candidates) {
      let xy = 0;
      let xx = 0;
      let yy = 0;
      for (let i = b * block; i < Math.min(ref.length, (b + 1) * block); i++) {
        const j = i + l;
        const y = j >= 0 && j < rec.length ? rec[j]! : 0;
        xy += ref[i]! * y;
        xx += ref[i]! * ref[i]!;
        yy += y * y;
      }
      const c = xx > 0 && yy > 0 ? xy / Math.sqrt(xx * yy) : -1;
      if (c > bestC) {
        bestC = c;
        best = l;
      }
    }
    lagOfBlock.push(bestC > 0.3 ? best : globalLag);
    let xx = 0;
    for (let i = b * block; i < Math.min(ref.length, (b + 1) * block); i++) xx += ref[i]! * ref[i]!;
    corrSum += Math.max(0, bestC) * xx;
    corrWeight += xx;
  }
  const lagAt = (i: number) => lagOfBlock[Math.floor(i / block)] ?? globalLag;
  // Gain: recordings may be quieter or louder as a whole (codec, resampling).
  let rr = 0;
  let ee = 0;
  for (let i = 0; i < ref.length; i++) {
    const j = i + lagAt(i);
    if (j < 0 || j >= rec.length) continue;
    rr += ref[i]! * ref[i]!;
    ee += rec[j]! * rec[j]!;
  }
  const gain = ee > 0 ? Math.sqrt(rr / ee) : 1;
  const energies: number[] = [];
  for (let f = 0; f < frames; f++) {
    let e = 0;
    for (let i = f * frame; i < (f + 1) * frame; i++) e += ref[i]! * ref[i]!;
    energies.push(e / frame);
  }
  const peak = Math.max(...energies);
  const voicedThreshold = peak * 10 ** (-35 / 10);
  const maxDb = opts.maxDb ?? 6;
  let voiced = 0;
  let agree = 0;
  let snrSum = 0;
  for (let f = 0; f < frames; f++) {
    if (energies[f]! < voicedThreshold) continue;
    voiced++;
    let e = 0;
    let noise = 0;
    for (let i = f * frame; i < (f + 1) * frame; i++) {
      const j = i + lagAt(i);
      const y = j >= 0 && j < rec.length ? rec[j]! * gain : 0;
      e += y * y;
      noise += (ref[i]! - y) ** 2;
    }
    const levelDb = 10 * Math.log10((e / frame + 1) / (energies[f]! + 1));
    if (Math.abs(levelDb) <= maxDb) agree++;
    const snr = 10 * Math.log10((energies[f]! * frame + 1) / (noise + 1));
    snrSum += Math.max(-10, Math.min(35, snr));
  }
  return {
    correlation: cmp.correlation,
    blockCorrelation: corrWeight > 0 ? corrSum / corrWeight : 0,
    lagMs: cmp.lagMs,
    levelAgreement: voiced > 0 ? agree / voiced : 0,
    segmentalSnrDb: voiced > 0 ? snrSum / voiced : 0,
    voicedFrames: voiced,
  };
}
