// DTLS-SRTP transport over real UDP sockets on 127.0.0.1 (test/helpers/
// dtls-udp-pair.ts: a small shim, not ICE, carries each side's datagrams to
// the other and can watch, drop, tamper with or inject datagrams). Hostile
// datagrams during a handshake: dtls-hostile.test.ts. Also against OpenSSL's s_server/s_client
// when `openssl` is installed: an independent DTLS stack agrees on the SRTP
// keys (RFC 5764 §4.2 exporter) and the key assignment per role.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { SrtcpSession, SrtpSession } from "werift-rtp";
import { DtlsSrtpTransport, type SrtpProfileName } from "../../src/rtp/dtls/dtls-srtp.js";
import { createCertificate, fingerprint, type DtlsCertificate } from "../../src/rtp/dtls/certificate.js";
import type { DtlsRole } from "../../src/rtp/dtls/setup-role.js";
import { classifyPacket } from "../../src/rtp/demux.js";
import { silentLogger } from "../../src/util/logger.js";
import { parseRecords } from "../../src/rtp/dtls/record-layer.js";
import { decodeClientHello, decodeFragments } from "../../src/rtp/dtls/handshake-messages.js";
import { startProcess } from "../../scripts/lab/process.js";
import { makePair, opusPacketizer, rtcpRr, sameAcrossRetransmissions, sleep, until, wireMedia } from "../helpers/dtls-udp-pair.js";

let certA: DtlsCertificate;
let certB: DtlsCertificate;
let certC: DtlsCertificate;

before(async () => {
  [certA, certB, certC] = await Promise.all([createCertificate(), createCertificate(), createCertificate()]);
});

describe("DTLS-SRTP over loopback UDP", { timeout: 60_000 }, () => {
  for (const aRole of ["client", "server"] as const) {
    test(`handshake with A as ${aRole}: keys agree, RTP and RTCP pass both ways, the wire carries SRTP`, async () => {
      const p = await makePair({ aRole, aCert: certA, bCert: certB });
      try {
        await Promise.all([p.a.t.start(), p.b.t.start()]);
        assert.deepEqual(p.a.connected, [{ profile: "SRTP_AES128_CM_HMAC_SHA1_80", dtlsVersion: "DTLS 1.2", role: aRole }]);
        assert.equal(p.b.connected[0]?.role, aRole === "client" ? "server" : "client");
        assert.equal(p.a.t.state, "connected");

        const za = opusPacketizer();
        const zb = opusPacketizer();
        const fromA = [0, 1, 2, 3, 4].map((i) => za.packetize(randomBytes(100), 960, { marker: i === 0 }));
        const fromB = [0, 1, 2].map(() => zb.packetize(randomBytes(100), 960));
        for (const pkt of fromA) p.a.t.sendRtp(pkt);
        for (const pkt of fromB) p.b.t.sendRtp(pkt);
        p.a.t.sendRtcp(rtcpRr(za.ssrc));
        p.b.t.sendRtcp(rtcpRr(zb.ssrc));
        await until(() => p.b.rtp.length === 5 && p.a.rtp.length === 3 && p.a.rtcp.length === 1 && p.b.rtcp.length === 1, 2000, "media");
        assert.deepEqual(p.b.rtp, fromA, "B gets exactly what A packetized, in order");
        assert.deepEqual(p.a.rtp, fromB);
        assert.deepEqual(p.b.rtcp, [rtcpRr(za.ssrc)]);
        assert.deepEqual(p.a.rtcp, [rtcpRr(zb.ssrc)]);

        // On the wire: same RTP header, encrypted payload, 80-bit tag appended (RFC 3711 §3.1).
        const wire = wireMedia(p.a, "rtp");
        assert.equal(wire.length, 5);
        for (const [i, w] of wire.entries()) {
          const plain = fromA[i]!;
          assert.equal(w.length, plain.length + 10);
          assert.deepEqual(w.subarray(0, 12), plain.subarray(0, 12));
          assert.notDeepEqual(w.subarray(12, plain.length), plain.subarray(12));
          assert.equal(w.indexOf(plain.subarray(12, 28)), -1, "no stretch of the payload in clear");
        }
        // SRTCP: header and sender SSRC in clear, E flag + index (4) and tag (10) appended (RFC 3711 §3.4).
        const [rtcpWire] = wireMedia(p.a, "rtcp");
        assert.equal(rtcpWire!.length, 8 + 4 + 10);
        assert.equal(rtcpWire!.readUInt32BE(8) >>> 31, 1, "E flag: encrypted");

        assert.deepEqual(p.a.t.stats, {
          rtpProtected: 5, rtcpProtected: 1, rtpUnprotected: 3, rtcpUnprotected: 1,
          authFailures: 0, replayed: 0, dropped: 0, notSent: 0,
        });
        assert.deepEqual([p.a.failures, p.b.failures], [[], []]);
      } finally {
        p.close();
      }
    });
  }

  test("AEAD_AES_128_GCM (RFC 7714): the server follows the client's preference", async () => {
    const p = await makePair({
      aRole: "client",
      aCert: certA,
      bCert: certB,
      aProfiles: ["AEAD_AES_128_GCM", "SRTP_AES128_CM_HMAC_SHA1_80"],
      bProfiles: ["SRTP_AES128_CM_HMAC_SHA1_80", "AEAD_AES_128_GCM"],
    });
    try {
      await Promise.all([p.a.t.start(), p.b.t.start()]);
      assert.equal(p.a.connected[0]?.profile, "AEAD_AES_128_GCM");
      assert.equal(p.b.connected[0]?.profile, "AEAD_AES_128_GCM");
      const z = opusPacketizer();
      const pkts = [1, 2, 3].map(() => z.packetize(randomBytes(100), 960));
      for (const x of pkts) p.b.t.sendRtp(x);
      p.b.t.sendRtcp(rtcpRr(z.ssrc));
      await until(() => p.a.rtp.length === 3 && p.a.rtcp.length === 1);
      assert.deepEqual(p.a.rtp, pkts);
      assert.deepEqual(p.a.rtcp, [rtcpRr(z.ssrc)]);
      assert.equal(wireMedia(p.b, "rtp")[0]!.length, pkts[0]!.length + 16, "16-octet GCM tag");
    } finally {
      p.close();
    }
  });

  test("no SRTP profile in common: both sides fail with security-error", async () => {
    // A ClientHello we cannot serve is not answered at once (it may be a
    // stray one from anyone, RFC 6347 §4.1.2.7); the server says why when it
    // gives up, and a client still waiting takes the alert as the reason.
    const p = await makePair({
      aRole: "client",
      aCert: certA,
      bCert: certB,
      aProfiles: ["SRTP_AES128_CM_HMAC_SHA1_80"],
      bProfiles: ["AEAD_AES_128_GCM"],
      timeoutMs: 2500,
      bTimeoutMs: 1000,
    });
    try {
      const results = await Promise.allSettled([p.a.t.start(), p.b.t.start()]);
      assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
      assert.equal(p.b.failures[0]?.[1], "security-error");
      assert.match(p.b.failures[0]![0], /no SRTP profile/);
      assert.equal(p.a.failures[0]?.[1], "security-error", "the client learns it from the handshake_failure alert");
    } finally {
      p.close();
    }
  });

  for (const checker of ["client", "server"] as const) {
    test(`wrong fingerprint checked by the ${checker}: security-error there, and no media comes out`, async () => {
      const p = await makePair({ aRole: checker, aCert: certA, bCert: certB, aExpects: { hash: "sha-256", value: fingerprint(certC) }, timeoutMs: 1500 });
      try {
        const [ra] = await Promise.allSettled([p.a.t.start(), p.b.t.start()]);
        assert.equal(ra.status, "rejected");
        assert.equal(p.a.failures.length, 1);
        assert.equal(p.a.failures[0]![1], "security-error");
        assert.match(p.a.failures[0]![0], /fingerprint/);
        assert.equal(p.a.t.state, "failed");
        assert.deepEqual(p.a.connected, []);
        // Whatever B does now, A hands nothing to the media layer.
        if (p.b.t.state === "connected") {
          const z = opusPacketizer();
          for (let i = 0; i < 3; i++) p.b.t.sendRtp(z.packetize(randomBytes(100), 960));
        }
        await sleep(100);
        assert.deepEqual(p.a.rtp, []);
        assert.equal(p.a.t.stats.rtpUnprotected, 0);
        p.a.t.sendRtp(opusPacketizer().packetize(randomBytes(10), 960));
        assert.equal(wireMedia(p.a, "rtp").length, 0, "and A sends no media");
      } finally {
        p.close();
      }
    });
  }

  test("the fingerprint hash may be any RFC 8122 name, any case", async () => {
    const p = await makePair({
      aRole: "client",
      aCert: certA,
      bCert: certB,
      aExpects: { hash: "SHA-512", value: fingerprint(certB, "sha-512").toLowerCase() },
      bExpects: { hash: "sha-1", value: fingerprint(certA, "sha-1") },
    });
    try {
      await Promise.all([p.a.t.start(), p.b.t.start()]);
    } finally {
      p.close();
    }
  });

  test("an unusable fingerprint hash (md5) fails at start() with security-error", async () => {
    const t = new DtlsSrtpTransport({
      role: "client",
      certificate: certA,
      remoteFingerprint: { hash: "md5", value: "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF" },
      send: () => assert.fail("nothing may be sent"),
      logger: silentLogger(),
    });
    const failed = new Promise<[string, string]>((r) => t.once("failed", (...a) => r(a)));
    await assert.rejects(t.start(), (err: Error & { code?: string }) => err.code === "dtls-security");
    assert.equal((await failed)[1], "security-error");
    t.close();
  });

  for (const impostorRole of ["server", "client"] as const) {
    test(`a peer showing the expected certificate without its key is refused (impostor as ${impostorRole})`, async () => {
      // B presents C's certificate (public, e.g. replayed from an earlier
      // handshake) but signs with its own key: the fingerprint matches,
      // the signature over the key exchange does not.
      const impostor: DtlsCertificate = { ...certC, keyPem: certB.keyPem };
      const p = await makePair({ aRole: impostorRole === "server" ? "client" : "server", aCert: certA, bCert: impostor, timeoutMs: 3000 });
      try {
        await Promise.allSettled([p.a.t.start(), p.b.t.start()]);
        assert.equal(p.a.failures[0]?.[1], "security-error");
        assert.match(p.a.failures[0]![0], impostorRole === "server" ? /ServerKeyExchange signature/ : /CertificateVerify/);
        assert.deepEqual(p.a.connected, []);
      } finally {
        p.close();
      }
    });
  }

  test("a tampered SRTP packet is dropped and counted, a replayed one too; media goes on", async () => {
    const p = await makePair({ aRole: "client", aCert: certA, bCert: certB });
    try {
      await Promise.all([p.a.t.start(), p.b.t.start()]);
      let n = 0;
      p.link.filter = (from, d) => {
        if (from !== "a" || classifyPacket(d) !== "rtp") return [d];
        n++;
        if (n === 2) {
          const bad = Buffer.from(d);
          bad[20]! ^= 0x01; // one payload bit
          return [bad];
        }
        if (n === 3) {
          const badTag = Buffer.from(d);
          badTag[badTag.length - 1]! ^= 0x80;
          return [badTag];
        }
        if (n === 4) return [d, d]; // replayed
        return [d];
      };
      const z = opusPacketizer();
      const pkts = [1, 2, 3, 4, 5].map(() => z.packetize(randomBytes(100), 960));
      for (const x of pkts) {
        p.a.t.sendRtp(x);
        await sleep(2); // keep arrival order for the assertion
      }
      await until(() => p.b.t.stats.rtpUnprotected === 3 && p.b.t.stats.replayed === 1);
      assert.deepEqual(p.b.rtp, [pkts[0], pkts[3], pkts[4]]);
      assert.equal(p.b.t.stats.authFailures, 2);
      assert.deepEqual(p.b.failures, []);
      // A replay of an SRTCP packet is refused as well.
      p.link.filter = (from, d) => (from === "a" && classifyPacket(d) === "rtcp" ? [d, d] : [d]);
      p.a.t.sendRtcp(rtcpRr(z.ssrc));
      await until(() => p.b.t.stats.replayed === 2);
      assert.equal(p.b.rtcp.length, 1);
    } finally {
      p.close();
    }
  });

  test("garbage datagrams before, during and after the handshake are ignored", async () => {
    const p = await makePair({ aRole: "client", aCert: certA, bCert: certB });
    const garbage = (): Buffer[] => {
      const out: Buffer[] = [];
      for (const first of [0x00, 0x01, 0x10, 0x14, 0x15, 0x16, 0x17, 0x30, 0x40, 0x80, 0x81, 0xbf, 0xff]) {
        for (const len of [1, 13, 14, 40, 200]) {
          const g = randomBytes(len);
          g[0] = first;
          out.push(g);
        }
      }
      // Well-formed DTLS record headers with nonsense inside.
      for (const [type, epoch] of [[22, 0], [22, 1], [21, 1], [23, 1], [20, 0]] as const) {
        const body = randomBytes(60);
        const rec = Buffer.concat([Buffer.from([type, 0xfe, 0xfd, 0, epoch, 0, 0, 0, 0, 0, 9, 0, body.length]), body]);
        out.push(rec);
      }
      // A handshake fragment claiming to be part of a large message.
      const frag = Buffer.from("16fefd000000000000000000190b0010000001000000000d00112233445566778899aabbcc", "hex");
      out.push(frag);
      return out;
    };
    try {
      for (const g of garbage()) {
        p.a.t.handlePacket(g);
        p.b.t.handlePacket(g);
      }
      // During the handshake: garbage rides along with every handshake datagram.
      p.link.filter = (from, d) => (classifyPacket(d) === "dtls" ? [...garbage().slice(0, 8), d] : [d]);
      await Promise.all([p.a.t.start(), p.b.t.start()]);
      p.link.filter = undefined;
      for (const g of garbage()) p.link.inject("a", g);
      const z = opusPacketizer();
      const pkts = [1, 2, 3].map(() => z.packetize(randomBytes(100), 960));
      for (const x of pkts) p.a.t.sendRtp(x);
      await until(() => p.b.rtp.length === 3);
      assert.deepEqual(p.b.rtp, pkts);
      assert.deepEqual([p.a.failures, p.b.failures], [[], []]);
      const s = p.b.t.stats;
      assert.ok(s.dropped + s.authFailures > 50, `garbage counted (${JSON.stringify(s)})`);
    } finally {
      p.close();
    }
  });

  test("retransmission: the handshake survives losing the first copy of every handshake datagram", async () => {
    const p = await makePair({ aRole: "client", aCert: certA, bCert: certB, timeoutMs: 10_000 });
    const seen = new Set<string>();
    let dropped = 0;
    p.link.filter = (from, d) => {
      if (classifyPacket(d) !== "dtls") return [d];
      // A retransmission carries the same records under new sequence numbers
      // (RFC 6347 §4.1), re-encrypted in epoch 1: compare what stays the same.
      const key = `${from}:${sameAcrossRetransmissions(d)}`;
      if (seen.has(key)) return [d];
      seen.add(key);
      dropped++;
      return [];
    };
    try {
      const t0 = performance.now();
      await Promise.all([p.a.t.start(), p.b.t.start()]);
      const ms = performance.now() - t0;
      // Flights 1, 4, 5 and 6 (one datagram each here) were each lost once.
      assert.ok(dropped >= 4, `dropped ${dropped} first copies`);
      assert.ok(ms < 9000, `connected after ${ms.toFixed(0)} ms`);
      const z = opusPacketizer();
      const x = z.packetize(randomBytes(100), 960);
      p.a.t.sendRtp(x);
      await until(() => p.b.rtp.length === 1);
    } finally {
      p.close();
    }
  });

  test("losing the server's last flight: the client's retransmitted Finished gets it again", async () => {
    const p = await makePair({ aRole: "server", aCert: certA, bCert: certB, timeoutMs: 5000 });
    let lost = 0;
    p.link.filter = (from, d) => {
      // The server's flight 6: ChangeCipherSpec, then the encrypted Finished.
      if (from === "a" && classifyPacket(d) === "dtls" && (d[0] === 20 || d.readUInt16BE(3) === 1) && lost < 2) {
        lost++;
        return [];
      }
      return [d];
    };
    try {
      await Promise.all([p.a.t.start(), p.b.t.start()]);
      assert.equal(lost, 2);
    } finally {
      p.close();
    }
  });

  test("a silent peer: the client fails after the handshake timeout", async () => {
    const sink = createSocket("udp4");
    await new Promise<void>((r) => sink.bind(0, "127.0.0.1", () => r()));
    const out = createSocket("udp4");
    const failures: Array<[string, string]> = [];
    const t = new DtlsSrtpTransport({
      role: "client",
      certificate: certA,
      remoteFingerprint: { hash: "sha-256", value: fingerprint(certB) },
      send: (d) => out.send(d, sink.address().port, "127.0.0.1"),
      logger: silentLogger(),
      handshakeTimeoutMs: 400,
    });
    t.on("failed", (r, c) => failures.push([r, c]));
    try {
      const t0 = performance.now();
      await assert.rejects(t.start(), /not done within 400 ms/);
      const ms = performance.now() - t0;
      assert.ok(ms >= 390 && ms < 1000, `failed after ${ms.toFixed(0)} ms`);
      assert.deepEqual(failures, [["DTLS handshake not done within 400 ms", "failed-transport"]]);
      assert.equal(t.state, "failed");
      t.close();
      assert.equal(t.state, "closed");
    } finally {
      sink.close();
      out.close();
    }
    // close() clears the retransmission timer of the ClientHello with the rest.
    const t0 = performance.now();
    await until(() => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length <= 1, 3000, "the handshake's timers to end");
    const lingerMs = performance.now() - t0;
    assert.ok(lingerMs < 1500, `timers lingered ${lingerMs.toFixed(0)} ms`);
  });

  test("a server whose client never speaks fails after the timeout too", async () => {
    const t = new DtlsSrtpTransport({
      role: "server",
      certificate: certA,
      remoteFingerprint: { hash: "sha-256", value: fingerprint(certB) },
      send: () => assert.fail("a server has nothing to send"),
      logger: silentLogger(),
      handshakeTimeoutMs: 200,
    });
    await assert.rejects(t.start(), (err: Error & { code?: string }) => err.code === "dtls-failed");
    t.close();
  });

  test("close(): close_notify on the wire, idempotent, no media afterwards", async () => {
    const p = await makePair({ aRole: "client", aCert: certA, bCert: certB });
    try {
      await Promise.all([p.a.t.start(), p.b.t.start()]);
      const before = p.a.sent.length;
      p.a.t.close();
      p.a.t.close();
      const after = p.a.sent.slice(before);
      assert.equal(after.length, 1, "exactly one datagram: the alert");
      assert.equal(after[0]![0], 21, "content type alert");
      assert.equal(after[0]!.readUInt16BE(3), 1, "epoch 1: encrypted under the handshake keys");
      assert.equal(p.a.t.state, "closed");
      p.a.t.sendRtp(opusPacketizer().packetize(randomBytes(100), 960));
      assert.equal(p.a.sent.length, before + 1, "nothing sent after close");
      assert.equal(p.a.t.stats.notSent, 1);
      await sleep(50);
      assert.deepEqual(p.b.failures, [], "the peer's close_notify is not a failure: signalling ends the call");
      await assert.doesNotReject(p.a.t.start(), "start() after a completed handshake still reports it");
    } finally {
      p.close();
    }
  });

  test("close() during the handshake rejects start() without a failed event", async () => {
    const p = await makePair({ aRole: "client", aCert: certA, bCert: certB });
    p.link.filter = () => []; // nothing gets through
    try {
      const started = p.a.t.start();
      await sleep(20);
      p.a.t.close();
      await assert.rejects(started, (err: Error & { code?: string }) => err.code === "dtls-closed");
      assert.deepEqual(p.a.failures, []);
    } finally {
      p.close();
    }
  });
});

// ------------------------------------------------------------------ OpenSSL

/** RFC 5764 §4.2: client key | server key | client salt | server salt. */
function splitMaterial(hex: string, keyLen: number, saltLen: number) {
  const m = Buffer.from(hex, "hex");
  return {
    clientKey: m.subarray(0, keyLen),
    serverKey: m.subarray(keyLen, 2 * keyLen),
    clientSalt: m.subarray(2 * keyLen, 2 * keyLen + saltLen),
    serverSalt: m.subarray(2 * keyLen + saltLen, 2 * keyLen + 2 * saltLen),
  };
}

/** Decrypt what our side (in `role`) protected, with keys from OpenSSL's exporter. */
function checkKeys(role: DtlsRole, materialHex: string, profile: 1 | 7, wireRtp: Buffer, plainRtp: Buffer, wireRtcp: Buffer, plainRtcp: Buffer): void {
  const [keyLen, saltLen] = profile === 1 ? [16, 14] : [16, 12];
  const k = splitMaterial(materialHex, keyLen, saltLen);
  const ours = role === "client" ? { key: k.clientKey, salt: k.clientSalt } : { key: k.serverKey, salt: k.serverSalt };
  const theirs = role === "client" ? { key: k.serverKey, salt: k.serverSalt } : { key: k.clientKey, salt: k.clientSalt };
  // The receiver's view: its remote keys are our write keys.
  const keys = { localMasterKey: theirs.key, localMasterSalt: theirs.salt, remoteMasterKey: ours.key, remoteMasterSalt: ours.salt };
  assert.deepEqual(new SrtpSession({ keys, profile }).decrypt(wireRtp), plainRtp);
  assert.deepEqual(new SrtcpSession({ keys, profile }).decrypt(wireRtcp), plainRtcp);
}


function protectOne(t: DtlsSrtpTransport, sent: Buffer[]) {
  const z = opusPacketizer();
  const rtp = z.packetize(randomBytes(100), 960);
  const rtcp = rtcpRr(z.ssrc);
  t.sendRtp(rtp);
  t.sendRtcp(rtcp);
  const wireRtp = sent.filter((d) => classifyPacket(d) === "rtp")[0]!;
  const wireRtcp = sent.filter((d) => classifyPacket(d) === "rtcp")[0]!;
  return { rtp, rtcp, wireRtp, wireRtcp };
}

const hasOpenssl = spawnSync("openssl", ["version"]).status === 0;

describe("interop with OpenSSL (DTLS 1.2)", { skip: hasOpenssl ? false : "openssl not installed", timeout: 60_000 }, () => {
  let dir: string;
  let ossl: DtlsCertificate;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-dtls-ossl-"));
    ossl = await createCertificate();
    writeFileSync(join(dir, "cert.pem"), ossl.certPem);
    writeFileSync(join(dir, "key.pem"), ossl.keyPem, { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  async function runOurSide(role: DtlsRole, sendTo: () => number | undefined, sock: Socket, profiles?: SrtpProfileName[]) {
    const sent: Buffer[] = [];
    const t = new DtlsSrtpTransport({
      role,
      certificate: certA,
      remoteFingerprint: { hash: "sha-256", value: fingerprint(ossl) },
      send: (d) => {
        sent.push(Buffer.from(d));
        const port = sendTo();
        if (port !== undefined && classifyPacket(d) === "dtls") sock.send(d, port, "127.0.0.1");
      },
      logger: silentLogger(),
      handshakeTimeoutMs: 8000,
      ...(profiles ? { srtpProfiles: profiles } : {}),
    });
    sock.on("message", (m) => t.handlePacket(m));
    return { t, sent };
  }

  /**
   * s_server quits on end of input even with -ign_eof, so it gets a stdin
   * pipe held open (the process helper closes stdin); killed in `finally`.
   */
  async function startServer(port: number, profiles: string, mtu: number, listen = false) {
    const child = spawn(
      "openssl",
      ["s_server", "-dtls1_2", "-accept", `127.0.0.1:${port}`, "-cert", join(dir, "cert.pem"), "-key", join(dir, "key.pem"),
        "-use_srtp", profiles, "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", "60", "-verify", "1", "-naccept", "1", "-mtu", String(mtu), ...(listen ? ["-listen"] : [])],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const srv = {
      output: () => out,
      stop: async () => {
        child.stdin.end();
        child.kill("SIGTERM");
        await exited;
      },
    };
    try {
      await until(() => out.includes("ACCEPT"), 5000, "s_server to listen");
    } catch (err) {
      await srv.stop();
      throw err;
    }
    return srv;
  }

  const cases: Array<{ name: string; ossl: string; profile: 1 | 7; mtu: number; ours?: SrtpProfileName[] }> = [
    { name: "CM_80", ossl: "SRTP_AES128_CM_SHA1_80", profile: 1, mtu: 1400 },
    { name: "AEAD_AES_128_GCM preferred by the client", ossl: "SRTP_AEAD_AES_128_GCM:SRTP_AES128_CM_SHA1_80", profile: 7, mtu: 1400 },
    { name: "CM_80, handshake messages fragmented (MTU 300)", ossl: "SRTP_AES128_CM_SHA1_80", profile: 1, mtu: 300 },
  ];

  for (const c of cases) {
    test(`we are client, openssl s_server: ${c.name}`, async () => {
      const sock = createSocket("udp4");
      await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
      const probe = createSocket("udp4");
      await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()));
      const port = probe.address().port;
      probe.close();
      const srv = await startServer(port, c.ossl, c.mtu);
      const ours = await runOurSide("client", () => port, sock, ["SRTP_AES128_CM_HMAC_SHA1_80", "AEAD_AES_128_GCM"]);
      try {
        await ours.t.start();
        await until(() => /Keying material: [0-9A-F]+/.test(srv.output()), 3000, "openssl's exported keys");
        const hex = /Keying material: ([0-9A-F]+)/.exec(srv.output())![1]!;
        // OpenSSL (server) decides; with CM_80 listed first by us it still picks its own first choice.
        const m = protectOne(ours.t, ours.sent);
        checkKeys("client", hex, c.profile, m.wireRtp, m.rtp, m.wireRtcp, m.rtcp);
        assert.match(srv.output(), /CIPHER is ECDHE-ECDSA-AES128-GCM-SHA256/);
        assert.match(srv.output(), new RegExp(`SRTP Extension negotiated, profile=${c.profile === 1 ? "SRTP_AES128_CM_SHA1_80" : "SRTP_AEAD_AES_128_GCM"}`));
      } finally {
        ours.t.close();
        sock.close();
        await srv.stop();
      }
    });

    if (c === cases[0]) {
      test("we are client, openssl s_server -listen: a HelloVerifyRequest first, then the ClientHello with its cookie (RFC 6347 §4.2.1)", async () => {
        const sock = createSocket("udp4");
        await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
        const probe = createSocket("udp4");
        await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()));
        const port = probe.address().port;
        probe.close();
        const srv = await startServer(port, c.ossl, c.mtu, true);
        const ours = await runOurSide("client", () => port, sock);
        try {
          await ours.t.start();
          await until(() => /Keying material: [0-9A-F]+/.test(srv.output()), 3000, "openssl's exported keys");
          const m = protectOne(ours.t, ours.sent);
          checkKeys("client", /Keying material: ([0-9A-F]+)/.exec(srv.output())![1]!, 1, m.wireRtp, m.rtp, m.wireRtcp, m.rtcp);
          // Our ClientHellos: message_seq 0, then 1 with the cookie (and the same random).
          const hellos = ours.sent.flatMap((d) => (classifyPacket(d) === "dtls" ? parseRecords(d) : []))
            .filter((r) => r.type === 22 && r.epoch === 0)
            .flatMap((r) => decodeFragments(r.body))
            .filter((f) => f.type === 1)
            .map((f) => ({ seq: f.seq, hello: decodeClientHello(f.body) }));
          const first = hellos.find((h) => h.seq === 0)!;
          const second = hellos.find((h) => h.seq === 1)!;
          assert.equal(first.hello.cookie.length, 0);
          assert.ok(second.hello.cookie.length > 0, "the second ClientHello carries the cookie");
          assert.deepEqual(second.hello.random, first.hello.random);
        } finally {
          ours.t.close();
          sock.close();
          await srv.stop();
        }
      });
    }

    test(`we are server, openssl s_client: ${c.name}`, async () => {
      const sock = createSocket("udp4");
      await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
      let peerPort: number | undefined;
      sock.on("message", (_m, r) => (peerPort = r.port));
      const ours = await runOurSide("server", () => peerPort, sock, c.ours);
      const started = ours.t.start();
      const cli = await startProcess(
        "openssl",
        ["s_client", "-dtls1_2", "-connect", `127.0.0.1:${sock.address().port}`, "-cert", join(dir, "cert.pem"), "-key", join(dir, "key.pem"),
          "-use_srtp", c.ossl, "-keymatexport", "EXTRACTOR-dtls_srtp", "-keymatexportlen", "60", "-mtu", String(c.mtu)],
        { readyPattern: /Keying material: [0-9A-F]+/, readyTimeoutMs: 8000, name: "openssl s_client" },
      );
      try {
        await started;
        const hex = /Keying material: ([0-9A-F]+)/.exec(cli.output())![1]!;
        const m = protectOne(ours.t, ours.sent);
        checkKeys("server", hex, c.profile, m.wireRtp, m.rtp, m.wireRtcp, m.rtcp);
        assert.match(cli.output(), /Protocol\s*:\s*DTLSv1\.2/);
      } finally {
        ours.t.close();
        sock.close();
        await cli.stop("SIGTERM", 2000);
      }
    });
  }
});

// ------------------------------------------------------------------ GnuTLS

const hasGnutls = spawnSync("gnutls-cli", ["--version"]).status === 0 && spawnSync("gnutls-serv", ["--version"]).status === 0;

// GnuTLS is the DTLS stack Dino uses. gnutls-serv always starts with a
// HelloVerifyRequest; gnutls-cli prints the exported SRTP keying material.
describe("interop with GnuTLS (Dino's DTLS)", { skip: hasGnutls ? false : "gnutls-bin not installed (scripts/bootstrap.sh installs it as root)", timeout: 90_000 }, () => {
  let dir: string;
  let peerCert: DtlsCertificate;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-dtls-gnutls-"));
    peerCert = await createCertificate();
    writeFileSync(join(dir, "cert.pem"), peerCert.certPem);
    writeFileSync(join(dir, "key.pem"), peerCert.keyPem, { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const srtpArgs = ["--srtp-profiles=SRTP_AES128_CM_HMAC_SHA1_80", "--x509certfile", "CERT", "--x509keyfile", "KEY"];
  const files = (args: string[]) => args.map((a) => (a === "CERT" ? join(dir, "cert.pem") : a === "KEY" ? join(dir, "key.pem") : a));

  /**
   * Our transport on a UDP socket; `lose` drops datagrams in both
   * directions at our end (what we send and what we receive).
   */
  async function ourSide(role: DtlsRole, lose: (dir: "out" | "in", d: Buffer) => boolean) {
    const sock = createSocket("udp4");
    await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
    let peerPort: number | undefined;
    const sent: Buffer[] = [];
    const t = new DtlsSrtpTransport({
      role,
      certificate: certA,
      remoteFingerprint: { hash: "sha-256", value: fingerprint(peerCert) },
      send: (d) => {
        sent.push(Buffer.from(d));
        if (peerPort !== undefined && !lose("out", d)) sock.send(d, peerPort, "127.0.0.1");
      },
      logger: silentLogger(),
      handshakeTimeoutMs: 15_000,
    });
    sock.on("message", (m, r) => {
      peerPort = r.port;
      if (!lose("in", m)) t.handlePacket(m);
    });
    return { t, sock, sent, setPeer: (port: number) => (peerPort = port) };
  }

  /** We serve, gnutls-cli connects; resolves when both ends say the handshake is done, with GnuTLS's exported keys. */
  async function serveGnutls(lose: (dir: "out" | "in", d: Buffer) => boolean = () => false) {
    const ours = await ourSide("server", lose);
    const started = ours.t.start();
    const cli = await startProcess(
      "gnutls-cli",
      ["--udp", "-p", String(ours.sock.address().port), "127.0.0.1", "--insecure", ...files(srtpArgs), "--keymatexport=EXTRACTOR-dtls_srtp", "--keymatexportsize=60"],
      { readyPattern: /Handshake was completed/, readyTimeoutMs: 30_000, name: "gnutls-cli" },
    );
    try {
      await started;
      const hex = /Key material: ([0-9a-fA-F]+)/.exec(cli.output())![1]!;
      // What we protect, GnuTLS's keys decrypt (werift-rtp's SRTP as the third party).
      const m = protectOne(ours.t, ours.sent);
      checkKeys("server", hex, 1, m.wireRtp, m.rtp, m.wireRtcp, m.rtcp);
      return { output: cli.output() };
    } finally {
      ours.t.close();
      ours.sock.close();
      await cli.stop("SIGTERM", 2000);
    }
  }

  test("we are server, gnutls-cli client: SRTP keys agree (RFC 5764 §4.2 exporter)", async () => {
    const { output } = await serveGnutls();
    assert.match(output, /SRTP profile: SRTP_AES128_CM_HMAC_SHA1_80/);
  });

  test("we are client, gnutls-serv: its HelloVerifyRequest, then the handshake completes", async () => {
    const probe = createSocket("udp4");
    await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()));
    const port = probe.address().port;
    probe.close();
    const srv = await startProcess("stdbuf", ["-oL", "gnutls-serv", "--udp", "-p", String(port), ...files(srtpArgs)], { readyPattern: /Waiting for connection/, name: "gnutls-serv" });
    const ours = await ourSide("client", () => false);
    ours.setPeer(port);
    try {
      await ours.t.start();
      await until(() => /Accepted connection/.test(srv.output()), 3000, "gnutls-serv to accept");
      assert.match(srv.output(), /Sending hello verify request/);
      assert.match(srv.output(), /DTLS profile set to SRTP_AES128_CM_HMAC_SHA1_80/);
    } finally {
      ours.t.close();
      ours.sock.close();
      await srv.stop("SIGTERM", 2000);
    }
  });

  test("our last flight lost twice: GnuTLS repeats its flight, gets ours again, and finishes too (no one-sided 'active')", async () => {
    let lost = 0;
    const { output } = await serveGnutls((d, datagram) => {
      // Flight 6: ChangeCipherSpec and the encrypted Finished.
      if (d === "out" && datagram[0] === 20 && lost < 2) {
        lost++;
        return true;
      }
      return false;
    });
    assert.equal(lost, 2);
    assert.match(output, /Handshake was completed/);
  });

  test("15 % random loss both ways, 4 handshakes: each completes at both ends", async (t) => {
    let seed = 7;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const t0 = performance.now();
      const { output } = await serveGnutls(() => rnd() < 0.15);
      assert.match(output, /Handshake was completed/);
      times.push(Math.round(performance.now() - t0));
    }
    t.diagnostic(`gnutls-cli <-> jingled at 15 % loss: ${times.join(", ")} ms (GnuTLS retransmits after 1 s)`);
  });
});

// ------------------------------------------------------------------ numbers

describe("measurements (loopback)", { timeout: 60_000 }, () => {
  test("handshake time (median of 10) and SRTP protect+unprotect cost per 100-octet payload", async (t) => {
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const p = await makePair({ aRole: i % 2 ? "client" : "server", aCert: certA, bCert: certB });
      try {
        const t0 = performance.now();
        await Promise.all([p.a.t.start(), p.b.t.start()]);
        times.push(performance.now() - t0);
      } finally {
        p.close();
      }
    }
    times.sort((x, y) => x - y);
    const median = (times[4]! + times[5]!) / 2;
    t.diagnostic(`handshake ms: median ${median.toFixed(1)}, min ${times[0]!.toFixed(1)}, max ${times[9]!.toFixed(1)}`);
    assert.ok(median < 500, `median handshake ${median.toFixed(0)} ms`);

    for (const profile of ["SRTP_AES128_CM_HMAC_SHA1_80", "AEAD_AES_128_GCM"] as const) {
      // Protect on one transport, unprotect on the other, in-process (no sockets in the timing).
      const p = await makePair({ aRole: "client", aCert: certA, bCert: certB, aProfiles: [profile], bProfiles: [profile] });
      try {
        await Promise.all([p.a.t.start(), p.b.t.start()]);
        p.link.filter = () => [];
        const z = opusPacketizer();
        const payload = randomBytes(100);
        // Warm up, then time protect and unprotect separately; best of 3 runs
        // (the machine is shared, the minimum is the cost).
        for (let i = 0; i < 2000; i++) p.a.t.sendRtp(z.packetize(payload, 960));
        const N = 10_000;
        let protectUs = Infinity;
        let unprotectUs = Infinity;
        for (let run = 0; run < 3; run++) {
          const plain = Array.from({ length: N }, () => z.packetize(payload, 960));
          p.a.sent.length = 0;
          let t0 = performance.now();
          for (const x of plain) p.a.t.sendRtp(x);
          protectUs = Math.min(protectUs, ((performance.now() - t0) * 1000) / N);
          const wire = p.a.sent.slice();
          const got = p.b.rtp.length;
          t0 = performance.now();
          for (const w of wire) p.b.t.handlePacket(w);
          unprotectUs = Math.min(unprotectUs, ((performance.now() - t0) * 1000) / N);
          assert.equal(p.b.rtp.length - got, N);
        }
        t.diagnostic(`${profile}: protect ${protectUs.toFixed(1)} µs, unprotect ${unprotectUs.toFixed(1)} µs, sum ${(protectUs + unprotectUs).toFixed(1)} µs per packet`);
        assert.ok(protectUs + unprotectUs < 200);
      } finally {
        p.close();
      }
    }
  });
});

// Last: close() and failures clear every timer of a handshake; nothing may stay behind.
test("no timers or sockets left behind", async () => {
  const deadline = Date.now() + 7000;
  const leftovers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout" || r === "UDPWrap");
  while (leftovers().length > 1 && Date.now() < deadline) await sleep(100); // our own sleep() is one Timeout
  assert.ok(leftovers().length <= 1, `still active: ${process.getActiveResourcesInfo().join(", ")}`);
});
