// The audio bridge (src/media/audio-bridge.ts): what one side's sink takes
// comes out of the other side's source, both ways, across sample rates,
// bounded when one side stops reading.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AudioBridge, openBridgeEnd } from "../../src/media/audio-bridge.js";
import { compareAudio } from "../../scripts/lab/audio-compare.js";
import { speechLike } from "../../scripts/lab/audio-compare.js";

/** Writes `signal` into `sink` and reads `source` 20 ms at a time, as two media ticks would. */
function pump(signal: Int16Array, inRate: number, sink: { write(p: Int16Array): void }, source: { read(n: number): Int16Array }, outRate: number): Int16Array {
  const inFrame = inRate / 50;
  const outFrame = outRate / 50;
  const out: Int16Array[] = [];
  for (let i = 0; i + inFrame <= signal.length; i += inFrame) {
    sink.write(signal.subarray(i, i + inFrame));
    out.push(source.read(outFrame));
  }
  for (let i = 0; i < 10; i++) out.push(source.read(outFrame));
  const all = new Int16Array(out.reduce((n, f) => n + f.length, 0));
  let at = 0;
  for (const f of out) {
    all.set(f, at);
    at += f.length;
  }
  return all;
}

test("audio crosses both ways, 48 kHz to 8 kHz and back", () => {
  const bridge = new AudioBridge();
  const a = openBridgeEnd(bridge.link("a"), 48000);
  const b = openBridgeEnd(bridge.link("b"), 8000);
  assert.equal(a.source.sampleRate, 48000);
  assert.equal(b.sink.sampleRate, 8000);
  const toB = speechLike(48000, 2, 3);
  const heardByB = pump(toB, 48000, a.sink, b.source, 8000);
  const cmpB = compareAudio(toB, 48000, heardByB, 8000);
  assert.ok(cmpB.correlation > 0.9, `a -> b correlation ${cmpB.correlation}`);
  const toA = speechLike(8000, 2, 5);
  const heardByA = pump(toA, 8000, b.sink, a.source, 48000);
  const cmpA = compareAudio(toA, 8000, heardByA, 48000);
  assert.ok(cmpA.correlation > 0.9, `b -> a correlation ${cmpA.correlation}`);
  assert.equal(bridge.stats.aToB, toB.length - (toB.length % 960));
  assert.ok(bridge.stats.bToA > 0);
});

test("a side that is not read holds at most maxMs; audio before the other side attached is dropped", () => {
  const bridge = new AudioBridge({ maxMs: 100 });
  const a = openBridgeEnd(bridge.link("a"), 8000);
  a.sink.write(new Int16Array(160).fill(1000));
  assert.equal(bridge.stats.unattached, 160);
  const b = openBridgeEnd(bridge.link("b"), 8000);
  for (let i = 0; i < 500; i++) a.sink.write(new Int16Array(160).fill(1000));
  assert.ok((b.source as unknown as { buffered: number }).buffered <= 800, "bounded to 100 ms at 8 kHz");
});

test("closing a side's source detaches it; close() leaves both giving silence", () => {
  const bridge = new AudioBridge();
  const a = openBridgeEnd(bridge.link("a"), 8000);
  const b = openBridgeEnd(bridge.link("b"), 8000);
  assert.ok(bridge.joined);
  b.source.close();
  assert.equal(bridge.joined, false);
  a.sink.write(new Int16Array(160).fill(500));
  assert.equal(bridge.stats.unattached, 160);
  bridge.close();
  b.sink.write(new Int16Array(160).fill(500));
  assert.ok(a.source.read(160).every((s) => s === 0));
  assert.throws(() => openBridgeEnd(bridge.link("b"), 8000), /closed/);
});

test("the two ends work from different threads: the links cross to a worker, the audio does not cross as messages", async () => {
  const { Worker } = await import("node:worker_threads");
  const bridge = new AudioBridge();
  const a = openBridgeEnd(bridge.link("a"), 8000);
  // The worker is side b at 16 kHz: it echoes what it reads back into its sink, frame by frame, until told to stop.
  const url = new URL("../../src/media/audio-bridge.js", import.meta.url).href;
  const worker = new Worker(
    `const { workerData, parentPort } = require("node:worker_threads");
     import(workerData.url).then(({ openBridgeEnd }) => {
       const b = openBridgeEnd(workerData.link, 16000);
       const timer = setInterval(() => b.sink.write(b.source.read(320)), 5);
       parentPort.on("message", () => { clearInterval(timer); b.source.close(); parentPort.postMessage("done"); });
       parentPort.postMessage("ready");
     });`,
    { eval: true, workerData: { url, link: bridge.link("b") } },
  );
  await new Promise((r) => worker.once("message", r));
  const tone = new Int16Array(160);
  for (let i = 0; i < 160; i++) tone[i] = Math.round(8000 * Math.sin((2 * Math.PI * 400 * i) / 8000));
  let heard = 0;
  for (let i = 0; i < 100 && heard === 0; i++) {
    a.sink.write(tone);
    await new Promise((r) => setTimeout(r, 10));
    heard = a.source.read(160).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  }
  worker.postMessage("stop");
  await new Promise((r) => worker.once("message", r));
  await worker.terminate();
  assert.ok(heard > 2000, `the worker's side sent the tone back (peak ${heard})`);
  assert.ok(bridge.stats.aToB > 0 && bridge.stats.bToA > 0, JSON.stringify(bridge.stats));
});
