// The few werift-ice internals the adapter needs, in one place, each checked
// at run time so that a library upgrade that renames them degrades (logged,
// feature off) instead of crashing. Checked against werift-ice 0.2.3.
//
// - pairLocalProtocol(protocol): forms the pairs of one local transport with
//   every remote candidate. werift calls it for host sockets, but not for a
//   TURN allocation that completes after connect() started: without it a late
//   relay candidate is advertised to the peer yet never checked by us.
// - protocols[]: the local transports (host sockets, TURN allocations), to
//   find the one behind a candidate and to attach error listeners.
//
// - TURN allocations: werift closes its socket but never deletes the
//   allocation (RFC 8656 §7: Refresh with LIFETIME 0), so every call would hold
//   a relay port (and the user's quota) on the server for the allocation's
//   lifetime; and an allocation that completes after close() is never closed.
// - ensureProtocol(protocol), appendLocalCandidate(candidate): how werift
//   takes in a transport and announces its candidate; used to add relay
//   candidates of our own TURN allocations (turn-allocate.ts: every server,
//   TCP without waiting for UDP to time out), exactly as werift adds its one.
//
// - Host transports: werift binds every host socket to the one address its
//   interfaceAddresses option names per family, or to the wildcard (0.0.0.0,
//   or :: which also takes IPv4 as ::ffff:a.b.c.d), and the kernel then
//   picks the source address of each check: a host with a ULA and a global
//   IPv6 address (or several IPv4 ones) sent checks for one candidate from
//   another address. addHost() binds each host socket to its own address,
//   with the local preference of priority.ts (werift gives every host
//   candidate the same one).
// - Server-reflexive candidates: werift asks its one STUN server for IPv4
//   bases only; reflexiveAddress() asks from any base, so that IPv6 gets
//   srflx candidates when the STUN server is reachable over IPv6.
// - Connected: werift's connect() resolves only at a 20 ms scheduling tick
//   after the check list is done, 20-60 ms after the nomination on the
//   controlled side of a loopback call; onNominated() tells at the
//   nomination, with consent freshness running (RFC 7675).
// - Triggered checks: werift sends one for a Waiting or Failed pair only, not
//   for an In-Progress one (RFC 8445 §7.3.1.4), which then waits for its
//   retransmission; retriggerInProgress() adds that case.
// - Pair order: werift computes RFC 8445 §6.1.2.3's 2^32 as `1 << 32`,
//   which is 1 in JavaScript, so its check list is ordered by the larger
//   candidate priority, not the smaller; orderChecksByPriority() replaces
//   its sort (priority.ts).
// - TURN over IPv6: werift never sends REQUESTED-ADDRESS-FAMILY (RFC 8656
//   §18.1), so a server gives an IPv4 relay (its default, §7.1) however it
//   is reached; requestAddressFamily() adds it to the Allocate request.
// - Sending media: werift's Connection.send is a chain of three async
//   functions (Connection.send -> StunProtocol.sendData -> UdpTransport.send:
//   three promises per packet), ending in dgram's send with the peer's
//   address as text, which dgram resolves with dns.lookup on every packet
//   (an IP literal too, answered on the next tick). Our host transports
//   (HostUdpTransport, made by addHost() in place of werift's UdpTransport)
//   have a lookup that answers an IP literal at once, and mediaSender()
//   sends on the nominated pair's host socket directly, after the consent
//   check werift's send makes (RFC 7675 §5.1). Relayed pairs keep werift's
//   path (ChannelData or a Send indication, RFC 8656 §11-12).
// - Receiving media: werift's StunProtocol.datagramReceived parses every
//   datagram as STUN (after our guard did), then hands data through two
//   Events (onDataReceived, then the Connection's onData), and werift's
//   Event.execute starts an async function, a promise, per call even when
//   nothing awaits. guardReceive() hands the data it admitted at a host
//   transport to ReceiveHooks.deliver instead, keeping the nominated pair's
//   counts as werift's subscriber does. Relayed data keeps werift's path.
// - Address text: werift prints IPv6 addresses from STUN attributes in a
//   form of its own (the first run of zeros compressed, not the longest;
//   IPv4-mapped ones in hex) and compares addresses as strings; the
//   relayed peer addresses guardReceive() hands on are canonical
//   (ip-address.ts), as are our candidates (candidate-map.ts).
//
// Security (issue 12), where werift trusts whoever sends:
// - localUsername/localPassword: werift makes them 4 and 22 hex characters
//   (16 and 88 bits, below RFC 8445 §5.3); setLocalCredentials() puts ours
//   in (stun-auth.ts).
// - The receive path: werift answers every Binding request before any
//   credential check (its filterStunResponse option runs after role-conflict
//   handling and sees a re-serialised message, so MESSAGE-INTEGRITY cannot be
//   verified), learns a peer-reflexive candidate from any source without
//   bound, queues early checks without bound, and hands every other datagram
//   from any source to onData, which carries no source address. A TURN
//   client takes a Data indication's XOR-PEER-ADDRESS from any sender at its
//   socket, not only its server. guardReceive() wraps each transport's
//   receive function (StunProtocol.datagramReceived, StunOverTurnProtocol.
//   handleStunMessage, TurnProtocol.dataReceived), where the source is still
//   known, and asks a PortGuard (port-guard.ts) first.
import {
  Candidate,
  CandidatePairState,
  Message,
  StunProtocol,
  candidateFoundation,
  classes,
  methods,
  parseMessage,
  type CandidatePair,
  type Connection,
  type StunOverTurnProtocol,
} from "werift-ice";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { lookup as dnsLookup, type LookupOneOptions } from "node:dns";
import { isIP } from "node:net";
import type { LocalCredentials } from "./stun-auth.js";
import type { RequestContext, Source } from "./port-guard.js";
import { canonicalIp, ipFamily, sameIp } from "./ip-address.js";
import { candidatePriority, pairPriority } from "./priority.js";

interface TurnClient {
  server?: [string, number];
  request?: (m: Message, addr: [string, number]) => Promise<unknown>;
  refreshHandle?: { resolve?: () => void };
}

interface Protocol {
  localCandidate?: Candidate;
  close?: () => Promise<void>;
  transport?: { socket?: { on?: (ev: string, fn: (err: Error) => void) => void; listenerCount?: (ev: string) => number } };
  turn?: TurnClient & { transport?: { socket?: { on?: (ev: string, fn: (err: Error) => void) => void; listenerCount?: (ev: string) => number } } };
}

interface Internals {
  protocols?: Protocol[];
  pairLocalProtocol?: (p: Protocol) => void;
  ensureProtocol?: (p: unknown) => void;
  appendLocalCandidate?: (c: Candidate) => void;
  generation?: number;
  localUsername?: string;
  localPassword?: string;
  userHistory?: Record<string, string>;
  remoteCandidates?: Candidate[];
  checkList?: CandidatePair[];
  nominated?: CandidatePair;
  earlyChecks?: unknown[];
  earlyChecksDone?: boolean;
}

function internals(conn: Connection): Internals {
  return conn as unknown as Internals;
}

/** Pairs every local transport (or only the one behind `candidate`) with every remote candidate; false if unsupported. */
export function pairLocal(conn: Connection, candidate?: Candidate): boolean {
  const i = internals(conn);
  if (typeof i.pairLocalProtocol !== "function" || !Array.isArray(i.protocols)) return false;
  for (const p of i.protocols) {
    if (!p.localCandidate) continue;
    if (candidate && p.localCandidate !== candidate) continue;
    i.pairLocalProtocol.call(conn, p);
  }
  return true;
}

/**
 * werift sends on its UDP sockets without a callback, so a send error (the
 * address went away, no route) is an 'error' event that nobody handles. Give
 * every socket a listener that reports instead.
 */
export function guardSockets(conn: Connection, onError: (err: Error) => void): void {
  for (const p of internals(conn).protocols ?? []) {
    for (const s of [p.transport?.socket, p.turn?.transport?.socket]) {
      if (!s?.on || (s.listenerCount?.("error") ?? 0) > 0) continue;
      s.on("error", onError);
    }
  }
}

/**
 * Replaces werift's allocation refresh loop on `turn` (call before
 * connectionMade(), which starts it). werift's loop sleeps on a
 * timers/promises setTimeout that close() cannot cancel: a closed
 * allocation's loop, and the client it holds, lived on for 5/6 of the
 * lifetime (500 s) and kept a process that was otherwise done from exiting.
 * Ours refreshes at the same point (RFC 8656 §7) on a plain timer that
 * close() (refreshHandle.resolve) clears, and never keeps a process alive.
 * False if the internals are missing (werift's loop then stays).
 */
export function ownRefreshLoop(turn: object): boolean {
  const t = turn as TurnClient & {
    refresh?: (exp: number) => void;
    requestWithRetry?: (m: Message, addr: [string, number]) => Promise<[Message, unknown]>;
  };
  if (typeof t.refresh !== "function" || typeof t.requestWithRetry !== "function") return false;
  t.refresh = (exp: number) => {
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    // Refresh at 5/6 of the lifetime granted; a failed refresh is retried
    // within the sixth that is left, not a whole period later.
    const schedule = (lifetime: number, delayMs: number) => {
      timer = setTimeout(() => {
        const req = new Message(methods.REFRESH, classes.REQUEST);
        req.setAttribute("LIFETIME", lifetime);
        void t.requestWithRetry!(req, t.server!).then(
          ([res]) => {
            const granted = Number(res.getAttributeValue("LIFETIME")) || lifetime;
            if (!stopped) schedule(granted, (5 / 6) * granted * 1000);
          },
          () => {
            if (!stopped) schedule(lifetime, Math.min(30_000, (lifetime * 1000) / 12));
          },
        );
      }, delayMs);
      timer.unref?.();
    };
    schedule(exp, (5 / 6) * exp * 1000);
    t.refreshHandle = {
      resolve: () => {
        stopped = true;
        clearTimeout(timer);
      },
    };
  };
  return true;
}

/** Deletes one TURN allocation on the server (Refresh, LIFETIME 0), bounded in time; errors are ignored. */
async function release(turn: TurnClient, waitMs: number): Promise<void> {
  if (typeof turn.request !== "function" || !turn.server) return;
  turn.refreshHandle?.resolve?.();
  const req = new Message(methods.REFRESH, classes.REQUEST);
  req.setAttribute("LIFETIME", 0);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    turn.request(req, turn.server).catch(() => undefined),
    new Promise((r) => (timer = setTimeout(r, waitMs))),
  ]);
  clearTimeout(timer);
}

/** Deletes a TURN allocation that is not (or no longer) part of a Connection, and closes its socket. */
export async function deleteAllocation(turn: TurnClient & { close?: () => Promise<void> }, waitMs = 300): Promise<void> {
  await release(turn, waitMs);
  await turn.close?.().catch(() => undefined);
}

/**
 * Adds a TURN allocation made by us to `conn` as werift adds its own: the
 * transport joins the connection and its relay candidate is announced
 * (onIceCandidate). `localPreference` orders relay candidates of several
 * servers (RFC 8445 §5.1.2.1). False if the internals are missing.
 */
export function adoptRelay(conn: Connection, protocol: StunOverTurnProtocol, localPreference: number): boolean {
  const i = internals(conn);
  if (typeof i.ensureProtocol !== "function" || typeof i.appendLocalCandidate !== "function" || !Array.isArray(i.protocols)) return false;
  const turn = protocol.turn;
  const [rawIp, port] = turn.relayedAddress;
  const [relIp, relPort] = turn.mappedAddress;
  const ip = canonicalIp(rawIp) ?? rawIp;
  i.ensureProtocol.call(conn, protocol);
  i.protocols.push(protocol as unknown as Protocol);
  const candidate = new Candidate(candidateFoundation("relay", "udp", ip), 1, "udp", candidatePriority("relay", localPreference), ip, port, "relay", canonicalIp(relIp) ?? relIp, relPort, undefined, i.generation, i.localUsername);
  (protocol as unknown as Protocol).localCandidate = candidate;
  i.appendLocalCandidate.call(conn, candidate);
  return true;
}

/** Deletes every TURN allocation of `conn` (call before conn.close()). */
export async function releaseTurnAllocations(conn: Connection, waitMs = 300): Promise<void> {
  await Promise.all((internals(conn).protocols ?? []).map((p) => (p.turn ? release(p.turn, waitMs) : undefined)));
}

/** Releases and closes the local transport behind `candidate` (a TURN allocation that completed after close()). */
export async function closeLocal(conn: Connection, candidate: Candidate): Promise<void> {
  const p = (internals(conn).protocols ?? []).find((x) => x.localCandidate === candidate);
  if (!p) return;
  if (p.turn) await release(p.turn, 300);
  await p.close?.().catch(() => undefined);
}

/**
 * Replaces werift's ufrag/password of `conn` (call before gathering: werift
 * copies the ufrag into each local candidate). werift answers a check with
 * the password it finds under the check's ufrag in userHistory.
 */
export function setLocalCredentials(conn: Connection, c: LocalCredentials): boolean {
  const i = internals(conn);
  if (typeof i.localUsername !== "string" || typeof i.localPassword !== "string" || typeof i.userHistory !== "object" || !i.userHistory) return false;
  delete i.userHistory[i.localUsername];
  i.localUsername = c.ufrag;
  i.localPassword = c.pwd;
  i.userHistory[c.ufrag] = c.pwd;
  return conn.localUsername === c.ufrag && conn.localPassword === c.pwd;
}

type Address = [string, number];

/** What guardReceive asks before werift sees a datagram. */
export interface ReceiveHooks {
  /** A STUN request (raw bytes) from `src`; false: werift never sees it. */
  request(d: Buffer, src: Source, ctx: RequestContext): boolean;
  /** Anything werift would hand to onData (DTLS, RTP, RTCP) from `src`; `answeredPair`: a pair to it has succeeded. */
  data(src: Source, answeredPair: () => boolean): boolean;
  /** A datagram at a TURN client's UDP socket from somewhere other than its server (dropped). */
  foreign(): void;
  /** A transport werift added that guardReceive does not know how to watch (it gets no datagram at all). */
  unsupported(type: string): void;
  /**
   * Where admitted data at a host transport goes instead of through werift
   * (what conn.onData would hand on, with the nominated pair's counts kept
   * as werift keeps them). Without it, werift delivers: its
   * StunProtocol.datagramReceived parses the datagram as STUN a second
   * time, and each of its two Events on the way (onDataReceived, onData)
   * starts an async function per datagram, a promise each, even with no
   * async subscriber.
   */
  deliver?(data: Buffer): void;
}

const REFUSED = 0;
const STUN = 1;
const DATA = 2;

const sameAddress = (a: readonly [string, number] | undefined, b: readonly [string, number]) => !!a && a[1] === b[1] && sameIp(a[0], b[0]);

interface HostProtocol {
  type?: string;
  datagramReceived?: (data: Buffer, addr: Address) => void;
}
interface RelayProtocol {
  type?: string;
  handleStunMessage?: (data: Buffer, addr: Address) => void;
  turn?: { server?: Address; transport?: { type?: string }; dataReceived?: (data: Buffer, addr: Address) => void };
}

/**
 * Puts `hooks` in front of every local transport of `conn`, those it has
 * and those it adds later (werift's ensureProtocol, called for each one
 * before it can receive). False if the internals are missing: the caller
 * must not use the connection then.
 */
export function guardReceive(conn: Connection, hooks: ReceiveHooks): boolean {
  const i = internals(conn);
  const ensure = i.ensureProtocol;
  if (typeof ensure !== "function" || !Array.isArray(i.checkList) || !Array.isArray(i.remoteCandidates)) return false;
  const ids = new WeakMap<object, number>();
  let nextId = 0;

  const answeredPair = (p: object, addr: Address): boolean => {
    const n = i.nominated;
    if (n && n.protocol === p && sameAddress(n.remoteAddr, addr)) return true;
    return (i.checkList ?? []).some((pair) => pair.protocol === p && pair.state === CandidatePairState.SUCCEEDED && sameAddress(pair.remoteAddr, addr));
  };

  /** Decides as werift will: what it parses as STUN is STUN, anything else is data (werift's StunProtocol/StunOverTurnProtocol). */
  const admit = (p: object, data: Buffer, addr: Address): typeof REFUSED | typeof STUN | typeof DATA => {
    const src: Source = { local: ids.get(p) ?? -1, ip: addr[0], port: addr[1] };
    let msg: Message | undefined;
    try {
      msg = parseMessage(data);
    } catch {
      msg = undefined;
    }
    if (!msg) return hooks.data(src, () => answeredPair(p, addr)) ? DATA : REFUSED;
    if (msg.messageClass !== classes.REQUEST) return STUN;
    const known = (i.remoteCandidates ?? []).some((c) => sameAddress([c.host, c.port], addr));
    const early = (i.checkList ?? []).length === 0 && !i.earlyChecksDone;
    return hooks.request(data, src, { knownCandidate: known, earlyQueued: early ? (i.earlyChecks ?? []).length : undefined }) ? STUN : REFUSED;
  };

  const deliver = hooks.deliver;

  const wrap = (p: HostProtocol & RelayProtocol): boolean => {
    if (ids.has(p)) return true;
    if (p.type === "stun" && typeof p.datagramReceived === "function") {
      const received = p.datagramReceived;
      ids.set(p, nextId++);
      p.datagramReceived = (data, addr) => {
        const verdict = admit(p, data, addr);
        if (verdict === DATA && deliver) {
          // What werift's datagramReceived and the Connection's subscriber do with data: nothing before
          // the transport has its candidate; the nominated pair's counts (consent, liveness); onData.
          if (!(p as Protocol).localCandidate) return;
          const n = i.nominated;
          if (n && n.protocol === p) {
            n.packetsReceived++;
            n.bytesReceived += data.length;
          }
          deliver(data);
        } else if (verdict !== REFUSED) received.call(p, data, addr);
      };
      return true;
    }
    const turn = p.turn;
    if (p.type === "turn" && typeof p.handleStunMessage === "function" && turn && typeof turn.dataReceived === "function") {
      const handle = p.handleStunMessage;
      ids.set(p, nextId++);
      // The peer's datagrams, unwrapped from ChannelData or a Data indication, with the peer's address.
      p.handleStunMessage = (data, addr) => {
        // The peer's address as werift decoded it from XOR-PEER-ADDRESS: brought to the form our candidates have.
        const peer: Address = [canonicalIp(addr[0]) ?? addr[0], addr[1]];
        if (admit(p, data, peer) !== REFUSED) handle.call(p, data, peer);
      };
      // Over UDP anyone can send to the client's socket: only its server speaks for peers (RFC 8656 §10.4, §11.6).
      if (turn.transport?.type === "udp") {
        const received = turn.dataReceived;
        turn.dataReceived = (data, addr) => {
          if (sameAddress(turn.server, addr)) received.call(turn, data, addr);
          else hooks.foreign();
        };
      }
      return true;
    }
    return false;
  };

  for (const p of i.protocols ?? []) if (!wrap(p as HostProtocol & RelayProtocol)) hooks.unsupported(String((p as { type?: unknown }).type));
  i.ensureProtocol = (p: unknown) => {
    // Unknown kinds (werift's TCP candidates, which we do not enable) are not subscribed to at all: nothing they receive reaches werift's handlers.
    if (!wrap(p as HostProtocol & RelayProtocol)) {
      hooks.unsupported(String((p as { type?: unknown }).type));
      return;
    }
    ensure.call(conn, p);
  };
  return true;
}

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * dgram's address lookup: dns.lookup, except that an IP literal is answered
 * at once (dgram asks on every send to an address given as text; dns.lookup
 * answers a literal on the next tick, with a closure and a tick per packet).
 */
function literalLookup(hostname: string, options: LookupOneOptions | number, callback: LookupCallback): void {
  const family = isIP(hostname);
  if (family !== 0) callback(null, hostname, family);
  else dnsLookup(hostname, options as LookupOneOptions, callback);
}

/** A bound UDP socket, or the error that binding it gave (the socket closed then). */
function bindSocket(type: "udp4" | "udp6", address: string, port: number): Promise<Socket | Error> {
  const socket = createSocket({ type, lookup: literalLookup });
  return new Promise((resolve) => {
    const onError = (err: Error) => {
      socket.off("listening", onListening);
      socket.close();
      resolve(err);
    };
    const onListening = () => {
      socket.off("error", onError);
      resolve(socket);
    };
    // Before bind(): with an IP literal our lookup answers at once, and 'listening' may come from inside bind().
    socket.once("error", onError);
    socket.once("listening", onListening);
    socket.bind({ port, address });
  });
}

/**
 * A host candidate's UDP socket: what werift's UdpTransport is to its
 * StunProtocol (send, close, address, closed, onData), on a socket made
 * with literalLookup, plus sendTo() for media. Bound within `portRange`
 * to the first free port, directly (werift binds a probe socket, closes
 * it and binds again: another process may take the port in between).
 */
export class HostUdpTransport {
  readonly type = "udp";
  closed = false;
  rinfo: RemoteInfo | undefined;
  onData: (data: Buffer, addr: Address) => void = () => undefined;

  private constructor(
    readonly socketType: "udp4" | "udp6",
    readonly socket: Socket,
  ) {
    socket.on("message", (data, info) => {
      // As werift's: a link-local IPv6 source without its zone (fe80::1%eth0 -> fe80::1).
      if (info.family === "IPv6" || (info.family as unknown) === 6) info.address = info.address.split("%")[0]!;
      this.rinfo = info;
      try {
        this.onData(data, [info.address, info.port]);
      } catch {
        /* werift's handlers must not take the socket down (as werift's UdpTransport) */
      }
    });
  }

  static async open(socketType: "udp4" | "udp6", address: string, portRange?: [number, number]): Promise<HostUdpTransport> {
    if (!portRange) {
      const s = await bindSocket(socketType, address, 0);
      if (s instanceof Error) throw s;
      return new HostUdpTransport(socketType, s);
    }
    let last: Error | undefined;
    for (let port = portRange[0]; port <= portRange[1]; port++) {
      const s = await bindSocket(socketType, address, port);
      if (!(s instanceof Error)) return new HostUdpTransport(socketType, s);
      last = s;
    }
    throw new Error(`no free UDP port in ${portRange[0]}-${portRange[1]} on ${address}${last ? ` (${last.message})` : ""}`);
  }

  /** werift's send (its STUN and its library path): a name is resolved first and a lookup failure rejects. */
  send(data: Buffer, addr?: Address): Promise<void> {
    const to = addr ?? ([this.rinfo?.address, this.rinfo?.port] as Address);
    if (isIP(to[0]) === 0) {
      return new Promise((resolve, reject) => this.socket.send(data, to[1], to[0], (err) => (err ? reject(err) : resolve())));
    }
    this.socket.send(data, to[1], to[0]);
    return Promise.resolve();
  }

  /** One datagram to an IP literal, nothing to wait for (errors go to the socket's 'error' listener: guardSockets). */
  sendTo(data: Buffer, port: number, ip: string): void {
    this.socket.send(data, port, ip);
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.closed = true;
      this.socket.once("close", () => resolve());
      try {
        this.socket.close();
      } catch {
        resolve();
      }
    });
  }

  get address(): { address: string; port: number } {
    return this.socket.address();
  }
}

/**
 * How media goes to the peer on `pair` (`conn`'s nominated pair): straight
 * on its host socket, with werift's consent check (RFC 7675 §5.1: nothing
 * once consent has expired) and its per-pair counts; undefined when the
 * pair's local candidate is not one of our host sockets (a relay: werift's
 * send wraps the data for the TURN server) or the internals are missing.
 * Returns false when nothing was sent.
 */
export function mediaSender(conn: Connection, pair: CandidatePair): ((packet: Buffer) => boolean) | undefined {
  const i = internals(conn) as Internals & { canSendApplicationData?: () => boolean };
  const transport = (pair.protocol as { transport?: unknown }).transport;
  const canSend = i.canSendApplicationData;
  if (!(transport instanceof HostUdpTransport) || typeof canSend !== "function") return undefined;
  const [ip, port] = pair.remoteAddr;
  return (packet) => {
    if (transport.closed || !canSend.call(conn)) return false;
    transport.sendTo(packet, port, ip);
    pair.packetsSent++;
    pair.bytesSent += packet.length;
    return true;
  };
}

interface HostStunProtocol {
  localIp?: string;
  localCandidate?: Candidate;
  transport?: HostUdpTransport;
  datagramReceived(data: Buffer, addr: Address): void;
  getExtraInfo(): [string, number];
  request(m: Message, addr: Address): Promise<[Message, Address]>;
  close(): Promise<void>;
}

/**
 * A host transport of `conn` on `address` alone (a link-local IPv6 one with
 * its zone), as werift makes its own but bound to that address: its
 * candidate (not announced yet: see announce()) has `localPreference`, and
 * is paired with the remote candidates known. Undefined (the socket closed)
 * when the address cannot be bound or the internals are missing.
 */
export async function addHost(conn: Connection, address: string, localPreference: number, portRange?: [number, number]): Promise<Candidate | undefined> {
  const i = internals(conn);
  if (typeof i.ensureProtocol !== "function" || typeof i.pairLocalProtocol !== "function" || !Array.isArray(i.protocols)) return undefined;
  const ip = canonicalIp(address);
  if (ip === undefined) return undefined;
  const v4 = ipFamily(ip) === 4;
  const protocol = new StunProtocol() as unknown as HostStunProtocol;
  // Before the socket, as werift does: guardReceive() wraps the transport here.
  i.ensureProtocol.call(conn, protocol);
  try {
    // What werift's connectionMade() does, with our transport (see HostUdpTransport).
    const transport = await HostUdpTransport.open(v4 ? "udp4" : "udp6", address, portRange);
    protocol.transport = transport;
    // Looked up per datagram: guardReceive() has replaced datagramReceived.
    transport.onData = (data, addr) => protocol.datagramReceived(data, addr);
  } catch {
    await protocol.close().catch(() => undefined);
    return undefined;
  }
  protocol.localIp = ip;
  i.protocols.push(protocol as unknown as Protocol);
  const port = protocol.getExtraInfo()[1];
  const candidate = new Candidate(candidateFoundation("host", "udp", ip), 1, "udp", candidatePriority("host", localPreference), ip, port, "host", undefined, undefined, undefined, i.generation, i.localUsername);
  protocol.localCandidate = candidate;
  i.pairLocalProtocol.call(conn, protocol as unknown as Protocol);
  return candidate;
}

/** Adds a local candidate to `conn` and reports it (onIceCandidate); false if unsupported. */
export function announce(conn: Connection, candidate: Candidate): boolean {
  const i = internals(conn);
  if (typeof i.appendLocalCandidate !== "function") return false;
  i.appendLocalCandidate.call(conn, candidate);
  return true;
}

/**
 * Our address as `server` sees it (a STUN Binding, RFC 8489) from the host
 * transport behind `host`, or undefined (no answer within `timeoutMs`, a
 * server name without an address of the socket's family, no such transport).
 */
export async function reflexiveAddress(conn: Connection, host: Candidate, server: [string, number], timeoutMs: number): Promise<[string, number] | undefined> {
  const p = (internals(conn).protocols ?? []).find((x) => x.localCandidate === host) as unknown as HostStunProtocol | undefined;
  if (!p || typeof p.request !== "function") return undefined;
  // werift matches the answer's source to the request's address as strings: the server in the form the socket reports.
  const to: Address = [canonicalIp(server[0]) ?? server[0], server[1]];
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), timeoutMs)));
  try {
    const answer = p.request(new Message(methods.BINDING, classes.REQUEST), to).then(
      ([res]) => res.getAttributeValue("XOR-MAPPED-ADDRESS") as [string, number] | undefined,
      () => undefined,
    );
    const mapped = await Promise.race([answer, timeout]);
    if (!mapped) return undefined;
    const ip = canonicalIp(mapped[0]);
    return ip ? [ip, mapped[1]] : undefined;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Calls `fn` once, as soon as werift nominates a pair (its checkComplete()
 * sets `nominated`), rather than when connect() returns: connect() returns
 * only at a 20 ms scheduling tick after its check list is done (it sleeps 20
 * ms between checks and, while more remote candidates may come, keeps
 * scheduling until then), which held the controlled side of a loopback call
 * 20-60 ms after the controlling side had connected. Consent freshness must
 * be running by then (werift's canSendApplicationData() is false until it
 * is): werift starts it at a nomination when its state reads "connected" or
 * "completed", which gathering sets; if it did not, queryConsent() is called
 * here, as connect() does before it returns. False if the internals are
 * missing.
 */
export function onNominated(conn: Connection, fn: () => void): boolean {
  const i = internals(conn) as Internals & { checkComplete?: (pair: CandidatePair) => void; queryConsent?: () => void; consentFresh?: boolean };
  const checkComplete = i.checkComplete;
  const queryConsent = i.queryConsent;
  if (typeof checkComplete !== "function" || typeof queryConsent !== "function") return false;
  let told = false;
  i.checkComplete = (pair) => {
    checkComplete.call(conn, pair);
    if (told || !i.nominated) return;
    told = true;
    if (!i.consentFresh) queryConsent.call(conn);
    // After werift's own bookkeeping for the nomination (the rest of the check list, checkListState).
    queueMicrotask(fn);
  };
  return true;
}

/**
 * RFC 8445 §7.3.1.4: a check that arrives for a pair whose own check is In
 * Progress cancels that transaction and triggers a new check at once; werift
 * triggers checks only for Waiting and Failed pairs, so an In-Progress one
 * waits for the retransmission of a request the peer may have dropped. That
 * is the usual start of a call: the callee checks as soon as it answers, the
 * caller drops those checks until the session-accept brings it the callee's
 * credentials (port-guard.ts), then checks the callee, and the callee's pair
 * became valid (and the caller's nomination took) only at its retransmission
 * ~50 ms later. retriggerInProgress() sends the new check when such a check
 * arrives, once per pair (the first transaction is left to end; its late
 * answer finds the pair succeeded). False if the internals are missing.
 */
export function retriggerInProgress(conn: Connection): boolean {
  const i = internals(conn) as Internals & {
    checkIncoming?: (message: unknown, addr: [string, number], protocol: unknown) => void;
    checkStart?: (pair: CandidatePair) => NonNullable<CandidatePair["handle"]>;
  };
  const checkIncoming = i.checkIncoming;
  const checkStart = i.checkStart;
  if (typeof checkIncoming !== "function" || typeof checkStart !== "function" || !Array.isArray(i.checkList)) return false;
  const retriggered = new WeakSet<CandidatePair>();
  i.checkIncoming = (message, addr, protocol) => {
    const pair = i.checkList!.find((p) => p.protocol === protocol && p.remoteAddr[1] === addr[1] && sameIp(p.remoteAddr[0], addr[0]));
    const inProgress = pair?.state === CandidatePairState.IN_PROGRESS && !retriggered.has(pair);
    checkIncoming.call(conn, message, addr, protocol);
    if (!pair || !inProgress || pair.state !== CandidatePairState.IN_PROGRESS) return;
    retriggered.add(pair);
    const check = checkStart.call(conn, pair);
    pair.handle = check;
    check.awaitable.catch(() => undefined);
  };
  return true;
}

/**
 * A signalled remote candidate whose transport address werift already
 * learned as peer-reflexive (the peer's check came before its candidate,
 * RFC 8445 §7.3.1.3; usual in dual-stack calls, where the other family's
 * candidates are trickled later) takes that candidate over: werift would
 * add a second candidate with the same address and a duplicate pair on each
 * local transport (redundant pairs, which RFC 8445 §6.1.2.4 prunes), and a
 * pair that connected through the learned one went on being reported as
 * "prflx" for the peer's host address. The learned candidate gets the
 * signalled type, foundation, priority and related address, so its pairs
 * (and their priority) are what the signalled candidate's would be. True if
 * `c` was merged that way: do not add it to the connection then.
 */
export function mergeIntoPeerReflexive(conn: Connection, c: Candidate): boolean {
  const known = internals(conn).remoteCandidates;
  if (!Array.isArray(known) || c.type === "prflx") return false;
  const learned = known.find((x) => x.type === "prflx" && x.transport.toLowerCase() === c.transport.toLowerCase() && sameAddress([x.host, x.port], [c.host, c.port]));
  if (!learned) return false;
  learned.type = c.type;
  learned.foundation = c.foundation;
  learned.priority = c.priority;
  learned.relatedAddress = c.relatedAddress;
  learned.relatedPort = c.relatedPort;
  return true;
}

/** Orders `conn`'s check list by RFC 8445 §6.1.2.3 pair priority (priority.ts) instead of werift's; false if unsupported. */
export function orderChecksByPriority(conn: Connection): boolean {
  const i = internals(conn) as Internals & { sortCheckList?: () => void };
  if (typeof i.sortCheckList !== "function" || !Array.isArray(i.checkList)) return false;
  i.sortCheckList = () => {
    const controlling = conn.iceControlling;
    const key = new Map<CandidatePair, bigint>();
    const of = (p: CandidatePair) => {
      let k = key.get(p);
      if (k === undefined) key.set(p, (k = pairPriority(p.localCandidate.priority, p.remoteCandidate.priority, controlling)));
      return k;
    };
    // Highest first; Array.prototype.sort is stable, so equal pairs keep the order they were formed in.
    i.checkList!.sort((a, b) => {
      const d = of(b) - of(a);
      return d > 0n ? 1 : d < 0n ? -1 : 0;
    });
  };
  return true;
}

/**
 * Makes the Allocate requests of werift TURN client `turn` ask for a relayed
 * address of `family` (REQUESTED-ADDRESS-FAMILY, RFC 8656 §18.1; IPv4 is
 * the server's default without it). Call before connectionMade(). False if
 * the internals are missing.
 */
export function requestAddressFamily(turn: object, family: 4 | 6): boolean {
  const t = turn as { requestWithRetry?: (m: Message, addr: Address) => Promise<unknown> };
  const original = t.requestWithRetry;
  if (typeof original !== "function") return false;
  t.requestWithRetry = (m: Message, addr: Address) => {
    // Family (8 bits: 0x01 IPv4, 0x02 IPv6), then 24 reserved bits.
    if (m.messageMethod === methods.ALLOCATE && m.messageClass === classes.REQUEST) m.setAttribute("REQUESTED-ADDRESS-FAMILY", (family === 6 ? 0x02 : 0x01) * 2 ** 24);
    return original.call(turn, m, addr);
  };
  return true;
}
