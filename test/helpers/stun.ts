// STUN messages (RFC 5389) built and read byte by byte for the adversarial
// ICE tests: an attacker's Binding requests and responses, with whatever
// credentials it has or guesses. Independent of the ICE library under test.
// No test-framework imports.
import { createHmac, randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";

export const STUN = {
  bindingRequest: 0x0001,
  bindingSuccess: 0x0101,
  bindingError: 0x0111,
  username: 0x0006,
  messageIntegrity: 0x0008,
  xorMappedAddress: 0x0020,
  priority: 0x0024,
  useCandidate: 0x0025,
  fingerprint: 0x8028,
  iceControlled: 0x8029,
  iceControlling: 0x802a,
  xorPeerAddress: 0x0012,
  data: 0x0013,
  dataIndication: 0x0017,
  magicCookie: 0x2112a442,
} as const;

function attr(type: number, value: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(value.length, 2);
  return Buffer.concat([h, value, Buffer.alloc((4 - (value.length % 4)) % 4)]);
}

function header(type: number, bodyLength: number, tid: Buffer): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(bodyLength, 2);
  h.writeUInt32BE(STUN.magicCookie, 4);
  tid.copy(h, 8);
  return h;
}

/** Appends MESSAGE-INTEGRITY (HMAC-SHA1 with `key`, RFC 5389 §15.4) and FINGERPRINT (§15.5) to a body. */
function sign(type: number, tid: Buffer, body: Buffer, key: Buffer | undefined): Buffer {
  if (key) {
    const mi = createHmac("sha1", key).update(Buffer.concat([header(type, body.length + 24, tid), body])).digest();
    body = Buffer.concat([body, attr(STUN.messageIntegrity, mi)]);
  }
  const fp = Buffer.alloc(4);
  fp.writeUInt32BE((crc32(Buffer.concat([header(type, body.length + 8, tid), body])) ^ 0x5354554e) >>> 0);
  body = Buffer.concat([body, attr(STUN.fingerprint, fp)]);
  return Buffer.concat([header(type, body.length, tid), body]);
}

export interface RequestOptions {
  /** USERNAME ("their ufrag:our ufrag" from the sender's point of view). */
  username: string;
  /** MESSAGE-INTEGRITY key (the receiver's password, or a guess); none: no MESSAGE-INTEGRITY. */
  key?: Buffer;
  role?: "controlling" | "controlled";
  tieBreaker?: bigint;
  useCandidate?: boolean;
  priority?: number;
  tid?: Buffer;
}

/** A Binding request as an ICE agent sends it (RFC 8445 §7.1.1). */
export function bindingRequest(o: RequestOptions): Buffer {
  const tid = o.tid ?? randomBytes(12);
  const prio = Buffer.alloc(4);
  prio.writeUInt32BE(o.priority ?? 1853824767);
  const tie = Buffer.alloc(8);
  tie.writeBigUInt64BE(o.tieBreaker ?? randomBytes(8).readBigUInt64BE(0));
  const parts = [attr(STUN.username, Buffer.from(o.username)), attr(STUN.priority, prio), attr(o.role === "controlled" ? STUN.iceControlled : STUN.iceControlling, tie)];
  if (o.useCandidate) parts.push(attr(STUN.useCandidate, Buffer.alloc(0)));
  return sign(STUN.bindingRequest, tid, Buffer.concat(parts), o.key);
}

/** An XOR-MAPPED-ADDRESS / XOR-PEER-ADDRESS value for an IPv4 address (RFC 5389 §15.2). */
function xorAddress(addr: { address: string; port: number }): Buffer {
  const v = Buffer.alloc(8);
  v.writeUInt8(0x01, 1);
  v.writeUInt16BE(addr.port ^ (STUN.magicCookie >>> 16), 2);
  const ip = addr.address.split(".").map(Number);
  v.writeUInt32BE((((ip[0]! << 24) | (ip[1]! << 16) | (ip[2]! << 8) | ip[3]!) ^ STUN.magicCookie) >>> 0, 4);
  return v;
}

/** A Binding success response to `tid` naming `addr` (IPv4) in XOR-MAPPED-ADDRESS, signed with `key`. */
export function bindingSuccess(tid: Buffer, addr: { address: string; port: number }, key: Buffer): Buffer {
  return sign(STUN.bindingSuccess, tid, attr(STUN.xorMappedAddress, xorAddress(addr)), key);
}

/** A TURN Data indication (RFC 8656 §11.4) claiming `data` came from `peer`, as a TURN server sends it (unsigned). */
export function dataIndication(peer: { address: string; port: number }, data: Buffer): Buffer {
  const body = Buffer.concat([attr(STUN.xorPeerAddress, xorAddress(peer)), attr(STUN.data, data)]);
  return Buffer.concat([header(STUN.dataIndication, body.length, randomBytes(12)), body]);
}

/** A TURN ChannelData message (RFC 8656 §12.4) on `channel` (0x4000–0x4FFF), padded to 4 bytes as over UDP. */
export function channelData(channel: number, data: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(channel, 0);
  h.writeUInt16BE(data.length, 2);
  return Buffer.concat([h, data, Buffer.alloc((4 - (data.length % 4)) % 4)]);
}

/** Message type and transaction id of a STUN message; undefined for anything else (RFC 7983: first byte 0–3, magic cookie). */
export function readStun(d: Buffer): { type: number; tid: Buffer } | undefined {
  if (d.length < 20 || d[0]! > 3 || d.readUInt32BE(4) !== STUN.magicCookie) return undefined;
  return { type: d.readUInt16BE(0), tid: d.subarray(8, 20) };
}
