// The pieces under the DTLS handshake: the TLS 1.2 PRF (a known vector,
// checked against OpenSSL's TLS1-PRF), AES-GCM records with the DTLS
// sequence number in the nonce and additional data, the record anti-replay
// window, flights cut to the MTU and put back together from fragments in
// any order, and what the reassembly keeps when fragments disagree.
import { test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { prf, verifyData } from "../../src/rtp/dtls/key-schedule.js";
import { ContentType, RecordReader, RecordWriter, encodeRecord, openRecord, packFlight, parseRecords, sealRecord, type FlightItem } from "../../src/rtp/dtls/record-layer.js";
import { decodeFragments, encodeFragment, type HandshakeFragment } from "../../src/rtp/dtls/handshake-messages.js";
import { HandshakeReassembler } from "../../src/rtp/dtls/reassembly.js";

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ""), "hex");

test("PRF (RFC 5246 §5, P_SHA256): the published 100-octet vector, as OpenSSL's TLS1-PRF gives it", () => {
  const out = prf(hex("9bbe436ba940f017b17652849a71db35"), "test label", hex("a0ba9f936cda311827a6f796ffd5198c"), 100);
  assert.equal(
    out.toString("hex"),
    "e3f229ba727be17b8d122620557cd453c2aab21d07c3d495329b52d4e61edb5a6b301791e90d35c9c9a46b4e14baf9af0fa022f7077def17abfd3797c0564bab4fbc91666e9def9b97fce34f796789baa48082d122ee42c5a72e5a5110fff70187347b66",
  );
  assert.equal(verifyData(randomBytes(48), "client", randomBytes(32)).length, 12, "Finished verify_data is 12 octets");
});

test("AES-GCM records: sealed and opened; the epoch, sequence number, type and version are authenticated", () => {
  const keys = { key: randomBytes(16), iv: randomBytes(4) };
  const r = { type: ContentType.handshake, version: 0xfefd, epoch: 1, seq: 0x0102030405, body: Buffer.from("finished message") };
  const sealed = sealRecord(keys, r);
  assert.equal(sealed.length, r.body.length + 8 + 16);
  assert.deepEqual(sealed.subarray(0, 8), hex("0001 000102030405"), "explicit nonce: epoch and sequence number");
  assert.deepEqual(openRecord(keys, { ...r, body: sealed }), r.body);
  for (const change of [{ seq: r.seq + 1 }, { epoch: 2 }, { type: ContentType.alert }, { version: 0xfeff }]) {
    assert.equal(openRecord(keys, { ...r, ...change, body: sealed }), undefined, JSON.stringify(change));
  }
  assert.equal(openRecord({ ...keys, iv: randomBytes(4) }, { ...r, body: sealed }), undefined, "another implicit nonce");
});

test("epoch-1 reading: each record once (RFC 6347 §4.1.2.6), out of order within the window", () => {
  const keys = { key: randomBytes(16), iv: randomBytes(4) };
  const writer = new RecordWriter();
  writer.setEpoch1(keys);
  const records = [0, 1, 2, 3].map((i) => parseRecords(writer.record(ContentType.applicationData, Buffer.from([i])))[0]!);
  const reader = new RecordReader(keys);
  for (const i of [2, 0, 3]) assert.deepEqual(reader.open(records[i]!), Buffer.from([i]));
  assert.equal(reader.open(records[2]!), undefined, "replayed");
  assert.deepEqual(reader.open(records[1]!), Buffer.from([1]));
  const forged = { ...records[3]!, seq: 9, body: Buffer.from(records[3]!.body) };
  assert.equal(reader.open(forged), undefined);
});

test("record writer: fresh sequence numbers for every record, epoch 0 numbering goes on after the switch", () => {
  const w = new RecordWriter();
  const seqs = [w.record(22, Buffer.alloc(1)), w.record(22, Buffer.alloc(1))].map((d) => parseRecords(d)[0]!.seq);
  w.setEpoch1({ key: randomBytes(16), iv: randomBytes(4) });
  const e0 = parseRecords(w.record(20, Buffer.from([1]), 0))[0]!;
  const e1 = parseRecords(w.record(22, Buffer.alloc(12)))[0]!;
  assert.deepEqual(seqs, [0, 1]);
  assert.deepEqual([e0.epoch, e0.seq], [0, 2]);
  assert.deepEqual([e1.epoch, e1.seq], [1, 0]);
});

test("a datagram's records: a malformed one ends the datagram (RFC 6347 §4.1.2.7)", () => {
  const a = encodeRecord({ type: 22, version: 0xfefd, epoch: 0, seq: 1, body: Buffer.from("abc") });
  const b = encodeRecord({ type: 21, version: 0xfefd, epoch: 0, seq: 2, body: Buffer.from([2, 40]) });
  assert.equal(parseRecords(Buffer.concat([a, b])).length, 2);
  const tooLong = Buffer.from(b);
  tooLong.writeUInt16BE(200, 11);
  assert.equal(parseRecords(Buffer.concat([a, tooLong, b])).length, 1);
  const notDtls = Buffer.from(b);
  notDtls[1] = 0x03; // a TLS version
  assert.equal(parseRecords(Buffer.concat([notDtls, a])).length, 0);
});

test("property: a flight cut to any MTU, delivered in any order with duplicates, reassembles to the same messages", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 3000 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 200, max: 1400 }),
      fc.integer({ min: 1, max: 2 ** 31 }),
      (sizes, mtu, seed) => {
        const messages = sizes.map((n, i) => ({ type: 11 + (i % 5), seq: i, body: randomBytes(n) }));
        const items: FlightItem[] = messages.map((message) => ({ kind: "handshake", message, epoch: 0 }));
        const datagrams = packFlight(items, new RecordWriter(), mtu);
        if (datagrams.some((d) => d.length > mtu)) return false;
        const fragments: HandshakeFragment[] = datagrams.flatMap((d) => parseRecords(d).flatMap((r) => decodeFragments(r.body)));
        // Shuffle with the seed, and send a third of them twice.
        let s = seed;
        const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
        const delivered = [...fragments, ...fragments.filter(() => rnd() < 0.33)].sort(() => rnd() - 0.5);
        const r = new HandshakeReassembler();
        for (const f of delivered) r.add(f, 0);
        const out = r.complete();
        return out.length === messages.length && out.every((m, i) => m.type === messages[i]!.type && m.body.equals(messages[i]!.body));
      },
    ),
    { numRuns: 200 },
  );
});

test("reassembly: a stray fragment cannot block a message; a complete one is kept; a protected one outranks plaintext", () => {
  const frag = (type: number, length: number, seq: number, offset: number, body: Buffer): HandshakeFragment => decodeFragments(encodeFragment(type, length, seq, offset, body))[0]!;
  const r = new HandshakeReassembler();
  // A stray fragment claims seq 0 is a 4 KiB Certificate; the genuine ServerHello replaces it.
  assert.equal(r.add(frag(11, 4096, 0, 0, Buffer.alloc(13)), 0), "new");
  assert.equal(r.add(frag(2, 3, 0, 0, Buffer.from("abc")), 0), "new");
  assert.deepEqual(r.complete().map((m) => m.body.toString()), ["abc"]);
  // Once complete, a disagreeing fragment is dropped (and counted).
  assert.equal(r.add(frag(2, 5, 0, 0, Buffer.from("xxxxx")), 0), "dropped");
  assert.equal(r.conflicts, 1);
  // ... unless it came protected (epoch 1).
  assert.equal(r.add(frag(20, 2, 0, 0, Buffer.from("ok")), 1), "new");
  assert.deepEqual(r.complete().map((m) => [m.type, m.epoch, m.body.toString()]), [[20, 1, "ok"]]);
  r.consume(1);
  assert.equal(r.add(frag(2, 3, 0, 0, Buffer.from("abc")), 0), "old", "a message from before: the peer repeats its flight");
  assert.equal(r.add(frag(11, 10, 40, 0, Buffer.alloc(10)), 0), "dropped", "too far ahead");
  assert.equal(r.add(frag(11, 64 * 1024, 2, 0, Buffer.alloc(10)), 0), "dropped", "too long");
});
