// Packet loss concealment for waveform codecs (G.711), after the method of
// ITU-T G.711 Appendix I (implemented here from its description, not its
// reference code):
//   - the pitch period of the last good audio is estimated by normalised
//     autocorrelation (periods of 5 to 15 ms: 66 to 200 Hz);
//   - a lost stretch is filled by repeating the last pitch period, which
//     keeps voiced speech voiced (repeating a fixed 20 ms chunk buzzes and
//     clicks at the seams);
//   - after 10 ms the repetition widens to the last two, then three periods
//     (a single period repeated for long sounds synthetic), and the level
//     falls by 20 % per 10 ms, reaching silence at 60 ms;
//   - when real audio resumes, the continuing synthetic signal is
//     cross-faded into it over a few milliseconds instead of a hard edge.
// Pure and sample-rate generic (designed for 8 kHz).

/** G.113 Appendix I: G.711 with packet loss concealment (Appendix I): Ie 0, Bpl 25.1. */
export const G711_IMPAIRMENT = { ie: 0, bpl: 25.1 } as const;

const MIN_PITCH_MS = 5;
const MAX_PITCH_MS = 15;
/** History kept: three of the longest periods plus the correlation window. */
const HISTORY_MS = 3 * MAX_PITCH_MS + 10;
const FULL_LEVEL_MS = 10;
const SILENT_AT_MS = 60;
const RESUME_FADE_MS = 4;

export class G711Concealer {
  readonly rate: number;
  readonly #history: Float32Array;
  #filled = 0;
  /** Samples concealed in the current loss (0: not in a loss). */
  #lost = 0;
  #pitch = 0;
  /** Periods currently repeated (1, 2 or 3) and the read position in that stretch. */
  #periods = 1;
  #pos = 0;

  constructor(rate = 8000) {
    this.rate = rate;
    this.#history = new Float32Array(Math.round((HISTORY_MS * rate) / 1000));
  }

  /** Real decoded audio: remembered; after a loss, faded in from the concealment. */
  good(pcm: Int16Array): Int16Array {
    let out = pcm;
    if (this.#lost > 0 && this.#lost < this.#ms(SILENT_AT_MS)) {
      out = pcm.slice();
      const n = Math.min(out.length, this.#ms(RESUME_FADE_MS));
      const tail = this.#synthesise(n);
      for (let i = 0; i < n; i++) {
        const w = (i + 1) / (n + 1);
        out[i] = clip(tail[i]! * (1 - w) + out[i]! * w);
      }
    }
    this.#lost = 0;
    this.#remember(out);
    return out;
  }

  /** `samples` of concealment for lost audio. */
  conceal(samples: number): Int16Array {
    const out = new Int16Array(samples);
    if (this.#filled < this.#ms(MAX_PITCH_MS) * 2) return out; // too little heard to imitate
    if (this.#lost === 0) {
      this.#pitch = this.#estimatePitch();
      this.#periods = 1;
      this.#pos = 0;
    }
    const syn = this.#synthesise(samples);
    for (let i = 0; i < samples; i++) {
      const t = this.#lost + i;
      out[i] = clip(syn[i]! * this.#gain(t));
    }
    this.#lost += samples;
    return out;
  }

  #ms(ms: number): number {
    return Math.round((ms * this.rate) / 1000);
  }

  #gain(t: number): number {
    const full = this.#ms(FULL_LEVEL_MS);
    const end = this.#ms(SILENT_AT_MS);
    if (t < full) return 1;
    if (t >= end) return 0;
    return (end - t) / (end - full);
  }

  /** The next `n` samples of the periodic continuation, advancing the read position. */
  #synthesise(n: number): Float32Array {
    const out = new Float32Array(n);
    const h = this.#history;
    const len = h.length;
    for (let i = 0; i < n; i++) {
      const t = this.#lost + i;
      // Widen the repeated stretch at 10 and 20 ms (Appendix I: 1 -> 2 -> 3 periods).
      const want = t < this.#ms(10) ? 1 : t < this.#ms(20) ? 2 : 3;
      if (want !== this.#periods) {
        this.#periods = want;
        this.#pos = this.#pos % (this.#pitch * want);
      }
      const span = this.#pitch * this.#periods;
      out[i] = h[len - span + (this.#pos % span)]!;
      this.#pos++;
    }
    return out;
  }

  /** The period (samples) whose shift best matches the last 10 ms with what came before. */
  #estimatePitch(): number {
    const h = this.#history;
    const len = h.length;
    const win = this.#ms(10);
    const lo = this.#ms(MIN_PITCH_MS);
    const hi = this.#ms(MAX_PITCH_MS);
    let best = hi;
    let bestScore = -Infinity;
    for (let p = lo; p <= hi; p++) {
      let xy = 0;
      let yy = 0;
      for (let i = len - win; i < len; i++) {
        const x = h[i]!;
        const y = h[i - p]!;
        xy += x * y;
        yy += y * y;
      }
      const score = yy > 0 ? xy / Math.sqrt(yy) : 0;
      if (score > bestScore) {
        bestScore = score;
        best = p;
      }
    }
    return best;
  }

  #remember(pcm: Int16Array): void {
    const h = this.#history;
    const n = pcm.length;
    if (n >= h.length) {
      for (let i = 0; i < h.length; i++) h[i] = pcm[n - h.length + i]!;
    } else {
      h.copyWithin(0, n);
      for (let i = 0; i < n; i++) h[h.length - n + i] = pcm[i]!;
    }
    this.#filled = Math.min(h.length, this.#filled + n);
  }
}

function clip(v: number): number {
  const r = Math.round(v);
  return r > 32767 ? 32767 : r < -32768 ? -32768 : r;
}
