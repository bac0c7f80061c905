import { test } from "node:test";
import assert from "node:assert/strict";
import { Resampler } from "../../src/media/resampler.js";

function sine(rate: number, freq: number, samples: number, amp = 10000): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) out[i] = Math.round(amp * Math.sin((2 * Math.PI * freq * i) / rate));
  return out;
}

function rms(x: Int16Array, from = 0, to = x.length): number {
  let s = 0;
  for (let i = from; i < to; i++) s += x[i]! * x[i]!;
  return Math.sqrt(s / (to - from));
}

/** Amplitude of the `freq` component (single-bin DFT) over [from, to). */
function toneAmplitude(x: Int16Array, rate: number, freq: number, from: number, to: number): number {
  let re = 0;
  let im = 0;
  for (let i = from; i < to; i++) {
    re += x[i]! * Math.cos((2 * Math.PI * freq * i) / rate);
    im -= x[i]! * Math.sin((2 * Math.PI * freq * i) / rate);
  }
  return (2 * Math.hypot(re, im)) / (to - from);
}

function concat(parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

test("identity when the rates match", () => {
  const r = new Resampler(16000, 16000);
  const x = sine(16000, 1000, 320);
  assert.deepEqual(r.process(x), x);
  assert.equal(r.delay, 0);
  assert.equal(r.flush().length, 0);
});

test("1 kHz sine 48k -> 8k -> 48k stays a 1 kHz sine with small error", () => {
  const x = sine(48000, 1000, 48000);
  const down = Resampler.resampleAll(x, 48000, 8000);
  assert.equal(down.length, 8000);
  const back = Resampler.resampleAll(down, 8000, 48000);
  assert.equal(back.length, 48000);
  // Ignore the edges (the filter sees zeros beyond the ends).
  const from = 2400;
  const to = 45600;
  const amp = toneAmplitude(back, 48000, 1000, from, to);
  assert.ok(Math.abs(amp - 10000) < 100, `1 kHz amplitude ${amp.toFixed(1)}`);
  let err = 0;
  for (let i = from; i < to; i++) err += (back[i]! - x[i]!) ** 2;
  const errRms = Math.sqrt(err / (to - from));
  const snrDb = 20 * Math.log10(rms(x, from, to) / errRms);
  assert.ok(snrDb > 40, `round trip SNR ${snrDb.toFixed(1)} dB`);
});

test("a 6 kHz tone is strongly attenuated by 48k -> 8k (anti-aliasing)", () => {
  const x = sine(48000, 6000, 48000);
  const y = Resampler.resampleAll(x, 48000, 8000);
  // 6 kHz would alias to 2 kHz.
  const alias = toneAmplitude(y, 8000, 2000, 400, 7600);
  const attenuationDb = 20 * Math.log10(10000 / Math.max(alias, 1e-9));
  assert.ok(attenuationDb > 60, `alias at -${attenuationDb.toFixed(1)} dB`);
  assert.ok(rms(y, 400, 7600) < 10, `residual rms ${rms(y, 400, 7600)}`);
});

test("upsampling 8k -> 48k leaves no strong image of a 1 kHz tone", () => {
  const y = Resampler.resampleAll(sine(8000, 1000, 8000), 8000, 48000);
  const wanted = toneAmplitude(y, 48000, 1000, 4800, 43200);
  const image = toneAmplitude(y, 48000, 7000, 4800, 43200); // first image: 8000 - 1000
  assert.ok(wanted > 9900, `tone ${wanted}`);
  assert.ok(20 * Math.log10(wanted / image) > 60, `image only ${20 * Math.log10(wanted / image)} dB down`);
});

test("chunked processing equals one-shot processing", () => {
  for (const [a, b] of [
    [48000, 8000],
    [8000, 48000],
    [44100, 48000],
    [48000, 44100],
    [22050, 16000],
    [16000, 22050],
  ] as const) {
    const x = sine(a, 440, a / 2, 12000);
    const one = new Resampler(a, b);
    const whole = concat([one.process(x), one.flush()]);
    const chunked = new Resampler(a, b);
    const parts: Int16Array[] = [];
    let off = 0;
    let size = 1;
    while (off < x.length) {
      parts.push(chunked.process(x.subarray(off, off + size)));
      off += size;
      size = (size * 7 + 3) % 1001; // irregular chunk sizes, including 0
    }
    parts.push(chunked.flush());
    assert.deepEqual(concat(parts), whole, `${a} -> ${b}`);
  }
});

test("output length tracks input * out / in without drift", () => {
  for (const [a, b, chunk] of [
    [48000, 8000, 960],
    [8000, 48000, 160],
    [44100, 48000, 441],
    [48000, 22050, 480],
  ] as const) {
    const r = new Resampler(a, b);
    let inTotal = 0;
    let outTotal = 0;
    for (let i = 0; i < 1500; i++) {
      outTotal += r.process(new Int16Array(chunk)).length;
      inTotal += chunk;
      assert.equal(outTotal, Math.ceil((inTotal * b) / a));
    }
    if (chunk * b % a === 0) assert.equal(r.process(new Int16Array(chunk)).length, (chunk * b) / a);
  }
});

test("resampleAll is aligned: a click stays where it was", () => {
  const x = new Int16Array(4800);
  x[2400] = 20000;
  const y = Resampler.resampleAll(x, 48000, 16000);
  let peakAt = 0;
  for (let i = 0; i < y.length; i++) if (Math.abs(y[i]!) > Math.abs(y[peakAt]!)) peakAt = i;
  assert.equal(peakAt, 800);
});

test("rejects nonsense rates", () => {
  assert.throws(() => new Resampler(0, 8000), RangeError);
  assert.throws(() => new Resampler(8000, 44100.5), RangeError);
});
