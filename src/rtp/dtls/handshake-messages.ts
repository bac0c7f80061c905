// DTLS 1.2 handshake messages (RFC 6347 §4.2.2, §4.3.2; bodies from RFC 5246
// §7.4 and RFC 8422 §5 for ECDHE), and the extensions a DTLS-SRTP handshake
// uses: use_srtp (RFC 5764 §4.1.1), extended_master_secret (RFC 7627),
// renegotiation_info (RFC 5746), supported_groups and ec_point_formats
// (RFC 8422), signature_algorithms (RFC 5246 §7.4.1.4.1, RFC 8446 §4.2.3
// code points), supported_versions (RFC 9147 §5.3; only read, for the log).
//
//   handshake header: msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3)
//
// decode*() throw TlsDecodeError on anything malformed.
import { TlsDecodeError, TlsReader, readU16List, u16, u16List, u24, u8, vec16, vec24, vec8 } from "./tls-codec.js";

export const HandshakeType = {
  helloRequest: 0,
  clientHello: 1,
  serverHello: 2,
  helloVerifyRequest: 3,
  certificate: 11,
  serverKeyExchange: 12,
  certificateRequest: 13,
  serverHelloDone: 14,
  certificateVerify: 15,
  clientKeyExchange: 16,
  finished: 20,
} as const;

export const HANDSHAKE_HEADER = 12;

/** A whole (reassembled) handshake message. */
export interface HandshakeMessage {
  type: number;
  seq: number;
  body: Buffer;
}

/** A reassembled message of the peer and the epoch it came in (0: anyone could have sent it). */
export interface ReceivedMessage extends HandshakeMessage {
  epoch: number;
}

export interface HandshakeFragment {
  type: number;
  /** Length of the whole message. */
  length: number;
  seq: number;
  offset: number;
  body: Buffer;
}

export function encodeFragment(type: number, length: number, seq: number, offset: number, body: Buffer): Buffer {
  return Buffer.concat([u8(type), u24(length), u16(seq), u24(offset), u24(body.length), body]);
}

/** The fragments of one handshake record; throws if one does not lie inside its message and record. */
export function decodeFragments(recordBody: Buffer): HandshakeFragment[] {
  const r = new TlsReader(recordBody);
  const out: HandshakeFragment[] = [];
  while (r.remaining > 0) {
    const type = r.u8();
    const length = r.u24();
    const seq = r.u16();
    const offset = r.u24();
    const body = r.vec24();
    if (offset + body.length > length) throw new TlsDecodeError("fragment beyond its message");
    out.push({ type, length, seq, offset, body });
  }
  return out;
}

/** The message as hashed into the transcript: RFC 6347 §4.2.6, as if sent in one fragment. */
export function transcriptBytes(m: HandshakeMessage): Buffer {
  return encodeFragment(m.type, m.body.length, m.seq, 0, m.body);
}

// ------------------------------------------------------------------ registries

/** Cipher suites (RFC 5289 §3.2); both use the SHA-256 PRF and AES-128-GCM records. */
export const CipherSuite = { ecdheEcdsaAes128Gcm: 0xc02b, ecdheRsaAes128Gcm: 0xc02f } as const;
/** RFC 5746 §3.3: the SCSV a client may send instead of an empty renegotiation_info. */
export const EMPTY_RENEGOTIATION_INFO_SCSV = 0x00ff;

export const ExtensionType = {
  supportedGroups: 10,
  ecPointFormats: 11,
  signatureAlgorithms: 13,
  useSrtp: 14,
  extendedMasterSecret: 23,
  supportedVersions: 43,
  renegotiationInfo: 0xff01,
} as const;

/** Named groups (RFC 8422 §5.1.1, RFC 7748): what we do ECDHE with. */
export const NamedGroup = { secp256r1: 23, x25519: 29 } as const;

/** ClientCertificateType (RFC 5246 §7.4.4, RFC 8422 §5.5). */
export const CertificateType = { rsaSign: 1, ecdsaSign: 64 } as const;

export interface Extension {
  type: number;
  data: Buffer;
}

function encodeExtensions(exts: readonly Extension[]): Buffer {
  if (exts.length === 0) return Buffer.alloc(0);
  return vec16(Buffer.concat(exts.map((e) => Buffer.concat([u16(e.type), vec16(e.data)]))));
}

function decodeExtensions(r: TlsReader): Extension[] {
  if (r.remaining === 0) return [];
  const block = new TlsReader(r.vec16());
  const out: Extension[] = [];
  const seen = new Set<number>();
  while (block.remaining > 0) {
    const type = block.u16();
    if (seen.has(type)) throw new TlsDecodeError(`extension ${type} twice`);
    seen.add(type);
    out.push({ type, data: block.vec16() });
  }
  return out;
}

export function findExtension(exts: readonly Extension[], type: number): Buffer | undefined {
  return exts.find((e) => e.type === type)?.data;
}

// ------------------------------------------------------------------ hellos

export interface ClientHello {
  version: number;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  cipherSuites: number[];
  compressionMethods: number[];
  extensions: Extension[];
}

export function encodeClientHello(m: ClientHello): Buffer {
  return Buffer.concat([
    u16(m.version),
    m.random,
    vec8(m.sessionId),
    vec8(m.cookie),
    u16List(m.cipherSuites),
    vec8(Buffer.from(m.compressionMethods)),
    encodeExtensions(m.extensions),
  ]);
}

export function decodeClientHello(b: Buffer): ClientHello {
  const r = new TlsReader(b);
  const m: ClientHello = {
    version: r.u16(),
    random: r.bytes(32),
    sessionId: r.vec8(),
    cookie: r.vec8(),
    cipherSuites: readU16List(r.vec16()),
    compressionMethods: [...r.vec8()],
    extensions: decodeExtensions(r),
  };
  r.end();
  return m;
}

export interface ServerHello {
  version: number;
  random: Buffer;
  sessionId: Buffer;
  cipherSuite: number;
  compressionMethod: number;
  extensions: Extension[];
}

export function encodeServerHello(m: ServerHello): Buffer {
  return Buffer.concat([u16(m.version), m.random, vec8(m.sessionId), u16(m.cipherSuite), u8(m.compressionMethod), encodeExtensions(m.extensions)]);
}

export function decodeServerHello(b: Buffer): ServerHello {
  const r = new TlsReader(b);
  const m: ServerHello = { version: r.u16(), random: r.bytes(32), sessionId: r.vec8(), cipherSuite: r.u16(), compressionMethod: r.u8(), extensions: decodeExtensions(r) };
  r.end();
  return m;
}

/** RFC 6347 §4.2.1: server_version and cookie. */
export function decodeHelloVerifyRequest(b: Buffer): { version: number; cookie: Buffer } {
  const r = new TlsReader(b);
  const m = { version: r.u16(), cookie: r.vec8() };
  r.end();
  return m;
}

// ------------------------------------------------------------------ certificates and keys

export function encodeCertificate(chain: readonly Buffer[]): Buffer {
  return vec24(Buffer.concat(chain.map(vec24)));
}

export function decodeCertificate(b: Buffer): Buffer[] {
  const r = new TlsReader(b);
  const list = new TlsReader(r.vec24());
  r.end();
  const out: Buffer[] = [];
  while (list.remaining > 0) out.push(list.vec24());
  return out;
}

/** A signature with its scheme (RFC 5246 §4.7 digitally-signed; SignatureScheme code points of RFC 8446 §4.2.3). */
export interface DigitallySigned {
  scheme: number;
  signature: Buffer;
}

/** ServerKeyExchange for ECDHE (RFC 8422 §5.4): ServerECDHParams plus its signature. */
export interface ServerKeyExchange {
  group: number;
  publicKey: Buffer;
  /** curve_type(3 = named_curve) | group | public key: what the signature covers after the randoms. */
  params: Buffer;
  signed: DigitallySigned;
}

export function ecdheParams(group: number, publicKey: Buffer): Buffer {
  return Buffer.concat([u8(3), u16(group), vec8(publicKey)]);
}

export function encodeServerKeyExchange(params: Buffer, signed: DigitallySigned): Buffer {
  return Buffer.concat([params, u16(signed.scheme), vec16(signed.signature)]);
}

export function decodeServerKeyExchange(b: Buffer): ServerKeyExchange {
  const r = new TlsReader(b);
  if (r.u8() !== 3) throw new TlsDecodeError("ServerKeyExchange: not a named curve");
  const group = r.u16();
  const publicKey = r.vec8();
  const params = b.subarray(0, 4 + publicKey.length);
  const signed = { scheme: r.u16(), signature: r.vec16() };
  r.end();
  return { group, publicKey, params, signed };
}

export interface CertificateRequest {
  certificateTypes: number[];
  signatureSchemes: number[];
}

export function encodeCertificateRequest(m: CertificateRequest): Buffer {
  return Buffer.concat([vec8(Buffer.from(m.certificateTypes)), u16List(m.signatureSchemes), vec16(Buffer.alloc(0))]);
}

export function decodeCertificateRequest(b: Buffer): CertificateRequest {
  const r = new TlsReader(b);
  const m = { certificateTypes: [...r.vec8()], signatureSchemes: readU16List(r.vec16()) };
  r.vec16(); // certificate_authorities: a self-signed peer names none we could use
  r.end();
  return m;
}

/** ClientKeyExchange for ECDHE (RFC 8422 §5.7): the client's public key. */
export function encodeClientKeyExchange(publicKey: Buffer): Buffer {
  return vec8(publicKey);
}

export function decodeClientKeyExchange(b: Buffer): Buffer {
  const r = new TlsReader(b);
  const k = r.vec8();
  r.end();
  return k;
}

export function encodeDigitallySigned(s: DigitallySigned): Buffer {
  return Buffer.concat([u16(s.scheme), vec16(s.signature)]);
}

export function decodeDigitallySigned(b: Buffer): DigitallySigned {
  const r = new TlsReader(b);
  const s = { scheme: r.u16(), signature: r.vec16() };
  r.end();
  return s;
}

// ------------------------------------------------------------------ extension bodies

/** use_srtp (RFC 5764 §4.1.1): SRTPProtectionProfiles and an MKI we never use. */
export function encodeUseSrtp(profiles: readonly number[]): Buffer {
  return Buffer.concat([u16List(profiles), vec8(Buffer.alloc(0))]);
}

export function decodeUseSrtp(b: Buffer): { profiles: number[]; mki: Buffer } {
  const r = new TlsReader(b);
  const m = { profiles: readU16List(r.vec16()), mki: r.vec8() };
  r.end();
  return m;
}

/** supported_versions in a ClientHello (RFC 9147 §5.3): a vector of versions. */
export function decodeSupportedVersions(b: Buffer): number[] {
  const r = new TlsReader(b);
  const list = r.vec8();
  r.end();
  return readU16List(list);
}

/** supported_groups and signature_algorithms (RFC 8422 §5.1.1, RFC 5246 §7.4.1.4.1): a vector of 16-bit values. */
export const decodeU16ListExtension = (b: Buffer): number[] => {
  const r = new TlsReader(b);
  const list = r.vec16();
  r.end();
  return readU16List(list);
};
