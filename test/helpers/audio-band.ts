// How much of a signal's energy lies in a frequency band: Hann-windowed
// 512-point DFT blocks, summed. Used to show that a wideband path (G.722,
// Opus) really carries what a narrowband one (G.711, 4 kHz) cannot.
// No test-framework imports.

/** The share (0..1) of the energy between loHz and hiHz in everything up to maxHz. */
export function bandEnergyShare(pcm: Int16Array, rate: number, loHz: number, hiHz: number, maxHz = rate / 2): number {
  const n = 512;
  const window = Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
  const binHz = rate / n;
  const top = Math.min(n / 2, Math.floor(maxHz / binHz));
  const cos = Float64Array.from({ length: n }, (_, i) => Math.cos((2 * Math.PI * i) / n));
  const sin = Float64Array.from({ length: n }, (_, i) => Math.sin((2 * Math.PI * i) / n));
  let band = 0;
  let all = 0;
  const x = new Float64Array(n);
  for (let start = 0; start + n <= pcm.length; start += n) {
    for (let i = 0; i < n; i++) x[i] = pcm[start + i]! * window[i]!;
    for (let k = 1; k <= top; k++) {
      let re = 0;
      let im = 0;
      for (let i = 0, idx = 0; i < n; i++, idx = (idx + k) & (n - 1)) {
        re += x[i]! * cos[idx]!;
        im -= x[i]! * sin[idx]!;
      }
      const e = re * re + im * im;
      all += e;
      const f = k * binHz;
      if (f >= loHz && f < hiHz) band += e;
    }
  }
  return all > 0 ? band / all : 0;
}
