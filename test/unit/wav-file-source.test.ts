// A WAV file played as it is read (src/media/sources/wav-file-source.ts):
// a chunk at a time, the next one read in the background; the same samples
// as decoding the whole file, across chunks, loops and conversions; opening
// a long file reads little of it; no descriptor outlives its source.
import { test } from "node:test";
import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CHUNK_MS, STALL_MS, WavFileSource } from "../../src/media/sources/wav-file-source.js";
import { readWavMono, wavHeader, writeWavFile } from "../../src/media/wav.js";
import { prng } from "../../scripts/lab/audio-compare.js";

const withDir = (fn: (dir: string) => Promise<void> | void) => async () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-wavsrc-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const turn = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

function noise(n: number, seed: number): Int16Array {
  const rnd = prng(seed);
  return Int16Array.from({ length: n }, () => Math.floor(rnd() * 65536) - 32768);
}

/** Frames of `frame` samples as a media tick reads them, a turn of the event loop between (the background reads land). */
async function play(src: WavFileSource, frames: number, frame: number): Promise<Int16Array> {
  const out = new Int16Array(frames * frame);
  for (let i = 0; i < frames; i++) {
    out.set(src.read(frame), i * frame);
    await turn();
  }
  return out;
}

test("a file of many chunks plays sample for sample, frame by frame, and ends on the frame that carries its end", withDir(async (dir) => {
  const rate = 48000;
  const samples = noise(Math.round(rate * 1.5) + 123, 1); // 6+ chunks, not a whole number of frames
  const path = join(dir, "long.wav");
  writeWavFile(path, samples, rate);
  const src = new WavFileSource(path, rate);
  let ended = 0;
  src.onEnded = () => ended++;
  const frame = 960;
  const frames = Math.ceil(samples.length / frame);
  const got = await play(src, frames - 1, frame);
  assert.deepEqual(got, samples.subarray(0, got.length));
  assert.equal(src.ended, false);
  const last = src.read(frame);
  assert.deepEqual(last.subarray(0, samples.length - got.length), samples.subarray(got.length));
  assert.ok(last.subarray(samples.length - got.length).every((v) => v === 0), "silence after the end");
  assert.equal(src.ended, true);
  assert.equal(ended, 1);
  assert.deepEqual(src.read(frame), new Int16Array(frame));
  assert.equal(ended, 1, "onEnded once");
  assert.equal(src.underrunSamples, 0);
}));

test("a looped file of many chunks starts over seamlessly", withDir(async (dir) => {
  const samples = noise(8000 + 77, 2); // 8 kHz: ~4 chunks
  const path = join(dir, "loop.wav");
  writeWavFile(path, samples, 8000);
  const src = new WavFileSource(path, 8000, { loop: true });
  const got = await play(src, 130, 160); // 20800 samples: two and a half passes
  const want = Int16Array.from({ length: got.length }, (_, i) => samples[i % samples.length]!);
  assert.deepEqual(got, want);
  assert.equal(src.ended, false);
  assert.equal(src.underrunSamples, 0);
}));

test("conversion across chunks gives what decoding the whole file gives: stereo 44.1 kHz to 48 kHz, mono 48 kHz to 8 kHz", withDir(async (dir) => {
  const stereo = join(dir, "stereo.wav");
  writeWavFile(stereo, noise(44100 * 2, 3), 44100, 2); // 1 s of stereo frames
  const want = readWavMono(readFileSync(stereo), 48000);
  const src = new WavFileSource(stereo, 48000);
  assert.equal(src.length, want.length);
  const got = await play(src, Math.ceil(want.length / 960), 960);
  assert.deepEqual(got.subarray(0, want.length), want);
  assert.equal(src.ended, true);

  const mono = join(dir, "mono.wav");
  writeWavFile(mono, noise(48000 + 5, 4), 48000);
  const want8 = readWavMono(readFileSync(mono), 8000);
  const looped = new WavFileSource(mono, 8000, { loop: true });
  const two = await play(looped, Math.ceil((2 * want8.length) / 160), 160);
  assert.deepEqual(two.subarray(0, want8.length), want8, "first pass");
  assert.deepEqual(two.subarray(want8.length, 2 * want8.length), want8, "second pass: the resampler starts over");
}));

test("a read of more than a chunk at once is served whole, without waiting for the background read", withDir((dir) => {
  const samples = noise(16000, 5);
  const path = join(dir, "big-read.wav");
  writeWavFile(path, samples, 8000);
  const src = new WavFileSource(path, 8000);
  assert.ok(samples.length > (3 * 8000 * CHUNK_MS) / 1000);
  assert.deepEqual(src.read(samples.length), samples);
  assert.equal(src.ended, true);
}));

test("a reader faster than real time gets every sample; a chunk overdue by STALL_MS plays as silence, and the file goes on after it", withDir(async (dir) => {
  const samples = noise(8000, 8); // 8 kHz, ~4 chunks
  const path = join(dir, "stall.wav");
  writeWavFile(path, samples, 8000);
  // No turn of the event loop between reads (a simulated clock): each chunk is read at once.
  const fast = new WavFileSource(path, 8000);
  const all = Array.from({ length: 50 }, () => [...fast.read(160)]).flat();
  assert.deepEqual(all, [...samples]);
  assert.equal(fast.underrunSamples, 0);

  // The same, but the clock says the background read has been out for longer than STALL_MS.
  const src = new WavFileSource(path, 8000);
  const realNow = performance.now.bind(performance);
  let skew = 0;
  performance.now = () => realNow() + skew;
  try {
    const out: number[] = [];
    while (src.underrunSamples === 0 && out.length < samples.length) {
      out.push(...src.read(160));
      skew += STALL_MS; // every frame "takes" STALL_MS, and the loop never lets a read land
    }
    assert.ok(src.underrunSamples > 0, "an overdue chunk is not waited for");
    const played = out.length - src.underrunSamples;
    assert.deepEqual(out.slice(0, played), [...samples.subarray(0, played)]);
    assert.ok(out.slice(played).every((v) => v === 0), "silence in its place");
    skew = 0;
    await turn(); // the read lands (or, not yet back, is no longer overdue: read at once)
    assert.deepEqual([...src.read(160)], [...samples.subarray(played, played + 160)], "the file goes on where it stopped");
  } finally {
    performance.now = realNow;
  }
  src.close();
}));

test("opening a long file reads its header and first chunk, not the file", withDir((dir) => {
  // A 300 MB data chunk (about 52 minutes at 48 kHz), sparse on disk: loaded whole it was read and held at open.
  const path = join(dir, "long.wav");
  const dataBytes = 300 * 1024 * 1024;
  const fd = openSync(path, "w");
  writeSync(fd, wavHeader(48000, 1, dataBytes), 0, 44, 0);
  writeSync(fd, Buffer.from([1, 0]), 0, 2, 44 + dataBytes - 2);
  closeSync(fd);
  const before = process.memoryUsage().arrayBuffers;
  const src = new WavFileSource(path, 48000);
  const grew = process.memoryUsage().arrayBuffers - before;
  assert.ok(grew < 1024 * 1024, `${grew} bytes of buffers after open`);
  assert.equal(src.length, dataBytes / 2);
  assert.deepEqual(src.read(4), new Int16Array(4));
  src.close();
}));

test("no descriptor outlives its source: closed mid-read, played out, or failed to open", withDir(async (dir) => {
  const fds = (): number => readdirSync("/proc/self/fd").length;
  const path = join(dir, "fd.wav");
  writeWavFile(path, noise(48000, 6), 48000);
  const bad = join(dir, "bad.wav");
  const bytes = Buffer.concat([wavHeader(48000, 1, 20), Buffer.alloc(20)]);
  bytes.write("JUNK", 36, "latin1"); // its data chunk renamed: none left
  writeFileSync(bad, bytes);
  await new Promise((r) => setTimeout(r, 50)); // earlier tests' descriptors closed
  const base = fds();
  for (let i = 0; i < 20; i++) {
    const a = new WavFileSource(path, 48000);
    a.read(960); // a background read starts
    a.close();
    assert.throws(() => new WavFileSource(bad, 48000), /cannot play .*bad\.wav: invalid WAV file: no 'data' chunk/);
  }
  const whole = new WavFileSource(path, 48000);
  await play(whole, 50, 960);
  assert.equal(whole.ended, true);
  for (let i = 0; i < 50 && fds() > base; i++) await turn();
  assert.ok(fds() <= base, `${fds()} descriptors open, ${base} before`);
}));
