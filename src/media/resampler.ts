// Streaming rational resampler: polyphase FIR with a Kaiser-windowed sinc.
//
// The ratio out/in is reduced to L/M (upsample by L, decimate by M). Output
// sample k sits at input time (k - D) * M / L, where D is a fixed latency in
// output samples; its value is a dot product of the input around that time
// with one of L precomputed filter phases. The low-pass cut-off is placed
// below the Nyquist frequency of the LOWER rate, so the same filter removes
// aliases when downsampling and images when upsampling.
//
// Because the latency D is a whole number of output samples chosen so the
// filter never needs input that has not arrived, after N input samples in
// total exactly ceil(N * L / M) samples have come out: a 960-sample 48 kHz
// frame always yields 160 samples at 8 kHz, and there is no drift over time.

/** Zero crossings of the sinc on each side; sets the transition width (~5 * cutoff / ZC Hz). */
const ZERO_CROSSINGS = 32;
/** Kaiser beta for ~80 dB stop-band attenuation (Kaiser's formula: 0.1102 * (80 - 8.7)). */
const KAISER_BETA = 7.857;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** Zeroth-order modified Bessel function of the first kind (power series). */
function besselI0(x: number): number {
  let sum = 1;
  let term = 1;
  const q = (x * x) / 4;
  for (let k = 1; k < 50; k++) {
    term *= q / (k * k);
    sum += term;
    if (term < sum * 1e-12) break;
  }
  return sum;
}

/** The precomputed filter of one rate pair; shared by all resamplers of that pair. */
interface FilterTable {
  readonly up: number; // L
  readonly down: number; // M
  readonly halfTaps: number;
  readonly taps: number; // 2 * halfTaps
  /** taps coefficients for each of the L phases, phase-major */
  readonly coefs: Float32Array;
  /** output latency in output samples */
  readonly delay: number;
}

const tableCache = new Map<string, FilterTable>();

function filterTable(inRate: number, outRate: number): FilterTable {
  const key = `${inRate}>${outRate}`;
  const cached = tableCache.get(key);
  if (cached) return cached;

  const g = gcd(inRate, outRate);
  const up = outRate / g;
  const down = inRate / g;
  const nyquist = Math.min(inRate, outRate) / 2;
  // Put the END of the transition band at the lower Nyquist frequency:
  // cutoff + width / 2 = nyquist with width ~ 5 * cutoff / ZC.
  const cutoff = nyquist / (1 + 2.5 / ZERO_CROSSINGS);
  // Everything below is in units of input samples.
  const lobe = inRate / (2 * cutoff); // distance between sinc zero crossings
  const halfTaps = Math.ceil(ZERO_CROSSINGS * lobe);
  const taps = 2 * halfTaps;
  const scale = (2 * cutoff) / inRate;
  const i0Beta = besselI0(KAISER_BETA);
  const coefs = new Float32Array(up * taps);
  for (let p = 0; p < up; p++) {
    let sum = 0;
    const row = p * taps;
    for (let i = 0; i < taps; i++) {
      // Distance from the output instant (n + p/L) to input sample n - halfTaps + 1 + i.
      const d = p / up + halfTaps - 1 - i;
      const r = d / halfTaps;
      let h = 0;
      if (Math.abs(r) < 1) {
        const x = scale * d;
        const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
        h = scale * sinc * (besselI0(KAISER_BETA * Math.sqrt(1 - r * r)) / i0Beta);
      }
      coefs[row + i] = h;
      sum += h;
    }
    // Unity DC gain in every phase, so a constant input gives a constant output.
    for (let i = 0; i < taps; i++) coefs[row + i] = coefs[row + i]! / sum;
  }
  const table: FilterTable = {
    up,
    down,
    halfTaps,
    taps,
    coefs,
    delay: Math.ceil((halfTaps * up) / down),
  };
  tableCache.set(key, table);
  return table;
}

export class Resampler {
  readonly inRate: number;
  readonly outRate: number;
  /** Latency added by the filter, in output samples (0 when the rates match). */
  readonly delay: number;

  readonly #table: FilterTable | undefined;
  /** Input history; #hist[0] is input sample number #histStart (may be negative: zeros). */
  #hist: Float32Array;
  #histLen = 0;
  /** Index into #hist of the input sample at or just before the next output instant. */
  #n = 0;
  /** Phase numerator of the next output instant: instant = #n + #phase / L. */
  #phase = 0;
  #inputCount = 0;
  #outputCount = 0;

  constructor(inRate: number, outRate: number) {
    for (const [what, r] of [["input", inRate], ["output", outRate]] as const) {
      if (!Number.isInteger(r) || r <= 0 || r > 384_000) {
        throw new RangeError(`Resampler: ${what} rate must be a positive integer (Hz), got ${r}`);
      }
    }
    this.inRate = inRate;
    this.outRate = outRate;
    this.#table = inRate === outRate ? undefined : filterTable(inRate, outRate);
    this.delay = this.#table?.delay ?? 0;
    this.#hist = new Float32Array(0);
    this.#reset();
  }

  /** Resample a whole signal at once: aligned (latency removed), length ceil(n * out / in). */
  static resampleAll(input: Int16Array, inRate: number, outRate: number): Int16Array {
    const r = new Resampler(inRate, outRate);
    if (!r.#table) return input.slice();
    const head = r.process(input);
    const tail = r.flush();
    const out = new Int16Array(head.length + tail.length);
    out.set(head);
    out.set(tail, head.length);
    return out.subarray(r.delay);
  }

  /** Feed input, get every output sample that input makes available. */
  process(input: Int16Array): Int16Array {
    const t = this.#table;
    if (!t) return input.slice();
    this.#append(input);
    this.#inputCount += input.length;
    // ceil(N * L / M) outputs are due after N inputs (see the banner).
    const due = Math.ceil((this.#inputCount * t.up) / t.down);
    return this.#produce(due - this.#outputCount);
  }

  /**
   * End of stream: return the samples still held back by the filter latency
   * (the last `delay` samples), then reset to the initial state.
   */
  flush(): Int16Array {
    const t = this.#table;
    if (!t) return new Int16Array(0);
    const due = Math.ceil((this.#inputCount * t.up) / t.down) + t.delay;
    const want = due - this.#outputCount;
    // Zeros after the end let the filter reach the last real samples.
    this.#append(new Int16Array(t.halfTaps + 1));
    const out = this.#produce(want);
    this.#reset();
    return out;
  }

  #reset(): void {
    const t = this.#table;
    this.#inputCount = 0;
    this.#outputCount = 0;
    if (!t) return;
    // First output instant, in input samples: -delay * M / L (negative: history is zeros).
    const num = -t.delay * t.down; // instant * L
    const n0 = Math.floor(num / t.up);
    this.#phase = num - n0 * t.up;
    // The history starts at the first sample the filter of the first instant touches.
    const histStart = n0 - t.halfTaps + 1;
    this.#histLen = -histStart; // zeros standing for samples before the stream
    this.#ensure(this.#histLen + 4096);
    this.#hist.fill(0, 0, this.#histLen);
    this.#n = n0 - histStart;
  }

  #ensure(capacity: number): void {
    if (this.#hist.length >= capacity) return;
    const bigger = new Float32Array(Math.max(capacity, this.#hist.length * 2));
    bigger.set(this.#hist.subarray(0, this.#histLen));
    this.#hist = bigger;
  }

  #append(input: Int16Array): void {
    this.#ensure(this.#histLen + input.length);
    this.#hist.set(input, this.#histLen);
    this.#histLen += input.length;
  }

  #produce(count: number): Int16Array {
    const t = this.#table!;
    const out = new Int16Array(Math.max(0, count));
    const { coefs, taps, halfTaps, up, down } = t;
    const hist = this.#hist;
    let n = this.#n;
    let phase = this.#phase;
    let k = 0;
    for (; k < out.length; k++) {
      if (n + halfTaps >= this.#histLen) break; // cannot happen by construction; stay safe
      const base = n - halfTaps + 1;
      const row = phase * taps;
      let acc = 0;
      for (let i = 0; i < taps; i++) acc += hist[base + i]! * coefs[row + i]!;
      const v = Math.round(acc);
      out[k] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
      phase += down;
      if (phase >= up) {
        n += Math.floor(phase / up);
        phase %= up;
      }
    }
    this.#outputCount += k;
    // Drop history no future output will touch.
    const keepFrom = n - halfTaps + 1;
    if (keepFrom > 0) {
      hist.copyWithin(0, keepFrom, this.#histLen);
      this.#histLen -= keepFrom;
      n -= keepFrom;
    }
    this.#n = n;
    this.#phase = phase;
    return k === out.length ? out : out.subarray(0, k);
  }
}
