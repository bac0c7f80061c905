// Peer verification (src/rtp/dtls/peer-verification.ts) as a table, on
// handshakes recorded with OpenSSL as the peer (test/fixtures/dtls/
// recorded-handshakes.json, made by scripts/record-dtls-handshakes.ts):
// ECDSA P-256 and RSA-2048 certificates, OpenSSL as DTLS server (its
// ServerKeyExchange) and as client (its CertificateVerify). Each recording
// verifies as it was; each named change to it must be refused, and say why.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { constants, createPrivateKey, sign } from "node:crypto";
import { fingerprint } from "../../src/rtp/dtls/certificate.js";
import { SignatureScheme, verifyCertificateVerify, verifyServerKeyExchange, type Verdict } from "../../src/rtp/dtls/peer-verification.js";
import { CipherSuite } from "../../src/rtp/dtls/handshake-messages.js";
import { REPO_ROOT } from "../../scripts/lab/daemon.js";
import type { RecordedHandshake } from "../../scripts/record-dtls-handshakes.js";

const recorded = JSON.parse(readFileSync(join(REPO_ROOT, "test", "fixtures", "dtls", "recorded-handshakes.json"), "utf8")) as RecordedHandshake[];
const hex = (s: string) => Buffer.from(s, "hex");

/** What verification gets from one handshake; each case changes some of it. */
interface Evidence {
  chain: Buffer[];
  fingerprint: { hash: string; value: string };
  cipherSuite: number;
  clientRandom: Buffer;
  serverRandom: Buffer;
  /** What the peer signed over (ServerKeyExchange: randoms + params; CertificateVerify: the messages). */
  params: Buffer;
  messages: Buffer;
  scheme: number;
  signature: Buffer;
}

function evidence(r: RecordedHandshake): Evidence {
  const der = hex(r.peerCertificate);
  const signed = r.serverKeyExchange ?? r.certificateVerify!;
  return {
    chain: [der],
    fingerprint: { hash: "sha-256", value: fingerprint(der) },
    cipherSuite: r.cipherSuite,
    clientRandom: hex(r.clientRandom),
    serverRandom: hex(r.serverRandom),
    params: hex(r.serverKeyExchange?.params ?? ""),
    messages: hex(r.certificateVerify?.handshakeMessages ?? ""),
    scheme: signed.scheme,
    signature: hex(signed.signature),
  };
}

function verify(r: RecordedHandshake, e: Evidence): Verdict<unknown> {
  const signed = { scheme: e.scheme, signature: e.signature };
  return r.peerRole === "server"
    ? verifyServerKeyExchange({ chain: e.chain, fingerprint: e.fingerprint, cipherSuite: e.cipherSuite, clientRandom: e.clientRandom, serverRandom: e.serverRandom, params: e.params, signed })
    : verifyCertificateVerify({ chain: e.chain, fingerprint: e.fingerprint, handshakeMessages: e.messages, signed });
}

/** The peer signs the (unchanged) data again with its own key, under another scheme: the signature itself is good. */
function resign(r: RecordedHandshake, e: Evidence, scheme: number, hash: string, pss = false): Evidence {
  const key = createPrivateKey(r.peerKeyPem);
  const data = r.peerRole === "server" ? Buffer.concat([e.clientRandom, e.serverRandom, e.params]) : e.messages;
  const signature = key.asymmetricKeyType === "ec"
    ? sign(hash, data, { key, dsaEncoding: "der" })
    : sign(hash, data, pss ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST } : key);
  return { ...e, scheme, signature };
}

const flip = (b: Buffer, at: number) => {
  const c = Buffer.from(b);
  c[at % c.length]! ^= 0x01;
  return c;
};

type Case = { name: string; applies?: (r: RecordedHandshake) => boolean; change: (e: Evidence, r: RecordedHandshake) => Evidence; refused?: RegExp };
const isRsa = (r: RecordedHandshake) => createPrivateKey(r.peerKeyPem).asymmetricKeyType === "rsa";
const isEc = (r: RecordedHandshake) => !isRsa(r);
const asServer = (r: RecordedHandshake) => r.peerRole === "server";
const asClient = (r: RecordedHandshake) => r.peerRole === "client";
const other = recorded.find((x) => x.peerCertificate !== recorded[0]!.peerCertificate)!;

const CASES: Case[] = [
  { name: "as recorded", change: (e) => e },
  { name: "fingerprint signalled as SHA-512, upper-case hash name", change: (e) => ({ ...e, fingerprint: { hash: "SHA-512", value: fingerprint(e.chain[0]!, "sha-512") } }) },
  { name: "the fingerprint of another certificate was signalled", change: (e) => ({ ...e, fingerprint: { hash: "sha-256", value: fingerprint(hex(e.chain[0]!.equals(hex(other.peerCertificate)) ? recorded[0]!.peerCertificate : other.peerCertificate)) } }), refused: /fingerprint .* does not match/ },
  { name: "no certificate", change: (e) => ({ ...e, chain: [] }), refused: /no certificate/ },
  { name: "a signature octet flipped", change: (e) => ({ ...e, signature: flip(e.signature, 20) }), refused: /signature does not verify/ },
  { name: "another client random (a ServerKeyExchange replayed from another handshake)", applies: asServer, change: (e) => ({ ...e, clientRandom: flip(e.clientRandom, 0) }), refused: /ServerKeyExchange signature does not verify/ },
  { name: "another key share in the parameters", applies: asServer, change: (e) => ({ ...e, params: flip(e.params, e.params.length - 1) }), refused: /ServerKeyExchange signature does not verify/ },
  { name: "a handshake message differs by one octet", applies: asClient, change: (e) => ({ ...e, messages: flip(e.messages, 100) }), refused: /CertificateVerify signature does not verify/ },
  { name: "re-signed by the peer's key with ECDSA-SHA1", applies: isEc, change: (e, r) => resign(r, e, SignatureScheme.ecdsaSha1, "sha1"), refused: /SHA-1 .*refused \(RFC 9155\)/ },
  { name: "re-signed by the peer's key with RSA PKCS#1 SHA-1", applies: isRsa, change: (e, r) => resign(r, e, SignatureScheme.rsaPkcs1Sha1, "sha1"), refused: /SHA-1 .*refused \(RFC 9155\)/ },
  { name: "re-signed by the peer's key with RSA PKCS#1 MD5", applies: isRsa, change: (e, r) => resign(r, e, 0x0101, "md5"), refused: /MD5 .*refused \(RFC 9155\)/ },
  { name: "re-signed with ECDSA-SHA384", applies: isEc, change: (e, r) => resign(r, e, SignatureScheme.ecdsaSecp384r1Sha384, "sha384") },
  { name: "re-signed with RSA PKCS#1 SHA-256", applies: isRsa, change: (e, r) => resign(r, e, SignatureScheme.rsaPkcs1Sha256, "sha256") },
  { name: "re-signed with RSA-PSS SHA-384", applies: isRsa, change: (e, r) => resign(r, e, SignatureScheme.rsaPssRsaeSha384, "sha384", true) },
  { name: "an RSA scheme named for an ECDSA signature", applies: isEc, change: (e) => ({ ...e, scheme: SignatureScheme.rsaPkcs1Sha256 }), refused: /does not fit the ec key/ },
  { name: "an ECDSA scheme named for an RSA signature", applies: isRsa, change: (e) => ({ ...e, scheme: SignatureScheme.ecdsaSecp256r1Sha256 }), refused: /does not fit the rsa key/ },
  { name: "a scheme we did not offer (Ed25519)", change: (e) => ({ ...e, scheme: 0x0807 }), refused: /scheme 0x0807, which we did not offer/ },
  { name: "an ECDHE_RSA suite with an ECDSA certificate", applies: (r) => asServer(r) && isEc(r), change: (e) => ({ ...e, cipherSuite: CipherSuite.ecdheRsaAes128Gcm }), refused: /needs an rsa certificate/ },
  { name: "an ECDHE_ECDSA suite with an RSA certificate", applies: (r) => asServer(r) && isRsa(r), change: (e) => ({ ...e, cipherSuite: CipherSuite.ecdheEcdsaAes128Gcm }), refused: /needs an ec certificate/ },
];

test("the fixture holds the four recordings (ECDSA and RSA peers, each role)", () => {
  assert.deepEqual(
    recorded.map((r) => [r.peerRole, isRsa(r) ? "rsa" : "ec"]),
    [["server", "ec"], ["client", "ec"], ["server", "rsa"], ["client", "rsa"]],
  );
});

for (const r of recorded) {
  for (const c of CASES) {
    if (c.applies && !c.applies(r)) continue;
    test(`${r.name}: ${c.name} -> ${c.refused ? "refused" : "verified"}`, () => {
      const v = verify(r, c.change(evidence(r), r));
      if (!c.refused) assert.ok(v.ok, v.ok ? "" : v.problem);
      else {
        assert.equal(v.ok, false, "accepted");
        assert.match((v as { problem: string }).problem, c.refused);
      }
    });
  }
}
