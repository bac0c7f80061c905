// Hold is not loss (XEP-0167 §7.2): two media sessions on the virtual clock
// (test/helpers/media-pair.ts) held for 4 s. Nothing is sent or counted as
// sent, the receive side expects nothing (no loss, concealment, underruns or
// jitter, MOS as before), and RTP resumes in sequence with its timestamp
// advanced by the time held (RFC 3550 §5.1), whichever side held and
// whether or not the peer kept sending meanwhile.
import { test } from "node:test";
import assert from "node:assert/strict";
import { findCodec } from "../../src/media/codecs/index.js";
import type { MediaStats } from "../../src/media/media-session.js";
import { ReceiverStats } from "../../src/rtp/receiver-stats.js";
import { isRtcpPacket, parseRtp, RtpPacketizer } from "../../src/rtp/rtp-packet.js";
import { ArraySink, ArraySource, createMediaPair } from "../fakes/media-pair.js";

const opus = findCodec("opus", 48000)!;
const pcmu = findCodec("PCMU", 8000)!;

function tone(rate: number, seconds: number): Int16Array {
  const out = new Int16Array(Math.round(rate * seconds));
  for (let i = 0; i < out.length; i++) out[i] = Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / rate));
  return out;
}

/** A pair sending a tone both ways, with every RTP packet a sends recorded with its virtual send time. */
function holdPair(codec = pcmu) {
  const sinks = { a: new ArraySink(codec.pcmRate), b: new ArraySink(codec.pcmRate) };
  const p = createMediaPair({
    codec,
    sources: { a: new ArraySource(codec.pcmRate, tone(codec.pcmRate, 20)), b: new ArraySource(codec.pcmRate, tone(codec.pcmRate, 20)) },
    sinks,
    impair: { ab: { baseDelayMs: 5 }, ba: { baseDelayMs: 5 } },
    session: { rtcp: { intervalMs: 1000 }, jitter: { initialMs: 20 }, telephoneEvent: { payloadType: 101, clockRate: codec.clockRate } },
  });
  const sentByA: { at: number; seq: number; ts: number; marker: boolean }[] = [];
  const send = p.links.ab.send.bind(p.links.ab);
  p.links.ab.send = (packet, nowMs) => {
    if (!isRtcpPacket(packet)) {
      const r = parseRtp(packet)!;
      sentByA.push({ at: nowMs, seq: r.sequenceNumber, ts: r.timestamp, marker: r.marker });
    }
    send(packet, nowMs);
  };
  return { ...p, sinks, sentByA };
}

/** The receive figures a hold must not move. */
const quality = (s: MediaStats) => ({ lost: s.packetsLost, fractionLost: s.fractionLost, late: s.packetsLate, concealed: s.framesConcealed, concealedMs: s.concealedMs, underruns: s.underruns });

for (const codec of [pcmu, opus]) {
  test(`${codec.name}: both sides on hold for 4 s: nothing sent, nothing lost or concealed, MOS unchanged; RTP resumes in sequence and in time`, async () => {
    const p = holdPair(codec);
    p.a.start();
    p.b.start();
    p.run(2000);
    const before = { a: p.a.stats(), b: p.b.stats() };
    assert.ok(before.b.packetsReceived > 90 && before.b.framesConcealed === 0, JSON.stringify(quality(before.b)));
    const lastBefore = p.sentByA.at(-1)!;

    // As Call.setHeld orders it: we stop listening, the peer (told) stops both ways, then we stop sending.
    p.a.setHeld(true, "receive");
    p.b.setHeld(true);
    p.a.setHeld(true);
    assert.equal(p.a.held, true);
    await assert.rejects(p.a.sendDtmf("1"), /DTMF: the call is on hold/, "no DTMF that would wait for the resume");
    const sentAtHold = p.sentByA.length;
    const rtcpBefore = p.a.stats().rtcpSent;
    p.run(4000);
    const held = { a: p.a.stats(), b: p.b.stats() };
    assert.equal(p.sentByA.length, sentAtHold, "no RTP leaves while held");
    assert.equal(held.a.packetsSent, before.a.packetsSent, "packetsSent frozen");
    assert.equal(held.b.packetsSent, before.b.packetsSent);
    assert.equal(held.a.bytesSent, before.a.bytesSent, "bytesSent (RTP) frozen");
    assert.ok(held.a.rtcpSent >= rtcpBefore + 3, `RTCP goes on while held (${rtcpBefore} -> ${held.a.rtcpSent})`);
    assert.deepEqual(quality(held.b), quality(before.b), "nothing expected while held");
    assert.deepEqual(quality(held.a), quality(before.a));

    // Resume: both at once (the peer is told).
    p.a.setHeld(false);
    p.b.setHeld(false);
    const framesBefore = p.sinks.b.chunks.length;
    p.run(2000);
    const after = { a: p.a.stats(), b: p.b.stats() };
    for (const side of ["a", "b"] as const) {
      assert.deepEqual(quality(after[side]), quality(before[side]), `${side}: no loss, concealment or underruns from the hold`);
      assert.ok(Math.abs(after[side].mos - before[side].mos) < 0.05, `${side}: MOS ${before[side].mos} -> ${after[side].mos}`);
      assert.ok(after[side].jitterMs < 2, `${side}: jitter ${after[side].jitterMs} ms`);
      assert.ok(after[side].packetsSent > before[side].packetsSent + 90, "sending again");
    }
    // RFC 3550 §5.1: the sequence number counts packets sent; the timestamp follows the sampling clock.
    const first = p.sentByA[sentAtHold]!;
    assert.equal(first.seq, (lastBefore.seq + 1) & 0xffff, "the sequence continues");
    const elapsedMs = first.at - lastBefore.at;
    assert.equal(((first.ts - lastBefore.ts) >>> 0) / (codec.clockRate / 1000), elapsedMs, "the timestamp advanced by the time held");
    assert.equal(first.marker, true, "a new talkspurt");
    const heard = p.sinks.b.chunks.slice(framesBefore);
    assert.ok(heard.length > 90 && heard.some((c) => c.some((v) => Math.abs(v) > 2000)), "audio resumes");
    await p.stop();
  });
}

test("a peer that keeps sending while we hold: its packets are neither played nor counted, and the gap is not loss", async () => {
  const p = holdPair(pcmu);
  p.a.start();
  p.b.start();
  p.run(1000);
  const before = p.b.stats();
  p.b.setHeld(true); // a is not told: it goes on sending
  const framesAtHold = p.sinks.b.chunks.length;
  p.run(2000);
  assert.equal(p.b.stats().packetsReceived, before.packetsReceived, "not counted while held");
  assert.equal(p.sinks.b.chunks.length, framesAtHold, "not played while held");
  p.b.setHeld(false);
  p.run(1000);
  const after = p.b.stats();
  assert.ok(after.packetsReceived > before.packetsReceived + 40);
  assert.deepEqual(quality(after), quality(before), "the 100 sequence numbers skipped are not loss");
  assert.ok(after.jitterMs < 2, `jitter ${after.jitterMs} ms`);
  await p.stop();
});

test("without a hold, a peer that stops sending for 2 s is concealed and counted (what hold must not look like)", async () => {
  const p = holdPair(pcmu);
  p.a.start();
  p.b.start();
  p.run(1000);
  const before = p.b.stats();
  p.a.setHeld(true); // a stops sending; b is not told
  p.run(2000);
  p.a.setHeld(false);
  p.run(1000);
  const after = p.b.stats();
  assert.ok(after.underruns > before.underruns + 50, `underruns ${before.underruns} -> ${after.underruns}`);
  await p.stop();
});

test("ReceiverStats.pause: the next packet's forward gap is skipped, not lost; later gaps, and stragglers, count as before", () => {
  const clock = 8000;
  const tx = new RtpPacketizer({ payloadType: 0, clockRate: clock, initialSeq: 65530, initialTimestamp: 0 });
  const rx = new ReceiverStats(clock);
  let t = 0;
  const deliver = (send: boolean) => {
    const pkt = parseRtp(tx.packetize(Buffer.alloc(160), 160))!;
    t += 20;
    if (send) rx.update(pkt.sequenceNumber, pkt.timestamp, t);
    return pkt.sequenceNumber;
  };
  for (let i = 0; i < 10; i++) deliver(true);
  rx.pause();
  for (let i = 0; i < 200; i++) deliver(false); // held: the sender counted on (and wrapped)
  deliver(true);
  assert.deepEqual([rx.expected, rx.received, rx.cumulativeLost], [11, 11, 0]);
  assert.equal(rx.jitter, 0, "the held time is no transit-time difference");
  deliver(false); // a real loss after the hold
  deliver(true);
  assert.deepEqual([rx.expected, rx.cumulativeLost], [13, 1]);
  const report = rx.report();
  assert.equal(report.packetsLost, 1);
  // A pause followed by a straggler (older sequence number): nothing skipped.
  rx.pause();
  rx.update((tx.nextSequenceNumber - 3) & 0xffff, 0, (t += 20));
  deliver(true);
  assert.deepEqual([rx.expected, rx.received, rx.cumulativeLost], [14, 14, 0], "the straggler counts as received (RFC 3550 §A.3: duplicates make loss negative)");
});
