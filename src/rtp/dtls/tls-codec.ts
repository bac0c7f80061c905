// The TLS presentation language on the wire (RFC 5246 §4): big-endian
// integers of 1, 2 or 3 octets (6 for DTLS sequence numbers) and vectors with a 1-, 2- or 3-octet
// length prefix. A reader that throws TlsDecodeError on any overrun, so a
// parser is a straight line of reads inside one try.

export class TlsDecodeError extends Error {}

export class TlsReader {
  readonly #b: Buffer;
  #at = 0;

  constructor(b: Buffer) {
    this.#b = b;
  }

  get remaining(): number {
    return this.#b.length - this.#at;
  }

  #take(n: number): number {
    if (n < 0 || this.#at + n > this.#b.length) throw new TlsDecodeError(`needs ${n} octets at ${this.#at}, has ${this.remaining}`);
    const at = this.#at;
    this.#at += n;
    return at;
  }

  u8(): number {
    return this.#b[this.#take(1)]!;
  }

  u16(): number {
    return this.#b.readUInt16BE(this.#take(2));
  }

  u24(): number {
    return this.#b.readUIntBE(this.#take(3), 3);
  }

  bytes(n: number): Buffer {
    const at = this.#take(n);
    return this.#b.subarray(at, at + n);
  }

  vec8(): Buffer {
    return this.bytes(this.u8());
  }

  vec16(): Buffer {
    return this.bytes(this.u16());
  }

  vec24(): Buffer {
    return this.bytes(this.u24());
  }

  /** Throws unless everything was read (RFC 5246 §7.4: no trailing octets). */
  end(): void {
    if (this.remaining !== 0) throw new TlsDecodeError(`${this.remaining} octets left over`);
  }
}

export const u8 = (v: number): Buffer => Buffer.from([v & 0xff]);
export const u16 = (v: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
export const u24 = (v: number): Buffer => {
  const b = Buffer.alloc(3);
  b.writeUIntBE(v, 0, 3);
  return b;
};
export const u48 = (v: number): Buffer => {
  const b = Buffer.alloc(6);
  b.writeUIntBE(v, 0, 6);
  return b;
};
export const vec8 = (b: Buffer): Buffer => Buffer.concat([u8(b.length), b]);
export const vec16 = (b: Buffer): Buffer => Buffer.concat([u16(b.length), b]);
export const vec24 = (b: Buffer): Buffer => Buffer.concat([u24(b.length), b]);

/** A list of 16-bit values as a vector with a 16-bit length (cipher suites, groups, schemes). */
export const u16List = (values: readonly number[]): Buffer => vec16(Buffer.concat(values.map(u16)));

export function readU16List(b: Buffer): number[] {
  if (b.length % 2) throw new TlsDecodeError("odd length for a list of 16-bit values");
  const out: number[] = [];
  for (let i = 0; i < b.length; i += 2) out.push(b.readUInt16BE(i));
  return out;
}
