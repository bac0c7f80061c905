// Fuzz targets for what arrives on the media port: RTP/RTCP parsing and
// demultiplexing (RFC 3550, RFC 5761, RFC 7983), round trips of what we
// build, and a media session receiving the peer's stream with hostile
// datagrams interleaved (plain RTP: the SSRC lock is all that protects it).
import assert from "node:assert/strict";
import fc from "fast-check";
import { PACKET_KINDS, classifyPacket } from "../../src/rtp/demux.js";
import { RtpPacketizer, isRtcpPacket, parseRtp } from "../../src/rtp/rtp-packet.js";
import { buildBye, buildReceiverReport, buildSdes, buildSenderReport, compound, parseRtcp, type ReportBlock } from "../../src/rtp/rtcp-packets.js";
import { plainTransport } from "../../src/app/media-plane/media-transport.js";
import { findCodec } from "../../src/media/codecs/index.js";
import { Message, classes, methods, parseMessage } from "werift-ice";
import { verifyCheck } from "../../src/ice/stun-auth.js";
import { ArraySink, ArraySource, createMediaPair } from "../fakes/media-pair.js";
import type { FuzzTarget } from "./target.js";

const bin = { encode: (b: Buffer) => b, decode: (b: Buffer) => b, ext: "bin" };
const json = <T>() => ({
  encode: (x: T) => Buffer.from(JSON.stringify(x, (_k, v: unknown) => (v instanceof Uint8Array ? { b64: Buffer.from(v).toString("base64") } : v), 1)),
  decode: (b: Buffer) =>
    JSON.parse(b.toString("utf8"), (_k, v: unknown) => (v && typeof v === "object" && "b64" in v ? new Uint8Array(Buffer.from((v as { b64: string }).b64, "base64")) : v)) as T,
  ext: "json",
});

// ----------------------------------------------------------------- golden packets

function goldenRtp(): Buffer[] {
  const p = new RtpPacketizer({ payloadType: 111, clockRate: 48000, ssrc: 0x11223344, initialSeq: 65534, initialTimestamp: 0xfffffff0 });
  const out = [p.packetize(Buffer.alloc(60, 7), 960), p.packetize(Buffer.alloc(1), 960, { marker: true, payloadType: 101 })];
  // CSRCs, a one-byte header extension (RFC 8285 0xBEDE), padding.
  const x = Buffer.from([0xb2, 0x00, 0x00, 0x01, 0, 0, 0, 1, 1, 2, 3, 4, 0xa, 0xa, 0xa, 0xa, 0xb, 0xb, 0xb, 0xb, 0xbe, 0xde, 0x00, 0x01, 0x10, 0xff, 0, 0, 9, 9, 0, 0, 0, 4]);
  out.push(x);
  return out;
}

const block = (ssrc: number): ReportBlock => ({ ssrc, fractionLost: 12, packetsLost: -3, highestSequence: 70000, jitter: 40, lsr: 0x12345678, dlsr: 0x10000 });

function goldenRtcp(): Buffer[] {
  const sender = { ntpTimestamp: 0x0123456789abcdefn, rtpTimestamp: 5, packetCount: 100, octetCount: 16000 };
  return [
    compound(buildSenderReport(1, sender, [block(2)]), buildSdes(1, "alice@example.org"), buildBye([1], "bye now")),
    compound(buildReceiverReport(3, [block(1), block(2)]), buildSdes(3, "x")),
    buildBye([1, 2, 3]),
  ];
}

/** Bit flips, byte overwrites, truncation, extension and length-field edits of a golden packet. */
function mutatedPacket(golden: Buffer[]): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ k: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
    fc.record({ k: fc.constant("set" as const), at: fc.nat(), v: fc.nat({ max: 255 }) }),
    fc.record({ k: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({ k: fc.constant("grow" as const), extra: fc.uint8Array({ maxLength: 64 }) }),
    fc.record({ k: fc.constant("len16" as const), at: fc.nat(), v: fc.constantFrom(0, 1, 0x7fff, 0xffff) }),
  );
  return fc.tuple(fc.nat({ max: golden.length - 1 }), fc.array(edit, { minLength: 1, maxLength: 6 })).map(([i, edits]) => {
    let b = Buffer.from(golden[i]!);
    for (const e of edits) {
      if (b.length === 0 && e.k !== "grow") continue;
      if (e.k === "flip") b[e.at % b.length]! ^= 1 << e.bit;
      else if (e.k === "set") b[e.at % b.length] = e.v;
      else if (e.k === "cut") b = b.subarray(0, e.at % (b.length + 1));
      else if (e.k === "grow") b = Buffer.concat([b, Buffer.from(e.extra)]);
      else if (b.length >= 2) b.writeUInt16BE(e.v, Math.min(e.at % b.length, b.length - 2));
    }
    return b;
  });
}

const randomBytes = fc.uint8Array({ maxLength: 1500 }).map((u) => Buffer.from(u));
/** Random bytes whose first octet lands in each RFC 7983 range. */
const rangedBytes = fc.tuple(fc.constantFrom(0, 1, 3, 16, 20, 22, 23, 63, 64, 127, 128, 129, 144, 191, 200, 255), fc.uint8Array({ maxLength: 300 })).map(([b0, rest]) => Buffer.from([b0, ...rest]));

// ----------------------------------------------------------------- parsers

function checkDatagram(buf: Buffer): void {
  assert.ok((PACKET_KINDS as readonly string[]).includes(classifyPacket(buf)));
  isRtcpPacket(buf);
  const rtp = parseRtp(buf);
  if (rtp) {
    const start = rtp.payload.byteOffset - buf.byteOffset;
    assert.ok(start >= 12 && start + rtp.payload.length <= buf.length, "payload inside the packet");
    assert.ok(rtp.payloadType >= 0 && rtp.payloadType <= 127);
    assert.ok(rtp.sequenceNumber >= 0 && rtp.sequenceNumber <= 0xffff);
    assert.ok(rtp.ssrc >= 0 && rtp.ssrc <= 0xffffffff);
    assert.ok(rtp.csrc.length <= 15);
  }
  const msgs = parseRtcp(buf);
  assert.ok(msgs.length <= buf.length / 4, `${msgs.length} RTCP messages from ${buf.length} bytes`);
  for (const m of msgs) {
    if (m.type === "sr" || m.type === "rr") assert.ok(m.reports.length <= 31);
    if (m.type === "bye") {
      assert.ok(m.ssrcs.length <= 31);
      assert.ok((m.reason?.length ?? 0) <= 255);
    }
    if (m.type === "sdes") for (const c of m.chunks) assert.ok((c.cname?.length ?? 0) <= 255);
  }
}

/** Any datagram: classified, RTP- and RTCP-parsed without throwing, bounded output. */
export const rtpRtcpBytes: FuzzTarget<Buffer> = {
  name: "rtp-rtcp-bytes",
  description: "random bytes and mutated RTP/RTCP -> classifyPacket, parseRtp, parseRtcp (total, bounded)",
  arbitrary: fc.oneof(randomBytes, rangedBytes, mutatedPacket([...goldenRtp(), ...goldenRtcp()])),
  runs: 3000,
  ...bin,
  check: checkDatagram,
};

type RtpFields = { pt: number; seq: number; ts: number; ssrc: number; marker: boolean; payload: Uint8Array };

/** What RtpPacketizer writes, parseRtp reads back. */
export const rtpRoundTrip: FuzzTarget<RtpFields> = {
  name: "rtp-roundtrip",
  description: "RtpPacketizer -> parseRtp gives back every field",
  arbitrary: fc.record({
    pt: fc.integer({ min: 0, max: 127 }),
    seq: fc.integer({ min: 0, max: 0xffff }),
    ts: fc.integer({ min: 0, max: 0xffffffff }),
    ssrc: fc.integer({ min: 0, max: 0xffffffff }),
    marker: fc.boolean(),
    payload: fc.uint8Array({ maxLength: 400 }),
  }),
  runs: 500,
  ...json<RtpFields>(),
  check(f) {
    const p = new RtpPacketizer({ payloadType: f.pt, clockRate: 8000, ssrc: f.ssrc, initialSeq: f.seq, initialTimestamp: f.ts });
    const buf = p.packetize(Buffer.from(f.payload), 160, { marker: f.marker });
    const r = parseRtp(buf);
    assert.ok(r, "parses");
    assert.deepEqual(
      { pt: r.payloadType, seq: r.sequenceNumber, ts: r.timestamp, ssrc: r.ssrc, marker: r.marker, payload: new Uint8Array(r.payload) },
      { ...f, payload: new Uint8Array(f.payload) },
    );
    const rtcpLooking = f.pt >= 64 && f.pt <= 95 && f.marker; // RFC 5761 §4: these collide with RTCP types
    assert.equal(classifyPacket(buf), rtcpLooking ? "rtcp" : "rtp");
  },
};

type RtcpFields = { ssrc: number; reports: ReportBlock[]; cname: string; bye: number[]; reason: string };

/** SR/RR + SDES + BYE compounds that we build parse back to the same values. */
export const rtcpRoundTrip: FuzzTarget<RtcpFields> = {
  name: "rtcp-roundtrip",
  description: "buildSenderReport/buildReceiverReport/buildSdes/buildBye -> parseRtcp gives back every field",
  arbitrary: fc.record({
    ssrc: fc.integer({ min: 0, max: 0xffffffff }),
    reports: fc.array(
      fc.record({
        ssrc: fc.integer({ min: 0, max: 0xffffffff }),
        fractionLost: fc.integer({ min: 0, max: 255 }),
        packetsLost: fc.integer({ min: -0x800000, max: 0x7fffff }),
        highestSequence: fc.integer({ min: 0, max: 0xffffffff }),
        jitter: fc.integer({ min: 0, max: 0xffffffff }),
        lsr: fc.integer({ min: 0, max: 0xffffffff }),
        dlsr: fc.integer({ min: 0, max: 0xffffffff }),
      }),
      { maxLength: 31 },
    ),
    cname: fc.string({ minLength: 1, maxLength: 60, unit: "grapheme-ascii" }),
    bye: fc.array(fc.integer({ min: 0, max: 0xffffffff }), { minLength: 1, maxLength: 31 }),
    reason: fc.string({ maxLength: 40, unit: "grapheme-ascii" }),
  }),
  runs: 500,
  ...json<RtcpFields>(),
  check(f) {
    const sender = { ntpTimestamp: 0x0102030405060708n, rtpTimestamp: 9, packetCount: 1, octetCount: 2 };
    const buf = compound(buildSenderReport(f.ssrc, sender, f.reports), buildReceiverReport(f.ssrc, f.reports), buildSdes(f.ssrc, f.cname), buildBye(f.bye, f.reason || undefined));
    const msgs = parseRtcp(buf);
    assert.equal(msgs.length, 4);
    const [sr, rr, sdes, bye] = msgs;
    const reports = f.reports.map((r) => ({ ...r })); // fast-check records have no prototype
    assert.deepEqual(sr, { type: "sr", ssrc: f.ssrc, sender, reports });
    assert.deepEqual(rr, { type: "rr", ssrc: f.ssrc, reports });
    assert.equal(sdes?.type, "sdes");
    // buildSdes may append "=" to force the item list's null terminator (see its comment).
    const cname = sdes?.type === "sdes" ? sdes.chunks[0]?.cname : undefined;
    assert.ok(sdes?.type === "sdes" && sdes.chunks[0]?.ssrc === f.ssrc && (cname === f.cname || cname === `${f.cname}=`), `cname ${cname}`);
    assert.deepEqual(bye, { type: "bye", ssrcs: [...f.bye], ...(f.reason ? { reason: f.reason } : {}) });
  },
};

// ----------------------------------------------------------------- a receiving media session

const pcmu = findCodec("PCMU", 8000)!;
const SIGNAL = (() => {
  const n = 8000;
  const out = new Int16Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / 8000) * (0.6 + 0.4 * Math.sin((2 * Math.PI * 3 * i) / 8000)));
  return out;
})();
const RUN_MS = 1200;
/** Injections start once the receiver has locked on to the peer's SSRC (the first packets are the peer's). */
const FIRST_INJECTION_MS = 200;
const PEER_CNAME = "peer@fuzz";

interface Injection {
  atMs: number;
  packet: Uint8Array;
}

/** RTCP a third party could send: valid SR/RR/SDES/BYE under its own SSRC (it does not know the peer's). */
const foreignRtcp = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.constantFrom("sr", "rr", "sdes", "bye")).map(([ssrc, kind]) => {
  const sender = { ntpTimestamp: 0x0badc0ffee000000n, rtpTimestamp: 1, packetCount: 1, octetCount: 1 };
  if (kind === "sr") return compound(buildSenderReport(ssrc, sender, [block(ssrc ^ 1)]), buildSdes(ssrc, "mallory"));
  if (kind === "rr") return compound(buildReceiverReport(ssrc, [block(ssrc ^ 1)]), buildSdes(ssrc, "mallory"));
  if (kind === "sdes") return buildSdes(ssrc, "mallory");
  return buildBye([ssrc], "spoofed");
});
/** RTP a third party could send: our payload type, another SSRC. */
const foreignRtp = fc.tuple(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array({ minLength: 1, maxLength: 200 })).map(([ssrc, seq, payload]) =>
  new RtpPacketizer({ payloadType: 0, clockRate: 8000, ssrc, initialSeq: seq }).packetize(Buffer.from(payload), 160),
);

let reference: { audio: Int16Array; packetsReceived: number; ssrc: number } | undefined;

function runPair(injections: Injection[]): { audio: Int16Array; packetsReceived: number; byes: number; cname?: string; ssrc: number } {
  const sinks = { a: new ArraySink(8000), b: new ArraySink(8000) };
  const p = createMediaPair({
    codec: pcmu,
    sources: { a: new ArraySource(8000, SIGNAL), b: new ArraySource(8000, new Int16Array(0)) },
    sinks,
    impair: { ab: { baseDelayMs: 5 }, ba: { baseDelayMs: 5 } },
    session: { jitter: { initialMs: 40 }, rtcp: { intervalMs: 1000, cname: PEER_CNAME } },
  });
  let byes = 0;
  p.b.on("bye", () => byes++);
  // What reaches the receiver from the wire goes through the plain-RTP transport, as in a call.
  const wire = plainTransport({ send: () => undefined, deliver: p.b });
  p.a.start();
  p.b.start();
  const sorted = [...injections].sort((x, y) => x.atMs - y.atMs);
  for (let t = 0; t < RUN_MS; t += 20) {
    p.run(20);
    for (const inj of sorted) if (inj.atMs >= t && inj.atMs < t + 20) wire.receive(Buffer.from(inj.packet));
  }
  const stats = p.b.stats();
  const out = { audio: sinks.b.all(), packetsReceived: stats.packetsReceived, byes, ssrc: stats.remoteSsrc ?? -1, ...(stats.remote?.cname ? { cname: stats.remote.cname } : {}) };
  void p.stop();
  return out;
}

/** Hostile datagrams between the peer's packets change nothing the receiver plays or believes about the peer. */
export const mediaReceive: FuzzTarget<Injection[]> = {
  name: "media-receive",
  description: "PCMU call on a virtual clock with random, mutated and foreign RTP/RTCP injected -> audio, counters and peer view unchanged",
  arbitrary: fc.array(
    fc.record({
      atMs: fc.integer({ min: FIRST_INJECTION_MS, max: RUN_MS - 20 }),
      packet: fc.oneof(rangedBytes, randomBytes, foreignRtp, foreignRtcp, mutatedPacket(goldenRtcp())).map((b) => new Uint8Array(b)),
    }),
    { minLength: 1, maxLength: 40 },
  ),
  runs: 120,
  ...json<Injection[]>(),
  check(injections) {
    reference ??= runPair([]);
    const got = runPair(injections);
    assert.equal(got.byes, 0, "an RTCP BYE from another source was taken as the peer's");
    assert.equal(got.cname, PEER_CNAME, "the peer's CNAME was replaced by another source's");
    assert.equal(got.packetsReceived, reference.packetsReceived, "packets counted as the peer's");
    assert.equal(got.audio.length, reference.audio.length, "frames played");
    assert.ok(Buffer.from(got.audio.buffer).equals(Buffer.from(reference.audio.buffer)), "the audio played differs from the undisturbed run");
  },
};

// ----------------------------------------------------------------- STUN checks at the media port

const LOCAL = { ufrag: "aB3d+/x9", pwd: "0123456789abcdefghijklmn" };
const REMOTE_UFRAG = "zZ9y";

function goldenStun(): Buffer[] {
  const req = (username: string | undefined, key: string | undefined, o: { fingerprint?: boolean; priority?: boolean; after?: boolean } = {}) => {
    const m = new Message(methods.BINDING, classes.REQUEST);
    if (username !== undefined) m.setAttribute("USERNAME", username);
    if (o.priority !== false) m.setAttribute("PRIORITY", 1853824767);
    m.setAttribute("ICE-CONTROLLING", 0x0102030405060708n);
    if (key !== undefined) m.addMessageIntegrity(Buffer.from(key));
    // An attribute after MESSAGE-INTEGRITY (what an on-path attacker would append to a genuine check).
    if (o.after) m.setAttribute("USE-CANDIDATE", null);
    if (o.fingerprint !== false) m.addFingerprint();
    return m.bytes;
  };
  const ours = `${LOCAL.ufrag}:${REMOTE_UFRAG}`;
  return [
    req(ours, LOCAL.pwd),
    req(ours, "not-our-password-at-all!"),
    req(ours, undefined),
    req(ours, LOCAL.pwd, { fingerprint: false }),
    req(ours, LOCAL.pwd, { priority: false }),
    req(ours, LOCAL.pwd, { after: true }),
    req(`${LOCAL.ufrag}:other`, LOCAL.pwd),
    req("wrong:creds", LOCAL.pwd),
    req(undefined, LOCAL.pwd),
    req(LOCAL.ufrag, LOCAL.pwd),
  ];
}

/** The last attribute type of a STUN message's bytes (undefined if none). */
function lastAttribute(buf: Buffer): number | undefined {
  let last: number | undefined;
  for (let pos = 20; pos + 4 <= buf.length; ) {
    last = buf.readUInt16BE(pos);
    const len = buf.readUInt16BE(pos + 2);
    pos += 4 + len + ((4 - (len % 4)) % 4);
  }
  return last;
}

/**
 * Any datagram: the check verifier (src/ice/stun-auth.ts) never throws and
 * accepts only what werift, told our password, also verifies, naming our
 * ufrag and the peer's, with PRIORITY and FINGERPRINT last.
 */
export const stunCheck: FuzzTarget<Buffer> = {
  name: "stun-check",
  description: "random and mutated STUN Binding requests -> verifyCheck (src/ice/stun-auth.ts) against werift's parser with our password",
  arbitrary: fc.oneof(mutatedPacket(goldenStun()), rangedBytes, fc.constantFrom(...goldenStun())),
  runs: 2000,
  ...bin,
  check(buf) {
    assert.equal(classifyPacket(buf) === "stun", buf.length >= 20 && buf[0]! <= 3);
    const v = verifyCheck(buf, LOCAL, REMOTE_UFRAG);
    const golden = goldenStun();
    if (buf.equals(golden[0]!)) assert.ok(v.ok, "the genuine check is accepted");
    else if (golden.some((g) => g.equals(buf))) assert.ok(!v.ok, "a golden bad check is refused");
    if (!v.ok) return;
    const msg = parseMessage(buf, Buffer.from(LOCAL.pwd));
    assert.ok(msg, "werift verifies what we accept (MESSAGE-INTEGRITY with our password, FINGERPRINT)");
    assert.equal(msg.messageMethod, methods.BINDING);
    assert.equal(msg.messageClass, classes.REQUEST);
    assert.equal(msg.getAttributeValue("USERNAME"), `${LOCAL.ufrag}:${REMOTE_UFRAG}`);
    assert.ok(msg.attributesKeys.includes("PRIORITY"));
    assert.equal(lastAttribute(buf), 0x8028, "FINGERPRINT is the last attribute");
  },
};

export const MEDIA_TARGETS = [rtpRtcpBytes, rtpRoundTrip, rtcpRoundTrip, mediaReceive, stunCheck];
