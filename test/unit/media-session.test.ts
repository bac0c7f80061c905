// Two media sessions wired back to back in memory (no network), driven by a
// manual clock: what one side's source plays, the other side's sink records.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MediaSession } from "../../src/media/media-session.js";
import { findCodec } from "../../src/media/codecs/index.js";
import type { AudioSink } from "../../src/media/sinks/sink.js";
import type { AudioSource } from "../../src/media/sources/source.js";
import type { FrameClock, TickHandler } from "../../src/util/frame-clock.js";
import { silentLogger } from "../../src/util/logger.js";
import { compareAudio } from "../helpers/audio-compare.js";

function manualClock(): FrameClock & { tick(n: number): void } {
  const subs = new Set<TickHandler>();
  let i = 0;
  return {
    subscribe(fn) {
      subs.add(fn);
      return () => subs.delete(fn);
    },
    tick(n) {
      for (let k = 0; k < n; k++) {
        i++;
        for (const fn of subs) fn(i);
      }
    },
  };
}

/** A two-tone signal with a slow envelope: codecs reproduce it closely, so a lost, doubled or shifted frame shows. */
function testSignal(rate: number, seconds: number): Int16Array {
  const n = Math.round(rate * seconds);
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const env = 0.55 + 0.45 * Math.sin(2 * Math.PI * 1.3 * t);
    out[i] = Math.round(8000 * env * (Math.sin(2 * Math.PI * 440 * t) + 0.6 * Math.sin(2 * Math.PI * 1000 * t)));
  }
  return out;
}

class ArraySource implements AudioSource {
  #pos = 0;
  constructor(readonly sampleRate: number, private readonly pcm: Int16Array) {}
  get ended() {
    return this.#pos >= this.pcm.length;
  }
  read(samples: number): Int16Array {
    const out = new Int16Array(samples);
    out.set(this.pcm.subarray(this.#pos, this.#pos + samples));
    this.#pos += samples;
    return out;
  }
  close() {}
}

class ArraySink implements AudioSink {
  readonly chunks: Int16Array[] = [];
  constructor(readonly sampleRate: number) {}
  write(pcm: Int16Array) {
    this.chunks.push(pcm.slice());
  }
  async close() {}
  all(): Int16Array {
    const n = this.chunks.reduce((a, c) => a + c.length, 0);
    const out = new Int16Array(n);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

for (const [name, rate] of [["PCMU", 8000], ["opus", 48000]] as const) {
  test(`${name}: audio passes between two media sessions; counters add up`, async () => {
    const codec = findCodec(name, rate)!;
    const clock = manualClock();
    const ref = testSignal(codec.pcmRate, 2);
    const sinkB = new ArraySink(codec.pcmRate);
    const sinkA = new ArraySink(codec.pcmRate);
    let b: MediaSession | undefined;
    const a = new MediaSession({
      codec, payloadType: codec.defaultPayloadType, source: new ArraySource(codec.pcmRate, ref), sink: sinkA,
      clock, send: (p) => b!.receive(p), jitterFrames: 2, logger: silentLogger(),
    });
    b = new MediaSession({
      codec, payloadType: codec.defaultPayloadType, source: new ArraySource(codec.pcmRate, new Int16Array(0)), sink: sinkB,
      clock, send: (p) => a.receive(p), jitterFrames: 2, logger: silentLogger(),
    });
    a.start();
    b.start();
    clock.tick(120);
    const sa = a.stats();
    const sb = b.stats();
    await a.stop();
    await b.stop();
    assert.equal(sa.packetsSent, 120);
    assert.equal(sb.packetsReceived, 120);
    assert.equal(sb.packetsLost, 0);
    assert.equal(sb.framesConcealed, 0);
    const cmp = compareAudio(ref, codec.pcmRate, sinkB.all(), codec.pcmRate, { maxLagMs: 500 });
    assert.ok(cmp.correlation > 0.95, `correlation ${cmp.correlation.toFixed(3)}, lag ${cmp.lagMs} ms`);
  });
}

test("packets from a second SSRC or another payload type are discarded", async () => {
  const codec = findCodec("PCMU", 8000)!;
  const clock = manualClock();
  const sink = new ArraySink(8000);
  const rx = new MediaSession({
    codec, payloadType: 0, source: new ArraySource(8000, new Int16Array(0)), sink, clock, send: () => undefined, jitterFrames: 2, logger: silentLogger(),
  });
  const mk = (ssrc: number, pt: number, seq: number) => {
    const b = Buffer.alloc(12 + 160, 0xff);
    b[0] = 0x80;
    b[1] = pt;
    b.writeUInt16BE(seq, 2);
    b.writeUInt32BE(seq * 160, 4);
    b.writeUInt32BE(ssrc, 8);
    return b;
  };
  rx.receive(mk(1111, 0, 1));
  rx.receive(mk(2222, 0, 2)); // another source
  rx.receive(mk(1111, 8, 3)); // PCMA, not negotiated
  rx.receive(Buffer.from("not rtp at all"));
  const s = rx.stats();
  assert.equal(s.packetsReceived, 1);
  assert.equal(s.packetsDiscarded, 3);
  assert.equal(s.remoteSsrc, 1111);
  await rx.stop();
});
