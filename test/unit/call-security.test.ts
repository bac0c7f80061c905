// A call's media security (src/app/call/security.ts) as a table: our policy,
// whether we have a certificate, our Jingle role and the peer's XEP-0320
// fingerprint setup -> plain RTP, DTLS-SRTP with our role and the setup we
// announce, or a refusal.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decideSecurity, localFingerprint, type SecurityInput } from "../../src/app/call/security.js";
import { createCertificate } from "../../src/rtp/dtls/certificate.js";

type Want = ReturnType<typeof decideSecurity>;
const plain: Want = { mode: "plain" };

const table: Array<[name: string, input: SecurityInput, want: Want]> = [
  ["prefer, peer without fingerprint -> plain", { policy: "prefer", hasCertificate: true, role: "responder", remote: undefined }, plain],
  ["require, peer without fingerprint -> refused", { policy: "require", hasCertificate: true, role: "responder", remote: undefined }, { refused: "the peer offers no DTLS-SRTP fingerprint and dtls policy is require" }],
  ["off, peer with fingerprint -> plain", { policy: "off", hasCertificate: false, role: "responder", remote: { setup: "actpass" } }, plain],
  ["prefer, no certificate -> plain", { policy: "prefer", hasCertificate: false, role: "initiator", remote: { setup: "active" } }, plain],
  ["require, no certificate -> refused", { policy: "require", hasCertificate: false, role: "initiator", remote: { setup: "active" } }, { refused: "the peer offers no DTLS-SRTP fingerprint and dtls policy is require" }],
  ["answerer, offer actpass -> client, answer active", { policy: "prefer", hasCertificate: true, role: "responder", remote: { setup: "actpass" } }, { mode: "dtls", role: "client", setup: "active" }],
  ["answerer, offer without setup -> client, answer active", { policy: "prefer", hasCertificate: true, role: "responder", remote: {} }, { mode: "dtls", role: "client", setup: "active" }],
  ["answerer, offer passive -> client, answer active", { policy: "require", hasCertificate: true, role: "responder", remote: { setup: "passive" } }, { mode: "dtls", role: "client", setup: "active" }],
  ["answerer, offer active -> server, answer passive", { policy: "prefer", hasCertificate: true, role: "responder", remote: { setup: "active" } }, { mode: "dtls", role: "server", setup: "passive" }],
  ["answerer, offer holdconn -> refused", { policy: "prefer", hasCertificate: true, role: "responder", remote: { setup: "holdconn" } }, { refused: "the peer's DTLS setup is holdconn" }],
  ["offerer, answer active -> server", { policy: "prefer", hasCertificate: true, role: "initiator", remote: { setup: "active" } }, { mode: "dtls", role: "server", setup: "actpass" }],
  ["offerer, answer passive -> client", { policy: "prefer", hasCertificate: true, role: "initiator", remote: { setup: "passive" } }, { mode: "dtls", role: "client", setup: "actpass" }],
  ["offerer, answer actpass (not allowed) -> read as active: server", { policy: "prefer", hasCertificate: true, role: "initiator", remote: { setup: "actpass" } }, { mode: "dtls", role: "server", setup: "actpass" }],
  ["offerer, answer without setup -> server (RFC 4145 default)", { policy: "prefer", hasCertificate: true, role: "initiator", remote: {} }, { mode: "dtls", role: "server", setup: "actpass" }],
  ["offerer, answer holdconn -> refused", { policy: "require", hasCertificate: true, role: "initiator", remote: { setup: "holdconn" } }, { refused: "the peer's DTLS setup is holdconn" }],
];

for (const [name, input, want] of table) {
  test(`security: ${name}`, () => assert.deepEqual(decideSecurity(input), want));
}

test("our fingerprint: offered with actpass, answered with the setup decided, none when DTLS is off or not chosen", async () => {
  const certificate = await createCertificate();
  const offer = localFingerprint({ policy: "prefer", certificate, role: "initiator", security: undefined });
  assert.equal(offer?.setup, "actpass");
  assert.equal(offer?.hash, "sha-256");
  assert.match(offer!.value, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(localFingerprint({ policy: "prefer", certificate, role: "responder", security: { mode: "dtls", role: "server", setup: "passive" } })?.setup, "passive");
  assert.equal(localFingerprint({ policy: "prefer", certificate, role: "responder", security: { mode: "plain" } }), undefined);
  assert.equal(localFingerprint({ policy: "off", certificate, role: "initiator", security: undefined }), undefined);
  assert.equal(localFingerprint({ policy: "prefer", certificate: undefined, role: "initiator", security: undefined }), undefined);
});
