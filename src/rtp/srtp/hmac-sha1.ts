// HMAC-SHA1 (RFC 2104, SHA-1 of FIPS 180-4 §6.1) for SRTP's per-packet
// authentication tag (RFC 3711 §4.2.1), with the key's inner and outer
// states computed once per session key instead of once per packet.
//
// Why not node:crypto: Node 20 has no reusable HMAC context, and
// createHmac() does per packet what a key needs once (a KeyObject, the
// digest looked up by name in OpenSSL's tables under a lock, an EVP_MAC
// context, a JavaScript stream object). On a media thread that wakes every
// 10-20 ms those caches are cold every time: measured 64-100 µs per
// createHmac().update().digest() at one call per 10 ms against 4 µs in a
// tight loop (docs/performance.md, "The send path"). Here a packet's tag is
// a few dozen lines of integer arithmetic on preallocated state.
//
// Correctness: test/unit/hmac-sha1.test.ts checks RFC 2202's HMAC-SHA1
// vectors and node:crypto on random keys and lengths; the SRTP tests check
// RFC 3711's vectors through it. SHA-1 has no data-dependent branches or
// table look-ups, so the time it takes depends on the length alone; tags
// are still compared with timingSafeEqual by the caller.
import { createHash } from "node:crypto";

const BLOCK = 64;
const W = new Int32Array(80);

/** SHA-1's compression function on the 64-octet block of `b` at `o`, into `h` (5 words). */
function compress(h: Int32Array, b: Uint8Array, o: number): void {
  for (let i = 0; i < 16; i++, o += 4) W[i] = (b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!;
  for (let i = 16; i < 80; i++) {
    const x = W[i - 3]! ^ W[i - 8]! ^ W[i - 14]! ^ W[i - 16]!;
    W[i] = (x << 1) | (x >>> 31);
  }
  let a = h[0]!;
  let b1 = h[1]!;
  let c = h[2]!;
  let d = h[3]!;
  let e = h[4]!;
  for (let i = 0; i < 80; i++) {
    let f: number;
    let k: number;
    if (i < 20) {
      f = (b1 & c) | (~b1 & d);
      k = 0x5a827999;
    } else if (i < 40) {
      f = b1 ^ c ^ d;
      k = 0x6ed9eba1;
    } else if (i < 60) {
      f = (b1 & c) | (b1 & d) | (c & d);
      k = 0x8f1bbcdc | 0;
    } else {
      f = b1 ^ c ^ d;
      k = 0xca62c1d6 | 0;
    }
    const t = (((a << 5) | (a >>> 27)) + f + e + k + W[i]!) | 0;
    e = d;
    d = c;
    c = (b1 << 30) | (b1 >>> 2);
    b1 = a;
    a = t;
  }
  h[0] = (h[0]! + a) | 0;
  h[1] = (h[1]! + b1) | 0;
  h[2] = (h[2]! + c) | 0;
  h[3] = (h[3]! + d) | 0;
  h[4] = (h[4]! + e) | 0;
}

const INITIAL = Int32Array.of(0x67452301, 0xefcdab89 | 0, 0x98badcfe | 0, 0x10325476, 0xc3d2e1f0 | 0);

/** The state after one block of key ^ pad (RFC 2104 §2: K XOR ipad, K XOR opad). */
function keyedState(key: Uint8Array, pad: number): Int32Array {
  const block = new Uint8Array(BLOCK).fill(pad);
  for (let i = 0; i < key.length; i++) block[i]! ^= key[i]!;
  const h = Int32Array.from(INITIAL);
  compress(h, block, 0);
  return h;
}

export class HmacSha1 {
  readonly #inner: Int32Array;
  readonly #outer: Int32Array;
  readonly #h = new Int32Array(5);
  /** The message's last block or two, padded (FIPS 180-4 §5.1.1). */
  readonly #tail = new Uint8Array(2 * BLOCK);

  constructor(key: Uint8Array) {
    // RFC 2104 §2: a key longer than the block is hashed first.
    const k = key.length > BLOCK ? createHash("sha1").update(key).digest() : key;
    this.#inner = keyedState(k, 0x36);
    this.#outer = keyedState(k, 0x5c);
  }

  /** Writes the first `n` (≤ 20) octets of HMAC-SHA1(key, data[0, len)) to `out` at `at`. */
  sign(data: Uint8Array, len: number, out: Uint8Array, at: number, n: number): void {
    const h = this.#h;
    h.set(this.#inner);
    let off = 0;
    for (; off + BLOCK <= len; off += BLOCK) compress(h, data, off);
    this.#finish(h, data, off, len, BLOCK + len);
    // The outer hash: its key block, then the inner digest (20 octets) padded into one block.
    const t = this.#tail;
    for (let i = 0; i < 5; i++) {
      const v = h[i]!;
      t[4 * i] = v >>> 24;
      t[4 * i + 1] = v >>> 16;
      t[4 * i + 2] = v >>> 8;
      t[4 * i + 3] = v;
    }
    h.set(this.#outer);
    this.#finish(h, t, 0, 20, BLOCK + 20);
    for (let i = 0; i < n; i++) out[at + i] = h[i >> 2]! >>> (24 - 8 * (i & 3));
  }

  /** Hashes data[off, len) (less than a block) with the padding for a message of `total` octets. */
  #finish(h: Int32Array, data: Uint8Array, off: number, len: number, total: number): void {
    const t = this.#tail;
    const rest = len - off;
    if (data !== t) t.set(data.subarray(off, len), 0);
    t.fill(0, rest, 2 * BLOCK);
    t[rest] = 0x80;
    const end = rest + 9 <= BLOCK ? BLOCK : 2 * BLOCK;
    // The length in bits, 64 bits big-endian (messages here are far below 2^32 bits).
    const bits = total * 8;
    t[end - 5] = bits / 2 ** 32;
    t[end - 4] = bits >>> 24;
    t[end - 3] = bits >>> 16;
    t[end - 2] = bits >>> 8;
    t[end - 1] = bits;
    compress(h, t, 0);
    if (end > BLOCK) compress(h, t, BLOCK);
  }
}
