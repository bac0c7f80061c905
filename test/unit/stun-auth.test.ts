// ICE short-term credentials and the verification of incoming checks
// (src/ice/stun-auth.ts) on the RFC 5769 §2.1 sample request and on
// variations of a check built byte by byte (test/helpers/stun.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { crc32 } from "node:zlib";
import { CHECK_REJECTIONS, newLocalCredentials, verifyCheck } from "../../src/ice/stun-auth.js";
import { bindingRequest } from "../helpers/stun.js";

// RFC 5769 §2.1 "Sample Request": USERNAME "evtj:h6vY", password "VOkJxbRl1RmTxUk/WvJxBt",
// SOFTWARE, PRIORITY, ICE-CONTROLLED, MESSAGE-INTEGRITY, FINGERPRINT (padding with spaces, as printed).
const RFC5769_REQUEST = Buffer.from(
  "000100582112a442b7e7a701bc34d686fa87dfae" +
    "80220010" + "5354554e207465737420636c69656e74" +
    "002400046e0001ff" +
    "80290008932ff9b151263b36" +
    "00060009" + "6576746a3a68367659202020" +
    "00080014" + "9aeaa70cbfd8cb56781ef2b5b2d3f249c1b571a2" +
    "80280004e57a3bcf",
  "hex",
);
const RFC5769 = { ufrag: "evtj", pwd: "VOkJxbRl1RmTxUk/WvJxBt" };

test("RFC 5769 §2.1 sample request: verified with its password, refused with any other", () => {
  assert.equal(RFC5769_REQUEST.length, 108);
  assert.deepEqual(verifyCheck(RFC5769_REQUEST, RFC5769, "h6vY"), { ok: true });
  assert.deepEqual(verifyCheck(RFC5769_REQUEST, RFC5769), { ok: true }, "the remote ufrag is checked only when given");
  assert.deepEqual(verifyCheck(RFC5769_REQUEST, { ...RFC5769, pwd: "VOkJxbRl1RmTxUk/WvJxBx" }, "h6vY"), { ok: false, reason: CHECK_REJECTIONS.badIntegrity });
  assert.deepEqual(verifyCheck(RFC5769_REQUEST, { ...RFC5769, ufrag: "evtk" }, "h6vY"), { ok: false, reason: CHECK_REJECTIONS.unknownUfrag });
  assert.deepEqual(verifyCheck(RFC5769_REQUEST, RFC5769, "other"), { ok: false, reason: CHECK_REJECTIONS.wrongRemoteUfrag });
  // One bit flipped anywhere: refused (the CRC or the HMAC or the structure catches it).
  for (let i = 0; i < RFC5769_REQUEST.length; i++) {
    const b = Buffer.from(RFC5769_REQUEST);
    b[i]! ^= 0x01;
    assert.equal(verifyCheck(b, RFC5769, "h6vY").ok, false, `bit flipped in byte ${i}`);
  }
});

const local = { ufrag: "aB3d+/x9", pwd: "0123456789abcdefghijklmn" };
const check = (o: Partial<Parameters<typeof bindingRequest>[0]> = {}) => bindingRequest({ username: `${local.ufrag}:peer`, key: Buffer.from(local.pwd), ...o });

test("a check is refused for each missing or wrong part, named by the reason", () => {
  const cases: [string, Buffer, string][] = [
    ["a genuine check", check(), "ok"],
    ["signed with another password", check({ key: Buffer.from("not-the-password-at-all!") }), CHECK_REJECTIONS.badIntegrity],
    ["without MESSAGE-INTEGRITY", check({ key: undefined }), CHECK_REJECTIONS.noIntegrity],
    ["another ufrag", check({ username: "zzzz:peer" }), CHECK_REJECTIONS.unknownUfrag],
    ["our ufrag without the colon", check({ username: local.ufrag }), CHECK_REJECTIONS.unknownUfrag],
    ["our ufrag as a prefix of a longer one", check({ username: `${local.ufrag}X:peer` }), CHECK_REJECTIONS.unknownUfrag],
    ["another peer ufrag", check({ username: `${local.ufrag}:other` }), CHECK_REJECTIONS.wrongRemoteUfrag],
  ];
  for (const [name, msg, want] of cases) {
    const v = verifyCheck(msg, local, "peer");
    assert.equal(v.ok ? "ok" : v.reason, want, name);
  }
});

test("nothing but FINGERPRINT after MESSAGE-INTEGRITY; FINGERPRINT last and right; structure and type checked", () => {
  const genuine = check({ useCandidate: false });
  // Append USE-CANDIDATE after MESSAGE-INTEGRITY and recompute FINGERPRINT (what an on-path attacker can do).
  const miEnd = genuine.length - 8;
  const withUse = Buffer.concat([genuine.subarray(0, miEnd), Buffer.from("00250000", "hex")]);
  withUse.writeUInt16BE(withUse.length - 20 + 8, 2);
  const fp = Buffer.alloc(8);
  fp.writeUInt32BE(0x80280004, 0);
  fp.writeUInt32BE((crc32(withUse) ^ 0x5354554e) >>> 0, 4);
  assert.deepEqual(verifyCheck(Buffer.concat([withUse, fp]), local, "peer"), { ok: false, reason: CHECK_REJECTIONS.malformed });
  // No FINGERPRINT.
  const noFp = Buffer.from(genuine.subarray(0, miEnd));
  noFp.writeUInt16BE(noFp.length - 20, 2);
  assert.deepEqual(verifyCheck(noFp, local, "peer"), { ok: false, reason: CHECK_REJECTIONS.noFingerprint });
  // A wrong CRC.
  const badFp = Buffer.from(genuine);
  badFp.writeUInt32BE((badFp.readUInt32BE(badFp.length - 4) ^ 1) >>> 0, badFp.length - 4);
  assert.deepEqual(verifyCheck(badFp, local, "peer"), { ok: false, reason: CHECK_REJECTIONS.badFingerprint });
  // Header length not the datagram's, truncated, a response instead of a request, not STUN at all.
  const longer = Buffer.concat([genuine, Buffer.alloc(4)]);
  assert.deepEqual(verifyCheck(longer, local, "peer"), { ok: false, reason: CHECK_REJECTIONS.malformed });
  assert.deepEqual(verifyCheck(genuine.subarray(0, 30), local, "peer"), { ok: false, reason: CHECK_REJECTIONS.malformed });
  const response = Buffer.from(genuine);
  response.writeUInt16BE(0x0101, 0);
  assert.deepEqual(verifyCheck(response, local, "peer"), { ok: false, reason: CHECK_REJECTIONS.notBindingRequest });
  assert.deepEqual(verifyCheck(Buffer.from([0x80, 0, 0, 1]), local, "peer"), { ok: false, reason: CHECK_REJECTIONS.notBindingRequest });
});

test("our credentials: RFC 8445 §5.3 lengths from a CSPRNG, in ice-chars", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const c = newLocalCredentials();
    // ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839 §5.4); 6 random bytes = 48 bits of ufrag, 18 = 144 bits of password.
    assert.match(c.ufrag, /^[A-Za-z0-9+/]{8}$/);
    assert.match(c.pwd, /^[A-Za-z0-9+/]{24}$/);
    seen.add(c.ufrag);
  }
  assert.equal(seen.size, 1000, "no ufrag twice in 1000");
});
