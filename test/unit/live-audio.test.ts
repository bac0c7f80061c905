// The pieces between a device (or pipe) and the media tick: the capture FIFO,
// raw PCM conversion, the non-blocking stream sink; and the receive path's
// merge, FEC and decoder-error handling.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { LiveSource } from "../../src/media/sources/live-source.js";
import { PcmDecoderStream, PcmEncoderStream } from "../../src/media/pcm-convert.js";
import { StreamSink } from "../../src/media/sinks/stream-sink.js";
import { ReceivePath, mergeFrames } from "../../src/media/receive-path.js";
import { findCodec } from "../../src/media/codecs/index.js";
import type { AudioDecoder, CodecDescriptor } from "../../src/media/codecs/codec.js";

const ramp = (n: number, from = 1) => Int16Array.from({ length: n }, (_, i) => from + i);

test("live source: waits for a chunk plus a frame, then reads in order; an underrun pads and re-primes", () => {
  const s = new LiveSource(8000);
  s.feed(ramp(200));
  assert.deepEqual([...s.read(160)].slice(0, 2), [0, 0], "priming: 200 < 200 + 160");
  s.feed(ramp(200, 201));
  const a = s.read(160);
  assert.deepEqual([a[0], a[159]], [1, 160]);
  const b = s.read(160);
  assert.deepEqual([b[0], b[159]], [161, 320]);
  const c = s.read(160); // 80 left: underrun
  assert.deepEqual([c[0], c[79], c[80]], [321, 400, 0]);
  assert.equal(s.stats.underruns, 1);
});

test("live source: never holds more than maxMs (oldest dropped); ends after endOfInput once drained", () => {
  const s = new LiveSource(8000, { maxMs: 100 });
  s.feed(ramp(1600)); // 200 ms
  assert.equal(s.buffered, 800);
  assert.equal(s.stats.dropped, 800);
  s.endOfInput();
  let ended = 0;
  s.onEnded = () => ended++;
  for (let i = 0; i < 5; i++) s.read(160);
  assert.equal(s.ended, false);
  s.read(160);
  assert.equal(s.ended, true);
  assert.equal(ended, 1);
  let closed = 0;
  const t = new LiveSource(8000, { onClose: () => closed++ });
  t.close();
  t.close();
  assert.equal(closed, 1);
});

/**
 * A producer and the media tick on a virtual clock: the producer delivers
 * `chunkMs` of audio every chunkMs / speed ms (± deliveryJitterMs), the tick
 * reads 20 ms every 20 ms except during `stall` (ticks skipped, as the frame
 * clock does after the event loop was blocked). Samples are numbered, so the
 * delay of the audio read is known: the number the producer is at minus the
 * number read.
 */
function simulate(o: { speed?: number; chunkMs?: number; deliveryJitterMs?: number; stall?: [number, number]; seconds: number; maxBacklogFrames?: number }) {
  const rate = 8000;
  const chunk = ((o.chunkMs ?? 20) * rate) / 1000;
  const src = new LiveSource(rate, o.maxBacklogFrames !== undefined ? { maxBacklogFrames: o.maxBacklogFrames } : {});
  let jit = 12345;
  const rnd = () => ((jit = (jit * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const events: { t: number; kind: "feed" | "read" }[] = [];
  const end = o.seconds * 1000;
  for (let k = 1; (k * (o.chunkMs ?? 20)) / (o.speed ?? 1) < end; k++) {
    events.push({ t: (k * (o.chunkMs ?? 20)) / (o.speed ?? 1) + (o.deliveryJitterMs ? (rnd() - 0.5) * 2 * o.deliveryJitterMs : 0), kind: "feed" });
  }
  for (let t = 20; t < end; t += 20) if (!o.stall || t < o.stall[0] || t >= o.stall[1]) events.push({ t: t + 0.5, kind: "read" });
  events.sort((a, b) => a.t - b.t);
  let produced = 0;
  const delaysMs: { t: number; ms: number }[] = [];
  let backwards = 0;
  let last = 0;
  for (const e of events) {
    if (e.kind === "feed") {
      src.feed(Int16Array.from({ length: chunk }, (_, i) => ((produced + i) % 32000) + 1));
      produced += chunk;
      continue;
    }
    const f = src.read(160);
    if (f[159] === 0) continue; // priming or underrun
    const n = f[159]!;
    if (last && n < last && last - n < 16000) backwards++;
    last = n;
    delaysMs.push({ t: e.t, ms: ((((produced % 32000) - n + 32000) % 32000) * 1000) / rate });
  }
  return { src, delaysMs, backwards, maxAfter: (t: number) => Math.max(...delaysMs.filter((d) => d.t >= t).map((d) => d.ms)) };
}

test("live source on a virtual clock: a producer 2 % fast does not build up delay; the backlog dropped is counted", () => {
  // 2 % fast: 0.4 ms more audio per 20 ms, 24 ms of extra delay per minute if it were kept
  // (before backlog trimming: the FIFO filled to its 300 ms cap and stayed there).
  const r = simulate({ speed: 1.02, seconds: 60 });
  const s = r.src.stats;
  assert.equal(s.underruns, 0);
  assert.equal(s.dropped, 0, "the 300 ms cap is never reached");
  assert.ok(s.backlogTrims > 0 && s.backlogTrims <= 40, `trims ${s.backlogTrims}`);
  // What was dropped is what the producer ran ahead (2 % of 60 s = 1.2 s), less what is still buffered.
  assert.ok(Math.abs(s.backlogDropped / 8000 - 1.2) < 0.1, `dropped ${s.backlogDropped} samples`);
  assert.ok(r.maxAfter(0) <= 80, `delay stays within chunk + frame + 2 frames of backlog: ${r.maxAfter(0)} ms`);
  assert.equal(r.backwards, 0, "audio stays in order");
});

test("live source on a virtual clock: after a 260 ms stall of the tick the backlog is dropped within a window, not kept", () => {
  const r = simulate({ seconds: 5, stall: [1000, 1260] });
  const s = r.src.stats;
  const during = Math.max(...r.delaysMs.filter((d) => d.t >= 1260 && d.t < 1300).map((d) => d.ms));
  assert.ok(during >= 260, `right after the stall the backlog is there: ${during} ms`);
  assert.ok(r.maxAfter(1260 + 220) <= 60, `one window later it is gone: ${r.maxAfter(1480)} ms`);
  assert.equal(s.backlogTrims, 1);
  assert.ok(s.backlogDropped >= 8 * 13 * 20, `dropped ${s.backlogDropped}`);
  assert.equal(s.underruns, 0);
});

test("live source on a virtual clock: a producer on time keeps its audio, chunky or jittery (no underruns, no drops in steady state)", () => {
  for (const o of [{ chunkMs: 20 }, { chunkMs: 20, deliveryJitterMs: 15 }, { chunkMs: 40, deliveryJitterMs: 30 }]) {
    const r = simulate({ ...o, seconds: 30 });
    const s = r.src.stats;
    assert.equal(s.backlogDropped, 0, `${JSON.stringify(o)}: dropped ${s.backlogDropped}`);
    assert.equal(s.underruns, 0, `${JSON.stringify(o)}: underruns ${s.underruns}`);
    assert.ok(r.maxAfter(0) <= 2 * o.chunkMs + 20 + 2 * (o.deliveryJitterMs ?? 0), `${JSON.stringify(o)}: delay ${r.maxAfter(0)} ms`);
  }
  // 100 ms chunks: priming waits for a chunk and a frame, which takes two chunks; the
  // extra chunk is never needed and is dropped once, a window after priming. Then nothing more.
  const r = simulate({ chunkMs: 100, seconds: 30 });
  assert.equal(r.src.stats.underruns, 0);
  assert.equal(r.src.stats.backlogTrims, 1);
  assert.ok(r.src.stats.backlogDropped <= 800, `dropped ${r.src.stats.backlogDropped}`);
  assert.ok(r.maxAfter(1000) <= 100 + 2 * 20, `delay ${r.maxAfter(1000)} ms`);
});

test("live source: maxBacklogFrames bounds the backlog; the trim is reported", () => {
  const trims: number[] = [];
  const s = new LiveSource(8000, { maxBacklogFrames: 3, onBacklogTrim: (i) => trims.push(i.droppedSamples) });
  s.feed(ramp(160 * 12)); // 240 ms at once, then one frame per read
  for (let i = 0; i < 30; i++) {
    s.read(160);
    s.feed(ramp(160, 100));
  }
  assert.equal(trims.length, 1);
  assert.ok(s.buffered <= 3 * 160, `buffered ${s.buffered}`);
  assert.equal(s.stats.backlogDropped, trims[0]);
});

test("raw PCM: stereo down-mixed, rate converted, odd chunk boundaries carried over", () => {
  const dec = new PcmDecoderStream(8000, 2, 8000);
  const bytes = Buffer.alloc(8);
  bytes.writeInt16LE(100, 0);
  bytes.writeInt16LE(300, 2);
  bytes.writeInt16LE(-50, 4);
  bytes.writeInt16LE(-150, 6);
  const a = dec.push(bytes.subarray(0, 3));
  const b = dec.push(bytes.subarray(3));
  assert.deepEqual([...a, ...b], [200, -100]);
  const up = new PcmDecoderStream(8000, 1, 48000);
  const out = up.push(Buffer.alloc(320));
  assert.ok(out.length > 900 && out.length <= 960);
  const enc = new PcmEncoderStream(8000, 8000, 2);
  assert.equal(enc.push(Int16Array.of(1, 2)).toString("hex"), "0100010002000200");
});

test("stream sink: never blocks; frames are dropped while the reader is too far behind", async () => {
  const chunks: Buffer[] = [];
  let release: (() => void) | undefined;
  const slow = new Writable({
    highWaterMark: 1,
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk);
      release = cb; // never completes until released
    },
  });
  const sink = new StreamSink(8000, slow, { maxBacklogMs: 50 });
  for (let i = 0; i < 20; i++) sink.write(new Int16Array(160));
  assert.ok(sink.dropped >= 15, `dropped ${sink.dropped}`);
  release?.();
  const closing = sink.close();
  // Keep releasing so end() can finish.
  const timer = setInterval(() => release?.(), 1);
  await closing;
  clearInterval(timer);
});

test("stream sink awaiting its player's start: writes only the priming audio, drops the rest until started(), then everything; opens by itself after startTimeoutMs", () => {
  const got: Buffer[] = [];
  const sink = () => new Writable({ write: (c: Buffer, _e, cb) => (got.push(c), cb()) });
  const s = new StreamSink(8000, sink(), { awaitStart: true, primeMs: 40, startTimeoutMs: 1000 });
  for (let i = 0; i < 10; i++) s.write(ramp(160, i * 1000)); // 10 frames of 20 ms while the player is not playing
  assert.equal(got.length, 2, "40 ms primed");
  assert.deepEqual([got[1]!.readInt16LE(0)], [1000]);
  assert.equal(s.awaitingStart, true);
  assert.equal(s.droppedMs, 160, "8 frames dropped, not queued as delay");
  s.started();
  s.write(ramp(160, 50000 - 32768));
  assert.equal(got.length, 3);
  assert.equal(got[2]!.readInt16LE(0), 50000 - 32768, "after the start: the newest frame, right behind the priming ones");
  assert.equal(s.awaitingStart, false);

  got.length = 0;
  const never = new StreamSink(8000, sink(), { awaitStart: true, primeMs: 20, startTimeoutMs: 200 });
  for (let i = 0; i < 15; i++) never.write(ramp(160));
  assert.equal(never.awaitingStart, false, "a player that never says it started is heard after 200 ms");
  assert.equal(got.length, 1 + 5, "the priming frame, then everything from the timeout on");
  assert.equal(never.droppedMs, 180);
  const plain = new StreamSink(8000, sink());
  assert.equal(plain.awaitingStart, false);
});

test("mergeFrames: a quiet frame is dropped whole; otherwise a one-frame cross-fade", () => {
  const loud = Int16Array.from({ length: 160 }, () => 10000);
  const quiet = new Int16Array(160);
  assert.deepEqual(mergeFrames(quiet, loud, 160), loud);
  assert.deepEqual(mergeFrames(loud, quiet, 160), loud);
  const a = Int16Array.from({ length: 160 }, () => 1000);
  const b = Int16Array.from({ length: 160 }, () => 3000);
  const m = mergeFrames(a, b, 160);
  assert.equal(m.length, 160);
  assert.ok(m[0]! > 1000 && m[0]! < 1100 && m[159]! > 2900 && m[159]! < 3000);
  // 40 ms packets: 320 + 320 -> 480 samples.
  assert.equal(mergeFrames(new Int16Array(320).fill(500), new Int16Array(320).fill(800), 160).length, 480);
});

test("receive path: FEC from the next packet is used when the decoder offers it; decoder errors are concealed", () => {
  const pcmu = findCodec("PCMU", 8000)!;
  let fecCalls = 0;
  const dec: AudioDecoder = {
    decode: (p) => {
      if (p[0] === 0xee) throw new Error("corrupt");
      return new Int16Array(p.length).fill(7);
    },
    conceal: (n) => new Int16Array(n).fill(-1),
    decodeFec: (next, n) => {
      fecCalls++;
      return new Int16Array(n).fill(next[0]! === 0x33 ? 42 : 0);
    },
    close: () => undefined,
  };
  // 40 ms of start delay: packet 3 is already here when packet 2's turn comes.
  const rp = new ReceivePath({ codec: pcmu as CodecDescriptor, decoder: dec, jitter: { initialDelayMs: 40 } });
  const pkt = (seq: number, fill = 0x11) => Buffer.alloc(160, fill);
  // Packets 0, 1, (2 lost), 3 with a recognisable payload, 4 corrupt.
  const arrivals: [number, Buffer][] = [[0, pkt(0)], [1, pkt(1)], [3, pkt(3, 0x33)], [4, pkt(4, 0xee)], [5, pkt(5)]];
  const out: number[] = [];
  for (let t = 0; t < 10; t++) {
    const now = t * 20 + 10;
    for (const [seq, p] of arrivals) if (seq * 20 + 2 <= now && seq * 20 + 2 > now - 20) rp.push(seq, seq * 160, p, seq * 20 + 2);
    const f = rp.frame(now);
    if (f) out.push(f[0]!);
  }
  assert.deepEqual(out.slice(0, 6), [7, 7, 42, 7, -1, 7]);
  assert.equal(fecCalls, 1);
  const s = rp.stats;
  assert.equal(s.fecRecovered, 1);
  assert.equal(s.decodeErrors, 1);
});
