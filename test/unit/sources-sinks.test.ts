import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createSink, NullSink, WavFileSink } from "../../src/media/sinks/index.js";
import { createSource, SilenceSource, ToneSource, WavFileSource } from "../../src/media/sources/index.js";
import { readWavMono, writeWavFile } from "../../src/media/wav.js";

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), "jingled-media-"));
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test("createSource picks the implementation by type", withDir((dir) => {
  const path = join(dir, "a.wav");
  writeWavFile(path, new Int16Array(100), 8000);
  assert.ok(createSource({ type: "file", path }, 8000) instanceof WavFileSource);
  assert.ok(createSource({ type: "tone" }, 8000) instanceof ToneSource);
  assert.ok(createSource({ type: "silence" }, 8000) instanceof SilenceSource);
  assert.throws(() => createSource({ type: "mic" } as never, 8000), /unknown audio source type: mic/);
}));

test("file source: exact reads, silence after the end, onEnded once", withDir((dir) => {
  const path = join(dir, "count.wav");
  const pcm = Int16Array.from({ length: 250 }, (_, i) => i + 1);
  writeWavFile(path, pcm, 8000);
  const src = createSource({ type: "file", path }, 8000);
  let ended = 0;
  src.onEnded = () => ended++;
  const a = src.read(160);
  assert.deepEqual([...a.subarray(0, 3)], [1, 2, 3]);
  assert.equal(src.ended, false);
  const b = src.read(160);
  assert.equal(b.length, 160);
  assert.deepEqual([...b.subarray(0, 90)], [...pcm.subarray(160)]);
  assert.ok(b.subarray(90).every((v) => v === 0), "silence after the end");
  assert.equal(src.ended, true);
  assert.equal(ended, 1);
  assert.deepEqual(src.read(160), new Int16Array(160));
  assert.equal(ended, 1);
  src.close();
}));

test("file source: loop wraps around and never ends", withDir((dir) => {
  const path = join(dir, "loop.wav");
  writeWavFile(path, Int16Array.from([1, 2, 3]), 8000);
  const src = createSource({ type: "file", path, loop: true }, 8000);
  assert.deepEqual([...src.read(8)], [1, 2, 3, 1, 2, 3, 1, 2]);
  assert.deepEqual([...src.read(2)], [3, 1]);
  assert.equal(src.ended, false);
}));

test("file source: resampled to the requested rate", withDir((dir) => {
  const path = join(dir, "one-second.wav");
  writeWavFile(path, new Int16Array(44100).fill(1000), 44100);
  const src = new WavFileSource(path, 48000);
  assert.equal(src.length, 48000);
  assert.equal(src.read(960)[480], 1000);
}));

test("file source: clear errors for a missing or invalid file", withDir((dir) => {
  assert.throws(() => createSource({ type: "file", path: join(dir, "nope.wav") }, 8000), /cannot open audio file .*nope\.wav: no such file/);
  const txt = join(dir, "notes.wav");
  writeFileSync(txt, "these are not samples");
  assert.throws(() => createSource({ type: "file", path: txt }, 8000), /cannot play .*notes\.wav: not a WAV file/);
  const empty = join(dir, "empty.wav");
  writeWavFile(empty, new Int16Array(0), 8000);
  const src = createSource({ type: "file", path: empty, loop: true }, 8000);
  assert.equal(src.ended, true);
  assert.deepEqual(src.read(10), new Int16Array(10));
}));

test("tone source: right frequency, phase-continuous across reads", () => {
  const src = createSource({ type: "tone", frequency: 1000 }, 8000);
  const x = new Int16Array(8000);
  for (let o = 0; o < 8000; o += 160) x.set(src.read(160), o);
  // 1 kHz at 8 kHz: period of 8 samples, so x[i] == x[i + 8] everywhere, also across reads.
  for (let i = 0; i + 8 < x.length; i++) assert.ok(Math.abs(x[i]! - x[i + 8]!) <= 1, `sample ${i}`);
  const peak = x.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(peak > 8000 && peak <= 8192, `peak ${peak}`);
  assert.equal(createSource({ type: "tone" }, 48000) instanceof ToneSource && (createSource({ type: "tone" }, 48000) as ToneSource).frequency, 440);
  assert.throws(() => createSource({ type: "tone", frequency: 5000 }, 8000), /between 0 and 4000/);
});

test("silence source", () => {
  const src = createSource({ type: "silence" }, 16000);
  assert.equal(src.sampleRate, 16000);
  assert.deepEqual(src.read(320), new Int16Array(320));
  assert.equal(src.ended, false);
});

test("createSink picks the implementation by type", withDir(async (dir) => {
  const file = createSink({ type: "file", path: join(dir, "x.wav") }, 8000);
  assert.ok(file instanceof WavFileSink);
  await file.close();
  const nul = createSink({ type: "null" }, 8000);
  assert.ok(nul instanceof NullSink);
  nul.write(new Int16Array(160));
  assert.equal((nul as NullSink).samplesWritten, 160);
  await nul.close();
  assert.throws(() => createSink({ type: "speaker" } as never, 8000), /unknown audio sink type: speaker/);
}));

test("WAV file sink records what was written", withDir(async (dir) => {
  const path = join(dir, "rec.wav");
  const sink = createSink({ type: "file", path }, 48000);
  const tone = createSource({ type: "tone", frequency: 600 }, 48000);
  const expected: number[] = [];
  for (let f = 0; f < 100; f++) {
    const frame = tone.read(960);
    expected.push(...frame);
    sink.write(frame);
  }
  await sink.close();
  const back = readWavMono(readFileSync(path), 48000);
  assert.equal(back.length, 96000);
  assert.deepEqual([...back], expected);
}));

test("WAV file sink: unwritable path fails at creation", () => {
  assert.throws(() => createSink({ type: "file", path: "/nonexistent-dir/rec.wav" }, 8000), /cannot create WAV file/);
});
