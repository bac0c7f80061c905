// Attacks on a real DTLS-SRTP handshake over real UDP sockets
// (test/helpers/dtls-udp-pair.ts), with datagrams sent from the peer's own
// socket, as an attacker on the path who spoofs its address would:
//
//   - epoch-0 alerts (fatal handshake_failure, close_notify) and a ClientHello
//     without use_srtp, before every handshake datagram, in both roles: the
//     call still connects (RFC 6347 §4.1.2.7: unauthenticated records never
//     end a handshake; #12 finding 2)
//   - a complete server flight from an impostor, ahead of the genuine one:
//     forgotten, and the genuine flight completes the handshake
//   - a ServerKeyExchange signed with SHA-1 (re-signed with the server's own
//     key, so the signature itself verifies): refused (RFC 9155; #12 finding 13)
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createPrivateKey, randomBytes, sign } from "node:crypto";
import { createCertificate, fingerprint, type DtlsCertificate } from "../../src/rtp/dtls/certificate.js";
import { DtlsEndpoint } from "../../src/rtp/dtls/dtls-endpoint.js";
import { handshakeConfig } from "../../src/rtp/dtls/handshake-role.js";
import {
  ExtensionType, HandshakeType, NamedGroup, decodeClientHello, decodeFragments, decodeServerHello, decodeServerKeyExchange, encodeClientHello,
  encodeFragment, encodeServerKeyExchange,
} from "../../src/rtp/dtls/handshake-messages.js";
import { ContentType, DTLS_1_2, encodeRecord, parseRecords } from "../../src/rtp/dtls/record-layer.js";
import { SignatureScheme } from "../../src/rtp/dtls/peer-verification.js";
import { u16List } from "../../src/rtp/dtls/tls-codec.js";
import { classifyPacket } from "../../src/rtp/demux.js";
import { systemClock } from "../../src/util/clock.js";
import { makePair, opusPacketizer, sleep, until, type Pair } from "../helpers/dtls-udp-pair.js";

let certA: DtlsCertificate;
let certB: DtlsCertificate;
let certC: DtlsCertificate;

before(async () => {
  [certA, certB, certC] = await Promise.all([createCertificate(), createCertificate(), createCertificate()]);
});

const plaintextRecord = (type: number, body: Buffer) => encodeRecord({ type, version: DTLS_1_2, epoch: 0, seq: 1000 + Math.floor(Math.random() * 1000), body });
/** RFC 5246 §7.2: level, description. */
const alert = (level: number, description: number) => plaintextRecord(ContentType.alert, Buffer.from([level, description]));

/** A well-formed ClientHello for our cipher suite, without use_srtp (RFC 5764 §4.1.1). */
function clientHelloWithoutUseSrtp(): Buffer {
  const body = encodeClientHello({
    version: DTLS_1_2,
    random: randomBytes(32),
    sessionId: Buffer.alloc(0),
    cookie: Buffer.alloc(0),
    cipherSuites: [0xc02b],
    compressionMethods: [0],
    extensions: [
      { type: ExtensionType.supportedGroups, data: u16List([NamedGroup.x25519]) },
      { type: ExtensionType.signatureAlgorithms, data: u16List([SignatureScheme.ecdsaSecp256r1Sha256]) },
    ],
  });
  return plaintextRecord(ContentType.handshake, encodeFragment(HandshakeType.clientHello, body.length, 0, 0, body));
}

/** Media both ways once connected. */
async function mediaFlows(p: Pair): Promise<void> {
  const za = opusPacketizer();
  const zb = opusPacketizer();
  p.a.t.sendRtp(za.packetize(randomBytes(60), 960));
  p.b.t.sendRtp(zb.packetize(randomBytes(60), 960));
  await until(() => p.a.rtp.length >= 1 && p.b.rtp.length >= 1, 2000, "media both ways");
}

/** The handshake messages (type per fragment) in a DTLS datagram's plaintext records. */
function handshakeTypes(d: Buffer): number[] {
  const out: number[] = [];
  for (const r of parseRecords(d)) if (r.type === ContentType.handshake && r.epoch === 0) for (const f of decodeFragments(r.body)) out.push(f.type);
  return out;
}

describe("hostile datagrams during a real handshake", { timeout: 60_000 }, () => {
  for (const aRole of ["client", "server"] as const) {
    test(`forged epoch-0 alerts, close_notify and a ClientHello without use_srtp, before every handshake datagram (A is ${aRole}): the call connects`, async () => {
      const p = await makePair({ aRole, aCert: certA, bCert: certB, timeoutMs: 8000 });
      let injected = 0;
      const forged = [alert(2, 40), alert(1, 0), alert(2, 42), clientHelloWithoutUseSrtp()];
      p.link.filter = (from, d) => {
        if (classifyPacket(d) !== "dtls" || p.a.t.state === "connected") return [d];
        injected += forged.length;
        return [...forged, d];
      };
      try {
        // Before anyone speaks, too.
        for (const f of forged) {
          p.link.inject("a", f);
          p.link.inject("b", f);
        }
        await Promise.all([p.a.t.start(), p.b.t.start()]);
        assert.ok(injected >= 8, `forged datagrams injected: ${injected}`);
        assert.deepEqual([p.a.failures, p.b.failures], [[], []]);
        await mediaFlows(p);
        // And once connected, the same datagrams change nothing either.
        for (const f of forged) {
          p.link.inject("a", f);
          p.link.inject("b", f);
        }
        await sleep(50);
        assert.deepEqual([p.a.t.state, p.b.t.state], ["connected", "connected"]);
      } finally {
        p.close();
      }
    });
  }

  test("an impostor's complete server flight ahead of the genuine one is forgotten; the genuine flight completes the handshake", async () => {
    const p = await makePair({ aRole: "client", aCert: certA, bCert: certB, timeoutMs: 8000 });
    // The impostor answers A's ClientHello with its own certificate (C).
    let impostorSent = 0;
    const impostor = new DtlsEndpoint({
      role: "server",
      clock: systemClock,
      config: handshakeConfig(certC, { hash: "sha-256", value: fingerprint(certA) }, [1, 7]),
      send: (d) => {
        impostorSent++;
        p.link.inject("b", d);
      },
      onConnected: () => assert.fail("the impostor must not complete a handshake"),
      onFailed: () => {},
    });
    let heldFirstFlight = false;
    p.link.filter = (from, d) => {
      if (from === "a" && classifyPacket(d) === "dtls" && handshakeTypes(d).includes(HandshakeType.clientHello)) impostor.receive(Buffer.from(d));
      if (from === "b" && !heldFirstFlight && handshakeTypes(d).includes(HandshakeType.serverHello)) {
        // B's first flight arrives 30 ms late: after the impostor's.
        heldFirstFlight = true;
        setTimeout(() => p.link.inject("b", d), 30);
        return [];
      }
      return [d];
    };
    try {
      await Promise.all([p.a.t.start(), p.b.t.start()]);
      assert.ok(impostorSent >= 1, "the impostor's flight went out");
      assert.deepEqual([p.a.failures, p.b.failures], [[], []]);
      await mediaFlows(p);
    } finally {
      impostor.close();
      p.close();
    }
  });

  test("a ServerKeyExchange signed with SHA-1 is refused (RFC 9155), even with a valid signature by the right key", async () => {
    const p = await makePair({ aRole: "client", aCert: certA, bCert: certB, timeoutMs: 1500 });
    const serverKey = createPrivateKey(certB.keyPem);
    let clientRandom: Buffer | undefined;
    let rewritten = 0;
    p.link.filter = (from, d) => {
      if (classifyPacket(d) !== "dtls") return [d];
      const records = parseRecords(d);
      if (from === "a") {
        for (const r of records) {
          if (r.type !== ContentType.handshake || r.epoch !== 0) continue;
          for (const f of decodeFragments(r.body)) if (f.type === HandshakeType.clientHello) clientRandom = decodeClientHello(f.body).random;
        }
        return [d];
      }
      // B's flight 4: the same ServerKeyExchange parameters, signed by B's key with ECDSA-SHA1 (0x0203).
      let serverRandom: Buffer | undefined;
      const out = records.map((r) => {
        if (r.type !== ContentType.handshake || r.epoch !== 0) return encodeRecord(r);
        const fragments = decodeFragments(r.body).map((f) => {
          if (f.type === HandshakeType.serverHello) serverRandom = decodeServerHello(f.body).random;
          if (f.type !== HandshakeType.serverKeyExchange || !clientRandom || !serverRandom) return encodeFragment(f.type, f.length, f.seq, f.offset, f.body);
          const ske = decodeServerKeyExchange(f.body);
          const signature = sign("sha1", Buffer.concat([clientRandom, serverRandom, ske.params]), { key: serverKey, dsaEncoding: "der" });
          const body = encodeServerKeyExchange(ske.params, { scheme: SignatureScheme.ecdsaSha1, signature });
          rewritten++;
          return encodeFragment(f.type, body.length, f.seq, 0, body);
        });
        return encodeRecord({ ...r, body: Buffer.concat(fragments) });
      });
      return [Buffer.concat(out)];
    };
    try {
      const [ra] = await Promise.allSettled([p.a.t.start(), p.b.t.start()]);
      assert.equal(ra.status, "rejected");
      assert.ok(rewritten >= 1, "B's ServerKeyExchange was re-signed with SHA-1");
      assert.equal(p.a.failures[0]?.[1], "security-error");
      assert.match(p.a.failures[0]![0], /SHA-1 .*refused \(RFC 9155\)/);
      assert.deepEqual(p.a.connected, []);
      // A never answered the SHA-1 flight: no ClientKeyExchange left it.
      assert.ok(!p.a.sent.some((d) => classifyPacket(d) === "dtls" && handshakeTypes(d).includes(HandshakeType.clientKeyExchange)), "A sent flight 5");
    } finally {
      p.close();
    }
  });
});
