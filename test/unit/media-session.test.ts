// Two media sessions wired through a simulated network (test/fakes/
// media-pair.ts), on a virtual clock: what one side's source plays, the
// other side's sink records; DTMF, RTCP, playback, recording, device
// switching and device failures, all without sockets or timers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MediaSession } from "../../src/media/media-session.js";
import { LiveSource } from "../../src/media/sources/live-source.js";
import { findCodec } from "../../src/media/codecs/index.js";
import { decodeTelephoneEvent } from "../../src/media/codecs/telephone-event.js";
import { parseWav, writeWavFile, readWavMono } from "../../src/media/wav.js";
import { parseRtp } from "../../src/rtp/rtp-packet.js";
import { parseRtcp } from "../../src/rtp/rtcp-packets.js";
import type { AudioSource } from "../../src/media/sources/source.js";
import type { AudioSink } from "../../src/media/sinks/sink.js";
import { JingledError } from "../../src/util/errors.js";
import { silentLogger } from "../../src/util/logger.js";
import { compareAudio } from "../../scripts/lab/audio-compare.js";
import { ArraySink, ArraySource, VirtualClock, createMediaPair } from "../fakes/media-pair.js";

const opus = findCodec("opus", 48000)!;
const pcmu = findCodec("PCMU", 8000)!;

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

function pair(codec = opus, o: Parameters<typeof createMediaPair>[0]["session"] = {}, signal?: { a?: Int16Array; b?: Int16Array }) {
  const sinks = { a: new ArraySink(codec.pcmRate), b: new ArraySink(codec.pcmRate) };
  const p = createMediaPair({
    codec,
    sources: {
      a: new ArraySource(codec.pcmRate, signal?.a ?? testSignal(codec.pcmRate, 2)),
      b: new ArraySource(codec.pcmRate, signal?.b ?? new Int16Array(0)),
    },
    sinks,
    impair: { ab: { baseDelayMs: 5 }, ba: { baseDelayMs: 5 } },
    session: o,
  });
  return { ...p, sinks };
}

const withDir = async (fn: (dir: string) => Promise<void>) => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-ms-"));
  try {
    await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

for (const codec of [pcmu, opus]) {
  test(`${codec.name}: audio passes between two media sessions; counters add up`, async () => {
    const ref = testSignal(codec.pcmRate, 2);
    // A 20 ms start delay is all 5 ms of network delay needs: no delay change.
    const p = pair(codec, { rtcp: false, jitter: { initialMs: 20 } }, { a: ref });
    p.a.start();
    p.b.start();
    p.run(2400);
    const sa = p.a.stats();
    const sb = p.b.stats();
    await p.stop();
    assert.equal(sa.packetsSent, 120);
    assert.equal(sb.packetsReceived, 119, "all but the one still in flight");
    assert.equal(sb.packetsLost, 0);
    assert.equal(sb.framesConcealed, 0);
    assert.equal(sb.packetsLate, 0);
    const cmp = compareAudio(ref, codec.pcmRate, p.sinks.b.all(), codec.pcmRate, { maxLagMs: 500 });
    assert.ok(cmp.correlation > 0.95, `correlation ${cmp.correlation.toFixed(3)}, lag ${cmp.lagMs} ms`);
  });
}

test("packets from a second SSRC or another payload type are discarded", async () => {
  const clock = new VirtualClock();
  const sink = new ArraySink(8000);
  const rx = new MediaSession({
    codec: pcmu, payloadType: 0, source: new ArraySource(8000, new Int16Array(0)), sink, clock, send: () => undefined, jitterFrames: 2,
    logger: silentLogger(), now: () => clock.nowMs,
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

test("DTMF both ways: RFC 4733 events with growing duration, end packet 3 times, digits and durations come out", async () => {
  const te = { payloadType: 101, clockRate: 48000 };
  const p = pair(opus, { telephoneEvent: te, rtcp: false });
  const sent: Buffer[] = [];
  const orig = p.links.ab.send.bind(p.links.ab);
  p.links.ab.send = (pkt, now) => {
    sent.push(pkt);
    orig(pkt, now);
  };
  const atB: { digit: string; durationMs: number }[] = [];
  const atA: string[] = [];
  p.b.on("dtmf", (d) => atB.push(d));
  p.a.on("dtmf", (d) => atA.push(d.digit));
  p.a.start();
  p.b.start();
  p.run(200);
  let resolved = false;
  const done = p.a.sendDtmf("1#9").then(() => (resolved = true));
  const doneB = p.b.sendDtmf("*0", 160);
  p.run(1500);
  await done;
  await doneB;
  assert.ok(resolved);
  assert.deepEqual(atB.map((d) => d.digit), ["1", "#", "9"]);
  for (const d of atB) assert.equal(d.durationMs, 100);
  assert.deepEqual(atA, ["*", "0"]);

  // On the wire: the first digit's packets.
  const events = sent.map((b) => parseRtp(b)!).filter((r) => r.payloadType === 101);
  const first = events.filter((r) => r.timestamp === events[0]!.timestamp);
  const decoded = first.map((r) => ({ ...decodeTelephoneEvent(r.payload)!, marker: r.marker }));
  assert.equal(decoded[0]!.event, 1);
  assert.equal(decoded[0]!.marker, true);
  assert.deepEqual(decoded.map((d) => d.duration), [960, 1920, 2880, 3840, 4800, 4800, 4800]);
  assert.deepEqual(decoded.map((d) => d.end), [false, false, false, false, true, true, true]);
  assert.ok(decoded.slice(1).every((d) => !d.marker));
  // No audio packet while an event is on: sequence numbers of the event packets are consecutive.
  const seqs = first.map((r) => r.sequenceNumber);
  assert.deepEqual(seqs, seqs.map((_, i) => (seqs[0]! + i) & 0xffff));
  assert.equal(p.a.stats().dtmfSent, 3);
  assert.equal(p.b.stats().dtmfReceived, 3);
  await p.stop();
});

test("sendDtmf: refused without a telephone-event payload type, and for a non-digit", async () => {
  const p = pair(opus, { telephoneEvent: { payloadType: 101, clockRate: 8000 } }); // wrong clock rate for Opus
  assert.equal(p.a.canSendDtmf, false);
  await assert.rejects(p.a.sendDtmf("1"), (e: JingledError) => e.code === "not-supported");
  const q = pair(opus, { telephoneEvent: { payloadType: 126, clockRate: 48000 } });
  await assert.rejects(q.a.sendDtmf("12x"), /"x" is not a DTMF digit/);
  await p.stop();
  await q.stop();
});

test("play(): a file replaces the source, resolves at its end with playbackEnded; the call goes on", async () => {
  await withDir(async (dir) => {
    const path = join(dir, "prompt.wav");
    const prompt = testSignal(16000, 0.5);
    writeWavFile(path, prompt, 16000);
    const p = pair(opus, { rtcp: false }, { a: new Int16Array(0) }); // a's own source is silent
    const ended: string[] = [];
    p.a.on("playbackEnded", (e) => ended.push(e.reason));
    p.a.start();
    p.b.start();
    p.run(100);
    let finished = false;
    const playing = p.a.play(path).then(() => (finished = true));
    p.run(400);
    await Promise.resolve();
    assert.equal(finished, false, "still playing");
    p.run(400);
    await playing;
    assert.deepEqual(ended, ["finished"]);
    p.run(200); // the call goes on
    const cmp = compareAudio(prompt, 16000, p.sinks.b.all(), 48000, { maxLagMs: 1000 });
    assert.ok(cmp.correlation > 0.9, `prompt heard: correlation ${cmp.correlation.toFixed(3)}`);
    await assert.rejects(p.a.play(join(dir, "missing.wav")), /no such file/);
    await p.stop();
  });
});

test("mute sends silence; unmute brings the source back", async () => {
  const p = pair(pcmu, { rtcp: false });
  p.a.start();
  p.b.start();
  p.a.setMuted(true);
  p.run(600);
  const quiet = p.sinks.b.all();
  assert.ok(quiet.every((v) => Math.abs(v) < 16), "only silence while muted");
  p.a.setMuted(false);
  p.run(600);
  const after = p.sinks.b.all().subarray(quiet.length);
  assert.ok(after.some((v) => Math.abs(v) > 1000), "audio after unmute");
  await p.stop();
});

test("startRecording/stopRecording write a WAV of what we hear", async () => {
  await withDir(async (dir) => {
    const p = pair(pcmu, { rtcp: false });
    p.a.start();
    p.b.start();
    p.run(200);
    const path = join(dir, "rec.wav");
    p.b.startRecording(path);
    assert.throws(() => p.b.startRecording(join(dir, "second.wav")), /already recording/);
    p.run(1000);
    const { path: done, durationMs } = await p.b.stopRecording();
    assert.equal(done, path);
    assert.equal(durationMs, 1000);
    const wav = parseWav(readFileSync(path));
    assert.equal(wav.format.sampleRate, 8000);
    assert.equal(wav.frames, 8000);
    await assert.rejects(p.b.stopRecording(), /not recording/);
    await p.stop();
  });
});

test("replaceSource and replaceSink switch mid-call; the old ones are closed", async () => {
  const p = pair(pcmu, { rtcp: false }, { a: new Int16Array(0) });
  p.a.start();
  p.b.start();
  p.run(400);
  let oldClosed = false;
  const tone = testSignal(8000, 1);
  const src: AudioSource = new ArraySource(8000, tone);
  p.a.replaceSource(src);
  const newSink = new ArraySink(8000);
  await p.b.replaceSink(newSink);
  assert.ok(p.sinks.b.closed, "old sink closed");
  oldClosed = true;
  p.run(1200);
  assert.ok(oldClosed);
  const cmp = compareAudio(tone, 8000, newSink.all(), 8000, { maxLagMs: 500 });
  assert.ok(cmp.correlation > 0.95, `correlation ${cmp.correlation}`);
  await p.stop();
});

test("a failing source or sink: deviceError, then silence / nowhere; the session goes on", async () => {
  const p = pair(pcmu, { rtcp: false, onDeviceError: "silence" });
  const errors: { device: string; message: string; action: string }[] = [];
  p.a.on("deviceError", (e) => errors.push(e));
  p.b.on("deviceError", (e) => errors.push(e));
  const broken: AudioSource = { sampleRate: 8000, ended: false, read: () => { throw new Error("mic unplugged"); }, close: () => undefined };
  const sink: AudioSink & { onError?: (e: JingledError) => void } = { sampleRate: 8000, write: () => undefined, close: async () => undefined };
  p.a.start();
  p.b.start();
  p.a.replaceSource(broken);
  await p.b.replaceSink(sink);
  p.run(200);
  sink.onError?.(new JingledError("media-device", "pacat exited (code 1)"));
  p.run(200);
  assert.deepEqual(errors.map((e) => [e.device, e.message, e.action]), [
    ["source", "mic unplugged", "silence"],
    ["sink", "pacat exited (code 1)", "silence"],
  ]);
  assert.ok(p.a.stats().packetsSent >= 19, "a keeps sending (silence)");
  await p.stop();
});

test("RTCP: SR/RR with SDES every ~5 s, RTT from LSR/DLSR, loss and jitter both ways; BYE at stop", async () => {
  const sinks = { a: new ArraySink(48000), b: new ArraySink(48000) };
  const p = createMediaPair({
    codec: opus,
    sources: { a: new ArraySource(48000, testSignal(48000, 30)), b: new ArraySource(48000, testSignal(48000, 30)) },
    sinks,
    impair: { ab: { baseDelayMs: 30, jitterMs: 10, loss: 0.05, seed: 3 }, ba: { baseDelayMs: 30, jitterMs: 10, seed: 4 } },
  });
  const rtcpFromA: Buffer[] = [];
  const orig = p.links.ab.send.bind(p.links.ab);
  p.links.ab.send = (pkt, now) => {
    if (pkt[1]! >= 192 && pkt[1]! <= 223) rtcpFromA.push(pkt);
    orig(pkt, now);
  };
  const reports: number[] = [];
  p.a.on("report", () => reports.push(p.clock.nowMs));
  let bye = false;
  p.b.on("bye", () => (bye = true));
  p.a.start();
  p.b.start();
  p.run(30_000);
  const sa = p.a.stats();
  const sb = p.b.stats();
  // About every 5 s (randomised 2.5..7.5 s, §6.3.1), the first after half of that.
  assert.ok(sa.rtcpSent >= 4 && sa.rtcpSent <= 12, `rtcp sent ${sa.rtcpSent}`);
  assert.ok(sa.rtcpReceived >= 4);
  const msgs = parseRtcp(rtcpFromA.at(-1)!);
  assert.equal(msgs[0]!.type, "sr");
  assert.equal(msgs[1]!.type, "sdes");
  // RTT: 2 x (30 ms + jitter up to 10 ms).
  assert.ok(sa.rttMs !== undefined && sa.rttMs > 55 && sa.rttMs < 85, `rtt ${sa.rttMs}`);
  assert.ok(sb.rttMs !== undefined && sb.rttMs > 55 && sb.rttMs < 85, `rtt ${sb.rttMs}`);
  // b measured ~5 % loss of a's stream; a learnt it from b's reports.
  assert.ok(sb.fractionLost > 0.03 && sb.fractionLost < 0.07, `loss at b ${sb.fractionLost}`);
  assert.ok(sa.remote?.packetsLost !== undefined && Math.abs(sa.remote.packetsLost - sb.packetsLost) < 30, JSON.stringify(sa.remote));
  assert.ok(sb.jitterMs > 1 && sb.jitterMs < 10, `jitter ${sb.jitterMs}`);
  assert.equal(sa.fractionLost, 0);
  assert.ok(sa.mos > sb.mos, `mos a ${sa.mos} (no loss) > b ${sb.mos} (5 % loss)`);
  assert.ok(sb.rFactor > 50 && sb.rFactor < 93.2);
  assert.ok(reports.length >= 8);
  await p.a.stop();
  p.run(200);
  assert.ok(bye, "b saw a's BYE");
  await p.b.stop();
});

test("the peer's ptime is honoured: 40 ms packets out, and 40 ms packets in play correctly", async () => {
  const ref = testSignal(48000, 2);
  const p = pair(opus, { rtcp: false, ptimeMs: 40 }, { a: ref });
  p.a.start();
  p.b.start();
  p.run(2400);
  const s = p.a.stats();
  assert.equal(s.ptimeMs, 40);
  assert.equal(s.packetsSent, 60);
  const cmp = compareAudio(ref, 48000, p.sinks.b.all(), 48000, { maxLagMs: 500 });
  assert.ok(cmp.correlation > 0.95, `correlation ${cmp.correlation}`);
  assert.equal(p.b.stats().framesConcealed, 0);
  await p.stop();
});

test("Opus DTX: silence costs almost no packets", async () => {
  const p = pair(opus, { rtcp: false, encoder: { dtx: true } }, { a: new Int16Array(0) });
  p.a.start();
  p.b.start();
  p.run(4000);
  assert.ok(p.a.stats().packetsSent < 40, `packets ${p.a.stats().packetsSent} in 4 s of silence`);
  await p.stop();
});

test("a recording survives stop(): the WAV is finished", async () => {
  await withDir(async (dir) => {
    const p = pair(pcmu, { rtcp: false });
    p.a.start();
    p.b.start();
    p.run(300);
    p.b.startRecording(join(dir, "r.wav"));
    p.run(500);
    await p.stop();
    const pcm = readWavMono(readFileSync(join(dir, "r.wav")), 8000);
    assert.equal(pcm.length, 4000);
  });
});

test("a live input with a backlog: the oldest audio is dropped, and stats say how much", async () => {
  const rate = pcmu.pcmRate;
  const live = new LiveSource(rate);
  // 260 ms in 20 ms chunks at once (under the 300 ms cap): more than a window of 20 ms reads needs.
  const audio = testSignal(rate, 0.26);
  for (let i = 0; i < audio.length; i += 160) live.feed(audio.subarray(i, i + 160));
  const sinks = { a: new ArraySink(rate), b: new ArraySink(rate) };
  const p = createMediaPair({
    codec: pcmu,
    sources: { a: live, b: new ArraySource(rate, new Int16Array(0)) },
    sinks,
    impair: { ab: { baseDelayMs: 5 }, ba: { baseDelayMs: 5 } },
    session: { rtcp: false },
  });
  p.a.start();
  p.b.start();
  assert.equal(p.a.stats().inputDroppedMs, 0);
  p.run(600);
  const s = p.a.stats();
  await p.stop();
  // After a 200 ms window of reads ~60 ms were still queued; at most a frame is kept.
  assert.ok(s.inputDroppedMs !== undefined && s.inputDroppedMs >= 20 && s.inputDroppedMs <= 80, `dropped ${s.inputDroppedMs} ms`);
  assert.equal(p.b.stats().inputDroppedMs, undefined, "not a live input");
});
