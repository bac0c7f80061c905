// The DTLS 1.2 handshake (src/rtp/dtls/) between two of our endpoints over an
// in-process path on a manual clock (test/fakes/dtls-pair.ts): thousands of
// handshakes with loss, duplicates and reordering in seconds, and the RFC
// 6347 §4.2.4 retransmission rules checked datagram by datagram.
import { before, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { createCertificate, fingerprint, type DtlsCertificate } from "../../src/rtp/dtls/certificate.js";
import { parseRecords } from "../../src/rtp/dtls/record-layer.js";
import { decodeFragments } from "../../src/rtp/dtls/handshake-messages.js";
import { dtlsPair, srtpMaterial } from "../fakes/dtls-pair.js";
import { percentile } from "../../scripts/lab/dtls-loss-lab.js";

let certs: { a: DtlsCertificate; b: DtlsCertificate };
let other: DtlsCertificate;

before(async () => {
  const [a, b, c] = await Promise.all([createCertificate(), createCertificate(), createCertificate()]);
  certs = { a: a!, b: b! };
  other = c!;
});

/** Handshake message types in a datagram, as "seq:type" per fragment (epoch 0 only; "E1" for a protected record, "CCS"). */
function contents(d: Buffer): string[] {
  const out: string[] = [];
  for (const r of parseRecords(d)) {
    if (r.type === 20) out.push("CCS");
    else if (r.epoch === 1) out.push("E1");
    else if (r.type === 22) for (const f of decodeFragments(r.body)) out.push(`${f.seq}:${f.type}`);
  }
  return out;
}

test("a clean path: one datagram per flight, keys agree, CM_80 first", () => {
  const p = dtlsPair({ certs });
  assert.ok(p.run(), "connected");
  const [ra, rb] = [p.a.result!, p.b.result!];
  assert.equal(srtpMaterial(ra), srtpMaterial(rb));
  assert.equal(ra.srtpProfile, 1);
  assert.equal(ra.extendedMasterSecret, true);
  assert.equal(ra.cipherSuite, 0xc02b);
  assert.deepEqual(ra.peerCertificate, certs.b.der);
  assert.deepEqual(rb.peerCertificate, certs.a.der);
  // RFC 6347 §4.2.4 flights, each packed into one datagram.
  assert.deepEqual(p.a.sent.map(contents), [["0:1"], ["1:11", "2:16", "3:15", "CCS", "E1"]]);
  assert.deepEqual(p.b.sent.map(contents), [["0:2", "1:11", "2:12", "3:13", "4:14"], ["CCS", "E1"]]);
  assert.equal(p.a.endpoint.stats.retransmissions + p.b.endpoint.stats.retransmissions, 0);
  p.close();
});

test("the server takes the client's SRTP profile preference among its own", () => {
  const p = dtlsPair({ certs, profiles: { a: [7, 1], b: [1, 7] } });
  assert.ok(p.run());
  assert.equal(p.a.result!.srtpProfile, 7);
  assert.equal(p.b.result!.srtpProfile, 7);
  p.close();
});

test("flights larger than the MTU go out in fragments and are reassembled", () => {
  const p = dtlsPair({ certs, mtu: 256, seed: 7, impairment: { loss: 0.1, jitterMs: 30 } });
  assert.ok(p.run(), `connected (${p.a.notes.concat(p.b.notes).join("; ")})`);
  assert.ok(p.b.sent.every((d) => d.length <= 256));
  const fragmentsOfCert = p.b.sent.flatMap(contents).filter((c) => c === "1:11").length;
  assert.ok(fragmentsOfCert >= 2, `the certificate went in ${fragmentsOfCert} fragments`);
  assert.equal(srtpMaterial(p.a.result!), srtpMaterial(p.b.result!));
  p.close();
});

test("retransmission timer: 50 ms first, doubling up to 1 s (a silent server)", () => {
  const p = dtlsPair({ certs, impairment: { loss: 1 } });
  p.run(6000);
  assert.deepEqual(p.a.sentAt, [0, 50, 150, 350, 750, 1550, 2550, 3550, 4550, 5550]);
  assert.ok(p.a.sent.every((d) => contents(d).join() === "0:1"), "the same ClientHello each time");
  // A server has nothing to send before a ClientHello.
  assert.deepEqual(p.b.sentAt, []);
  p.close();
});

test("a retransmitted flight has new record sequence numbers and the same messages", () => {
  const p = dtlsPair({ certs, impairment: { loss: 1 } });
  p.run(200);
  const [first, second] = p.a.sent.map((d) => parseRecords(d)[0]!);
  assert.notEqual(first!.seq, second!.seq);
  assert.deepEqual(first!.body, second!.body);
  p.close();
});

test("the server's last flight is sent again when the client repeats its own (RFC 6347 §4.2.4)", () => {
  // The server's flight 6 is lost three times: the server thinks it is done,
  // the client is not. Only the client's retransmitted flight 5 can make the
  // server send flight 6 again (it has no timer for it).
  const p = dtlsPair({ certs });
  let lost = 0;
  p.pipe.tap = (from, d) => (from === "b" && contents(d).includes("CCS") && lost++ < 3 ? [] : [d]);
  assert.ok(p.run(), "both connected");
  assert.equal(lost, 4, "flight 6 went out four times");
  assert.ok(p.b.connectedAt! < p.a.connectedAt!, "the server was done first");
  assert.equal(srtpMaterial(p.a.result!), srtpMaterial(p.b.result!));
  p.close();
});

test("a repeated peer flight makes us resend at once, not at our next timer", () => {
  // The server's flight 4 is lost once. Its own timer is slow here (1 s);
  // the client's (50 ms) resends the ClientHello, and the server answers
  // that repeat with flight 4 at once.
  const p = dtlsPair({ certs, impairment: { delayMs: 5 }, options: { b: { initialRetransmitMs: 1000 } } });
  let lost = 0;
  p.pipe.tap = (from, d) => (from === "b" && contents(d)[0] === "0:2" && lost++ < 1 ? [] : [d]);
  assert.ok(p.run());
  assert.deepEqual(p.b.sentAt.slice(0, 2), [5, 55], "flight 4 at 5 ms (lost) and again when the repeated ClientHello came");
  assert.ok(p.a.connectedAt! < 100, `connected at ${p.a.connectedAt}`);
  p.close();
});

test("duplicated and reordered datagrams: every message enters the transcript once (keys agree)", () => {
  for (let seed = 1; seed <= 50; seed++) {
    const p = dtlsPair({ certs, seed, mtu: 300, impairment: { duplicate: 0.5, jitterMs: 60 } });
    assert.ok(p.run(), `seed ${seed}: ${p.a.notes.concat(p.b.notes).join("; ")}`);
    assert.equal(srtpMaterial(p.a.result!), srtpMaterial(p.b.result!), `seed ${seed}`);
    p.close();
  }
});

test("property: any mix of loss (up to 30 %), duplicates and reordering ends in agreed keys within 10 s", () => {
  fc.assert(
    fc.property(
      fc.record({
        seed: fc.integer({ min: 1, max: 2 ** 31 - 1 }),
        loss: fc.double({ min: 0, max: 0.3, noNaN: true }),
        duplicate: fc.double({ min: 0, max: 0.3, noNaN: true }),
        jitterMs: fc.integer({ min: 0, max: 200 }),
        delayMs: fc.integer({ min: 1, max: 150 }),
        mtu: fc.constantFrom(200, 576, 1200),
      }),
      ({ seed, loss, duplicate, jitterMs, delayMs, mtu }) => {
        const p = dtlsPair({ certs, seed, mtu, impairment: { loss, duplicate, jitterMs, delayMs } });
        try {
          const ok = p.run(10_000);
          if (!ok) return false;
          return srtpMaterial(p.a.result!) === srtpMaterial(p.b.result!);
        } finally {
          p.close();
        }
      },
    ),
    { numRuns: 120 },
  );
});

test("1000 handshakes at 15 % loss with reordering and duplicates: all connect (setup time percentiles reported)", (t) => {
  const times: number[] = [];
  let failed = 0;
  for (let seed = 1; seed <= 1000; seed++) {
    const p = dtlsPair({ certs, seed: seed * 7919, impairment: { loss: 0.15, duplicate: 0.02, delayMs: 20, jitterMs: 20 } });
    if (p.run(10_000)) times.push(Math.max(p.a.connectedAt!, p.b.connectedAt!));
    else failed++;
    p.close();
  }
  times.sort((x, y) => x - y);
  const ms = (v: number | undefined) => Math.round(v ?? NaN);
  t.diagnostic(`1000 handshakes, 15 % loss, 20-40 ms one way: ${times.length} connected; simulated setup p50 ${ms(percentile(times, 50))} ms, p90 ${ms(percentile(times, 90))} ms, p99 ${ms(percentile(times, 99))} ms, max ${ms(times.at(-1))} ms`);
  assert.equal(failed, 0);
});

test("a wrong fingerprint never connects, on either side, and says why", () => {
  for (const checker of ["a", "b"] as const) {
    const p = dtlsPair({ certs, expects: { [checker]: { hash: "sha-256", value: fingerprint(other) } } });
    assert.equal(p.run(3000), false);
    const view = p[checker];
    assert.equal(view.connectedAt, undefined);
    assert.match(view.endpoint.problem ?? "", /fingerprint .* does not match/);
    p.close();
  }
});
