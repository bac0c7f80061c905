// Every SRTP profile we offer (DEFAULT_SRTP_PROFILES) keeps decrypting
// through what a real network and an attacker do to a stream: a loss burst
// of 100 packets or more across a SEQ wrap (RFC 3711 Appendix A index
// estimation), and replayed packets followed by the genuine stream (the
// replay check comes before, and the state changes only after,
// authentication). Both through createSrtpContext, as DTLS-SRTP uses it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULT_SRTP_PROFILES } from "../../src/rtp/dtls/dtls-srtp.js";
import { MASTER_LENGTHS, SRTP_PROFILES, createSrtpContext, type SrtpProfileName } from "../../src/rtp/srtp/srtp-profiles.js";
import type { SrtpContext } from "../../src/rtp/srtp/srtp-context.js";
import { prng } from "../../scripts/lab/audio-compare.js";

function endpoints(profile: SrtpProfileName, seed: number): { tx: SrtpContext; rx: SrtpContext } {
  const id = SRTP_PROFILES[profile];
  const rnd = prng(seed);
  const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  const a = { key: bytes(MASTER_LENGTHS[id].key), salt: bytes(MASTER_LENGTHS[id].salt) };
  const b = { key: bytes(MASTER_LENGTHS[id].key), salt: bytes(MASTER_LENGTHS[id].salt) };
  return {
    tx: createSrtpContext(id, { localKey: a.key, localSalt: a.salt, remoteKey: b.key, remoteSalt: b.salt }),
    rx: createSrtpContext(id, { localKey: b.key, localSalt: b.salt, remoteKey: a.key, remoteSalt: a.salt }),
  };
}

function rtp(seq: number, ssrc = 0x1234abcd): Buffer {
  const p = Buffer.alloc(12 + 40, seq & 0xff);
  p[0] = 0x80;
  p[1] = 111;
  p.writeUInt16BE(seq & 0xffff, 2);
  p.writeUInt32BE((seq * 960) >>> 0, 4);
  p.writeUInt32BE(ssrc, 8);
  return p;
}

function rr(ssrc = 0x1234abcd): Buffer {
  const p = Buffer.alloc(8);
  p[0] = 0x80;
  p[1] = 201;
  p.writeUInt16BE(1, 2);
  p.writeUInt32BE(ssrc, 4);
  return p;
}

const took = (out: Buffer | string, plain: Buffer, what: string) => {
  assert.ok(Buffer.isBuffer(out), `${what}: ${String(out)}`);
  assert.equal(out.toString("hex"), plain.toString("hex"), what);
};

for (const profile of DEFAULT_SRTP_PROFILES) {
  for (const burst of [100, 150, 1000, 20_000]) {
    test(`${profile}: a burst of ${burst} lost packets across the SEQ wrap, then every packet decrypts again`, () => {
      const { tx, rx } = endpoints(profile, burst);
      const start = 65_536 - 60;
      const total = 60 + burst + 100;
      const wire = Array.from({ length: total }, (_, i) => tx.protectRtp(rtp(start + i))!);
      for (let i = 0; i < 40; i++) took(rx.unprotectRtp(Buffer.from(wire[i]!)), rtp(start + i), `before the burst, #${i}`);
      // Packets 40 .. 40 + burst - 1 never arrive; the SEQ wrapped in between.
      for (let i = 40 + burst; i < total; i++) took(rx.unprotectRtp(Buffer.from(wire[i]!)), rtp(start + i), `after the burst, #${i}`);
    });
  }

  test(`${profile}: replayed packets are refused, and the stream goes on (also across the wrap)`, () => {
    const { tx, rx } = endpoints(profile, 7);
    const start = 65_536 - 20;
    const wire = Array.from({ length: 80 }, (_, i) => tx.protectRtp(rtp(start + i))!);
    for (let i = 0; i < 30; i++) took(rx.unprotectRtp(Buffer.from(wire[i]!)), rtp(start + i), `#${i}`);
    // An attacker replays packets from before and after the wrap, twice each.
    for (const i of [18, 19, 20, 21, 29, 29, 18]) assert.equal(rx.unprotectRtp(Buffer.from(wire[i]!)), "replay", `replayed #${i}`);
    // A forged packet with a far-ahead SEQ changes nothing either.
    const forged = Buffer.from(wire[79]!);
    forged[forged.length - 1]! ^= 0x55;
    assert.equal(rx.unprotectRtp(forged), "auth");
    for (let i = 30; i < 80; i++) took(rx.unprotectRtp(Buffer.from(wire[i]!)), rtp(start + i), `after the replays, #${i}`);
  });

  test(`${profile}: two replayed packets from before the wrap, then ten lost ones: the stream goes on`, () => {
    const { tx, rx } = endpoints(profile, 8);
    const start = 65_536 - 20;
    const wire = Array.from({ length: 200 }, (_, i) => tx.protectRtp(rtp(start + i))!);
    // The stream is at SEQ 89 (ROC 1) when an attacker replays SEQ 65530 and 65531 (ROC 0).
    for (let i = 0; i < 110; i++) took(rx.unprotectRtp(Buffer.from(wire[i]!)), rtp(start + i), `#${i}`);
    for (const i of [14, 15]) assert.equal(rx.unprotectRtp(Buffer.from(wire[i]!)), "replay", `replayed #${i}`);
    // SEQ 90..99 are lost; the stream resumes at SEQ 100.
    for (let i = 120; i < 200; i++) took(rx.unprotectRtp(Buffer.from(wire[i]!)), rtp(start + i), `after the replays and the loss, #${i}`);
  });

  test(`${profile}: SRTCP replays are refused and later reports still decrypt`, () => {
    const { tx, rx } = endpoints(profile, 9);
    const wire = Array.from({ length: 10 }, () => tx.protectRtcp(rr())!);
    for (let i = 0; i < 5; i++) took(rx.unprotectRtcp(Buffer.from(wire[i]!)), rr(), `#${i}`);
    for (const i of [3, 4, 4]) assert.equal(rx.unprotectRtcp(Buffer.from(wire[i]!)), "replay");
    for (let i = 5; i < 10; i++) took(rx.unprotectRtcp(Buffer.from(wire[i]!)), rr(), `#${i}`);
  });
}
