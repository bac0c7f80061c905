// DTLS certificate: fingerprint format (RFC 8122 §5 / XEP-0320), matching,
// and persistence in a data directory (stable fingerprint, 0600 files).
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { X509Certificate, createHash } from "node:crypto";
import { mkdtempSync, rmSync, statSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CERT_FILE,
  KEY_FILE,
  createCertificate,
  fingerprint,
  loadOrCreateCertificate,
  matchesFingerprint,
  parseCertificate,
} from "../../src/rtp/dtls/certificate.js";

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "jingled-dtls-cert-"));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

test("createCertificate: ECDSA P-256 self-signed, PEM strings, long enough validity", async () => {
  const c = await createCertificate();
  assert.match(c.certPem, /^-----BEGIN CERTIFICATE-----/);
  assert.match(c.keyPem, /^-----BEGIN PRIVATE KEY-----/);
  const x = new X509Certificate(c.certPem);
  assert.equal(x.publicKey.asymmetricKeyType, "ec");
  assert.equal(x.publicKey.asymmetricKeyDetails?.namedCurve, "prime256v1");
  assert.ok(x.verify(x.publicKey), "self-signed");
  assert.ok(c.notAfter.getTime() > Date.now() + 300 * 24 * 3600 * 1000);
  assert.deepEqual(c.der, Buffer.from(x.raw));
});

test("fingerprint: uppercase colon-separated hex of the DER, per hash", async () => {
  const c = await createCertificate();
  const fp = fingerprint(c);
  assert.match(fp, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
  assert.equal(fp, new X509Certificate(c.certPem).fingerprint256, "node agrees for sha-256");
  assert.equal(fingerprint(c, "sha-1"), new X509Certificate(c.certPem).fingerprint);
  assert.match(fingerprint(c, "sha-384"), /^([0-9A-F]{2}:){47}[0-9A-F]{2}$/);
  assert.match(fingerprint(c, "sha-512"), /^([0-9A-F]{2}:){63}[0-9A-F]{2}$/);
  assert.equal(fingerprint(c.der, "sha-256"), fp, "a bare DER buffer works too");
});

test("matchesFingerprint: case-insensitive names and hex, colons optional; wrong or weak never match", async () => {
  const c = await createCertificate();
  const other = await createCertificate();
  const fp = fingerprint(c);
  const cases: Array<[string, { hash: string; value: string }, boolean]> = [
    ["as signalled", { hash: "sha-256", value: fp }, true],
    ["upper-case hash name", { hash: "SHA-256", value: fp }, true],
    ["lower-case hex", { hash: "sha-256", value: fp.toLowerCase() }, true],
    ["no colons, surrounding whitespace", { hash: " sha-256 ", value: ` ${fp.replace(/:/g, "")}\n` }, true],
    ["sha-1", { hash: "sha-1", value: fingerprint(c, "sha-1") }, true],
    ["sha-384", { hash: "sha-384", value: fingerprint(c, "sha-384") }, true],
    ["sha-512", { hash: "sha-512", value: fingerprint(c, "sha-512") }, true],
    ["another certificate", { hash: "sha-256", value: fingerprint(other) }, false],
    ["right value, wrong hash name", { hash: "sha-384", value: fp }, false],
    ["md5 is not accepted", { hash: "md5", value: createHash("md5").update(c.der).digest("hex") }, false],
    ["unknown hash", { hash: "sha3-256", value: fp }, false],
    ["empty value", { hash: "sha-256", value: "" }, false],
    ["truncated", { hash: "sha-256", value: fp.slice(0, -3) }, false],
  ];
  for (const [name, remote, want] of cases) assert.equal(matchesFingerprint(c.der, remote), want, name);
});

test("parseCertificate refuses a key that is not the certificate's", async () => {
  const a = await createCertificate();
  const b = await createCertificate();
  assert.throws(() => parseCertificate(a.certPem, b.keyPem), /does not match/);
  assert.throws(() => parseCertificate("not a certificate", a.keyPem));
});

test("loadOrCreateCertificate: created 0600 in a 0700 dir, same fingerprint on the next load", async () => {
  const dir = join(tempDir(), "data", "dtls"); // missing parents are created
  const first = await loadOrCreateCertificate(dir);
  assert.equal(statSync(join(dir, CERT_FILE)).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, KEY_FILE)).mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const second = await loadOrCreateCertificate(dir);
  assert.equal(fingerprint(second), fingerprint(first));
  assert.equal(second.keyPem, first.keyPem);
});

test("loadOrCreateCertificate: tightens loosened modes, keeps the certificate", async () => {
  const dir = tempDir();
  const first = await loadOrCreateCertificate(dir);
  chmodSync(join(dir, KEY_FILE), 0o644);
  const again = await loadOrCreateCertificate(dir);
  assert.equal(fingerprint(again), fingerprint(first));
  assert.equal(statSync(join(dir, KEY_FILE)).mode & 0o777, 0o600);
});

test("loadOrCreateCertificate: a corrupt or mismatched pair is replaced", async () => {
  const dir = tempDir();
  const first = await loadOrCreateCertificate(dir);
  writeFileSync(join(dir, KEY_FILE), (await createCertificate()).keyPem);
  const replaced = await loadOrCreateCertificate(dir);
  assert.notEqual(fingerprint(replaced), fingerprint(first));
  assert.equal(fingerprint(await loadOrCreateCertificate(dir)), fingerprint(replaced), "and the replacement is kept");
  writeFileSync(join(dir, CERT_FILE), "garbage");
  const again = await loadOrCreateCertificate(dir);
  assert.notEqual(fingerprint(again), fingerprint(replaced));
  assert.equal(statSync(join(dir, CERT_FILE)).mode & 0o777, 0o600);
});
