// werift-dtls loaded lazily with @peculiar/x509 deferred (src/rtp/werift.ts):
// what werift-dtls needs of x509 still works, through the stand-in.
import { test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { weriftDtls } from "../../src/rtp/werift.js";

test("werift-dtls through the lazy loader: its classes, and its own certificate generator (real x509 behind the stand-in)", async () => {
  const d = weriftDtls();
  assert.equal(weriftDtls(), d, "loaded once");
  assert.equal(typeof d.DtlsClient, "function");
  assert.equal(typeof d.DtlsServer, "function");
  const { certPem, keyPem } = await d.CipherContext.createSelfSignedCertificateWithKey({ hash: 4, signature: 3 }, d.NamedCurveAlgorithm.secp256r1_23);
  const x = new X509Certificate(certPem);
  assert.ok(x.verify(x.publicKey), "self-signed with the key werift made (webcrypto provider reached the real module)");
  assert.match(keyPem, /BEGIN PRIVATE KEY/);
});
