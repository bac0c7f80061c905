// Two DtlsEndpoints (src/rtp/dtls/dtls-endpoint.ts) joined by a LossyPipe on
// a ManualClock: a whole handshake runs in a few milliseconds of CPU, with
// loss, duplicates and reordering decided by a seed.
import { DtlsEndpoint, type DtlsEndpointOptions } from "../../src/rtp/dtls/dtls-endpoint.js";
import { handshakeConfig, type HandshakeResult } from "../../src/rtp/dtls/handshake-role.js";
import { exportKeyingMaterial } from "../../src/rtp/dtls/key-schedule.js";
import { fingerprint, type DtlsCertificate } from "../../src/rtp/dtls/certificate.js";
import { ManualClock } from "./manual-clock.js";
import { LossyPipe, seededRandom, type PipeImpairment, type Side } from "./lossy-pipe.js";

export interface EndpointView {
  endpoint: DtlsEndpoint;
  /** Clock time it connected. */
  connectedAt?: number;
  result?: HandshakeResult;
  failed?: string;
  notes: string[];
  /** Clock times of every datagram it sent. */
  sentAt: number[];
  sent: Buffer[];
}

export interface DtlsPair {
  clock: ManualClock;
  pipe: LossyPipe;
  /** A is the client, B the server. */
  a: EndpointView;
  b: EndpointView;
  /** Runs the clock in steps until both connected (true) or `limitMs` passed (false). */
  run(limitMs?: number): boolean;
  close(): void;
}

export interface PairOptions {
  certs: { a: DtlsCertificate; b: DtlsCertificate };
  seed?: number;
  impairment?: PipeImpairment;
  /** What each side believes the other's fingerprint is (default: the real one). */
  expects?: Partial<Record<Side, { hash: string; value: string }>>;
  profiles?: Partial<Record<Side, number[]>>;
  mtu?: number;
  options?: Partial<Record<Side, Partial<DtlsEndpointOptions>>>;
}

export function dtlsPair(o: PairOptions): DtlsPair {
  const clock = new ManualClock();
  const pipe = new LossyPipe(clock, seededRandom(o.seed ?? 1), o.impairment ?? {});
  const make = (side: Side): EndpointView => {
    const me = side === "a" ? o.certs.a : o.certs.b;
    const peer = side === "a" ? o.certs.b : o.certs.a;
    const notes: string[] = [];
    const sentAt: number[] = [];
    const sent: Buffer[] = [];
    const endpoint: DtlsEndpoint = new DtlsEndpoint({
      role: side === "a" ? "client" : "server",
      clock,
      config: handshakeConfig(me, o.expects?.[side] ?? { hash: "sha-256", value: fingerprint(peer) }, o.profiles?.[side] ?? [1, 7]),
      send: (d) => {
        sentAt.push(clock.now());
        sent.push(Buffer.from(d));
        pipe.send(side, d);
      },
      ...(o.mtu ? { mtu: o.mtu } : {}),
      onConnected: (r) => {
        view.connectedAt = clock.now();
        view.result = r;
      },
      onFailed: (p) => (view.failed = p),
      onNote: (n) => notes.push(n),
      ...o.options?.[side],
    });
    const view: EndpointView = { endpoint, notes, sentAt, sent };
    pipe.onDeliver(side, (d) => endpoint.receive(d));
    return view;
  };
  const a = make("a");
  const b = make("b");
  return {
    clock,
    pipe,
    a,
    b,
    run(limitMs = 10_000) {
      a.endpoint.start();
      b.endpoint.start();
      while (clock.now() < limitMs) {
        if (a.connectedAt !== undefined && b.connectedAt !== undefined) return true;
        if (a.failed || b.failed) return false;
        clock.advance(5);
      }
      return a.connectedAt !== undefined && b.connectedAt !== undefined;
    },
    close() {
      a.endpoint.close();
      b.endpoint.close();
    },
  };
}

/** The SRTP keying material each side would take (RFC 5764 §4.2): equal on both when the handshake agreed. */
export function srtpMaterial(r: HandshakeResult): string {
  return exportKeyingMaterial(r.master, r.clientRandom, r.serverRandom, "EXTRACTOR-dtls_srtp", 60).toString("hex");
}
