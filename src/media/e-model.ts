// Call quality estimate from the ITU-T G.107 E-model, reduced to what a
// voice endpoint measures: one-way delay, packet loss and the codec.
//
//   R = Ro - Is - Id - Ie,eff + A            (G.107 §3, eq. 3-1)
//   Ro - Is = 93.2                           (default values, §7)
//   Id ≈ 0.024 d + 0.11 (d - 177.3) H(d - 177.3)
//        (the usual simplification of G.107's delay terms for default echo
//        settings, Cole & Rosenbluth 2001; d = one-way mouth-to-ear delay, ms)
//   Ie,eff = Ie + (95 - Ie) · Ppl / (Ppl / BurstR + Bpl)   (§3.6, eq. 3-29)
//   MOS = 1 + 0.035 R + R (R - 60)(100 - R) · 7e-6 for 0 < R < 100 (Annex B)
//
// Ie and Bpl are the codec's (CodecDescriptor.impairment): from G.113
// Appendix I where it lists them (G.711 with PLC: Ie 0, Bpl 25.1), an
// estimate otherwise (each codec file says which).

import type { CodecImpairment } from "./codecs/codec.js";

export interface EModelInput {
  /** the codec's Ie and Bpl (CodecDescriptor.impairment) */
  impairment: CodecImpairment;
  /** one-way mouth-to-ear delay, ms */
  delayMs: number;
  /** packets lost or too late to play, percent (0..100) */
  lossPercent: number;
  /** burst ratio (1 = random loss) */
  burstR?: number;
}

export interface EModelResult {
  r: number;
  mos: number;
}

export function rFactor(input: EModelInput): number {
  const imp = input.impairment;
  const d = Math.max(0, input.delayMs);
  const id = 0.024 * d + (d > 177.3 ? 0.11 * (d - 177.3) : 0);
  const ppl = Math.max(0, Math.min(100, input.lossPercent));
  const burstR = input.burstR ?? 1;
  const ieEff = imp.ie + ((95 - imp.ie) * ppl) / (ppl / burstR + imp.bpl);
  return Math.max(0, Math.min(100, 93.2 - id - ieEff));
}

/** G.107 Annex B, eq. B-4. */
export function mosFromR(r: number): number {
  if (r <= 0) return 1;
  if (r >= 100) return 4.5;
  return 1 + 0.035 * r + r * (r - 60) * (100 - r) * 7e-6;
}

export function eModel(input: EModelInput): EModelResult {
  const r = rFactor(input);
  return { r: Math.round(r * 10) / 10, mos: Math.round(mosFromR(r) * 100) / 100 };
}
