// The DTLS 1.2 record layer (RFC 6347 §4.1): records in a datagram, epochs
// and 48-bit sequence numbers, AES-GCM protection (RFC 5288 §3 with the
// DTLS sequence number of RFC 6347 §4.1.2.1), the anti-replay window of
// §4.1.2.6, and packing a flight's records into datagrams (§4.1.1.1: several
// records per datagram, a handshake message fragmented across records when
// it does not fit, §4.2.3).
//
//   record: type(1) version(2) epoch(2) sequence_number(6) length(2) fragment
//   GCM fragment: nonce_explicit(8) ciphertext tag(16)
//   nonce = fixed_iv(4, from the key block) || nonce_explicit
//   additional_data = epoch || sequence_number || type || version || plaintext length
import { createCipheriv, createDecipheriv } from "node:crypto";
import { ReplayWindow } from "../srtp/replay-window.js";
import { u16, u48 } from "./tls-codec.js";
import { encodeFragment, HANDSHAKE_HEADER, type HandshakeMessage } from "./handshake-messages.js";

/** TLS content types (RFC 5246 §6.2.1). */
export const ContentType = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;

export const RECORD_HEADER = 13;
/** DTLS 1.0 on the wire (0xfeff): the record version of a ClientHello before a version is agreed. */
export const DTLS_1_0 = 0xfeff;
/** DTLS 1.2 (0xfefd), the version we speak. */
export const DTLS_1_2 = 0xfefd;
const EXPLICIT_NONCE = 8;
const TAG = 16;
/** Expansion of a protected record: explicit nonce and tag. */
export const GCM_OVERHEAD = EXPLICIT_NONCE + TAG;
const MAX_SEQUENCE = 2 ** 48 - 1;

export interface DtlsRecord {
  type: number;
  version: number;
  epoch: number;
  seq: number;
  body: Buffer;
}

/**
 * The records of a datagram. RFC 6347 §4.1.2.7: a malformed record is
 * dropped, and with it the rest of the datagram (its boundaries are lost).
 */
export function parseRecords(datagram: Buffer): DtlsRecord[] {
  const out: DtlsRecord[] = [];
  for (let at = 0; at + RECORD_HEADER <= datagram.length; ) {
    const type = datagram[at]!;
    const version = datagram.readUInt16BE(at + 1);
    const len = datagram.readUInt16BE(at + 11);
    const end = at + RECORD_HEADER + len;
    if (type < ContentType.changeCipherSpec || type > 63 || version >> 8 !== 0xfe || end > datagram.length) break;
    out.push({ type, version, epoch: datagram.readUInt16BE(at + 3), seq: datagram.readUIntBE(at + 5, 6), body: datagram.subarray(at + RECORD_HEADER, end) });
    at = end;
  }
  return out;
}

export function encodeRecord(r: DtlsRecord): Buffer {
  return Buffer.concat([Buffer.from([r.type]), u16(r.version), u16(r.epoch), u48(r.seq), u16(r.body.length), r.body]);
}

/** One direction's AES-128-GCM state of an epoch (RFC 5288). */
export interface GcmKeys {
  key: Buffer;
  /** The 4-octet implicit part of the nonce (client_write_IV / server_write_IV). */
  iv: Buffer;
}

function header(type: number, version: number, epoch: number, seq: number, length: number): Buffer {
  return Buffer.concat([u16(epoch), u48(seq), Buffer.from([type]), u16(version), u16(length)]);
}

export function sealRecord(keys: GcmKeys, r: DtlsRecord): Buffer {
  const explicit = Buffer.concat([u16(r.epoch), u48(r.seq)]);
  const c = createCipheriv("aes-128-gcm", keys.key, Buffer.concat([keys.iv, explicit]));
  c.setAAD(header(r.type, r.version, r.epoch, r.seq, r.body.length));
  const ct = Buffer.concat([c.update(r.body), c.final()]);
  return Buffer.concat([explicit, ct, c.getAuthTag()]);
}

/** The plaintext of a protected record, or undefined when it does not authenticate. */
export function openRecord(keys: GcmKeys, r: DtlsRecord): Buffer | undefined {
  if (r.body.length < GCM_OVERHEAD) return undefined;
  const explicit = r.body.subarray(0, EXPLICIT_NONCE);
  const ct = r.body.subarray(EXPLICIT_NONCE, r.body.length - TAG);
  try {
    const d = createDecipheriv("aes-128-gcm", keys.key, Buffer.concat([keys.iv, explicit]));
    d.setAAD(header(r.type, r.version, r.epoch, r.seq, ct.length));
    d.setAuthTag(r.body.subarray(r.body.length - TAG));
    return Buffer.concat([d.update(ct), d.final()]);
  } catch {
    return undefined;
  }
}

/**
 * What we write: the epoch, its next sequence number, and its keys from
 * epoch 1 on. Every record gets a fresh sequence number, retransmissions
 * included (RFC 6347 §4.1).
 */
export class RecordWriter {
  #epoch = 0;
  #seq = 0;
  #keys: GcmKeys | undefined;
  /** Record version before the peer agreed on one (a client's hellos say DTLS 1.0, as OpenSSL and BoringSSL do). */
  version = DTLS_1_2;
  /** Epoch-0 sequence numbers go on after a switch (a retransmitted epoch-0 flight needs fresh ones). */
  #epoch0Seq = 0;

  get epoch(): number {
    return this.#epoch;
  }

  /** Starts writing epoch 1 under these keys (after our ChangeCipherSpec). */
  setEpoch1(keys: GcmKeys): void {
    if (this.#epoch === 0) this.#epoch0Seq = this.#seq;
    this.#epoch = 1;
    this.#seq = 0;
    this.#keys = keys;
  }

  #next(epoch: number): number {
    if (epoch === 0 && this.#epoch === 1) {
      if (this.#epoch0Seq >= MAX_SEQUENCE) throw new Error("DTLS epoch 0 sequence numbers exhausted");
      return this.#epoch0Seq++;
    }
    if (this.#seq >= MAX_SEQUENCE) throw new Error("DTLS sequence numbers exhausted");
    return this.#seq++;
  }

  /** One record of `epoch` (0, or 1 once keys are set). */
  record(type: number, body: Buffer, epoch = this.#epoch): Buffer {
    const seq = this.#next(epoch);
    const r: DtlsRecord = { type, version: this.version, epoch, seq, body };
    if (epoch === 0) return encodeRecord(r);
    if (!this.#keys) throw new Error("no keys for epoch 1");
    return encodeRecord({ ...r, body: sealRecord(this.#keys, r) });
  }
}

/** Epoch-1 reading: keys plus the anti-replay window (RFC 6347 §4.1.2.6). */
export class RecordReader {
  readonly #keys: GcmKeys;
  readonly #replay = new ReplayWindow();

  constructor(keys: GcmKeys) {
    this.#keys = keys;
  }

  /** The plaintext, or undefined (seen before, or not authentic: dropped silently, §4.1.2.7). */
  open(r: DtlsRecord): Buffer | undefined {
    if (!this.#replay.check(r.seq)) return undefined;
    const plain = openRecord(this.#keys, r);
    if (plain) this.#replay.accept(r.seq);
    return plain;
  }
}

/** A piece of an outgoing flight: a handshake message in its epoch, or ChangeCipherSpec. */
export type FlightItem = { kind: "handshake"; message: HandshakeMessage; epoch: 0 | 1 } | { kind: "ccs" };

/**
 * The flight as datagrams of at most `mtu` octets: records packed in order,
 * a message cut into fragments when it does not fit what is left
 * (RFC 6347 §4.2.3). Called again for every retransmission: fresh sequence
 * numbers, the same messages.
 */
export function packFlight(items: readonly FlightItem[], writer: RecordWriter, mtu: number): Buffer[] {
  const datagrams: Buffer[] = [];
  let current: Buffer[] = [];
  let size = 0;
  const flush = () => {
    if (current.length) datagrams.push(Buffer.concat(current));
    current = [];
    size = 0;
  };
  const add = (record: Buffer) => {
    if (size + record.length > mtu) flush();
    current.push(record);
    size += record.length;
  };
  for (const item of items) {
    if (item.kind === "ccs") {
      add(writer.record(ContentType.changeCipherSpec, Buffer.from([1]), 0));
      continue;
    }
    const { message: m, epoch } = item;
    const overhead = RECORD_HEADER + HANDSHAKE_HEADER + (epoch === 1 ? GCM_OVERHEAD : 0);
    for (let offset = 0; offset < m.body.length || offset === 0; ) {
      let room = mtu - size - overhead;
      if (room < Math.min(64, m.body.length - offset)) {
        flush();
        room = mtu - overhead;
      }
      const len = Math.max(0, Math.min(room, m.body.length - offset));
      add(writer.record(ContentType.handshake, encodeFragment(m.type, m.body.length, m.seq, offset, m.body.subarray(offset, offset + len)), epoch));
      offset += len;
      if (len === 0) break; // an empty message (ServerHelloDone) is one fragment
    }
  }
  flush();
  return datagrams;
}
