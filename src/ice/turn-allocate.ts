// TURN allocations (RFC 8656) for relay candidates, one per TURN server, all
// servers at once (werift-ice takes a single server and gathers it itself).
//
// A `turn:` server over UDP that does not answer (UDP blocked on the way)
// would cost werift's ~6 s of retransmissions before TCP is tried. Here the
// TCP allocation starts as soon as UDP has had TCP_AFTER_MS without an
// answer, both race, the first allocation wins and the other is closed (and
// deleted on the server when it completes anyway). `?transport=tcp` and
// `turns:` use TCP or TLS from the start.
//
// The transports are made here (not by werift's createTurnClient) so that an
// attempt that loses or times out can close its socket.
//
// IPv6 (RFC 8656 §3.1, formerly RFC 6156): an allocation has one family, and
// relays only to peers of that family. One allocation is made per family
// the caller asks for, over that family (a server name is resolved to an
// address of it), and an IPv6 one asks for an IPv6 relayed address
// (REQUESTED-ADDRESS-FAMILY): without it the server relays over IPv4 (its
// default) even when reached over IPv6 — coturn 4.6 does, measured in
// test/integration/ipv6.test.ts.
import { lookup } from "node:dns/promises";
import { StunOverTurnProtocol, TurnProtocol } from "werift-ice";
import { TcpTransport, TlsTransport, UdpTransport, type Transport } from "werift-ice/lib/common/src/index.js";
import type { Logger } from "../util/logger.js";
import { errorMessage } from "../util/errors.js";
import { canonicalIp, ipFamily, type IpFamily } from "./ip-address.js";
import { deleteAllocation, ownRefreshLoop, requestAddressFamily } from "./werift-internals.js";

/** A TURN server and its credentials (static from the config, or short-lived from XEP-0215). */
export interface TurnServer {
  host: string;
  port: number;
  username: string;
  password: string;
  transport: "udp" | "tcp" | "tls";
}

/** At most this many TURN servers are used per call (the rest are ignored). */
export const MAX_TURN_SERVERS = 4;
/** UDP gets this long to answer before the TCP allocation starts alongside it. */
export const TCP_AFTER_MS = 1500;
/** An allocation not made by then is given up (its late completion is deleted). */
export const ALLOCATE_TIMEOUT_MS = 10_000;
/** Requested allocation lifetime in seconds (RFC 8656 §3.2 default 600); werift refreshes it. */
const LIFETIME_S = 600;

export interface RelayAllocation {
  protocol: StunOverTurnProtocol;
  server: TurnServer;
  /** The transport to the TURN server that won. */
  via: "udp" | "tcp" | "tls";
  ms: number;
}

export interface AllocateOptions {
  portRange?: [number, number];
  /** The family of the relayed address and of the path to the server (default: the server address's family, IPv4 for a name). */
  family?: IpFamily;
  /** Local address for the UDP socket (of `family`; default: any). */
  udpAddress?: string;
  tcpAfterMs?: number;
  timeoutMs?: number;
  logger: Logger;
}

interface Attempt {
  readonly via: "udp" | "tcp" | "tls";
  readonly done: Promise<StunOverTurnProtocol>;
  /** Gives up: closes the socket now, or deletes the allocation once it completes. */
  cancel(): void;
}

/** The server's address of `family` (a name resolved; the literal in the form sockets report), or undefined. */
async function serverAddress(server: TurnServer, family: IpFamily): Promise<[string, number] | undefined> {
  const literal = canonicalIp(server.host);
  if (literal !== undefined) return ipFamily(literal) === family ? [literal, server.port] : undefined;
  const found = await lookup(server.host, { family }).catch(() => undefined);
  return found ? [found.address, server.port] : undefined;
}

function attempt(server: TurnServer, addr: [string, number], family: IpFamily, via: "udp" | "tcp" | "tls", o: AllocateOptions): Attempt {
  let cancelled = false;
  let transport: Transport | undefined;
  let turn: TurnProtocol | undefined;
  const udp = family === 6 ? "udp6" : "udp4";
  const done = (async () => {
    transport =
      via === "udp"
        ? await UdpTransport.init(udp, { ...(o.portRange ? { portRange: o.portRange } : {}), ...(o.udpAddress ? { interfaceAddresses: { [udp]: o.udpAddress } } : {}) })
        : via === "tcp"
          ? await TcpTransport.init(addr)
          : await TlsTransport.init(addr, ipFamily(server.host) ? {} : { servername: server.host });
    if (cancelled) throw new Error("cancelled");
    turn = new TurnProtocol(addr, server.username, server.password, LIFETIME_S, transport);
    ownRefreshLoop(turn);
    // IPv4 is the default relayed family: asked for only when it is IPv6 (a server of RFC 5766 alone does not know the attribute).
    if (family === 6 && !requestAddressFamily(turn, 6)) throw new Error("werift internals changed: cannot ask for an IPv6 relay");
    await turn.connectionMade();
    if (cancelled) throw new Error("cancelled");
    return new StunOverTurnProtocol(turn);
  })();
  const cleanup = async () => {
    if (turn?.relayedAddress) await deleteAllocation(turn as never);
    else await transport?.close().catch(() => undefined);
  };
  // A failed or cancelled attempt leaves no socket or allocation behind.
  done.catch(() => cleanup()).catch(() => undefined);
  return {
    via,
    done,
    cancel: () => {
      if (cancelled) return;
      cancelled = true;
      // An allocation still in progress: close its socket now (its pending request then fails).
      if (turn && !turn.relayedAddress) void transport?.close().catch(() => undefined);
    },
  };
}

/**
 * One relay allocation on `server`, or undefined (logged) when none could be
 * made within the time limit. `stillWanted` is asked when one completes: if
 * false (the generation closed meanwhile) it is deleted instead.
 */
export async function allocateRelay(server: TurnServer, o: AllocateOptions, stillWanted: () => boolean = () => true): Promise<RelayAllocation | undefined> {
  const t0 = performance.now();
  const log = o.logger;
  const family: IpFamily = o.family ?? ipFamily(server.host) ?? 4;
  const addr = await serverAddress(server, family);
  if (!addr) {
    log.debug({ server: `${server.host}:${server.port}`, family }, "TURN server has no address of this family");
    return undefined;
  }
  const attempts: Attempt[] = [];
  const start = (via: "udp" | "tcp" | "tls") => {
    const a = attempt(server, addr, family, via, o);
    attempts.push(a);
    return a;
  };
  return new Promise<RelayAllocation | undefined>((resolve) => {
    let settled = false;
    let failures = 0;
    let tcpTimer: NodeJS.Timeout | undefined;
    const finish = (result: RelayAllocation | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(tcpTimer);
      clearTimeout(deadline);
      for (const a of attempts) if (a !== undefined && result?.via !== a.via) a.cancel();
      resolve(result);
    };
    const watch = (a: Attempt) => {
      a.done.then(
        (protocol) => {
          if (settled || !stillWanted()) {
            // Lost the race (or nobody wants it any more): delete it on the server.
            void deleteAllocation(protocol.turn as never);
            if (!settled) finish(undefined);
            return;
          }
          const ms = Math.round(performance.now() - t0);
          log.debug({ server: `${server.host}:${server.port}`, via: a.via, ms }, "TURN allocation");
          finish({ protocol, server, via: a.via, ms });
        },
        (err: unknown) => {
          if (settled) return;
          log.debug({ server: `${server.host}:${server.port}`, via: a.via, err: errorMessage(err) }, "TURN allocation failed");
          failures++;
          // UDP failed before the TCP timer: start TCP now.
          if (a.via === "udp" && !attempts.some((x) => x.via === "tcp")) {
            clearTimeout(tcpTimer);
            watch(start("tcp"));
          } else if (failures >= attempts.length) {
            finish(undefined);
          }
        },
      );
    };
    const deadline = setTimeout(() => {
      log.info({ server: `${server.host}:${server.port}`, ms: o.timeoutMs ?? ALLOCATE_TIMEOUT_MS }, "TURN server did not answer: no relay candidate from it");
      finish(undefined);
    }, o.timeoutMs ?? ALLOCATE_TIMEOUT_MS);
    deadline.unref?.();
    const first = start(server.transport);
    watch(first);
    if (server.transport === "udp") {
      tcpTimer = setTimeout(() => {
        if (settled || attempts.some((x) => x.via === "tcp")) return;
        log.debug({ server: `${server.host}:${server.port}`, afterMs: o.tcpAfterMs ?? TCP_AFTER_MS }, "no TURN answer over UDP yet: trying TCP too");
        watch(start("tcp"));
      }, o.tcpAfterMs ?? TCP_AFTER_MS);
      tcpTimer.unref?.();
    }
  });
}

/** The servers to use: the first MAX_TURN_SERVERS distinct ones (host, port, transport). */
export function distinctTurnServers(servers: readonly TurnServer[]): TurnServer[] {
  const seen = new Set<string>();
  const out: TurnServer[] = [];
  for (const s of servers) {
    const key = `${s.host.toLowerCase()}|${s.port}|${s.transport}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(s);
    if (out.length >= MAX_TURN_SERVERS) break;
  }
  return out;
}
