import { test } from "node:test";
import assert from "node:assert/strict";
import { createCipheriv } from "node:crypto";
import { ProtectionProfileAes128CmHmacSha1_80, RtpHeader, SrtcpSession, SrtpSession } from "werift-rtp";
import { AesCm, SrtpCmReceiver, SrtpCmSender, deriveSessionKey, guessRoc } from "../../src/rtp/srtp/srtp-cm.js";
import { REPLAY_WINDOW, ReplayWindow } from "../../src/rtp/srtp/replay-window.js";
import { prng } from "../../scripts/lab/audio-compare.js";

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ""), "hex");

// RFC 3711 Appendix B.3: key derivation, key_derivation_rate 0.
test("key derivation: RFC 3711 B.3 session keys", () => {
  const key = hex("E1F97A0D3E018BE0D64FA32C06DE4139");
  const salt = hex("0EC675AD498AFEEBB6960B3AABE6");
  assert.equal(deriveSessionKey(key, salt, 0, 16).toString("hex"), "c61e7a93744f39ee10734afe3ff7a087");
  assert.equal(deriveSessionKey(key, salt, 2, 14).toString("hex"), "30cbbc08863d8c85d49db34a9ae1");
  assert.equal(
    deriveSessionKey(key, salt, 1, 94).toString("hex"),
    ("CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE E049646C43D9327AD175578EF7227098" +
      "6371C10C9A369AC2F94A8C5FBCDDDC25 6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2").replace(/\s+/g, "").toLowerCase(),
  );
  assert.throws(() => deriveSessionKey(key.subarray(1), salt, 0, 16), RangeError);
});

// RFC 3711 Appendix B.2: AES-CM keystream, session key 2B7E..., salt F0F1...FD, SSRC 0, ROC 0, SEQ 0.
test("AES-CM keystream: RFC 3711 B.2 blocks, including past block 0xFF00", () => {
  const cm = new AesCm(hex("2B7E151628AED2A6ABF7158809CF4F3C"), hex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"));
  const zeros = Buffer.alloc(0xff02 * 16);
  const ks = Buffer.alloc(zeros.length);
  cm.xor(0, 0, 0, zeros, 0, zeros.length, ks, 0);
  const block = (j: number): string => ks.subarray(j * 16, j * 16 + 16).toString("hex");
  assert.equal(block(0), "e03ead0935c95e80e166b16dd92b4eb4");
  assert.equal(block(1), "d23513162b02d0f72a43a2fe4a5f97ab");
  assert.equal(block(2), "41e95b3bb0a2e8dd477901e4fca894c0");
  assert.equal(block(0xfeff), "ec8cdf7398607cb0f2d21675ea9ea1e4");
  assert.equal(block(0xff00), "362b7c3c6773516318a077d7fc5073ae");
  assert.equal(block(0xff01), "6a2cc3787889374fbeb4c81b17ba6c44");
});

test("AES-CM keystream equals AES-128-CTR from the same IV for any SSRC, ROC and SEQ", () => {
  const rnd = prng(7);
  const key = Buffer.from(Array.from({ length: 16 }, () => Math.floor(rnd() * 256)));
  const salt = Buffer.from(Array.from({ length: 14 }, () => Math.floor(rnd() * 256)));
  const cm = new AesCm(key, salt);
  for (let i = 0; i < 50; i++) {
    const ssrc = Math.floor(rnd() * 2 ** 32);
    const roc = Math.floor(rnd() * 2 ** 32);
    const seq = Math.floor(rnd() * 2 ** 16);
    const data = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 300) }, () => Math.floor(rnd() * 256)));
    const iv = Buffer.alloc(16);
    salt.copy(iv);
    iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
    iv.writeUInt32BE((iv.readUInt32BE(8) ^ roc) >>> 0, 8);
    iv.writeUInt16BE(iv.readUInt16BE(12) ^ seq, 12);
    const want = createCipheriv("aes-128-ctr", key, iv).update(data);
    const got = Buffer.alloc(data.length + 3);
    cm.xor(ssrc, roc, seq, data, 0, data.length, got, 3);
    assert.equal(got.subarray(3).toString("hex"), want.toString("hex"), `ssrc ${ssrc} roc ${roc} seq ${seq}`);
  }
});

test("guessRoc: RFC 3711 §3.3.1 estimate around the wrap", () => {
  const table: [string, number, number, number, number][] = [
    ["in order, low half", 0, 100, 101, 0],
    ["late packet from before the wrap", 3, 5, 65530, 2],
    ["wrap forward", 3, 65530, 4, 4],
    ["in order, high half", 3, 40000, 40001, 3],
    ["late, high half", 3, 40000, 39000, 3],
    ["first packet's ROC 0, older than the start", 0, 10, 65000, -1],
  ];
  for (const [name, roc, sl, seq, want] of table) assert.equal(guessRoc(roc, sl, seq), want, name);
});

// Plain RTP packets: with CSRCs, a header extension, padding, odd payload sizes.
function rtpPacket(seq: number, ssrc: number, payloadLen: number, rnd: () => number, kind = seq % 4): Buffer {
  const header = new RtpHeader({
    payloadType: 111,
    sequenceNumber: seq & 0xffff,
    timestamp: (seq * 960) >>> 0,
    ssrc,
    marker: seq % 7 === 0,
    ...(kind === 1 ? { csrc: [0x11111111, 0x22222222] } : {}),
    ...(kind === 2 ? { extension: true, extensionProfile: 0xbede, extensions: [{ id: 1, payload: Buffer.from([0x42]) }] } : {}),
  });
  const payload = Buffer.from(Array.from({ length: payloadLen }, () => Math.floor(rnd() * 256)));
  return Buffer.concat([header.serialize(header.serializeSize), payload]);
}

const keys = (seed: number) => {
  const rnd = prng(seed);
  const b = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
  return { key: b(16), salt: b(14) };
};

function weriftPair(k: { key: Buffer; salt: Buffer }) {
  const config = {
    keys: { localMasterKey: k.key, localMasterSalt: k.salt, remoteMasterKey: k.key, remoteMasterSalt: k.salt },
    profile: ProtectionProfileAes128CmHmacSha1_80,
  } as const;
  return { srtp: new SrtpSession(config), srtcp: new SrtcpSession(config) };
}

test("SRTP: byte for byte what werift-rtp produces, across a SEQ wrap; each side reads the other", () => {
  const k = keys(1);
  const ours = new SrtpCmSender(k.key, k.salt);
  const werift = weriftPair(k);
  const weriftRx = weriftPair(k);
  const rx = new SrtpCmReceiver(k.key, k.salt);
  const rnd = prng(2);
  const ssrc = 0xcafe0001;
  for (let i = 0; i < 40; i++) {
    const plain = rtpPacket(65520 + i, ssrc, 1 + Math.floor(rnd() * 200), rnd);
    const h = RtpHeader.deSerialize(plain);
    const theirs = werift.srtp.encrypt(plain.subarray(h.payloadOffset), h);
    const mine = ours.protectRtp(plain);
    assert.ok(mine);
    assert.equal(mine.toString("hex"), theirs.toString("hex"), `packet ${i} (seq ${(65520 + i) & 0xffff})`);
    assert.equal(weriftRx.srtp.decrypt(Buffer.from(mine)).toString("hex"), plain.toString("hex"));
    const back = rx.unprotectRtp(Buffer.from(theirs));
    assert.ok(Buffer.isBuffer(back), `packet ${i}: ${String(back)}`);
    assert.equal(back.toString("hex"), plain.toString("hex"));
  }
  assert.equal(ours.rolloverCounter(ssrc), 1);
  assert.equal(rx.rolloverCounter(ssrc), 1);
});

test("SRTCP: werift-rtp's packets read by us and ours by werift; byte for byte at the same index", () => {
  const k = keys(3);
  const ours = new SrtpCmSender(k.key, k.salt);
  const werift = weriftPair(k);
  const rx = new SrtpCmReceiver(k.key, k.salt);
  // An SR with one report block and an SDES chunk, as RFC 3550 builds them.
  const rtcp = hex("81c8000c cafe0001 e9a1b2c3 d4e5f607 00003a98 00000010 00000640 12345678 00000003 00000005 00000006 00000007 00000008" + "81ca0003 cafe0001 01046a6f 65000000");
  const first = ours.protectRtcp(rtcp)!; // index 0; werift starts at 1
  assert.equal(werift.srtcp.decrypt(Buffer.from(first)).toString("hex"), rtcp.toString("hex"));
  const theirs = werift.srtcp.encrypt(rtcp);
  const mine = ours.protectRtcp(rtcp)!;
  assert.equal(mine.toString("hex"), theirs.toString("hex"));
  assert.equal(mine.readUInt32BE(rtcp.length), 0x80000001, "E flag and index 1 before the tag");
  const a = rx.unprotectRtcp(Buffer.from(first));
  const b = rx.unprotectRtcp(Buffer.from(theirs));
  assert.ok(Buffer.isBuffer(a) && Buffer.isBuffer(b));
  assert.equal(a.toString("hex"), rtcp.toString("hex"));
  assert.equal(b.toString("hex"), rtcp.toString("hex"));
  assert.equal(rx.unprotectRtcp(Buffer.from(theirs)), "replay");
});

test("SRTP receive: replays, forgeries and stale packets refused; a forgery changes nothing", () => {
  const k = keys(4);
  const tx = new SrtpCmSender(k.key, k.salt);
  const rx = new SrtpCmReceiver(k.key, k.salt);
  const rnd = prng(5);
  const sent = Array.from({ length: 300 }, (_, i) => tx.protectRtp(rtpPacket(1000 + i, 7, 80, rnd))!);
  // Out of order inside the window is fine; each packet once.
  const order = [0, 2, 1, 3, 5, 4];
  for (const i of order) assert.ok(Buffer.isBuffer(rx.unprotectRtp(Buffer.from(sent[i]!))), `packet ${i}`);
  assert.equal(rx.unprotectRtp(Buffer.from(sent[2]!)), "replay");
  // A flipped bit anywhere fails authentication and leaves the input as it was.
  for (const at of [1, 9, 20, sent[6]!.length - 1]) {
    const forged = Buffer.from(sent[6]!);
    forged[at]! ^= 0x01;
    const copy = Buffer.from(forged);
    assert.equal(rx.unprotectRtp(forged), "auth", `bit flipped at ${at}`);
    assert.deepEqual(forged, copy);
  }
  // A forged packet far ahead must not move the window: packet 6 is still new.
  const ahead = Buffer.from(sent[299]!);
  ahead[ahead.length - 1]! ^= 0xff;
  assert.equal(rx.unprotectRtp(ahead), "auth");
  assert.ok(Buffer.isBuffer(rx.unprotectRtp(Buffer.from(sent[6]!))));
  // Once far ahead, what is older than the window is refused unread.
  assert.ok(Buffer.isBuffer(rx.unprotectRtp(Buffer.from(sent[299]!))));
  assert.equal(rx.unprotectRtp(Buffer.from(sent[299 - REPLAY_WINDOW]!)), "replay");
  assert.ok(Buffer.isBuffer(rx.unprotectRtp(Buffer.from(sent[299 - REPLAY_WINDOW + 1]!))));
  assert.equal(rx.unprotectRtp(Buffer.alloc(15, 0x80)), "malformed");
  // A packet under another key does not authenticate.
  const other = new SrtpCmSender(keys(9).key, k.salt).protectRtp(rtpPacket(1400, 7, 80, rnd))!;
  assert.equal(rx.unprotectRtp(other), "auth");
});

test("SRTP receive: late packets from before a SEQ wrap keep their ROC", () => {
  const k = keys(6);
  const tx = new SrtpCmSender(k.key, k.salt);
  const rx = new SrtpCmReceiver(k.key, k.salt);
  const rnd = prng(8);
  const plain = Array.from({ length: 10 }, (_, i) => rtpPacket(65531 + i, 9, 40, rnd));
  const sent = plain.map((p) => tx.protectRtp(p)!);
  // 65531..65533, then 0..4 (ROC 1), then the late 65534 and 65535 (ROC 0).
  for (const i of [0, 1, 2, 5, 6, 7, 8, 9, 3, 4]) {
    const out = rx.unprotectRtp(Buffer.from(sent[i]!));
    assert.ok(Buffer.isBuffer(out), `packet ${i}: ${String(out)}`);
    assert.equal(out.toString("hex"), plain[i]!.toString("hex"));
  }
  assert.equal(rx.rolloverCounter(9), 1);
  assert.equal(rx.unprotectRtp(Buffer.from(sent[3]!)), "replay");
});

test("replay window: sliding, bounded, marks only what is accepted", () => {
  const w = new ReplayWindow();
  assert.equal(w.check(5), true);
  w.accept(5);
  assert.equal(w.check(5), false);
  assert.equal(w.check(4), true);
  w.accept(200);
  assert.equal(w.check(200 - REPLAY_WINDOW), false, "older than the window");
  assert.equal(w.check(200 - REPLAY_WINDOW + 1), true);
  assert.equal(w.check(5), false);
  w.accept(199);
  assert.equal(w.check(199), false);
  assert.equal(w.check(198), true);
  w.accept(200 + 3 * REPLAY_WINDOW); // a jump clears every slot
  assert.equal(w.check(200 + 3 * REPLAY_WINDOW - 1), true);
  assert.equal(w.top, 200 + 3 * REPLAY_WINDOW);
});
