// G.722 (src/media/codecs/g722-sbadpcm.ts, g722.ts): bit-exact against the
// ITU-T test sequences when they are at hand, a golden digest of a fixed
// signal recorded when the coder matched them, round trips of speech and
// tones with an SNR floor, and the RTP framing with its 8000 Hz clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { G722Decoder, G722Encoder } from "../../src/media/codecs/g722-sbadpcm.js";
import { g722Codec } from "../../src/media/codecs/index.js";
import { speechLike } from "../../scripts/lab/audio-compare.js";

/** Little-endian 16-bit words. */
function readWords(file: string): Int16Array {
  const b = readFileSync(file);
  const out = new Int16Array(b.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = b.readInt16LE(2 * i);
  return out;
}

function firstDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

// The ITU-T G.722 test sequences as the ITU-T Software Tool Library (G.191)
// ships them in src/g722/test_data (github.com/openitu/STL): inpsp.bin (6.1 s
// of speech at 16 kHz), codspw.cod (its codes, one per 16-bit word; the
// octet file codsp.cod there had its byte pairs swapped by the conversion to
// little endian), outsp1/2/3.bin (the codes decoded in modes 1, 2, 3). They
// are not ours to copy into this repository: point G722_ITU_VECTORS at a
// directory holding them to run this test.
const vectors = process.env.G722_ITU_VECTORS;
const vectorsMissing = !vectors
  ? "set G722_ITU_VECTORS to a directory with the ITU-T G.722 test sequences (openitu/STL src/g722/test_data) to run it"
  : !existsSync(join(vectors, "inpsp.bin"))
    ? `no inpsp.bin in G722_ITU_VECTORS=${vectors}`
    : false;

test("bit-exact with the ITU-T test sequences: encoder, and decoder in modes 1, 2 and 3", { skip: vectorsMissing }, () => {
  const input = readWords(join(vectors!, "inpsp.bin"));
  const codes = Uint8Array.from(readWords(join(vectors!, "codspw.cod")));
  const ours = new G722Encoder().encode(input);
  assert.equal(firstDifference(ours, codes), -1, "encoder: the first differing code");
  for (const mode of [1, 2, 3] as const) {
    const ref = readWords(join(vectors!, `outsp${mode}.bin`));
    assert.equal(firstDifference(new G722Decoder(mode).decode(codes), ref), -1, `decoder mode ${mode}: the first differing sample`);
  }
});

/** A fixed 2 s test signal in integer arithmetic only: chirps, a square wave, noise bursts, full-scale clipping, silence. */
function fixedSignal(): Int16Array {
  const n = 32000;
  const out = new Int16Array(n);
  let seed = 12345;
  let phase = 0;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const noise = ((seed >>> 16) & 0x7fff) - 16384;
    phase = (phase + 20 + (i >> 6)) & 0xffff; // a rising chirp, as a sawtooth
    const saw = phase - 32768;
    const square = (i >> 5) & 1 ? 6000 : -6000;
    let v: number;
    if (i < 8000) v = (saw >> 2) + (square >> 1);
    else if (i < 12000) v = noise;
    else if (i < 16000) v = 0;
    else if (i < 20000) v = saw * 2; // clipped below
    else v = ((saw >> 1) + noise) >> 1;
    out[i] = v > 32767 ? 32767 : v < -32768 ? -32768 : v;
  }
  return out;
}

test("golden digest of a fixed signal, recorded when the coder matched the ITU-T sequences bit for bit", () => {
  const codes = new G722Encoder().encode(fixedSignal());
  const decoded = new G722Decoder().decode(codes);
  const sha = (b: ArrayBufferView) => createHash("sha256").update(new Uint8Array(b.buffer, b.byteOffset, b.byteLength)).digest("hex");
  assert.equal(codes.length, 16000);
  assert.equal(sha(codes), "0edf61f298e6b40c52d9e5014b444bc0e48af4e16b4902ae4b91c430a6c953d1");
  assert.equal(sha(decoded), "4556fa8ffd10dbd6d56a2c228a17751e88795b86a8dfdd98f126b42c901dfdd3");
});

/** SNR (dB) of y against x delayed by `lag`, after the ADPCM's first 50 ms of adaptation from its reset state. */
function snrAt(x: Int16Array, y: Int16Array, lag: number): number {
  let s = 0;
  let e = 0;
  for (let i = 800; i + lag < y.length && i < x.length; i++) {
    const d = x[i]! - y[i + lag]!;
    s += x[i]! * x[i]!;
    e += d * d;
  }
  return 10 * Math.log10(s / e);
}

test("round trips: speech-like SNR >= 20 dB and a 1 kHz tone >= 40 dB, 22 samples (1.375 ms) of delay", (t) => {
  const speech = speechLike(16000, 3);
  const tone = Int16Array.from({ length: 16000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 16000)));
  const out = new G722Decoder().decode(new G722Encoder().encode(speech));
  let best = { lag: 0, snr: -Infinity };
  for (let lag = 0; lag < 40; lag++) {
    const snr = snrAt(speech, out, lag);
    if (snr > best.snr) best = { lag, snr };
  }
  t.diagnostic(`speech-like: SNR ${best.snr.toFixed(1)} dB at a delay of ${best.lag} samples`);
  assert.equal(best.lag, 22, "the QMF pair's delay");
  assert.ok(best.snr >= 20, `speech-like: SNR ${best.snr.toFixed(1)} dB < 20`);
  const toneSnr = snrAt(tone, new G722Decoder().decode(new G722Encoder().encode(tone)), 22);
  t.diagnostic(`1 kHz tone: SNR ${toneSnr.toFixed(1)} dB`);
  assert.ok(toneSnr >= 40, `1 kHz tone: SNR ${toneSnr.toFixed(1)} dB < 40`);
  assert.equal(g722Codec.algorithmicDelayMs, (22 / 16000) * 1000);
});

test("encoding frame by frame gives the same octets as all at once (state carries over)", () => {
  const pcm = speechLike(16000, 1);
  const whole = new G722Encoder().encode(pcm);
  const enc = new G722Encoder();
  const parts: number[] = [];
  for (let i = 0; i < pcm.length; i += 320) parts.push(...enc.encode(pcm.subarray(i, i + 320)));
  assert.deepEqual(Uint8Array.from(parts), whole);
});

test("RTP framing: G722/8000, 16 kHz PCM, 320 samples and 160 octets per 20 ms, timestamps in 8000 Hz units", () => {
  assert.deepEqual([g722Codec.name, g722Codec.clockRate, g722Codec.pcmRate, g722Codec.channels, g722Codec.defaultPayloadType], ["G722", 8000, 16000, 1, 9]);
  const enc = g722Codec.createEncoder();
  assert.equal(enc.frameSamples, 320);
  assert.equal(g722Codec.createEncoder({ ptimeMs: 30 }).frameSamples, 480);
  const payload = enc.encode(speechLike(16000, 0.02));
  assert.equal(payload.length, 160);
  assert.equal(g722Codec.packetSamples(payload), 160, "duration in clock-rate units: 20 ms at 8000 Hz");
  assert.equal(g722Codec.packetSamples(Buffer.alloc(0)), undefined);
  const dec = g722Codec.createDecoder();
  assert.equal(dec.decode(payload).length, 320);
});

test("loss: concealment continues the 16 kHz signal and fades; decoding resumes", () => {
  const enc = g722Codec.createEncoder();
  const dec = g722Codec.createDecoder();
  assert.deepEqual(dec.conceal(320), new Int16Array(320), "nothing heard yet: silence");
  const tone = Int16Array.from({ length: 3200 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 250 * i) / 16000)));
  for (let i = 0; i < 1600; i += 320) dec.decode(enc.encode(tone.subarray(i, i + 320)));
  const peak = (a: Int16Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const c1 = dec.conceal(320);
  assert.equal(c1.length, 320);
  assert.ok(peak(c1) > 6000, `the first lost frame continues the tone (peak ${peak(c1)})`);
  dec.conceal(320);
  dec.conceal(320);
  assert.equal(peak(dec.conceal(320)), 0, "silent after 60 ms");
  // The encoder went on meanwhile; the decoder, which missed those octets, catches up.
  for (let i = 1600; i < 2560; i += 320) enc.encode(tone.subarray(i, i + 320));
  let last: Int16Array = new Int16Array(0);
  for (let i = 2560; i < 3200; i += 320) last = dec.decode(enc.encode(tone.subarray(i, i + 320)));
  assert.ok(peak(last) > 6000, `audio again after the loss (peak ${peak(last)})`);
});
