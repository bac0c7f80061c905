// An impairing UDP relay for tests: real sockets on 127.0.0.1 between
// clients and one target (a TURN server), with loss, jitter, reordering and
// duplication drawn from a seeded PRNG, so a run is repeatable in what the
// relay decides (not in when the kernel delivers).
//
//   client ──► [listen port] ── impair "up" ──► [one socket per client] ──► target
//   client ◄── impair "down" ◄──────────────────────────────────────────── target
//
// Each client address gets its own upstream socket, so the target sees one
// peer per client (a TURN server keys its allocations on that 5-tuple).
//
// Only the packets `impairable` selects are impaired; the rest pass at once.
// The default selects TURN traffic that carries RTP or RTCP (RFC 7983: first
// byte 128..191) inside ChannelData (RFC 8656 §12, first two bits 01) or a
// Send/Data indication (methods 0x006/0x007, the DATA attribute). TURN
// control (Allocate, Refresh, CreatePermission, ChannelBind), ICE checks and
// DTLS relayed inside TURN pass untouched: call set-up stays deterministic
// and only the media meets the bad network.
//
// Impairment per packet, in this order: loss; duplication (the copy gets its
// own delay); delay = baseDelayMs + jitter (uniform in [0, jitterMs], or
// exponential with mean jitterMs/2 capped at 4 × jitterMs); with probability
// `reorder` a further reorderMs (the packet is overtaken by the next ones).
// Delayed packets are sent from timers; at most maxInFlight are pending
// (beyond that a packet is dropped and counted as overflow), and close()
// cancels them all.
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { prng } from "./audio-compare.js";

export interface Impairment {
  /** probability a packet is dropped, 0..1 */
  loss?: number;
  /** extra delay spread, ms (see `jitterShape`) */
  jitterMs?: number;
  /** uniform in [0, jitterMs] (default), or exponential with mean jitterMs / 2 (capped at 4 × jitterMs) */
  jitterShape?: "uniform" | "exponential";
  /** fixed delay added to every impaired packet, ms */
  baseDelayMs?: number;
  /** probability a packet is held back a further reorderMs */
  reorder?: number;
  /** default 50 ms */
  reorderMs?: number;
  /** probability a packet is sent twice */
  duplicate?: number;
}

export interface DirectionCounters {
  /** datagrams received in this direction */
  received: number;
  /** passed at once because `impairable` did not select them */
  passed: number;
  /** selected for impairment */
  impairable: number;
  dropped: number;
  duplicated: number;
  /** given the extra reorder hold-back */
  heldBack: number;
  /** impairable packets sent (copies included) */
  forwarded: number;
  /** forwarded after a packet that arrived later than them: real reordering on the wire */
  outOfOrder: number;
  /** dropped because maxInFlight packets were already waiting */
  overflow: number;
  /** sum and maximum of the delay added to impairable packets, ms */
  delaySumMs: number;
  maxDelayMs: number;
}

export interface ImpairRelayOptions {
  target: { host: string; port: number };
  /** PRNG seed: the same seed makes the same decisions for the same packet sequence */
  seed: number;
  up?: Impairment;
  down?: Impairment;
  impairable?: (packet: Buffer) => boolean;
  /** clients served at once (default 4); datagrams from more are dropped */
  maxClients?: number;
  /** delayed packets pending at once, both directions together (default 1000) */
  maxInFlight?: number;
}

export interface ImpairRelay {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly counters: { readonly up: DirectionCounters; readonly down: DirectionCounters };
  /** Change the impairment from now on (packets already delayed keep their delay). */
  setImpairment(dir: "up" | "down", imp: Impairment): void;
  close(): Promise<void>;
}

const RTP_FIRST = 128;
const RTP_LAST = 191;
const STUN_COOKIE = 0x2112a442;
const DATA_ATTR = 0x0013;

const isRtpOrRtcp = (b: Buffer): boolean => b.length >= 12 && b[0]! >= RTP_FIRST && b[0]! <= RTP_LAST;

/** The payload a TURN datagram relays (ChannelData or Send/Data indication), or undefined for TURN control. */
export function turnPayload(pkt: Buffer): Buffer | undefined {
  if (pkt.length < 4) return undefined;
  // ChannelData: channel numbers 0x4000..0x7FFF, i.e. first two bits 01 (RFC 8656 §12.4).
  if ((pkt[0]! & 0xc0) === 0x40) {
    const len = pkt.readUInt16BE(2);
    return pkt.length >= 4 + len ? pkt.subarray(4, 4 + len) : undefined;
  }
  if (pkt.length < 20 || (pkt[0]! & 0xc0) !== 0 || pkt.readUInt32BE(4) !== STUN_COOKIE) return undefined;
  const type = pkt.readUInt16BE(0);
  const method = (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
  const cls = ((type & 0x0010) >> 4) | ((type & 0x0100) >> 7);
  if (cls !== 1 || (method !== 0x006 && method !== 0x007)) return undefined;
  const end = Math.min(pkt.length, 20 + pkt.readUInt16BE(2));
  for (let off = 20; off + 4 <= end; ) {
    const t = pkt.readUInt16BE(off);
    const l = pkt.readUInt16BE(off + 2);
    if (t === DATA_ATTR) return off + 4 + l <= end ? pkt.subarray(off + 4, off + 4 + l) : undefined;
    off += 4 + l + ((4 - (l % 4)) % 4);
  }
  return undefined;
}

/** The default selection: RTP or RTCP relayed through TURN. */
export function isRelayedMedia(pkt: Buffer): boolean {
  const p = turnPayload(pkt);
  return p !== undefined && isRtpOrRtcp(p);
}

const newCounters = (): DirectionCounters => ({
  received: 0,
  passed: 0,
  impairable: 0,
  dropped: 0,
  duplicated: 0,
  heldBack: 0,
  forwarded: 0,
  outOfOrder: 0,
  overflow: 0,
  delaySumMs: 0,
  maxDelayMs: 0,
});

interface Client {
  addr: RemoteInfo;
  upstream: Socket;
  /** arrival index of the latest impairable packet forwarded, per direction */
  lastSent: { up: number; down: number };
  arrivals: { up: number; down: number };
}

export async function startImpairRelay(o: ImpairRelayOptions): Promise<ImpairRelay> {
  const rand = prng(o.seed);
  const imp = { up: { ...o.up }, down: { ...o.down } };
  const counters = { up: newCounters(), down: newCounters() };
  const impairable = o.impairable ?? isRelayedMedia;
  const maxClients = o.maxClients ?? 4;
  const maxInFlight = o.maxInFlight ?? 1000;
  const timers = new Set<NodeJS.Timeout>();
  const clients = new Map<string, Client>();
  let closed = false;

  const listen = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    listen.once("error", reject);
    listen.bind({ port: 0, address: "127.0.0.1", exclusive: true }, () => {
      listen.off("error", reject);
      resolve();
    });
  });
  // A send to a closed port (ICMP unreachable) must not end the test process.
  listen.on("error", () => undefined);

  function delayOf(i: Impairment): number {
    const j = i.jitterMs ?? 0;
    let d = i.baseDelayMs ?? 0;
    if (j > 0) d += i.jitterShape === "exponential" ? Math.min(4 * j, (-Math.log(1 - rand()) * j) / 2) : rand() * j;
    return d;
  }

  function forward(dir: "up" | "down", c: Client, pkt: Buffer): void {
    if (closed) return;
    if (dir === "up") c.upstream.send(pkt, o.target.port, o.target.host);
    else listen.send(pkt, c.addr.port, c.addr.address);
  }

  function handle(dir: "up" | "down", c: Client, pkt: Buffer): void {
    const k = counters[dir];
    k.received++;
    if (!impairable(pkt)) {
      k.passed++;
      forward(dir, c, pkt);
      return;
    }
    k.impairable++;
    const index = ++c.arrivals[dir];
    const i = imp[dir];
    if (rand() < (i.loss ?? 0)) {
      k.dropped++;
      return;
    }
    const copies = rand() < (i.duplicate ?? 0) ? 2 : 1;
    if (copies === 2) k.duplicated++;
    for (let n = 0; n < copies; n++) {
      let delay = delayOf(i);
      if (rand() < (i.reorder ?? 0)) {
        delay += i.reorderMs ?? 50;
        k.heldBack++;
      }
      k.delaySumMs += delay;
      k.maxDelayMs = Math.max(k.maxDelayMs, delay);
      const send = (): void => {
        k.forwarded++;
        if (index < c.lastSent[dir]) k.outOfOrder++;
        else c.lastSent[dir] = index;
        forward(dir, c, pkt);
      };
      if (delay <= 0) {
        send();
        continue;
      }
      if (timers.size >= maxInFlight) {
        k.overflow++;
        continue;
      }
      const t = setTimeout(() => {
        timers.delete(t);
        send();
      }, delay);
      timers.add(t);
    }
  }

  listen.on("message", (pkt, rinfo) => {
    if (closed) return;
    const key = `${rinfo.address}:${rinfo.port}`;
    let c = clients.get(key);
    if (!c) {
      if (clients.size >= maxClients) return;
      const upstream = createSocket("udp4");
      upstream.on("error", () => undefined);
      c = { addr: rinfo, upstream, lastSent: { up: 0, down: 0 }, arrivals: { up: 0, down: 0 } };
      const client = c;
      upstream.on("message", (back) => {
        if (!closed) handle("down", client, back);
      });
      // Bound before the first send, so replies cannot arrive before the listener is there.
      upstream.bind({ port: 0, address: "127.0.0.1" });
      clients.set(key, c);
    }
    handle("up", c, pkt);
  });

  const closeSocket = (s: Socket): Promise<void> =>
    new Promise((resolve) => {
      try {
        s.close(() => resolve());
      } catch {
        resolve(); // already closed
      }
    });

  return {
    host: "127.0.0.1",
    port: listen.address().port,
    counters,
    setImpairment(dir, i) {
      imp[dir] = { ...i };
    },
    async close() {
      if (closed) return;
      closed = true;
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await Promise.all([closeSocket(listen), ...[...clients.values()].map((c) => closeSocket(c.upstream))]);
      clients.clear();
    },
  };
}
