// The echo service's network report (src/app/call-report.ts) from a call's
// media event and final statistics.
import { test } from "node:test";
import assert from "node:assert/strict";
import { networkReport, reportText, type MediaInfo } from "../../src/app/call-report.js";
import type { MediaStats } from "../../src/media/media-stats.js";

const stats = (o: Partial<MediaStats> = {}): MediaStats =>
  ({
    codec: "opus", payloadType: 111, ptimeMs: 20, packetsSent: 500, bytesSent: 0, packetsReceived: 490, bytesReceived: 0,
    packetsLost: 10, fractionLost: 0.02, packetsLate: 0, packetsDuplicate: 0, packetsReordered: 0, packetsDiscarded: 0,
    jitterMs: 4.26, jitterBufferDelayMs: 60, jitterBufferTargetMs: 60, concealedMs: 200, framesConcealed: 10, fecRecovered: 0,
    framesPlayed: 500, expands: 0, merges: 0, underruns: 0, rFactor: 85, mos: 4.1, dtmfSent: 0, dtmfReceived: 0,
    rtcpSent: 3, rtcpReceived: 3, maxTickGapMs: 21, localSsrc: 1, ...o,
  }) as MediaStats;

const relayed: MediaInfo = {
  codec: "opus",
  pair: { local: { type: "relay", ip: "192.0.2.1", port: 50000, protocol: "tcp" }, remote: { type: "prflx", ip: "198.51.100.2", port: 4000 } },
  encryption: "dtls-srtp",
  srtpProfile: "SRTP_AEAD_AES_128_GCM",
};

test("a relayed call with the peer's reports: both directions, the path and the profile", () => {
  const r = networkReport(relayed, stats({ rttMs: 80.4, remote: { fractionLost: 0.05, jitterMs: 7.04, reports: 2 } }), 61_000);
  assert.equal(r.path, "relay/tcp <-> prflx/udp");
  assert.equal(r.relayed, true);
  assert.equal(r.rttMs, 80);
  assert.deepEqual(r.received, { lossPercent: 2, jitterMs: 4.3, mos: 4.1, concealedMs: 200, packets: 490 });
  assert.equal(r.sent?.lossPercent, 5);
  assert.equal(r.sent?.jitterMs, 7);
  assert.ok(r.sent!.mos > 1 && r.sent!.mos < r.received.mos + 1, `MOS the other way ${r.sent!.mos}`);
  // More loss the other way: a lower estimate.
  const clean = networkReport(relayed, stats({ rttMs: 80.4, remote: { fractionLost: 0, jitterMs: 1, reports: 2 } }), 61_000);
  assert.ok(clean.sent!.mos > r.sent!.mos);
  const text = reportText(r).split("\n");
  assert.deepEqual(text, [
    "Call quality report (61 s)",
    "Path: relay/tcp <-> prflx/udp (relayed by TURN)",
    "RTT: 80 ms",
    "You -> echo: loss 2 %, jitter 4.3 ms, MOS 4.10, concealed 200 ms, 490 packets",
    `Echo -> you: loss 5 %, jitter 7 ms, MOS ${r.sent!.mos.toFixed(2)}, 500 packets (your RTCP reports)`,
    "Codec: opus",
    "Encryption: DTLS-SRTP SRTP_AEAD_AES_128_GCM",
  ]);
});

test("a peer that sends no RTCP: the other direction and the RTT are unknown, and said so", () => {
  const plain: MediaInfo = { codec: "pcmu", pair: { local: { type: "host", ip: "127.0.0.1", port: 1 }, remote: { type: "srflx", ip: "203.0.113.9", port: 2 } }, encryption: "none" };
  const r = networkReport(plain, stats({ codec: "PCMU" }), 3000);
  assert.equal(r.sent, undefined);
  assert.equal(r.rttMs, undefined);
  const text = reportText(r);
  assert.match(text, /^Path: host\/udp <-> srflx\/udp \(direct\)$/m);
  assert.match(text, /^RTT: unknown \(no RTCP round trip\)$/m);
  assert.match(text, /^Echo -> you: unknown \(your client sent no RTCP reports\)$/m);
  assert.match(text, /^Encryption: none \(plain RTP\)$/m);
});
