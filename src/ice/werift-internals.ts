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
  candidateFoundation,
  candidatePriority,
  classes,
  methods,
  parseMessage,
  type CandidatePair,
  type Connection,
  type StunOverTurnProtocol,
} from "werift-ice";
import type { LocalCredentials } from "./stun-auth.js";
import type { RequestContext, Source } from "./port-guard.js";

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
  const [ip, port] = turn.relayedAddress;
  const [relIp, relPort] = turn.mappedAddress;
  i.ensureProtocol.call(conn, protocol);
  i.protocols.push(protocol as unknown as Protocol);
  const candidate = new Candidate(candidateFoundation("relay", "udp", ip), 1, "udp", candidatePriority("relay", localPreference), ip, port, "relay", relIp, relPort, undefined, i.generation, i.localUsername);
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
}

const normalIp = (ip: string) => (ip.startsWith("::ffff:") ? ip.slice(7) : ip).toLowerCase();
const sameAddress = (a: readonly [string, number] | undefined, b: readonly [string, number]) => !!a && a[1] === b[1] && normalIp(a[0]) === normalIp(b[0]);

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
  const admit = (p: object, data: Buffer, addr: Address): boolean => {
    const src: Source = { local: ids.get(p) ?? -1, ip: addr[0], port: addr[1] };
    let msg: Message | undefined;
    try {
      msg = parseMessage(data);
    } catch {
      msg = undefined;
    }
    if (!msg) return hooks.data(src, () => answeredPair(p, addr));
    if (msg.messageClass !== classes.REQUEST) return true;
    const known = (i.remoteCandidates ?? []).some((c) => c.host === addr[0] && c.port === addr[1]);
    const early = (i.checkList ?? []).length === 0 && !i.earlyChecksDone;
    return hooks.request(data, src, { knownCandidate: known, earlyQueued: early ? (i.earlyChecks ?? []).length : undefined });
  };

  const wrap = (p: HostProtocol & RelayProtocol): boolean => {
    if (ids.has(p)) return true;
    if (p.type === "stun" && typeof p.datagramReceived === "function") {
      const received = p.datagramReceived;
      ids.set(p, nextId++);
      p.datagramReceived = (data, addr) => {
        if (admit(p, data, addr)) received.call(p, data, addr);
      };
      return true;
    }
    const turn = p.turn;
    if (p.type === "turn" && typeof p.handleStunMessage === "function" && turn && typeof turn.dataReceived === "function") {
      const handle = p.handleStunMessage;
      ids.set(p, nextId++);
      // The peer's datagrams, unwrapped from ChannelData or a Data indication, with the peer's address.
      p.handleStunMessage = (data, addr) => {
        if (admit(p, data, addr)) handle.call(p, data, addr);
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
