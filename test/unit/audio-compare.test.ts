import { test } from "node:test";
import assert from "node:assert/strict";
import { Resampler } from "../../src/media/resampler.js";
import { compareAudio, speechLike, whiteNoise } from "../../scripts/lab/audio-compare.js";

/** `x` preceded by `leadMs` of silence and followed by `tailMs`, plus noise everywhere. */
function embed(x: Int16Array, rate: number, leadMs: number, tailMs: number, noiseRms: number, seed = 3): Int16Array {
  const lead = Math.round((leadMs * rate) / 1000);
  const out = new Int16Array(lead + x.length + Math.round((tailMs * rate) / 1000));
  out.set(x, lead);
  const noise = whiteNoise(out.length, noiseRms, seed);
  for (let i = 0; i < out.length; i++) out[i] = Math.max(-32768, Math.min(32767, out[i]! + noise[i]!));
  return out;
}

test("a delayed copy with a little noise correlates > 0.95 at the right lag", () => {
  const ref = speechLike(16000, 4);
  const rec = embed(ref, 16000, 1234, 500, 150);
  const r = compareAudio(ref, 16000, rec, 16000);
  console.log(`# delayed copy: lag ${r.lagMs.toFixed(2)} ms, correlation ${r.correlation.toFixed(4)}`);
  assert.ok(r.correlation > 0.95, `correlation ${r.correlation}`);
  assert.ok(Math.abs(r.lagMs - 1234) < 1, `lag ${r.lagMs}`);
  assert.ok(Math.abs(r.recRms / r.refRms - 1) < 0.1);
});

test("different rates, gain and a delay of several seconds (recording at 48 kHz, reference at 16 kHz)", () => {
  const ref = speechLike(16000, 5, 11);
  const ref48 = Resampler.resampleAll(ref, 16000, 48000);
  const quieter = ref48.map((v) => Math.round(v * 0.5));
  const rec = embed(quieter, 48000, 3210.4, 1000, 80);
  const r = compareAudio(ref, 16000, rec, 48000);
  console.log(`# 48k vs 16k: lag ${r.lagMs.toFixed(2)} ms, correlation ${r.correlation.toFixed(4)}`);
  assert.ok(r.correlation > 0.95, `correlation ${r.correlation}`);
  assert.ok(Math.abs(r.lagMs - 3210.4) < 0.5, `lag ${r.lagMs}`);
  assert.ok(r.recRms < r.refRms * 0.6);
});

test("a recording that starts late (the first second is missing) still matches", () => {
  const ref = speechLike(8000, 5, 5);
  const rec = ref.slice(8000); // reference appears 1 s *before* the recording began
  const r = compareAudio(ref, 8000, rec, 8000);
  assert.ok(r.correlation > 0.99, `correlation ${r.correlation}`);
  assert.ok(Math.abs(r.lagMs + 1000) < 1, `lag ${r.lagMs}`);
});

test("unrelated signals correlate < 0.3", () => {
  const speech = speechLike(16000, 4, 21);
  const noise = whiteNoise(16000 * 6, 3000, 99);
  const a = compareAudio(speech, 16000, noise, 16000);
  const b = compareAudio(speech, 16000, speechLike(16000, 4, 77), 16000);
  console.log(`# unrelated: speech vs noise ${a.correlation.toFixed(4)}, speech vs other speech ${b.correlation.toFixed(4)}`);
  assert.ok(a.correlation < 0.3, `speech vs noise ${a.correlation}`);
  assert.ok(b.correlation < 0.3, `speech vs other speech ${b.correlation}`);
});

test("silence gives 0, not NaN", () => {
  const r = compareAudio(new Int16Array(8000), 8000, speechLike(8000, 1), 8000);
  assert.equal(r.correlation, 0);
  assert.equal(compareAudio(speechLike(8000, 1), 8000, new Int16Array(0), 8000).correlation, 0);
});

test("Opus and PCMU round trips of the same speech are judged on the same 8 kHz band", async () => {
  const { opusCodec, pcmuCodec } = await import("../../src/media/codecs/index.js");
  const ref = speechLike(48000, 3, 31);
  const through = (codec: typeof opusCodec) => {
    const input = Resampler.resampleAll(ref, 48000, codec.pcmRate);
    const enc = codec.createEncoder();
    const dec = codec.createDecoder();
    const out = new Int16Array(input.length);
    const n = enc.frameSamples;
    for (let o = 0; o + n <= input.length; o += n) out.set(dec.decode(enc.encode(input.subarray(o, o + n))), o);
    enc.close();
    dec.close();
    return compareAudio(ref, 48000, out, codec.pcmRate);
  };
  const opus = through(opusCodec);
  const pcmu = through(pcmuCodec);
  console.log(
    `# codec round trips at 8 kHz: opus corr ${opus.correlation.toFixed(4)} lag ${opus.lagMs.toFixed(2)} ms; ` +
      `pcmu corr ${pcmu.correlation.toFixed(4)} lag ${pcmu.lagMs.toFixed(2)} ms`,
  );
  assert.ok(opus.correlation > 0.9, `opus ${opus.correlation}`);
  assert.ok(pcmu.correlation > 0.95, `pcmu ${pcmu.correlation}`);
  assert.ok(Math.abs(pcmu.lagMs) < 0.2);
  assert.ok(Math.abs(opus.lagMs - 6.5) < 1, `opus look-ahead ${opus.lagMs} ms`);
});

test("segment alignment forgives a dropped frame but not garbled audio", async () => {
  const { compareAudioSegments, compareAudio, speechLike, whiteNoise } = await import("../../scripts/lab/audio-compare.js");
  const rate = 8000;
  const ref = speechLike(rate, 3, 11);
  // The receiver's jitter buffer dropped one 20 ms frame at 1.2 s: everything after is 20 ms early.
  const cut = Math.round(1.2 * rate);
  const dropped = new Int16Array(ref.length - 160);
  dropped.set(ref.subarray(0, cut));
  dropped.set(ref.subarray(cut + 160), cut);
  const whole = compareAudio(ref, rate, dropped, rate);
  const seg = compareAudioSegments(ref, rate, dropped, rate);
  assert.ok(seg.correlation > 0.95, `segment score ${seg.correlation.toFixed(3)} (global ${whole.correlation.toFixed(3)})`);
  assert.ok(seg.lagSpreadMs >= 19 && seg.lagSpreadMs <= 21, `spread ${seg.lagSpreadMs} ms`);
  // Half the audio replaced by noise: the score must drop well below the bar.
  const garbled = ref.slice();
  garbled.set(whiteNoise(ref.length / 2, 3000, 5), ref.length / 2);
  assert.ok(compareAudioSegments(ref, rate, garbled, rate).correlation < 0.7);
  // Unrelated audio.
  assert.ok(compareAudioSegments(ref, rate, whiteNoise(ref.length, 3000, 9), rate).correlation < 0.3);
});

test("segment alignment: reference audio after the end of the recording is not counted as lost", async () => {
  const { compareAudioSegments, speechLike } = await import("../../scripts/lab/audio-compare.js");
  const rate = 8000;
  const ref = speechLike(rate, 4, 3);
  const cutShort = ref.slice(0, Math.round(3 * rate)); // the call was hung up after 3 s
  const r = compareAudioSegments(ref, rate, cutShort, rate);
  assert.ok(r.correlation > 0.95, `score ${r.correlation.toFixed(3)}`);
  assert.ok(r.uncovered >= 3, `uncovered ${r.uncovered}`);
});

test("segment alignment: a start-up backlog merged away (the first words 80 ms later than the rest) is not lost audio", async () => {
  const { compareAudioSegments, speechLike } = await import("../../scripts/lab/audio-compare.js");
  const rate = 8000;
  const ref = speechLike(rate, 4, 7);
  // The receiver played 80 ms that had piled up before its start, then merged 20 ms away four times in the
  // first second (at the 250 ms segments' edges): everything after 1 s is 80 ms earlier than the first segment.
  const frame = rate / 50;
  const cuts = [0.25, 0.5, 0.75, 1].map((s) => Math.round(s * rate));
  const parts: Int16Array[] = [new Int16Array(Math.round(0.5 * rate))];
  let from = 0;
  for (const c of cuts) {
    parts.push(ref.subarray(from, c));
    from = c + frame;
  }
  parts.push(ref.subarray(from));
  const rec = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    rec.set(p, at);
    at += p.length;
  }
  const r = compareAudioSegments(ref, rate, rec, rate);
  // Measured: worst 0.79, score 0.989; looking for the first segment only 60 ms around the global lag gave
  // worst 0.41 (the first segment out of reach), score 0.956.
  assert.ok(r.worst > 0.7, `worst segment ${r.worst.toFixed(3)}`);
  assert.ok(r.correlation > 0.97, `score ${r.correlation.toFixed(3)}`);
  // Clipping the first 80 ms instead is lost audio, and the first segment shows it.
  const clipped = rec.slice();
  clipped.fill(0, Math.round(0.5 * rate), Math.round(0.58 * rate));
  assert.ok(compareAudioSegments(ref, rate, clipped, rate).worst < r.worst - 0.05);
});
