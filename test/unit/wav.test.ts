import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WavError, WavFileWriter, encodeWav, parseWav, readWavMono, wavToMonoFloat, writeWavFile } from "../../src/media/wav.js";

/** Build a WAV by hand: chunks in the given order. */
function riff(chunks: [string, Buffer][]): Buffer {
  const parts = chunks.map(([id, body]) => {
    const h = Buffer.alloc(8);
    h.write(id, 0, "latin1");
    h.writeUInt32LE(body.length, 4);
    return Buffer.concat([h, body, body.length & 1 ? Buffer.alloc(1) : Buffer.alloc(0)]);
  });
  const body = Buffer.concat(parts);
  const head = Buffer.alloc(12);
  head.write("RIFF", 0, "latin1");
  head.writeUInt32LE(body.length + 4, 4);
  head.write("WAVE", 8, "latin1");
  return Buffer.concat([head, body]);
}

function fmt(tag: number, channels: number, rate: number, bits: number, extensibleSubtag?: number): Buffer {
  const b = Buffer.alloc(extensibleSubtag === undefined ? 16 : 40);
  b.writeUInt16LE(tag, 0);
  b.writeUInt16LE(channels, 2);
  b.writeUInt32LE(rate, 4);
  b.writeUInt32LE((rate * channels * bits) / 8, 8);
  b.writeUInt16LE((channels * bits) / 8, 12);
  b.writeUInt16LE(bits, 14);
  if (extensibleSubtag !== undefined) {
    b.writeUInt16LE(22, 16); // cbSize
    b.writeUInt16LE(bits, 18); // valid bits
    b.writeUInt32LE(channels === 2 ? 3 : 4, 20); // channel mask
    b.writeUInt16LE(extensibleSubtag, 24);
    Buffer.from("000000001000800000aa00389b71", "hex").copy(b, 26); // rest of the GUID
  }
  return b;
}

/** Interleaved samples in [-1, 1] encoded per format. */
function samples(kind: string, values: number[]): Buffer {
  switch (kind) {
    case "u8":
      return Buffer.from(values.map((v) => Math.round(v * 127) + 128));
    case "s16": {
      const b = Buffer.alloc(values.length * 2);
      values.forEach((v, i) => b.writeInt16LE(Math.round(v * 32767), i * 2));
      return b;
    }
    case "s24": {
      const b = Buffer.alloc(values.length * 3);
      values.forEach((v, i) => b.writeIntLE(Math.round(v * 8388607), i * 3, 3));
      return b;
    }
    case "s32": {
      const b = Buffer.alloc(values.length * 4);
      values.forEach((v, i) => b.writeInt32LE(Math.round(v * 2147483647), i * 4));
      return b;
    }
    case "f32": {
      const b = Buffer.alloc(values.length * 4);
      values.forEach((v, i) => b.writeFloatLE(v, i * 4));
      return b;
    }
    default: {
      const b = Buffer.alloc(values.length * 8);
      values.forEach((v, i) => b.writeDoubleLE(v, i * 8));
      return b;
    }
  }
}

// Stereo frames: left, right.
const STEREO = [0.5, -0.5, 0.25, 0.75, -1, -1, 0, 0.5];
const MONO_EXPECTED = [0, 0.5, -1, 0.25];

const encodings = [
  { name: "8-bit unsigned PCM", tag: 1, bits: 8, kind: "u8", tol: 0.01 },
  { name: "16-bit PCM", tag: 1, bits: 16, kind: "s16", tol: 1e-4 },
  { name: "24-bit PCM", tag: 1, bits: 24, kind: "s24", tol: 1e-6 },
  { name: "32-bit PCM", tag: 1, bits: 32, kind: "s32", tol: 1e-8 },
  { name: "32-bit float", tag: 3, bits: 32, kind: "f32", tol: 1e-7 },
  { name: "64-bit float", tag: 3, bits: 64, kind: "f64", tol: 1e-12 },
];

for (const e of encodings) {
  for (const extensible of [false, true]) {
    test(`parses stereo ${e.name}${extensible ? " (WAVE_FORMAT_EXTENSIBLE)" : ""} and downmixes`, () => {
      const buf = riff([
        ["fmt ", extensible ? fmt(0xfffe, 2, 44100, e.bits, e.tag) : fmt(e.tag, 2, 44100, e.bits)],
        ["data", samples(e.kind, STEREO)],
      ]);
      const wav = parseWav(buf);
      assert.equal(wav.format.sampleRate, 44100);
      assert.equal(wav.format.channels, 2);
      assert.equal(wav.frames, 4);
      const mono = wavToMonoFloat(wav);
      MONO_EXPECTED.forEach((v, i) => assert.ok(Math.abs(mono[i]! - v) <= e.tol, `${e.name}[${i}] = ${mono[i]}`));
    });
  }
}

test("skips unknown chunks (LIST, fact, odd-sized) before and after fmt", () => {
  const buf = riff([
    ["LIST", Buffer.from("INFOISFT\x05\x00\x00\x00test\x00", "latin1")], // odd length: padded
    ["fmt ", fmt(1, 1, 8000, 16)],
    ["fact", Buffer.alloc(4)],
    ["data", samples("s16", [0.5, -0.5])],
  ]);
  assert.deepEqual([...readWavMono(buf, 8000)], [16384, -16383]); // Math.round(-16383.5)
});

test("any channel count: 6 channels average", () => {
  const buf = riff([["fmt ", fmt(1, 6, 8000, 16)], ["data", samples("s16", [0.6, 0.6, 0, 0, 0, 0])]]);
  assert.ok(Math.abs(readWavMono(buf, 8000)[0]! - 0.2 * 32768) < 3);
});

test("G.711 µ-law WAV decodes", () => {
  const buf = riff([["fmt ", fmt(7, 1, 8000, 8)], ["data", Buffer.from([0xff, 0x80, 0x00])]]);
  const pcm = readWavMono(buf, 8000);
  assert.equal(pcm[0], 0);
  assert.ok(pcm[1]! > 30000 && pcm[2]! < -30000);
});

test("a data size past the end of the file (recorder died) is clamped", () => {
  const buf = encodeWav(new Int16Array([1, 2, 3, 4]), 8000);
  buf.writeUInt32LE(0xffffffff, 40);
  buf.writeUInt32LE(0xffffffff, 4);
  assert.deepEqual([...readWavMono(buf, 8000)], [1, 2, 3, 4]);
  // A partial last frame is ignored.
  assert.equal(parseWav(Buffer.concat([buf, Buffer.from([9])])).frames, 4);
});

test("clear errors for non-WAV and unsupported input", () => {
  const cases: [string, Buffer, RegExp][] = [
    ["empty", Buffer.alloc(0), /not a WAV file/],
    ["text", Buffer.from("hello, this is not audio at all"), /not a WAV file: missing RIFF\/WAVE/],
    ["no fmt", riff([["data", Buffer.alloc(4)]]), /no 'fmt ' chunk/],
    ["no data", riff([["fmt ", fmt(1, 1, 8000, 16)]]), /no 'data' chunk/],
    ["ADPCM", riff([["fmt ", fmt(2, 1, 8000, 4)], ["data", Buffer.alloc(4)]]), /unsupported WAV encoding 0x0002 \(Microsoft ADPCM\)/],
    ["12-bit", riff([["fmt ", fmt(1, 1, 8000, 12)], ["data", Buffer.alloc(4)]]), /12-bit integer PCM/],
    ["16-bit float", riff([["fmt ", fmt(3, 1, 8000, 16)], ["data", Buffer.alloc(4)]]), /16-bit float/],
    ["0 channels", riff([["fmt ", fmt(1, 0, 8000, 16)], ["data", Buffer.alloc(4)]]), /0 channels/],
    ["RF64", Buffer.from("RF64\xff\xff\xff\xffWAVEds64", "latin1"), /RF64/],
  ];
  for (const [name, buf, re] of cases) {
    assert.throws(() => parseWav(buf), (err: unknown) => err instanceof WavError && re.test(err.message), name);
  }
});

test("readWavMono resamples to the target rate", () => {
  const pcm = new Int16Array(16000).fill(8000);
  const out = readWavMono(encodeWav(pcm, 16000), 48000);
  assert.equal(out.length, 48000);
  assert.equal(out[24000], 8000);
});

test("WavFileWriter streams frames and patches the sizes on close", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-wav-"));
  try {
    const path = join(dir, "rec.wav");
    const w = WavFileWriter.open(path, 16000);
    const frame = new Int16Array(320);
    const expected: number[] = [];
    for (let f = 0; f < 50; f++) {
      for (let i = 0; i < frame.length; i++) frame[i] = f * 100 + i; // reused array: must be copied
      expected.push(...frame);
      w.write(frame);
      if (f % 10 === 0) await new Promise((r) => setImmediate(r));
    }
    await w.close();
    const buf = readFileSync(path);
    assert.equal(buf.length, 44 + 50 * 320 * 2);
    assert.equal(buf.readUInt32LE(4), buf.length - 8);
    assert.equal(buf.readUInt32LE(40), 50 * 320 * 2);
    const wav = parseWav(buf);
    assert.equal(wav.format.sampleRate, 16000);
    assert.deepEqual([...readWavMono(buf, 16000)], expected);
    await w.close(); // idempotent
    assert.throws(() => w.write(frame), /closed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("WavFileWriter: 20 ms frames never block the event loop for long", async () => {
  // 10 minutes of 48 kHz frames written as fast as possible (the real rate is
  // one per 20 ms); the cost per write() is what matters, not the duration.
  const dir = mkdtempSync(join(tmpdir(), "jingled-wav-"));
  try {
    const frames = 30_000;
    const w = WavFileWriter.open(join(dir, "long.wav"), 48000);
    const frame = new Int16Array(960);
    const times = new Float64Array(frames);
    for (let f = 0; f < frames; f++) {
      const t0 = performance.now();
      w.write(frame);
      times[f] = performance.now() - t0;
      if (f % 50 === 0) await new Promise((r) => setImmediate(r)); // let the writes run
    }
    await w.close();
    times.sort();
    const p99 = times[Math.floor(frames * 0.99)]!;
    const worst = times[frames - 1]!;
    assert.ok(p99 < 0.5, `p99 write() ${p99.toFixed(3)} ms`);
    // The single worst call is left unasserted: on a loaded machine it measures preemption, not us.
    assert.equal(readFileSync(join(dir, "long.wav")).readUInt32LE(40), frames * 1920);
    console.log(`# WavFileWriter 20 ms frames: p99 write() ${p99.toFixed(4)} ms, worst ${worst.toFixed(3)} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("WavFileWriter.open fails at once for an impossible path", () => {
  assert.throws(() => WavFileWriter.open("/nonexistent-dir/x.wav", 8000), /cannot create WAV file/);
});

test("writeWavFile round trip", () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-wav-"));
  try {
    const pcm = Int16Array.from({ length: 100 }, (_, i) => i * 300 - 15000);
    writeWavFile(join(dir, "a.wav"), pcm, 8000);
    assert.deepEqual(readWavMono(readFileSync(join(dir, "a.wav")), 8000), pcm);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
