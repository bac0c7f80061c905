import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_INITIAL_SEQ, RtpPacketizer, isRtcpPacket, parseRtp } from "../../src/rtp/rtp-packet.js";
import { prng } from "../../scripts/lab/audio-compare.js";

// V=2 P=0 X=0 CC=0 | M=0 PT=0 | seq 0x1234 | ts 0xdeadbeef | ssrc 0x01020304 | payload ff 7f 00
const FIXTURE = "80001234deadbeef01020304ff7f00";

test("binary fixture parses to the known header", () => {
  const p = parseRtp(Buffer.from(FIXTURE, "hex"));
  assert.ok(p);
  assert.equal(p.payloadType, 0);
  assert.equal(p.marker, false);
  assert.equal(p.sequenceNumber, 0x1234);
  assert.equal(p.timestamp, 0xdeadbeef);
  assert.equal(p.ssrc, 0x01020304);
  assert.deepEqual(p.csrc, []);
  assert.equal(p.payload.toString("hex"), "ff7f00");
});

test("binary fixture is what the packetizer produces", () => {
  const z = new RtpPacketizer({ ssrc: 0x01020304, payloadType: 0, clockRate: 8000, initialSeq: 0x1234, initialTimestamp: 0xdeadbeef });
  assert.equal(z.packetize(Buffer.from("ff7f00", "hex"), 160).toString("hex"), FIXTURE);
});

test("round trip: numbering, marker, payload type override, wraparound, counters", () => {
  const z = new RtpPacketizer({ payloadType: 111, clockRate: 48000, initialSeq: 65534, initialTimestamp: 0xffffffff - 959 });
  const payloads = [Buffer.from("aa", "hex"), Buffer.from("bbbb", "hex"), Buffer.from("cccccc", "hex")];
  const parsed = payloads.map((pl, i) =>
    parseRtp(z.packetize(pl, 960, i === 0 ? { marker: true } : i === 2 ? { payloadType: 101 } : {})),
  );
  assert.deepEqual(
    parsed.map((p) => [p?.sequenceNumber, p?.timestamp, p?.marker, p?.payloadType, p?.ssrc, p?.payload.toString("hex")]),
    [
      [65534, 0xffffffff - 959, true, 111, z.ssrc, "aa"],
      [65535, 0, false, 111, z.ssrc, "bbbb"],
      [0, 960, false, 101, z.ssrc, "cccccc"],
    ],
  );
  assert.equal(z.packetsSent, 3);
  assert.equal(z.octetsSent, 6);
  assert.equal(z.nextSequenceNumber, 1);
  assert.equal(z.nextTimestamp, 1920);
});

test("random SSRC, sequence number and timestamp when not given", () => {
  const a = new RtpPacketizer({ payloadType: 0, clockRate: 8000 });
  const b = new RtpPacketizer({ payloadType: 0, clockRate: 8000 });
  assert.notDeepEqual([a.ssrc, a.nextSequenceNumber, a.nextTimestamp], [b.ssrc, b.nextSequenceNumber, b.nextTimestamp]);
  assert.ok(a.ssrc >= 0 && a.ssrc <= 0xffffffff && a.nextSequenceNumber <= 0xffff);
  assert.throws(() => new RtpPacketizer({ payloadType: 128, clockRate: 8000 }), RangeError);
});

test("the first sequence number is random below 2^15 (as libwebrtc): the first wrap is at least 32768 packets away", () => {
  const seqs = Array.from({ length: 2000 }, () => new RtpPacketizer({ payloadType: 0, clockRate: 8000 }).nextSequenceNumber);
  // 2000 uniform 16-bit draws all below 2^15 by chance: probability 2^-2000.
  assert.ok(seqs.every((s) => s >= 0 && s <= MAX_INITIAL_SEQ), `a first sequence number above ${MAX_INITIAL_SEQ}: ${Math.max(...seqs)}`);
  // Still random over that range: both halves of it are used, and many distinct values.
  assert.ok(seqs.some((s) => s < 0x4000) && seqs.some((s) => s >= 0x4000));
  assert.ok(new Set(seqs).size > 1800);
});

test("CSRC list, header extension and padding are skipped to the payload", () => {
  // CC=2, X=1, P=1: header 12 + 8 CSRC + 4 ext header + 4 ext data, payload "abcd", 3 padding bytes.
  const buf = Buffer.from(
    "b2" + "e0" + "0001" + "00000002" + "00000003" + "0000000a" + "0000000b" + "bede0001" + "10ff0000" + "abcd" + "000003",
    "hex",
  );
  const p = parseRtp(buf);
  assert.ok(p);
  assert.equal(p.marker, true);
  assert.equal(p.payloadType, 96);
  assert.deepEqual(p.csrc, [10, 11]);
  assert.equal(p.payload.toString("hex"), "abcd");
  assert.equal(p.header.extensions[0]?.id, 1);
});

test("garbage returns undefined and never throws", () => {
  const bad: [string, Buffer][] = [
    ["0 bytes", Buffer.alloc(0)],
    ["1 byte", Buffer.from([0x80])],
    ["11 bytes", Buffer.from(FIXTURE, "hex").subarray(0, 11)],
    ["version 1", Buffer.from("40001234deadbeef01020304", "hex")],
    ["version 0 (STUN-like)", Buffer.from("000100002112a442000000000000000000000000", "hex")],
    ["CSRC count past the end", Buffer.from("8f001234deadbeef01020304aabbccdd", "hex")],
    ["extension past the end", Buffer.from("90001234deadbeef01020304bede0005000000", "hex")],
    ["extension header cut", Buffer.from("90001234deadbeef01020304be", "hex")],
    ["padding bigger than payload", Buffer.from("a0001234deadbeef01020304aa09", "hex")],
    ["padding count 0", Buffer.from("a0001234deadbeef01020304aa00", "hex")],
  ];
  for (const [name, buf] of bad) assert.equal(parseRtp(buf), undefined, name);
  const r = prng(42);
  for (let i = 0; i < 20000; i++) {
    const len = Math.floor(r() * 80);
    const buf = Buffer.alloc(len);
    for (let j = 0; j < len; j++) buf[j] = Math.floor(r() * 256);
    if (len > 0 && r() < 0.7) buf[0] = (buf[0]! & 0x3f) | 0x80; // mostly version 2, to reach deeper checks
    const p = parseRtp(buf); // must not throw
    if (p) assert.ok(p.payload.length <= len - 12);
  }
});

test("RFC 5761 demultiplexing: RTCP packet types 192..223 in the second octet", () => {
  const rr = Buffer.from("80c9000101020304", "hex"); // RR, no report blocks
  const sr = Buffer.from("80c8000601020304" + "00".repeat(20), "hex");
  assert.equal(isRtcpPacket(rr), true);
  assert.equal(isRtcpPacket(sr), true);
  assert.equal(isRtcpPacket(Buffer.from("81cc000101020304", "hex")), true, "APP");
  assert.equal(isRtcpPacket(Buffer.from("80df000101020304", "hex")), true, "223");
  assert.equal(isRtcpPacket(Buffer.from(FIXTURE, "hex")), false, "PCMU");
  assert.equal(isRtcpPacket(Buffer.from("80ef1234deadbeef01020304", "hex")), false, "opus 111 with marker");
  assert.equal(isRtcpPacket(Buffer.from("80e01234deadbeef01020304", "hex")), false, "224 is RTP PT 96 + marker");
  assert.equal(isRtcpPacket(Buffer.from("40c9000101020304", "hex")), false, "version 1");
  assert.equal(isRtcpPacket(Buffer.from("80c9", "hex")), false, "too short");
  assert.equal(isRtcpPacket(Buffer.alloc(0)), false);
});
