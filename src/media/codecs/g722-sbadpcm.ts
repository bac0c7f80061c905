// ITU-T G.722 (09/2012), "7 kHz audio-coding within 64 kbit/s": the
// sub-band ADPCM (SB-ADPCM) coder, written from the Recommendation's block
// descriptions (§3 transmit QMF, §3.2-3.6 lower and higher sub-band
// encoders, §4 decoders and receive QMF; the block names below are its:
// SUBTRA, QUANTL, INVQAL, LOGSCL, SCALEL, RECONS, PARREC, FILTEP, FILTEZ,
// PREDIC, UPPOL1, UPPOL2, UPZERO and their higher sub-band twins). Integer
// arithmetic exactly as specified, so that the output is bit-exact: checked
// against the ITU-T test sequences (test/unit/g722.test.ts).
//
// Samples: the transmit QMF takes two 16 kHz samples and gives one sample
// of each sub-band at 8 kHz; each sub-band is coded with its own ADPCM (the
// lower band in 6 bits, the higher band in 2), which makes one octet per
// pair of input samples: 64 kbit/s (mode 1). The decoder can also use only
// the 5 or 4 upper bits of the lower band (modes 2 and 3, 56 and 48 kbit/s);
// on RTP only mode 1 is used (RFC 3551 §4.5.2).
//
// Scaling: 16-bit PCM in and out, the G.722 signal being the 15-bit value of
// the ITU-T reference files (the QMFs shift by one bit more than a 14-bit
// signal needs; see qmfShift below).

/** Transmit and receive QMF coefficients h0..h23 (§3.1, Table 1; value × 2^13). */
const QMF = [3, -11, -11, 53, 12, -156, 32, 362, -210, -805, 951, 3876, 3876, 951, -805, -210, 362, 32, -156, 12, 53, -11, -11, 3] as const;

/** QUANTL decision levels (Table 6), × the scale factor / 2^12. */
const Q6 = [0, 35, 72, 110, 150, 190, 233, 276, 323, 370, 422, 473, 530, 587, 650, 714, 786, 858, 940, 1023, 1121, 1219, 1339, 1458, 1612, 1765, 1980, 2195, 2557, 2919] as const;
/** The 6-bit codes of the 30 quantizer intervals, for a negative and a positive difference (Table 6). */
const ILN = [0, 63, 62, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4] as const;
const ILP = [0, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43, 42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32] as const;

/** Inverse quantizer outputs for 4-, 5- and 6-bit lower sub-band codes (Tables 7, 8, 9). */
const QM4 = [0, -20456, -12896, -8968, -6288, -4240, -2584, -1200, 20456, 12896, 8968, 6288, 4240, 2584, 1200, 0] as const;
const QM5 = [
  -280, -280, -23352, -17560, -14120, -11664, -9752, -8184, -6864, -5712, -4696, -3784, -2960, -2208, -1520, -880,
  23352, 17560, 14120, 11664, 9752, 8184, 6864, 5712, 4696, 3784, 2960, 2208, 1520, 880, 280, -280,
] as const;
const QM6 = [
  -136, -136, -136, -136, -24808, -21904, -19008, -16704, -14984, -13512, -12280, -11192, -10232, -9360, -8576, -7856,
  -7192, -6576, -6000, -5456, -4944, -4464, -4008, -3576, -3168, -2776, -2400, -2032, -1688, -1360, -1040, -728,
  24808, 21904, 19008, 16704, 14984, 13512, 12280, 11192, 10232, 9360, 8576, 7856, 7192, 6576, 6000, 5456,
  4944, 4464, 4008, 3576, 3168, 2776, 2400, 2032, 1688, 1360, 1040, 728, 432, 136, -432, -136,
] as const;
/** LOGSCL: the 4-bit code's magnitude class, and its log scale factor multiplier (Table 10). */
const RIL4 = [0, 7, 6, 5, 4, 3, 2, 1, 7, 6, 5, 4, 3, 2, 1, 0] as const;
const WL = [-60, -30, 58, 172, 334, 538, 1198, 3042] as const;
/** SCALEL/SCALEH: the antilog table (Table 11). */
const ILB = [
  2048, 2093, 2139, 2186, 2233, 2282, 2332, 2383, 2435, 2489, 2543, 2599, 2656, 2714, 2774, 2834,
  2896, 2960, 3025, 3091, 3158, 3228, 3298, 3371, 3444, 3520, 3597, 3676, 3756, 3838, 3922, 4008,
] as const;

/** Higher sub-band: QUANTH codes, INVQAH outputs, LOGSCH class and multipliers (Tables 12-14). */
const IHN = [0, 1, 0] as const;
const IHP = [0, 3, 2] as const;
const QM2 = [-7408, -1616, 7408, 1616] as const;
const RIH2 = [2, 1, 2, 1] as const;
const WH = [0, -214, 798] as const;

/** The QMFs work on 15-bit sub-band signals from 16-bit samples: one bit more than §3.1's 13. */
const QMF_TX_SHIFT = 14;
const QMF_RX_SHIFT = 11;

const sat16 = (v: number): number => (v > 32767 ? 32767 : v < -32768 ? -32768 : v);
const sat15 = (v: number): number => (v > 16383 ? 16383 : v < -16384 ? -16384 : v);

/**
 * The adaptive predictor and scale factor of one sub-band (§3.3-3.6 and
 * the blocks they name): the state the encoder and the decoder keep alike.
 */
class Band {
  /** Predicted signal for the current sample (PREDIC), and its zero-section part (FILTEZ). */
  s = 0;
  sz = 0;
  /** Log scale factor (nbl / nbh) and scale factor (detl / deth). */
  nb = 0;
  det: number;
  /** Pole coefficients a1, a2 and zero coefficients b1..b6. */
  a1 = 0;
  a2 = 0;
  readonly b = new Int32Array(7);
  /** Quantized differences d(n-1)..d(n-6), partial reconstructions p(n-1), p(n-2), reconstructions r(n-1), r(n-2). */
  readonly d = new Int32Array(7);
  p1 = 0;
  p2 = 0;
  r1 = 0;
  r2 = 0;

  constructor(initialDet: number) {
    this.det = initialDet;
  }

  /**
   * Everything after quantization, for the quantized difference `dq` (4-bit
   * INVQAL in the lower band, INVQAH in the higher): RECONS, PARREC, the
   * coefficient updates UPPOL2, UPPOL1, UPZERO, the delays, then FILTEP,
   * FILTEZ and PREDIC for the next sample.
   */
  update(dq: number): void {
    const r = sat16(this.s + dq); // RECONS
    const p = sat16(dq + this.sz); // PARREC

    // UPPOL2: second pole coefficient.
    const sg0 = p >> 15;
    const sg1 = this.p1 >> 15;
    const sg2 = this.p2 >> 15;
    let wd1 = sat16(this.a1 * 4);
    let wd2 = sat16(sg0 === sg1 ? -wd1 : wd1) >> 7;
    const wd3 = sg0 === sg2 ? 128 : -128;
    let a2 = wd2 + wd3 + ((this.a2 * 32512) >> 15);
    a2 = a2 > 12288 ? 12288 : a2 < -12288 ? -12288 : a2;

    // UPPOL1: first pole coefficient, kept inside the stability triangle.
    wd1 = sg0 === sg1 ? 192 : -192;
    wd2 = (this.a1 * 32640) >> 15;
    let a1 = sat16(wd1 + wd2);
    const lim = 15360 - a2;
    a1 = a1 > lim ? lim : a1 < -lim ? -lim : a1;

    // UPZERO: the six zero coefficients, with leakage.
    const gain = dq === 0 ? 0 : 128;
    const sgd = dq >> 15;
    for (let i = 1; i <= 6; i++) {
      const step = this.d[i]! >> 15 === sgd ? gain : -gain;
      this.b[i] = sat16(step + ((this.b[i]! * 32640) >> 15));
    }

    // Delays.
    for (let i = 6; i > 1; i--) this.d[i] = this.d[i - 1]!;
    this.d[1] = dq;
    this.p2 = this.p1;
    this.p1 = p;
    this.r2 = this.r1;
    this.r1 = r;
    this.a1 = a1;
    this.a2 = a2;

    // FILTEP, FILTEZ, PREDIC.
    const sp = ((this.a1 * sat16(this.r1 + this.r1)) >> 15) + ((this.a2 * sat16(this.r2 + this.r2)) >> 15);
    let sz = 0;
    for (let i = 1; i <= 6; i++) sz += (this.b[i]! * sat16(this.d[i]! + this.d[i]!)) >> 15;
    this.sz = sat16(sz);
    this.s = sat16(sat16(sp) + this.sz);
  }
}

/** SCALEL (shift 8) and SCALEH (shift 10): the scale factor from the log scale factor. */
function scale(nb: number, shift: number): number {
  const wd1 = (nb >> 6) & 31;
  const wd2 = nb >> 11;
  const wd3 = shift - wd2 < 0 ? ILB[wd1]! << (wd2 - shift) : ILB[wd1]! >> (shift - wd2);
  return wd3 << 2;
}

/** LOGSCL (limit 18432) and LOGSCH (limit 22528): log scale factor adaptation. */
function logScale(nb: number, w: number, max: number): number {
  const v = ((nb * 32512) >> 15) + w;
  return v < 0 ? 0 : v > max ? max : v;
}

function lowerDifference(band: Band, code4: number): number {
  return (band.det * QM4[code4]!) >> 15; // INVQAL (4 bits: what the predictor sees in every mode)
}

/** One octet of G.722 per two samples at 16 kHz. */
export class G722Encoder {
  readonly #low = new Band(32);
  readonly #high = new Band(8);
  readonly #x = new Int32Array(24);

  /** Encodes `pcm` (16 kHz; an even number of samples) into pcm.length / 2 octets. */
  encode(pcm: Int16Array, out: Uint8Array = new Uint8Array(pcm.length >> 1)): Uint8Array {
    const x = this.#x;
    const low = this.#low;
    const high = this.#high;
    for (let j = 0, k = 0; j + 1 < pcm.length; j += 2, k++) {
      // Transmit QMF (§3.1): the delay line holds x(j-23)..x(j), newest last.
      x.copyWithin(0, 2);
      x[22] = pcm[j]!;
      x[23] = pcm[j + 1]!;
      // xA = Σ h(2i)·x(j-2i), xB = Σ h(2i+1)·x(j-2i-1); h is symmetric, so
      // these are the odd and the even positions of the delay line.
      let xa = 0;
      let xb = 0;
      for (let i = 0; i < 12; i++) {
        xb += x[2 * i]! * QMF[2 * i]!;
        xa += x[2 * i + 1]! * QMF[2 * i + 1]!;
      }
      const xl = (xa + xb) >> QMF_TX_SHIFT;
      const xh = (xa - xb) >> QMF_TX_SHIFT;

      // Lower sub-band: SUBTRA, QUANTL.
      const el = sat16(xl - low.s);
      const mag = el >= 0 ? el : -(el + 1);
      let i = 1;
      while (i < 30 && mag >= (Q6[i]! * low.det) >> 12) i++;
      const il = el < 0 ? ILN[i]! : ILP[i]!;
      const code4 = il >> 2;
      const dl = lowerDifference(low, code4);
      low.nb = logScale(low.nb, WL[RIL4[code4]!]!, 18432);
      low.det = scale(low.nb, 8);
      low.update(dl);

      // Higher sub-band: SUBTRA, QUANTH, INVQAH, LOGSCH, SCALEH.
      const eh = sat16(xh - high.s);
      const hmag = eh >= 0 ? eh : -(eh + 1);
      const mih = hmag >= (564 * high.det) >> 12 ? 2 : 1;
      const ih = eh < 0 ? IHN[mih]! : IHP[mih]!;
      const dh = (high.det * QM2[ih]!) >> 15;
      high.nb = logScale(high.nb, WH[RIH2[ih]!]!, 22528);
      high.det = scale(high.nb, 10);
      high.update(dh);

      out[k] = (ih << 6) | il;
    }
    return out;
  }
}

/** G.722 decoder: one octet gives two samples at 16 kHz. */
export class G722Decoder {
  readonly #low = new Band(32);
  readonly #high = new Band(8);
  readonly #xd = new Int32Array(12);
  readonly #xs = new Int32Array(12);
  readonly #mode: 1 | 2 | 3;

  /** `mode`: 1 (64 kbit/s, what RTP carries), 2 (56) or 3 (48): how many lower sub-band bits are audio. */
  constructor(mode: 1 | 2 | 3 = 1) {
    this.#mode = mode;
  }

  decode(octets: Uint8Array, out: Int16Array = new Int16Array(octets.length * 2)): Int16Array {
    const low = this.#low;
    const high = this.#high;
    const xd = this.#xd;
    const xs = this.#xs;
    for (let k = 0; k < octets.length; k++) {
      const code = octets[k]!;
      const ilr = code & 0x3f;
      const ih = code >> 6;

      // Lower sub-band: INVQBL (the output uses the mode's bits), RECONS, LIMIT.
      const wd2 = this.#mode === 1 ? QM6[ilr]! : this.#mode === 2 ? QM5[ilr >> 1]! : QM4[ilr >> 2]!;
      const rl = sat15(low.s + ((low.det * wd2) >> 15));
      // The predictor adapts on the 4 bits every mode has (INVQAL, LOGSCL, SCALEL).
      const code4 = ilr >> 2;
      const dl = lowerDifference(low, code4);
      low.nb = logScale(low.nb, WL[RIL4[code4]!]!, 18432);
      low.det = scale(low.nb, 8);
      low.update(dl);

      // Higher sub-band: INVQAH, RECONS, LIMIT, LOGSCH, SCALEH.
      const dh = (high.det * QM2[ih]!) >> 15;
      const rh = sat15(high.s + dh);
      high.nb = logScale(high.nb, WH[RIH2[ih]!]!, 22528);
      high.det = scale(high.nb, 10);
      high.update(dh);

      // Receive QMF (§4.4): sum and difference of the bands, interpolated to 16 kHz.
      xd.copyWithin(0, 1);
      xs.copyWithin(0, 1);
      xd[11] = rl - rh;
      xs[11] = rl + rh;
      let a = 0;
      let b = 0;
      for (let i = 0; i < 12; i++) {
        a += xd[11 - i]! * QMF[2 * i]!;
        b += xs[11 - i]! * QMF[2 * i + 1]!;
      }
      out[2 * k] = sat16(a >> QMF_RX_SHIFT);
      out[2 * k + 1] = sat16(b >> QMF_RX_SHIFT);
    }
    return out;
  }
}
