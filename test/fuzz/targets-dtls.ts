// Fuzz targets for DTLS-SRTP (RFC 5764, RFC 6347, RFC 3711): hostile
// datagrams at a transport that waits for or runs a handshake, and at one
// that is connected. The datagrams are random, or real handshake records and
// SRTP packets (captured from an in-memory handshake) mutated or replayed.
import assert from "node:assert/strict";
import fc from "fast-check";
import { DtlsSrtpTransport } from "../../src/rtp/dtls/dtls-srtp.js";
import { createCertificate, fingerprint, type DtlsCertificate } from "../../src/rtp/dtls/certificate.js";
import type { DtlsRole } from "../../src/rtp/dtls/setup-role.js";
import { RtpPacketizer } from "../../src/rtp/rtp-packet.js";
import { buildReceiverReport } from "../../src/rtp/rtcp-packets.js";
import { silentLogger } from "../../src/util/logger.js";
import type { FuzzTarget } from "./target.js";

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

interface Side {
  t: DtlsSrtpTransport;
  rtp: Buffer[];
  rtcp: Buffer[];
  failed: string[];
}

function side(role: DtlsRole, cert: DtlsCertificate, peerCert: DtlsCertificate, send: (d: Buffer) => void): Side {
  const t = new DtlsSrtpTransport({
    role,
    certificate: cert,
    remoteFingerprint: { hash: "sha-256", value: fingerprint(peerCert, "sha-256") },
    send,
    logger: silentLogger(),
    handshakeTimeoutMs: 5000,
  });
  const s: Side = { t, rtp: [], rtcp: [], failed: [] };
  t.on("rtp", (p) => s.rtp.push(p));
  t.on("rtcp", (p) => s.rtcp.push(p));
  t.on("failed", (reason) => s.failed.push(reason));
  return s;
}

interface World {
  certs: { a: DtlsCertificate; b: DtlsCertificate };
  /** Every datagram of one real handshake (both directions). */
  handshake: Buffer[];
  /** Real SRTP/SRTCP packets from client to server (already delivered once: replays now). */
  srtp: Buffer[];
  client: Side;
  server: Side;
  packetizer: RtpPacketizer;
}

let world: World | undefined;

async function makeWorld(): Promise<World> {
  const certs = { a: await createCertificate(), b: await createCertificate() };
  const handshake: Buffer[] = [];
  const srtp: Buffer[] = [];
  let capture = true;
  // In memory, delivered on the next turn (no re-entrancy), as a socket would.
  const client: Side = side("client", certs.a, certs.b, (d) => {
    if (capture) handshake.push(Buffer.from(d));
    else srtp.push(Buffer.from(d));
    setImmediate(() => server.t.handlePacket(d));
  });
  const server: Side = side("server", certs.b, certs.a, (d) => {
    if (capture) handshake.push(Buffer.from(d));
    setImmediate(() => client.t.handlePacket(d));
  });
  await Promise.all([server.t.start(), client.t.start()]);
  capture = false;
  const packetizer = new RtpPacketizer({ payloadType: 111, clockRate: 48000 });
  for (let i = 0; i < 8; i++) client.t.sendRtp(packetizer.packetize(Buffer.alloc(40, i), 960));
  client.t.sendRtcp(buildReceiverReport(packetizer.ssrc, []));
  for (let i = 0; i < 5; i++) await tick();
  assert.equal(server.rtp.length, 8, "the captured SRTP packets were delivered once");
  return { certs, handshake, srtp, client, server, packetizer };
}

function mutate(golden: () => Buffer[]): fc.Arbitrary<Buffer> {
  const edit = fc.oneof(
    fc.record({ k: fc.constant("flip" as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
    fc.record({ k: fc.constant("set" as const), at: fc.nat(), v: fc.nat({ max: 255 }) }),
    fc.record({ k: fc.constant("cut" as const), at: fc.nat() }),
    fc.record({ k: fc.constant("len" as const), at: fc.nat(), v: fc.constantFrom(0, 1, 12, 0x3fff, 0xffff) }),
  );
  return fc.tuple(fc.nat(), fc.array(edit, { maxLength: 5 })).map(([i, edits]) => {
    const all = golden();
    let b = Buffer.from(all[i % all.length]!);
    for (const e of edits) {
      if (b.length < 2) break;
      if (e.k === "flip") b[e.at % b.length]! ^= 1 << e.bit;
      else if (e.k === "set") b[e.at % b.length] = e.v;
      else if (e.k === "cut") b = b.subarray(0, e.at % (b.length + 1));
      else b.writeUInt16BE(e.v, Math.min(e.at % b.length, b.length - 2));
    }
    return b;
  });
}

const dtlsLooking = fc.tuple(fc.constantFrom(20, 21, 22, 23, 25, 63), fc.constantFrom(0xfe, 0x03), fc.constantFrom(0xfd, 0xff, 0x01), fc.uint8Array({ maxLength: 200 })).map(
  ([ct, v1, v2, rest]) => Buffer.from([ct, v1, v2, ...rest]),
);
const anyBytes = fc.uint8Array({ minLength: 1, maxLength: 400 }).map((u) => Buffer.from(u));
const srtpLooking = fc.tuple(fc.integer({ min: 128, max: 191 }), fc.uint8Array({ minLength: 11, maxLength: 300 })).map(([b0, rest]) => Buffer.from([b0, ...rest]));

const handshakeGolden = (): Buffer[] => world?.handshake ?? [Buffer.alloc(13)];
const srtpGolden = (): Buffer[] => world?.srtp ?? [Buffer.alloc(12)];

const datagrams = (parts: fc.Arbitrary<Buffer>) => fc.array(parts, { minLength: 1, maxLength: 10 });
const bufs = {
  encode: (x: Buffer[]) => Buffer.from(JSON.stringify(x.map((b) => b.toString("base64")), null, 1)),
  decode: (b: Buffer) => (JSON.parse(b.toString("utf8")) as string[]).map((s) => Buffer.from(s, "base64")),
  ext: "json",
};

const setup = async (): Promise<void> => {
  world ??= await makeWorld();
};
const teardown = async (): Promise<void> => {
  world?.client.t.close();
  world?.server.t.close();
  world = undefined;
};

/** A transport in the middle of its handshake takes any datagrams without throwing, and garbage never connects it. */
export const dtlsHandshake: FuzzTarget<Buffer[]> = {
  name: "dtls-handshake",
  description: "random and mutated DTLS records at a client and a server before and during the handshake -> no throw, never connected, no media",
  arbitrary: datagrams(fc.oneof(dtlsLooking, mutate(handshakeGolden), anyBytes, srtpLooking)),
  runs: 150,
  ...bufs,
  setup,
  teardown,
  async check(input) {
    const w = world ?? (world = await makeWorld());
    for (const role of ["server", "client"] as const) {
      const s = side(role, role === "server" ? w.certs.b : w.certs.a, role === "server" ? w.certs.a : w.certs.b, () => undefined);
      const started = s.t.start().catch(() => undefined);
      for (const d of input) {
        s.t.handlePacket(d);
        await tick();
      }
      await tick();
      assert.notEqual(s.t.state, "connected", `garbage connected the ${role}`);
      assert.equal(s.rtp.length + s.rtcp.length, 0, "media from garbage");
      s.t.close();
      await started;
    }
  },
};

/** A connected transport: forged, mutated and replayed SRTP and stray records are dropped; real media still flows. */
export const dtlsConnected: FuzzTarget<Buffer[]> = {
  name: "dtls-connected",
  description: "mutated/replayed SRTP, stray handshake and epoch-1 records at a connected server -> dropped, still connected, media still flows",
  arbitrary: datagrams(fc.oneof(srtpLooking, mutate(srtpGolden), fc.constant(null).map(() => srtpGolden()[0]!), mutate(handshakeGolden), dtlsLooking, anyBytes)),
  runs: 150,
  ...bufs,
  setup,
  teardown,
  async check(input) {
    const w = world ?? (world = await makeWorld());
    const before = { rtp: w.server.rtp.length, rtcp: w.server.rtcp.length };
    for (const d of input) w.server.t.handlePacket(d);
    await tick();
    assert.equal(w.server.t.state, "connected", `no longer connected: ${w.server.failed.join("; ")}`);
    assert.equal(w.server.rtp.length, before.rtp, "a forged, mutated or replayed SRTP packet was taken");
    assert.equal(w.server.rtcp.length, before.rtcp, "a forged, mutated or replayed SRTCP packet was taken");
    // The real peer's next packet still gets through.
    w.client.t.sendRtp(w.packetizer.packetize(Buffer.alloc(20, 1), 960));
    for (let i = 0; i < 3 && w.server.rtp.length === before.rtp; i++) await tick();
    assert.equal(w.server.rtp.length, before.rtp + 1, "genuine media after the garbage");
  },
};

export const DTLS_TARGETS = [dtlsHandshake, dtlsConnected];
