// AEAD_AES_128_GCM for SRTP and SRTCP (src/rtp/srtp/srtp-gcm.ts): the RFC
// 7714 §16-§17 vectors, the RFC 3711 key derivation with a 96-bit salt, and
// byte-for-byte agreement with werift-rtp's implementation on a stream.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ProtectionProfileAeadAes128Gcm, RtpHeader, SrtcpSession, SrtpSession } from "werift-rtp";
import { SrtpGcmReceiver, SrtpGcmSender } from "../../src/rtp/srtp/srtp-gcm.js";
import { prng } from "../../scripts/lab/audio-compare.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

// RFC 7714 §16.1.1 and §17.1: session key and salt ("Quid pro quo").
const SESSION = { key: hex("000102030405060708090a0b0c0d0e0f"), salt: hex("517569642070726f2071756f") };
const RTP_PLAIN = hex("8040f17b 8041f8d3 5501a0b2 47616c6c 69612065 7374206f 6d6e6973 20646976 69736120 696e2070 61727465 73207472 6573");
const RTP_SRTP = hex(
  "8040f17b 8041f8d3 5501a0b2 f24de3a3 fb34de6c acba861c 9d7e4bca be633bd5 0d294e6f 42a5f47a 51c7d19b 36de3adf 8833899d 7f27beb1 6a9152cf 765ee439 0cce",
);
const RTCP_PLAIN = hex("81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef");
const RTCP_SRTCP = hex(
  "81c8000d 4d617273 63e94885 dcdab67c a727d766 2f6b7e99 7ff5c0f7 6c06f32d c676a5f1 730d6fda 4ce09b46 86303ded 0bb9275b c84aa458 96cf4d2f c5abf872 45d9eade 800005d4",
);
// RFC 7714 §17.2: the same SRTCP packet authenticated only (E = 0).
const RTCP_AUTH_ONLY = hex(
  "81c8000d 4d617273 4e545031 4e545032 52545020 0000042a 0000e930 4c756e61 deadbeef deadbeef deadbeef deadbeef deadbeef 841dd968 3dd78ec9 2ae58790 125f62b3 000005d4",
);

test("RFC 7714 §16.1: the SRTP vector, both ways", () => {
  const tx = new SrtpGcmSender(SESSION, SESSION);
  assert.equal(tx.protectRtp(RTP_PLAIN)!.toString("hex"), RTP_SRTP.toString("hex"));
  const rx = new SrtpGcmReceiver(SESSION, SESSION);
  const out = rx.unprotectRtp(Buffer.from(RTP_SRTP));
  assert.ok(Buffer.isBuffer(out));
  assert.equal(out.toString("hex"), RTP_PLAIN.toString("hex"));
  const tampered = Buffer.from(RTP_SRTP);
  tampered[20]! ^= 1;
  assert.equal(new SrtpGcmReceiver(SESSION, SESSION).unprotectRtp(tampered), "auth");
});

test("RFC 7714 §17.1-§17.2: the SRTCP vectors (index 0x5d4), encrypted and authenticated only", () => {
  const tx = new SrtpGcmSender(SESSION, SESSION);
  for (let i = 0; i < 0x5d4; i++) tx.protectRtcp(RTCP_PLAIN); // the vector's stream is at index 0x5d4
  assert.equal(tx.protectRtcp(RTCP_PLAIN)!.toString("hex"), RTCP_SRTCP.toString("hex"));
  const rx = new SrtpGcmReceiver(SESSION, SESSION);
  const out = rx.unprotectRtcp(Buffer.from(RTCP_SRTCP));
  assert.ok(Buffer.isBuffer(out));
  assert.equal(out.toString("hex"), RTCP_PLAIN.toString("hex"));
  assert.equal(rx.unprotectRtcp(Buffer.from(RTCP_SRTCP)), "replay");
  const authOnly = new SrtpGcmReceiver(SESSION, SESSION).unprotectRtcp(Buffer.from(RTCP_AUTH_ONLY));
  assert.ok(Buffer.isBuffer(authOnly));
  assert.equal(authOnly.toString("hex"), RTCP_PLAIN.toString("hex"));
});

function rtpPacket(seq: number, ssrc: number, len: number, rnd: () => number): Buffer {
  const header = new RtpHeader({ payloadType: 111, sequenceNumber: seq & 0xffff, timestamp: (seq * 960) >>> 0, ssrc, marker: false });
  return Buffer.concat([header.serialize(header.serializeSize), Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)))]);
}

test("master keys: our RFC 3711 derivation with a 96-bit salt and werift-rtp's agree, byte for byte across a SEQ wrap", () => {
  const rnd = prng(11);
  const master = { key: Buffer.from(Array.from({ length: 16 }, () => Math.floor(rnd() * 256))), salt: Buffer.from(Array.from({ length: 12 }, () => Math.floor(rnd() * 256))) };
  const config = {
    keys: { localMasterKey: master.key, localMasterSalt: master.salt, remoteMasterKey: master.key, remoteMasterSalt: master.salt },
    profile: ProtectionProfileAeadAes128Gcm,
  } as const;
  const werift = { srtp: new SrtpSession(config), srtcp: new SrtcpSession(config) };
  const ours = SrtpGcmSender.fromMaster(master.key, master.salt);
  const rx = SrtpGcmReceiver.fromMaster(master.key, master.salt);
  for (let i = 0; i < 30; i++) {
    const plain = rtpPacket(65520 + i, 0xabcdef01, 60 + i, rnd);
    const h = RtpHeader.deSerialize(plain);
    const theirs = werift.srtp.encrypt(plain.subarray(h.payloadOffset), h);
    const mine = ours.protectRtp(plain)!;
    assert.equal(mine.toString("hex"), theirs.toString("hex"), `packet ${i}`);
    const back = rx.unprotectRtp(Buffer.from(theirs));
    assert.ok(Buffer.isBuffer(back));
    assert.equal(back.toString("hex"), plain.toString("hex"));
  }
  assert.equal(rx.rolloverCounter(0xabcdef01), 1);
  // SRTCP: werift starts its index at 1, ours at 0.
  const rr = hex("81c90001 abcdef01");
  const first = ours.protectRtcp(rr)!;
  assert.equal(werift.srtcp.decrypt(Buffer.from(first)).toString("hex"), rr.toString("hex"));
  assert.equal(ours.protectRtcp(rr)!.toString("hex"), werift.srtcp.encrypt(rr).toString("hex"));
});
