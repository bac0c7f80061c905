// RTCP: packets (RFC 3550 §6.4-6.6) against binary fixtures, reception
// statistics (§A.1, §A.3, §A.8), NTP arithmetic and the report session.
import { test } from "node:test";
import assert from "node:assert/strict";
import { buildBye, buildReceiverReport, buildSdes, buildSenderReport, compound, parseRtcp } from "../../src/rtp/rtcp-packets.js";
import { ReceiverStats } from "../../src/rtp/receiver-stats.js";
import { compactNtpToMs, msToCompactNtp, ntpFromUnixMs, ntpMiddle32, roundTripMs } from "../../src/rtp/ntp-time.js";
import { RtcpSession } from "../../src/rtp/rtcp-session.js";
import { isRtcpPacket } from "../../src/rtp/rtp-packet.js";

// RR, 1 report block: V=2 RC=1 PT=201 len=7 | ssrc 0x11111111 | block: ssrc 0x22222222,
// fraction 0x40 (25 %), lost 0xffffff (-1), ext seq 0x00010005, jitter 0x10, LSR 0xaabbccdd, DLSR 0x00010000.
const RR_FIXTURE = "81c90007" + "11111111" + "22222222" + "40ffffff" + "00010005" + "00000010" + "aabbccdd" + "00010000";
// BYE: V=2 SC=1 PT=203 len=3 | ssrc 0x11111111 | len 4 "done" + 3 pad
const BYE_FIXTURE = "81cb0003" + "11111111" + "04" + Buffer.from("done").toString("hex") + "000000";

test("RR with a report block: built as the fixture, parsed back (negative cumulative loss in 24 bits)", () => {
  const rr = buildReceiverReport(0x11111111, [
    { ssrc: 0x22222222, fractionLost: 64, packetsLost: -1, highestSequence: 0x10005, jitter: 16, lsr: 0xaabbccdd, dlsr: 0x10000 },
  ]);
  assert.equal(rr.toString("hex"), RR_FIXTURE);
  const [m] = parseRtcp(Buffer.from(RR_FIXTURE, "hex"));
  assert.ok(m?.type === "rr");
  assert.equal(m.ssrc, 0x11111111);
  assert.deepEqual(m.reports[0], { ssrc: 0x22222222, fractionLost: 64, packetsLost: -1, highestSequence: 0x10005, jitter: 16, lsr: 0xaabbccdd, dlsr: 0x10000 });
  assert.ok(isRtcpPacket(rr));
});

test("BYE with a reason: fixture both ways", () => {
  assert.equal(buildBye([0x11111111], "done").toString("hex"), BYE_FIXTURE);
  assert.deepEqual(parseRtcp(Buffer.from(BYE_FIXTURE, "hex")), [{ type: "bye", ssrcs: [0x11111111], reason: "done" }]);
});

test("compound SR + SDES CNAME round trip; the SDES chunk always ends in a null octet", () => {
  for (const cname of ["ab", "abcdef", "0123456789abcdef", "x"]) {
    const ntp = ntpFromUnixMs(Date.UTC(2025, 5, 1, 12, 0, 0, 250));
    const pkt = compound(
      buildSenderReport(7, { ntpTimestamp: ntp, rtpTimestamp: 123456, packetCount: 50, octetCount: 4000 }, []),
      buildSdes(7, cname),
    );
    assert.equal(pkt.length % 4, 0);
    const msgs = parseRtcp(pkt);
    assert.equal(msgs.length, 2);
    const [sr, sdes] = msgs;
    assert.ok(sr?.type === "sr" && sdes?.type === "sdes");
    assert.equal(sr.sender.ntpTimestamp, ntp);
    assert.equal(sr.sender.packetCount, 50);
    assert.equal(sdes.chunks[0]!.ssrc, 7);
    // The CNAME text comes back (a terminator-forcing "=" may be appended to an aligned one).
    assert.ok(sdes.chunks[0]!.cname === cname || sdes.chunks[0]!.cname === `${cname}=`, sdes.chunks[0]!.cname);
    // §6.5: the chunk's item list ends with a null octet before the padding.
    const sdesStart = msgs.length && pkt.readUInt16BE(2) * 4 + 4;
    const sdesBody = pkt.subarray(sdesStart + 8);
    assert.ok(sdesBody.includes(0), "null terminator present");
  }
});

test("malformed RTCP parses to what was readable, never throws", () => {
  assert.deepEqual(parseRtcp(Buffer.from("81c9", "hex")), []);
  assert.deepEqual(parseRtcp(Buffer.from("81c90007111111", "hex")), []); // length beyond the buffer
  const good = Buffer.from(RR_FIXTURE, "hex");
  assert.equal(parseRtcp(Buffer.concat([good, Buffer.from("ffff", "hex")])).length, 1);
});

test("NTP: 64-bit timestamp, middle 32 bits, compact fixed point, RTT = A - LSR - DLSR (§6.4.1)", () => {
  const ntp = ntpFromUnixMs(0);
  assert.equal(ntp >> 32n, 2208988800n);
  assert.equal(ntpMiddle32(0x0123456789abcdefn), 0x456789ab);
  assert.equal(compactNtpToMs(0x8000), 500);
  assert.equal(msToCompactNtp(1500), 0x18000);
  // The RFC's own example: A = 0xb710:8000 (46864.500 s), LSR = 0xb705:2000 (46853.125 s), DLSR = 0x0005:4000 (5.250 s).
  assert.equal(roundTripMs(0xb7108000, 0xb7052000, 0x00054000), 6125);
  assert.equal(roundTripMs(0xb7108000, 0, 0), undefined);
});

test("receiver stats: loss and fraction per interval (§A.3), wrap-around, duplicates, restart probation (§A.1)", () => {
  const rs = new ReceiverStats(8000);
  let t = 0;
  const seqs = [65530, 65531, 65533, 65534, 65535, 0, 1, 3, 4]; // 65532 and 2 lost
  for (const s of seqs) rs.update(s, s * 160, (t += 20));
  assert.equal(rs.expected, 11);
  assert.equal(rs.cumulativeLost, 2);
  const r1 = rs.report();
  assert.equal(r1.packetsLost, 2);
  assert.equal(r1.fractionLost, Math.floor((2 * 256) / 11));
  assert.equal(r1.highestSequence, 65536 + 4);
  // Next interval: no loss, one duplicate.
  rs.update(5, 5 * 160, (t += 20));
  rs.update(5, 5 * 160, (t += 1));
  const r2 = rs.report();
  assert.equal(r2.fractionLost, 0);
  assert.equal(r2.packetsLost, 1, "a duplicate offsets a loss in the cumulative count");
  // A huge jump is held until the next packet confirms it (§A.1): then statistics restart.
  assert.equal(rs.update(30000, 0, (t += 20)), false);
  assert.equal(rs.update(30001, 160, (t += 20)), true);
  assert.equal(rs.expected, 1);
});

test("interarrival jitter (§A.8): zero for perfectly timed packets, about the mean deviation otherwise", () => {
  const even = new ReceiverStats(8000);
  for (let i = 0; i < 200; i++) even.update(i, i * 160, 1000 + i * 20);
  assert.equal(even.jitter, 0);
  const alt = new ReceiverStats(8000);
  // Alternating 0 and 10 ms of extra delay: |D| = 10 ms = 80 timestamp units every packet.
  for (let i = 0; i < 500; i++) alt.update(i, i * 160, 1000 + i * 20 + (i % 2) * 10);
  assert.ok(Math.abs(alt.jitter - 80) < 1, `jitter ${alt.jitter}`);
  assert.ok(Math.abs(alt.jitterMs - 10) < 0.2);
});

test("RTCP session: first report after half an interval, then ~5 s randomised (§6.3.1); RR without sending, SR once sent", () => {
  const s = new RtcpSession({ localSsrc: 1, clockRate: 8000, random: () => 0.5, cname: "abc" });
  assert.equal(s.due(0), false); // starts the schedule
  const first = 2500 / (Math.E - 1.5);
  assert.equal(s.due(first - 1), false);
  assert.equal(s.due(first), true);
  const rr = parseRtcp(s.buildReport(first, Date.UTC(2025, 0, 1), undefined));
  assert.equal(rr[0]!.type, "rr");
  assert.equal(s.due(first + 5000 / (Math.E - 1.5) - 1), false);
  s.rtpSent();
  const sr = parseRtcp(s.buildReport(first + 5000, Date.UTC(2025, 0, 1), { rtpTimestamp: 1, packetCount: 2, octetCount: 3 }));
  assert.equal(sr[0]!.type, "sr");
  assert.deepEqual(sr[1], { type: "sdes", chunks: [{ ssrc: 1, cname: "abc" }] });
});

test("RTCP session pair: RTT from LSR/DLSR with the peer holding our SR for a while", () => {
  const wall0 = Date.UTC(2025, 0, 1);
  const a = new RtcpSession({ localSsrc: 0xa, clockRate: 8000, cname: "a" });
  const b = new RtcpSession({ localSsrc: 0xb, clockRate: 8000, cname: "b" });
  const rsAtB = new ReceiverStats(8000);
  for (let i = 0; i < 10; i++) rsAtB.update(i, i * 160, i * 20);
  // a sends an SR at t=1000; it reaches b 40 ms later; b reports 300 ms after that; the RR takes 40 ms back.
  a.rtpSent();
  const sr = a.buildReport(1000, wall0 + 1000, { rtpTimestamp: 0, packetCount: 10, octetCount: 1600 });
  b.receive(sr, 1040, wall0 + 1040);
  const rr = b.buildReport(1340, wall0 + 1340, undefined, { stats: rsAtB, remoteSsrc: 0xa });
  const inputs = a.receive(rr, 1380, wall0 + 1380);
  const rep = inputs.find((i) => i.kind === "report");
  assert.ok(rep && rep.kind === "report");
  assert.ok(Math.abs(rep.rttMs! - 80) < 1, `rtt ${rep.rttMs}`);
  assert.equal(a.remote.cname, "b");
  assert.deepEqual(a.receive(b.buildBye("bye now"), 1400, wall0 + 1400), [{ kind: "bye", reason: "bye now" }]);
  assert.deepEqual(a.remote.bye, { reason: "bye now" });
});
