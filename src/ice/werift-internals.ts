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
import { Message, classes, methods, type Connection, type Candidate } from "werift-ice";

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
