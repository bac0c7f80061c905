// RFC 4733 telephone events: payload format, the sender's packet schedule,
// the receiver's de-duplication and timeouts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeTelephoneEvent, dtmfDigitOf, dtmfEventOf, encodeTelephoneEvent } from "../../src/media/codecs/telephone-event.js";
import { DtmfSender, END_PACKET_REPEATS } from "../../src/media/dtmf-sender.js";
import { DtmfReceiver } from "../../src/media/dtmf-receiver.js";

test("payload: RFC 4733 §2.3 layout, fixture both ways", () => {
  // event 11 (#), E=1, R=0, volume 10, duration 800
  const b = encodeTelephoneEvent({ event: 11, end: true, volume: 10, duration: 800 });
  assert.equal(b.toString("hex"), "0b8a0320");
  assert.deepEqual(decodeTelephoneEvent(b), { event: 11, end: true, volume: 10, duration: 800 });
  assert.equal(decodeTelephoneEvent(Buffer.from("0b8a03", "hex")), undefined);
  assert.deepEqual([..."0123456789*#ABCD"].map(dtmfEventOf), Array.from({ length: 16 }, (_, i) => i));
  assert.equal(dtmfEventOf("a"), 12);
  assert.equal(dtmfEventOf("x"), undefined);
  assert.equal(dtmfDigitOf(15), "D");
});

function drive(s: DtmfSender, ticks: number, startTs = 1000, tickTs = 160) {
  const out: (ReturnType<DtmfSender["tick"]> & { tick: number; audioTs: number })[] = [];
  let ts = startTs;
  for (let t = 0; t < ticks; t++) {
    const p = s.tick(ts);
    if (p) out.push({ ...p, tick: t, audioTs: ts });
    ts += tickTs;
  }
  return out;
}

test("sender: durations grow per packet, marker on the first, end packet 3 times, then a gap of audio", () => {
  const s = new DtmfSender({ clockRate: 8000, toneMs: 100, gapMs: 60 });
  let done: boolean | undefined;
  s.enqueue("12", (ok) => (done = ok));
  const pkts = drive(s, 40);
  const d = pkts.map((p) => decodeTelephoneEvent(p.payload)!);
  // Digit 1: ticks 0..6; then 3 ticks of audio; digit 2: ticks 10..16.
  assert.deepEqual(pkts.map((p) => p.tick), [0, 1, 2, 3, 4, 5, 6, 10, 11, 12, 13, 14, 15, 16]);
  assert.deepEqual(d.slice(0, 7).map((e) => e.duration), [160, 320, 480, 640, 800, 800, 800]);
  assert.deepEqual(d.slice(0, 7).map((e) => e.end), [false, false, false, false, true, true, true]);
  assert.equal(d.slice(0, 7).filter((e) => e.end).length, END_PACKET_REPEATS);
  assert.deepEqual(pkts.map((p) => p.marker), [true, false, false, false, false, false, false, true, false, false, false, false, false, false]);
  // Every packet of an event carries its start timestamp.
  assert.ok(pkts.slice(0, 7).every((p) => p.timestamp === 1000));
  assert.ok(pkts.slice(7).every((p) => p.timestamp === 1000 + 10 * 160));
  assert.deepEqual([d[0]!.event, d[7]!.event], [1, 2]);
  assert.equal(done, true);
  assert.equal(s.sent, 2);
  assert.equal(s.busy, false);
});

test("sender: a tone longer than the 16-bit duration goes out in segments (§2.5.1.3)", () => {
  // 48 kHz: 65535 units is 1.365 s; a 2 s tone needs two segments.
  const s = new DtmfSender({ clockRate: 48000 });
  s.enqueue("5", undefined, 2000);
  const pkts = drive(s, 120, 0, 960);
  const segs = [...new Set(pkts.map((p) => p.timestamp))];
  assert.equal(segs.length, 2);
  assert.equal(segs[1], 68 * 960, "the next segment starts where the first one's duration ended");
  const last = decodeTelephoneEvent(pkts.at(-1)!.payload)!;
  assert.equal(last.end, true);
  assert.equal(last.duration, 100 * 960 - 68 * 960);
  // And the receiver makes one 2 s digit of it.
  const r = new DtmfReceiver({ clockRate: 48000 });
  const digits = pkts.flatMap((p, i) => r.receive(p.timestamp, p.payload, i * 20));
  assert.deepEqual(digits, [{ digit: "5", durationMs: 2000, ended: true }]);
});

test("sender: bad digits are refused before anything is queued; cancel() releases waiters", () => {
  const s = new DtmfSender({ clockRate: 8000 });
  assert.throws(() => s.enqueue("12x3"), /"x" is not a DTMF digit/);
  assert.equal(s.busy, false);
  let result: boolean | undefined;
  s.enqueue("99", (ok) => (result = ok));
  drive(s, 3);
  s.cancel();
  assert.equal(result, false);
  assert.equal(s.busy, false);
});

test("receiver: one digit per event at its first end packet; repeats, late packets and other events ignored", () => {
  const r = new DtmfReceiver({ clockRate: 8000 });
  const ev = (event: number, end: boolean, duration: number) => encodeTelephoneEvent({ event, end, volume: 10, duration });
  const got = [
    ...r.receive(1000, ev(7, false, 160), 0),
    ...r.receive(1000, ev(7, false, 320), 20),
    ...r.receive(1000, ev(7, true, 800), 80),
    ...r.receive(1000, ev(7, true, 800), 100),
    ...r.receive(1000, ev(7, true, 800), 120),
    ...r.receive(1000, ev(7, false, 480), 130), // late update
    ...r.receive(3000, ev(200, false, 160), 200), // not a DTMF event
  ];
  assert.deepEqual(got, [{ digit: "7", durationMs: 100, ended: true }]);
  assert.equal(r.received, 1);
});

test("receiver: an event whose end packets were lost is reported when the next starts, or after a timeout", () => {
  const r = new DtmfReceiver({ clockRate: 8000, timeoutMs: 500 });
  const ev = (event: number, end: boolean, duration: number) => encodeTelephoneEvent({ event, end, volume: 10, duration });
  assert.deepEqual(r.receive(1000, ev(1, false, 480), 0), []);
  assert.deepEqual(r.receive(3000, ev(2, false, 160), 300), [{ digit: "1", durationMs: 60, ended: false }]);
  assert.deepEqual(r.tick(700), []);
  assert.deepEqual(r.tick(800), [{ digit: "2", durationMs: 20, ended: false }]);
  // The same digit twice is two events (different timestamps).
  r.receive(9000, ev(5, true, 800), 1000);
  assert.deepEqual(r.receive(11000, ev(5, true, 800), 1300), [{ digit: "5", durationMs: 100, ended: true }]);
});
