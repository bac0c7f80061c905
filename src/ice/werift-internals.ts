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
import { Candidate, Message, candidateFoundation, candidatePriority, classes, methods, type Connection, type StunOverTurnProtocol } from "werift-ice";

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
