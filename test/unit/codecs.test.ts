import { test } from "node:test";
import assert from "node:assert/strict";
import OpusScript from "opusscript";
import {
  OpusBackend, codecIds, createOpusDecoder, createOpusEncoder, findCodec, findCodecById, findCodecByStaticPayloadType, g722Codec, listCodecs,
  nativeOpusProblem, opusCodec, pcmaCodec, pcmuCodec, registerCodec,
} from "../../src/media/codecs/index.js";
import type { AudioDecoder, AudioEncoder, CodecDescriptor, EncoderOptions } from "../../src/media/codecs/index.js";
import { speechLike } from "../../scripts/lab/audio-compare.js";

function tones(rate: number, samples: number): Int16Array {
  const out = new Int16Array(samples);
  for (let i = 0; i < samples; i++) {
    const t = i / rate;
    out[i] = Math.round(6000 * Math.sin(2 * Math.PI * 440 * t) + 4000 * Math.sin(2 * Math.PI * 1000 * t));
  }
  return out;
}

/** Encode frame by frame, decode every packet, concatenate the output. */
function roundTrip(enc: AudioEncoder, dec: AudioDecoder, pcm: Int16Array): { out: Int16Array; bytes: number; encMs: number; decMs: number } {
  const n = enc.frameSamples;
  const frames = Math.floor(pcm.length / n);
  const out = new Int16Array(frames * n);
  let bytes = 0;
  let encMs = 0;
  let decMs = 0;
  let o = 0;
  for (let f = 0; f < frames; f++) {
    const t0 = performance.now();
    const payload = enc.encode(pcm.subarray(f * n, (f + 1) * n));
    const t1 = performance.now();
    const y = dec.decode(payload);
    decMs += performance.now() - t1;
    encMs += t1 - t0;
    bytes += payload.length;
    out.set(y, o);
    o += y.length;
  }
  return { out: out.subarray(0, o), bytes, encMs: encMs / frames, decMs: decMs / frames };
}

/** Best normalised correlation of y against x over delays 0..maxDelay (codec look-ahead). */
function alignedCorrelation(x: Int16Array, y: Int16Array, maxDelay: number): { corr: number; delay: number } {
  let best = { corr: -1, delay: 0 };
  const len = Math.min(x.length, y.length) - maxDelay;
  for (let d = 0; d <= maxDelay; d++) {
    let xy = 0;
    let xx = 0;
    let yy = 0;
    for (let i = 0; i < len; i++) {
      const a = x[i]!;
      const b = y[i + d]!;
      xy += a * b;
      xx += a * a;
      yy += b * b;
    }
    const c = xy / Math.sqrt(xx * yy);
    if (c > best.corr) best = { corr: c, delay: d };
  }
  return best;
}

test("registry: built-ins are found by name (case-insensitive) and clock rate, by id, by static payload type", () => {
  assert.equal(findCodec("opus", 48000), opusCodec);
  assert.equal(findCodec("OPUS", 48000), opusCodec);
  assert.equal(findCodec("pcmu", 8000), pcmuCodec);
  assert.equal(findCodec("PCMU", 16000), undefined);
  assert.equal(findCodec("pcma", 8000), pcmaCodec);
  // G.722: signalled at 8000 although it samples at 16000 (RFC 3551 §4.5.2).
  assert.equal(findCodec("G722", 8000), g722Codec);
  assert.equal(findCodec("G722", 16000), undefined);
  assert.deepEqual(
    listCodecs().slice(0, 4).map((c) => c.name),
    ["opus", "G722", "PCMU", "PCMA"],
  );
  assert.deepEqual(codecIds().slice(0, 4), ["opus", "g722", "pcmu", "pcma"]);
  assert.equal(findCodecById("G722"), g722Codec);
  assert.equal(findCodecById("pcma"), pcmaCodec);
  assert.equal(findCodecById("speex"), undefined);
  assert.equal(findCodecByStaticPayloadType(0), pcmuCodec);
  assert.equal(findCodecByStaticPayloadType(8), pcmaCodec);
  assert.equal(findCodecByStaticPayloadType(9), g722Codec);
  assert.equal(findCodecByStaticPayloadType(3), undefined, "GSM: not ours");
  assert.equal(findCodecByStaticPayloadType(111), undefined, "dynamic payload types have no fixed codec");
  const fake: CodecDescriptor = { ...pcmuCodec, name: "X-TEST", clockRate: 1234 };
  registerCodec(fake);
  assert.equal(findCodec("x-test", 1234), fake);
  assert.equal(findCodecById("x-test"), fake);
});

test("descriptors carry the RFC 3551 / RFC 7587 signalling", () => {
  assert.deepEqual(
    [pcmuCodec.name, pcmuCodec.clockRate, pcmuCodec.channels, pcmuCodec.pcmRate, pcmuCodec.defaultPayloadType],
    ["PCMU", 8000, 1, 8000, 0],
  );
  assert.deepEqual(
    [opusCodec.name, opusCodec.clockRate, opusCodec.channels, opusCodec.pcmRate, opusCodec.defaultPayloadType],
    ["opus", 48000, 2, 48000, 111],
  );
  assert.deepEqual(opusCodec.parameters, [
    { name: "minptime", value: "10" },
    { name: "useinbandfec", value: "1" },
  ]);
});

test("PCMU: 160 samples per 20 ms, 1 byte per sample, near-transparent round trip", () => {
  const enc = pcmuCodec.createEncoder();
  const dec = pcmuCodec.createDecoder();
  assert.equal(enc.frameSamples, 160);
  assert.equal(pcmuCodec.createEncoder({ ptimeMs: 30 }).frameSamples, 240);
  for (const [name, pcm] of [
    ["tones", tones(8000, 8000)],
    ["speech-like", speechLike(8000, 2)],
  ] as const) {
    const r = roundTrip(enc, dec, pcm);
    assert.equal(r.bytes, r.out.length);
    const { corr, delay } = alignedCorrelation(pcm, r.out, 0);
    assert.equal(delay, 0);
    assert.ok(corr > 0.999, `${name}: correlation ${corr}`);
  }
});

/** G.711 Table 1a (A-law): an octet's value, from the ITU-T table's rule, independent of alawmulaw. */
function aLawValue(octet: number): number {
  const c = octet ^ 0x55; // even bits inverted on the line
  const segment = (c >> 4) & 7;
  const mantissa = c & 15;
  const magnitude = segment === 0 ? (mantissa << 4) + 8 : ((mantissa << 4) + 0x108) << (segment - 1);
  return c & 0x80 ? magnitude : -magnitude;
}

test("PCMA: every A-law octet decodes to G.711's value and encodes back to itself; 1 byte per sample; round trip", () => {
  const dec = pcmaCodec.createDecoder();
  const enc = pcmaCodec.createEncoder();
  assert.deepEqual([pcmaCodec.name, pcmaCodec.clockRate, pcmaCodec.pcmRate, pcmaCodec.defaultPayloadType], ["PCMA", 8000, 8000, 8]);
  assert.equal(enc.frameSamples, 160);
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
  const values = pcmaCodec.createDecoder().decode(all);
  for (let i = 0; i < 256; i++) assert.equal(values[i], aLawValue(i), `octet 0x${i.toString(16)}`);
  assert.deepEqual([...pcmaCodec.createEncoder().encode(values)], [...all], "each decoded value encodes to its octet");
  assert.deepEqual([...enc.encode(Int16Array.of(0, 32767, -32768))], [0xd5, 0xaa, 0x2a], "zero, the largest, the smallest");
  for (const [name, pcm] of [["tones", tones(8000, 8000)], ["speech-like", speechLike(8000, 2)]] as const) {
    const r = roundTrip(enc, dec, pcm);
    assert.equal(r.bytes, r.out.length);
    const { corr, delay } = alignedCorrelation(pcm, r.out, 0);
    assert.equal(delay, 0);
    assert.ok(corr > 0.999, `${name}: correlation ${corr}`);
  }
  // Not µ-law: the same samples give other octets.
  assert.notDeepEqual([...pcmuCodec.createEncoder().encode(Int16Array.of(1000, -1000))], [...enc.encode(Int16Array.of(1000, -1000))]);
});

test("PCMU conceal: repeats the last pitch period, fades, silent after 60 ms; resumes with a cross-fade", () => {
  const dec = pcmuCodec.createDecoder();
  assert.deepEqual(dec.conceal(160), new Int16Array(160), "nothing heard yet: silence");
  const enc = pcmuCodec.createEncoder();
  // A 200 Hz tone: a period of 40 samples (5 ms).
  const x = Int16Array.from({ length: 320 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 200 * i) / 8000)));
  const y = new Int16Array(320);
  y.set(dec.decode(enc.encode(x.subarray(0, 160))));
  y.set(dec.decode(enc.encode(x.subarray(160))), 160);
  const c1 = dec.conceal(160);
  assert.equal(c1.length, 160);
  // The first 10 ms continue the waveform period by period, at full level.
  for (let i = 0; i < 80; i++) assert.ok(Math.abs(c1[i]! - y[280 + (i % 40)]!) <= 1, `sample ${i}`);
  const peak = (a: Int16Array) => a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const c2 = dec.conceal(160);
  const c3 = dec.conceal(160);
  assert.ok(peak(c2) < peak(c1) && peak(c3) < peak(c2), "each lost frame quieter");
  assert.equal(peak(dec.conceal(160)), 0, "silence after 60 ms");
  const back = dec.decode(enc.encode(x.subarray(0, 160)));
  assert.ok(peak(back) > 7000, "real audio after the loss");
  const c4 = dec.conceal(40);
  assert.ok(peak(c4) > 7000, "a real packet restarts the concealment at full level");
});

/**
 * An Opus test run once per backend: opusscript (WASM) and the native libopus
 * binding (skipped, with the reason, when it is not built).
 */
function opusTest(name: string, fn: (newEncoder: (opts?: EncoderOptions) => AudioEncoder, newDecoder: () => AudioDecoder) => void): void {
  const nativeProblem = nativeOpusProblem();
  for (const backend of [OpusBackend.Wasm, OpusBackend.Native]) {
    const skip = backend === OpusBackend.Native && nativeProblem ? `native Opus backend not built: ${nativeProblem}` : false;
    test(`${name} [${backend}]`, { skip }, () => fn((opts) => createOpusEncoder(opts, backend), () => createOpusDecoder(backend)));
  }
}

opusTest("Opus: 440 Hz + 1 kHz and speech-like round trips correlate > 0.9", (newEncoder, newDecoder) => {
  const enc = newEncoder();
  const dec = newDecoder();
  try {
    assert.equal(enc.frameSamples, 960);
    const results: string[] = [];
    for (const [name, pcm] of [
      ["440 Hz + 1 kHz", tones(48000, 48000 * 2)],
      ["speech-like", speechLike(48000, 3)],
    ] as const) {
      const r = roundTrip(enc, dec, pcm);
      assert.equal(r.out.length, pcm.length);
      const { corr, delay } = alignedCorrelation(pcm, r.out, 960);
      assert.ok(corr > 0.9, `${name}: correlation ${corr}`);
      const kbps = (r.bytes * 8) / (pcm.length / 48000) / 1000;
      results.push(
        `${name}: corr ${corr.toFixed(4)} delay ${delay} samples, ${kbps.toFixed(1)} kbit/s, ` +
          `encode ${r.encMs.toFixed(3)} ms, decode ${r.decMs.toFixed(3)} ms per 20 ms frame`,
      );
    }
    for (const line of results) console.log(`# opus [${enc.backend}] ${line}`);
  } finally {
    enc.close();
    dec.close();
  }
});

opusTest("Opus conceal returns exactly the requested length, in any mode", (newEncoder, newDecoder) => {
  const enc = newEncoder();
  const dec = newDecoder();
  try {
    assert.equal(dec.conceal(960).length, 960, "before any packet");
    const speech = speechLike(48000, 1);
    for (let f = 0; f < 10; f++) dec.decode(enc.encode(speech.subarray(f * 960, (f + 1) * 960)));
    for (const n of [960, 480, 120, 1, 959, 2880, 1920, 5000]) assert.equal(dec.conceal(n).length, n, `conceal(${n})`);
    // After a real packet, decoding continues with full frames.
    assert.equal(dec.decode(enc.encode(speech.subarray(10 * 960, 11 * 960))).length, 960);
    // An empty payload is one lost frame of the current size, not 60 ms.
    assert.equal(dec.decode(Buffer.alloc(0)).length, 960);
  } finally {
    enc.close();
    dec.close();
  }
});

opusTest("Opus conceal continues the signal instead of dropping to silence", (newEncoder, newDecoder) => {
  const enc = newEncoder();
  const dec = newDecoder();
  try {
    const x = tones(48000, 960 * 20);
    for (let f = 0; f < 19; f++) dec.decode(enc.encode(x.subarray(f * 960, (f + 1) * 960)));
    const c = dec.conceal(960);
    const rms = Math.sqrt(c.reduce((s, v) => s + v * v, 0) / c.length);
    assert.ok(rms > 1000, `concealed frame rms ${rms}`);
  } finally {
    enc.close();
    dec.close();
  }
});

opusTest("Opus: a mono decoder decodes a stereo stream (RFC 7587 §7)", (newEncoder, newDecoder) => {
  const stereoEnc = new OpusScript(48000, 2, OpusScript.Application.AUDIO);
  const dec = newDecoder();
  try {
    const mono = tones(48000, 960 * 25);
    const out: number[] = [];
    for (let f = 0; f < 25; f++) {
      const inter = new Int16Array(1920);
      for (let i = 0; i < 960; i++) {
        inter[2 * i] = mono[f * 960 + i]!;
        inter[2 * i + 1] = mono[f * 960 + i]!;
      }
      const packet = stereoEnc.encode(Buffer.from(inter.buffer), 960);
      assert.equal(packet[0]! & 0x04, 0x04, "TOC says stereo");
      const y = dec.decode(packet);
      assert.equal(y.length, 960);
      out.push(...y);
    }
    const { corr } = alignedCorrelation(mono, Int16Array.from(out), 960);
    assert.ok(corr > 0.9, `correlation ${corr}`);
  } finally {
    stereoEnc.delete();
    dec.close();
  }
});

opusTest("Opus encoder options: bitrate, FEC off, DTX, ptime", (newEncoder, newDecoder) => {
  const speech = speechLike(48000, 2);
  const size = (opts: Parameters<typeof opusCodec.createEncoder>[0]) => {
    const enc = newEncoder(opts);
    let bytes = 0;
    for (let f = 0; f + enc.frameSamples <= speech.length; f += enc.frameSamples) {
      bytes += enc.encode(speech.subarray(f, f + enc.frameSamples)).length;
    }
    enc.close();
    return bytes;
  };
  assert.ok(size({ bitrate: 16000 }) < size({ bitrate: 48000 }));
  assert.ok(size({ fec: false }) > 0);
  const dtx = newEncoder({ dtx: true });
  const silent = new Int16Array(960);
  const sizes = Array.from({ length: 30 }, () => dtx.encode(silent).length);
  dtx.close();
  assert.ok(sizes.slice(-5).every((n) => n <= 2), `DTX frames ${sizes.slice(-5)}`);
  assert.equal(newEncoder({ ptimeMs: 10 }).frameSamples, 480);
  assert.throws(() => newEncoder({ ptimeMs: 30 }), /cannot use 30 ms/);
  const enc = newEncoder();
  assert.throws(() => enc.encode(new Int16Array(100)), /960 samples/);
  enc.close();
  assert.throws(() => enc.encode(new Int16Array(960)), /closed/);
});

opusTest("Opus: a corrupt packet is concealed, not thrown", (newEncoder, newDecoder) => {
  const dec = newDecoder();
  try {
    // Code 3 with a frame count of 0 is invalid (RFC 6716 §3.2.5).
    assert.equal(dec.decode(Buffer.from([0xfb, 0x00, 0x01])).length, 960);
  } finally {
    dec.close();
  }
});
