// HMAC-SHA1 for SRTP (src/rtp/srtp/hmac-sha1.ts): RFC 2202's test cases,
// and node:crypto's createHmac on random keys (short and longer than a
// block) and every message length across the padding boundaries, written
// at an offset, truncated as SRTP truncates it, and in place over the
// message's own end (as protectRtp writes the tag over the ROC).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { HmacSha1 } from "../../src/rtp/srtp/hmac-sha1.js";

const mac = (key: Buffer, data: Buffer): string => {
  const out = Buffer.alloc(20);
  new HmacSha1(key).sign(data, data.length, out, 0, 20);
  return out.toString("hex");
};

test("RFC 2202 §3 test cases", () => {
  assert.equal(mac(Buffer.alloc(20, 0x0b), Buffer.from("Hi There")), "b617318655057264e28bc0b6fb378c8ef146be00");
  assert.equal(mac(Buffer.from("Jefe"), Buffer.from("what do ya want for nothing?")), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
  assert.equal(mac(Buffer.alloc(20, 0xaa), Buffer.alloc(50, 0xdd)), "125d7342b9ac11cd91a39af48aa17b4f63f175d3");
  assert.equal(mac(Buffer.alloc(80, 0xaa), Buffer.from("Test Using Larger Than Block-Size Key - Hash Key First")), "aa4ae5e15272d00e95705637ce8a3b55ed402112");
  assert.equal(mac(Buffer.alloc(80, 0xaa), Buffer.from("Test Using Larger Than Block-Size Key and Larger Than One Block-Size Data")), "e8e99d0f45237d786d6bbaa7965c7808bbff1a91");
});

test("the same as node:crypto for every length up to 300 octets, keys of 20 and 100 octets, one object reused", () => {
  for (const keyLength of [20, 100]) {
    const key = randomBytes(keyLength);
    const h = new HmacSha1(key);
    for (let len = 0; len <= 300; len++) {
      const data = randomBytes(len + 7);
      const want = createHmac("sha1", key).update(data.subarray(0, len)).digest();
      const out = Buffer.alloc(26, 0xee);
      h.sign(data, len, out, 3, 20);
      assert.deepEqual(out.subarray(3, 23), want, `length ${len}, key ${keyLength}`);
      assert.deepEqual([...out.subarray(0, 3), ...out.subarray(23)], [0xee, 0xee, 0xee, 0xee, 0xee, 0xee], "nothing written outside the tag");
    }
  }
});

test("a truncated tag written over the message's own last octets is the MAC of the message before it", () => {
  const key = randomBytes(20);
  // As protectRtp: the MAC covers 200 octets (the last 4 the ROC) and the 10-octet tag replaces those 4 and follows them.
  const packet = randomBytes(206);
  const want = createHmac("sha1", key).update(packet.subarray(0, 200)).digest().subarray(0, 10);
  new HmacSha1(key).sign(packet, 200, packet, 196, 10);
  assert.deepEqual(packet.subarray(196, 206), want);
});
