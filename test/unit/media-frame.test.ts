// The media frame and the clock under it: the daemon's 10 ms clock, a call
// with 20 ms frames on it (the receive side starts playing at the clock tick
// within the frame where the peer's first packet is ready, so the playout
// buffer waits at most one clock period beyond its margin whatever the phase
// between the two ends), and 10 ms packets end to end when the peer asks for
// them (XEP-0167 ptime): one packet per tick with its own 10 ms of audio, RTP
// timestamps 10 ms apart, playout in 10 ms frames, the statistics saying so.
// Virtual clock and network (test/fakes/media-pair.ts): no timers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MediaSession } from "../../src/media/media-session.js";
import { findCodec } from "../../src/media/codecs/index.js";
import { parseRtp } from "../../src/rtp/rtp-packet.js";
import { silentLogger } from "../../src/util/logger.js";
import { compareAudio } from "../../scripts/lab/audio-compare.js";
import { ArraySink, ArraySource, VirtualClock, createMediaPair } from "../fakes/media-pair.js";

const opus = findCodec("opus", 48000)!;
const pcmu = findCodec("PCMU", 8000)!;

function tones(rate: number, seconds: number): Int16Array {
  const out = new Int16Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) {
    const t = i / rate;
    out[i] = Math.round(8000 * (0.55 + 0.45 * Math.sin(2 * Math.PI * 1.3 * t)) * (Math.sin(2 * Math.PI * 440 * t) + 0.6 * Math.sin(2 * Math.PI * 1000 * t)));
  }
  return out;
}

function run(codec: typeof opus, o: { clockPeriodMs?: number; delayMs: number; ptimeMs?: number; ms?: number }) {
  const ref = tones(codec.pcmRate, 2);
  const sinks = { a: new ArraySink(codec.pcmRate), b: new ArraySink(codec.pcmRate) };
  const p = createMediaPair({
    codec,
    ...(o.clockPeriodMs !== undefined ? { clockPeriodMs: o.clockPeriodMs } : {}),
    sources: { a: new ArraySource(codec.pcmRate, ref), b: new ArraySource(codec.pcmRate, new Int16Array(0)) },
    sinks,
    impair: { ab: { baseDelayMs: o.delayMs }, ba: { baseDelayMs: o.delayMs } },
    // The daemon's default start: one frame (media.jitterFrames 1).
    session: { rtcp: false, jitterFrames: 1, ...(o.ptimeMs !== undefined ? { ptimeMs: o.ptimeMs } : {}) },
  });
  p.a.start();
  p.b.start();
  p.run(o.ms ?? 2400);
  const a = p.a.stats();
  const b = p.b.stats();
  void p.stop();
  return { a, b, ref, sink: sinks.b };
}

test("20 ms frames on a 10 ms clock: playout starts at the tick within the frame where the first packet is ready", () => {
  for (const delayMs of [1, 5, 9, 13, 17]) {
    const r = run(pcmu, { clockPeriodMs: 10, delayMs });
    assert.equal(r.b.frameMs, 20);
    assert.equal(r.a.packetsSent, 120, `delay ${delayMs}: one 20 ms packet every other tick`);
    assert.equal(r.b.framesConcealed + r.b.expands + r.b.merges + r.b.packetsLate, 0, `delay ${delayMs}: ${JSON.stringify(r.b)}`);
    // The buffer's margin is 3 ms: the packet waits 3..13 ms, never a frame.
    assert.ok(r.b.jitterBufferDelayMs >= 3 && r.b.jitterBufferDelayMs < 13, `delay ${delayMs}: waited ${r.b.jitterBufferDelayMs} ms`);
    assert.ok(r.sink.chunks.every((c) => c.length === 160), "the sink gets whole 20 ms frames");
    const cmp = compareAudio(r.ref, 8000, r.sink.all(), 8000, { maxLagMs: 500 });
    assert.ok(cmp.correlation > 0.95, `delay ${delayMs}: correlation ${cmp.correlation.toFixed(3)}`);
  }
  // The same 5 ms path on a clock that ticks only once a frame: the packet waits for the next frame tick.
  const coarse = run(pcmu, { delayMs: 5 });
  assert.equal(coarse.b.jitterBufferDelayMs, 15);
  assert.equal(run(pcmu, { clockPeriodMs: 10, delayMs: 5 }).b.jitterBufferDelayMs, 5);
});

for (const codec of [opus, pcmu]) {
  test(`${codec.name}, 10 ms ptime on a 10 ms clock: one packet of 10 ms per tick, 10 ms frames played, stats say so`, () => {
    const r = run(codec, { clockPeriodMs: 10, delayMs: 4, ptimeMs: 10 });
    assert.equal(r.a.ptimeMs, 10);
    assert.equal(r.a.frameMs, 10);
    assert.equal(r.b.remotePtimeMs, 10);
    assert.equal(r.a.packetsSent, 240, "100 packets a second");
    assert.equal(r.b.framesConcealed + r.b.expands + r.b.merges + r.b.packetsLate + r.b.packetsLost, 0, JSON.stringify(r.b));
    assert.ok(r.b.jitterBufferDelayMs >= 3 && r.b.jitterBufferDelayMs < 13, `waited ${r.b.jitterBufferDelayMs} ms`);
    const frame = codec.pcmRate / 100;
    assert.ok(r.sink.chunks.every((c) => c.length === frame), "the sink gets 10 ms frames");
    const cmp = compareAudio(r.ref, codec.pcmRate, r.sink.all(), codec.pcmRate, { maxLagMs: 500 });
    assert.ok(cmp.correlation > 0.95, `correlation ${cmp.correlation.toFixed(3)}`);
  });

  test(`${codec.name}, 10 ms ptime: each tick sends the 10 ms it read, RTP timestamps 10 ms apart`, () => {
    const clock = new VirtualClock(10);
    const sent: Buffer[] = [];
    const pcm = tones(codec.pcmRate, 1);
    const s = new MediaSession({
      codec,
      payloadType: codec.defaultPayloadType,
      source: new ArraySource(codec.pcmRate, pcm),
      sink: new ArraySink(codec.pcmRate),
      clock,
      send: (p) => sent.push(p),
      jitterFrames: 1,
      logger: silentLogger(),
      ptimeMs: 10,
      rtcp: false,
      now: () => clock.nowMs,
    });
    s.start();
    const perTick: number[] = [];
    for (let i = 0; i < 20; i++) {
      const before = sent.length;
      clock.nowMs += 10;
      clock.tick();
      perTick.push(sent.length - before);
    }
    void s.stop({ bye: false });
    assert.deepEqual(perTick, new Array(20).fill(1));
    const rtp = sent.map((p) => parseRtp(p)!);
    const step = codec.clockRate / 100;
    for (let i = 1; i < rtp.length; i++) {
      assert.equal((rtp[i]!.timestamp - rtp[i - 1]!.timestamp) >>> 0, step, `packet ${i}`);
      assert.equal(rtp[i]!.sequenceNumber, (rtp[i - 1]!.sequenceNumber + 1) & 0xffff);
      assert.equal(rtp[i]!.marker, false);
    }
    assert.equal(rtp[0]!.marker, true, "the first packet starts a talkspurt");
    for (const p of rtp) assert.equal(codec.packetSamples(p.payload) || step, step, "each packet holds 10 ms");
  });
}

test("10 ms ptime on a clock that ticks every 20 ms: 20 ms frames, two 10 ms packets each", () => {
  const r = run(opus, { delayMs: 4, ptimeMs: 10 });
  assert.equal(r.a.ptimeMs, 10);
  assert.equal(r.a.frameMs, 20);
  assert.equal(r.b.remotePtimeMs, 10);
  assert.equal(r.a.packetsSent, 240);
  assert.equal(r.b.framesConcealed, 0);
  const cmp = compareAudio(r.ref, 48000, r.sink.all(), 48000, { maxLagMs: 500 });
  assert.ok(cmp.correlation > 0.95, `correlation ${cmp.correlation.toFixed(3)}`);
});
