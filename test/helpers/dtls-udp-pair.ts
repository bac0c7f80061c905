// Two DtlsSrtpTransports joined by two real UDP sockets on 127.0.0.1. A
// filter (not ICE) carries each side's datagrams to the other and can watch,
// drop, tamper with or inject datagrams. Used by the DTLS-SRTP integration
// tests (dtls-srtp.test.ts, dtls-hostile.test.ts).
import { createSocket, type Socket } from "node:dgram";
import { DtlsSrtpTransport, type DtlsConnectedInfo, type SrtpProfileName } from "../../src/rtp/dtls/dtls-srtp.js";
import { fingerprint, type DtlsCertificate } from "../../src/rtp/dtls/certificate.js";
import type { DtlsRole } from "../../src/rtp/dtls/setup-role.js";
import { classifyPacket } from "../../src/rtp/demux.js";
import { RtpPacketizer } from "../../src/rtp/rtp-packet.js";
import { silentLogger } from "../../src/util/logger.js";

export type Side = "a" | "b";
/** Return the datagrams to deliver instead (none: dropped). */
export type Filter = (from: Side, datagram: Buffer) => Buffer[];

export interface Peer {
  t: DtlsSrtpTransport;
  rtp: Buffer[];
  rtcp: Buffer[];
  failures: Array<[reason: string, condition: string]>;
  connected: DtlsConnectedInfo[];
  /** Everything this side handed to the wire, before the filter. */
  sent: Buffer[];
}

/** Two UDP sockets on loopback; what one side sends arrives at the other's handlePacket. */
export class Link {
  readonly #socks: Record<Side, Socket>;
  filter: Filter | undefined;

  private constructor(a: Socket, b: Socket) {
    this.#socks = { a, b };
  }

  static async open(): Promise<Link> {
    const bind = async (): Promise<Socket> => {
      const s = createSocket("udp4");
      await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
      return s;
    };
    return new Link(await bind(), await bind());
  }

  send(from: Side, datagram: Buffer): void {
    const to = from === "a" ? "b" : "a";
    for (const d of this.filter ? this.filter(from, datagram) : [datagram]) {
      this.#socks[from].send(d, this.#socks[to].address().port, "127.0.0.1");
    }
  }

  /** A datagram that appears to come from `from` (an attacker on the path). */
  inject(from: Side, datagram: Buffer): void {
    const to = from === "a" ? "b" : "a";
    this.#socks[from].send(datagram, this.#socks[to].address().port, "127.0.0.1");
  }

  onReceive(side: Side, fn: (d: Buffer) => void): void {
    this.#socks[side].on("message", fn);
  }

  close(): void {
    this.#socks.a.close();
    this.#socks.b.close();
  }
}

export interface PairOptions {
  aRole: DtlsRole;
  aCert: DtlsCertificate;
  bCert: DtlsCertificate;
  /** What A believes B's fingerprint is (default: B's real one). */
  aExpects?: { hash: string; value: string };
  bExpects?: { hash: string; value: string };
  aProfiles?: SrtpProfileName[];
  bProfiles?: SrtpProfileName[];
  timeoutMs?: number;
  /** B's handshake timeout, when it differs from A's. */
  bTimeoutMs?: number;
}

export interface Pair {
  link: Link;
  a: Peer;
  b: Peer;
  close(): void;
}

export async function makePair(o: PairOptions): Promise<Pair> {
  const link = await Link.open();
  const peer = (side: Side, role: DtlsRole, cert: DtlsCertificate, expects: { hash: string; value: string }, profiles?: SrtpProfileName[], timeoutMs = o.timeoutMs ?? 5000): Peer => {
    const sent: Buffer[] = [];
    const t = new DtlsSrtpTransport({
      role,
      certificate: cert,
      remoteFingerprint: expects,
      send: (d) => {
        sent.push(Buffer.from(d));
        link.send(side, d);
      },
      logger: silentLogger(),
      handshakeTimeoutMs: timeoutMs,
      ...(profiles ? { srtpProfiles: profiles } : {}),
    });
    const p: Peer = { t, rtp: [], rtcp: [], failures: [], connected: [], sent };
    p.t.on("rtp", (x) => p.rtp.push(x));
    p.t.on("rtcp", (x) => p.rtcp.push(x));
    p.t.on("failed", (r, c) => p.failures.push([r, c]));
    p.t.on("connected", (i) => p.connected.push(i));
    link.onReceive(side, (d) => p.t.handlePacket(d));
    return p;
  };
  const fp = (c: DtlsCertificate) => ({ hash: "sha-256", value: fingerprint(c) });
  const a = peer("a", o.aRole, o.aCert, o.aExpects ?? fp(o.bCert), o.aProfiles);
  const b = peer("b", o.aRole === "client" ? "server" : "client", o.bCert, o.bExpects ?? fp(o.aCert), o.bProfiles, o.bTimeoutMs);
  return {
    link,
    a,
    b,
    close() {
      a.t.close();
      b.t.close();
      link.close();
    },
  };
}

export async function until(cond: () => boolean, ms = 2000, what = "condition"): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A minimal RTCP receiver report (RFC 3550 §6.4.2): V=2, RC=0, PT=201, length 1, SSRC. */
export function rtcpRr(ssrc: number): Buffer {
  const b = Buffer.alloc(8);
  b[0] = 0x80;
  b[1] = 201;
  b.writeUInt16BE(1, 2);
  b.writeUInt32BE(ssrc, 4);
  return b;
}

export function opusPacketizer(): RtpPacketizer {
  return new RtpPacketizer({ payloadType: 111, clockRate: 48000 });
}

export const wireMedia = (p: Peer, kind: "rtp" | "rtcp") => p.sent.filter((d) => classifyPacket(d) === kind);

/** A datagram's records without what changes when it is sent again: sequence numbers, and epoch-1 ciphertext. */
export function sameAcrossRetransmissions(d: Buffer): string {
  const parts: string[] = [];
  for (let at = 0; at + 13 <= d.length; ) {
    const len = d.readUInt16BE(at + 11);
    const epoch = d.readUInt16BE(at + 3);
    parts.push(`${d[at]}/${epoch}/${len}/${epoch === 0 ? d.subarray(at + 13, at + 13 + len).toString("hex") : ""}`);
    at += 13 + len;
  }
  return parts.join("|");
}

