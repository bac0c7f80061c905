// Media quality under impairment: two media sessions through a simulated
// network with random loss (5 %, 15 %), reordering and 40 ms of jitter, on a
// virtual clock. The received speech is measured against what was sent
// (test/helpers/audio-quality.ts: frame level agreement, block-aligned
// correlation), and the floors are checked to be ones a broken concealment
// fails: the same run with a decoder that conceals with silence must score
// below them. The statistics must match the impairment (loss figure near the
// injected loss, on both ends through RTCP). The same conditions between
// real daemons over real UDP: test/integration/media-loss.test.ts (loss,
// iptables) and test/integration/media-jitter.test.ts (jitter, reordering,
// duplicates and loss, through scripts/lab/impair-relay.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { findCodec } from "../../src/media/codecs/index.js";
import type { CodecDescriptor } from "../../src/media/codecs/codec.js";
import { compareAudioSegments, speechLike } from "../../scripts/lab/audio-compare.js";
import { frameQuality } from "../helpers/audio-quality.js";
import { ArraySink, ArraySource, createMediaPair, type Impairment } from "../fakes/media-pair.js";
import type { MediaStats } from "../../src/media/media-session.js";
import { Resampler } from "../../src/media/resampler.js";

const SECONDS = 8;

/** The codec with a decoder whose concealment is silence: what the floors must reject. */
function silentConcealment(c: CodecDescriptor): CodecDescriptor {
  return {
    ...c,
    createDecoder: () => {
      const d = c.createDecoder();
      return { decode: (p: Buffer) => d.decode(p), conceal: (n: number) => new Int16Array(n), close: () => d.close() };
    },
  };
}

interface Run {
  level: number;
  blockCorr: number;
  rx: MediaStats;
  tx: MediaStats;
  injectedLoss: number;
}

async function run(codec: CodecDescriptor, imp: Impairment): Promise<Run> {
  const rate = codec.pcmRate;
  const ref = speechLike(rate, SECONDS, 11);
  const sinks = { a: new ArraySink(rate), b: new ArraySink(rate) };
  const p = createMediaPair({
    codec,
    sources: { a: new ArraySource(rate, ref), b: new ArraySource(rate, new Int16Array(0)) },
    sinks,
    impair: { ab: { baseDelayMs: 20, seed: 5, ...imp }, ba: { baseDelayMs: 20, seed: 6 } },
    session: { rtcp: { intervalMs: 2000 } },
  });
  p.a.start();
  p.b.start();
  p.run(SECONDS * 1000 + 600);
  // Judged at 8 kHz (both codecs on the same band); resampled once here.
  const ref8 = Resampler.resampleAll(ref, rate, 8000);
  const rec8 = Resampler.resampleAll(sinks.b.all(), rate, 8000);
  const q = frameQuality(ref8, 8000, rec8, 8000);
  const seg = compareAudioSegments(ref8, 8000, rec8, 8000);
  const out = { level: q.levelAgreement, blockCorr: seg.correlation, rx: p.b.stats(), tx: p.a.stats(), injectedLoss: p.links.ab.counters.dropped / p.links.ab.counters.sent };
  await p.stop();
  return out;
}

const opus = findCodec("opus", 48000)!;
const pcmu = findCodec("PCMU", 8000)!;

// Floors per codec and condition: [level agreement, block correlation].
// Opus does not reproduce the waveform exactly, so its correlations are lower.
const CASES: { name: string; codec: CodecDescriptor; imp: Impairment; level: number; corr: number; checkBroken?: boolean }[] = [
  { name: "PCMU, 5 % loss", codec: pcmu, imp: { loss: 0.05 }, level: 0.975, corr: 0.85, checkBroken: true },
  { name: "PCMU, 15 % loss", codec: pcmu, imp: { loss: 0.15 }, level: 0.9, corr: 0.8, checkBroken: true },
  { name: "Opus, 5 % loss", codec: opus, imp: { loss: 0.05 }, level: 0.965, corr: 0.85, checkBroken: true },
  { name: "Opus, 15 % loss", codec: opus, imp: { loss: 0.15 }, level: 0.87, corr: 0.75, checkBroken: true },
  { name: "PCMU, 40 ms jitter + 3 % reordering", codec: pcmu, imp: { jitterMs: 40, reorder: 0.03 }, level: 0.95, corr: 0.85 },
  { name: "Opus, 40 ms jitter + 3 % reordering", codec: opus, imp: { jitterMs: 40, reorder: 0.03 }, level: 0.95, corr: 0.8 },
];

for (const c of CASES) {
  test(`${c.name}: received speech stays above the floor a silent concealment falls below; stats match`, async (t) => {
    const ok = await run(c.codec, c.imp);
    t.diagnostic(
      `level ${ok.level.toFixed(3)} (floor ${c.level}), block correlation ${ok.blockCorr.toFixed(3)} (floor ${c.corr}); ` +
        `injected loss ${(ok.injectedLoss * 100).toFixed(1)} %, measured ${(ok.rx.fractionLost * 100).toFixed(1)} %, ` +
        `late ${ok.rx.packetsLate}, jitter ${ok.rx.jitterMs} ms, playout delay ${ok.rx.jitterBufferDelayMs} ms, MOS ${ok.rx.mos}`,
    );
    assert.ok(ok.level >= c.level, `level agreement ${ok.level.toFixed(3)} < ${c.level}`);
    assert.ok(ok.blockCorr >= c.corr, `block correlation ${ok.blockCorr.toFixed(3)} < ${c.corr}`);
    // Loss: the receiver's RFC 3550 figure is the injected loss; the sender learns it through RTCP.
    assert.ok(Math.abs(ok.rx.fractionLost - ok.injectedLoss) < 0.005, `measured ${ok.rx.fractionLost} vs injected ${ok.injectedLoss}`);
    if (c.imp.loss) {
      assert.ok(ok.tx.remote?.packetsLost !== undefined, "a heard b's receiver reports");
      assert.ok(Math.abs(ok.tx.remote.packetsLost - ok.rx.packetsLost) <= 0.1 * ok.rx.packetsLost + 5, `${ok.tx.remote.packetsLost} vs ${ok.rx.packetsLost}`);
    }
    if (c.imp.jitterMs) {
      // RFC 3550 jitter of uniform 0..40 ms delay: about 13 ms.
      assert.ok(ok.rx.jitterMs > 6 && ok.rx.jitterMs < 25, `jitter ${ok.rx.jitterMs}`);
      assert.ok(ok.rx.packetsLate / ok.rx.packetsReceived < 0.03, `late ${ok.rx.packetsLate}`);
      assert.ok(ok.rx.jitterBufferDelayMs >= 20 && ok.rx.jitterBufferDelayMs <= 80, `playout delay ${ok.rx.jitterBufferDelayMs}`);
    }
    if (c.checkBroken) {
      const broken = await run(silentConcealment(c.codec), c.imp);
      t.diagnostic(`silent concealment: level ${broken.level.toFixed(3)}, block correlation ${broken.blockCorr.toFixed(3)}`);
      assert.ok(broken.level < c.level, `the floor ${c.level} does not reject silent concealment (${broken.level.toFixed(3)})`);
    }
  });
}
