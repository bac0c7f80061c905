// Which datagrams at one ICE generation's local transports (host sockets,
// TURN allocations) get past ICE, decided before the ICE library sees them
// (werift-internals.ts hooks its receive path; the library itself answers
// and learns from anything).
//
// STUN requests (connectivity checks, RFC 8445 §7.3):
// - none at all while the peer's ufrag/pwd are unknown: no check is answered
//   (nor a triggered check sent, §7.3.1.4) for a generation whose remote
//   credentials we do not have, since a check we send then could only be
//   "verified" with an empty password;
// - verified on their bytes with our credentials (stun-auth.ts) before
//   anything else looks at them, role conflicts (§7.3.1.1) included;
// - answered at most RATE_BURST at once and RATE_PER_SECOND a second per
//   source (a reflector bound even for someone who has our password);
// - from a new address (a peer-reflexive candidate to learn, §7.3.1.3) only
//   while fewer than MAX_LEARNED_CANDIDATES were learned;
// - queued before the first remote candidate (werift's "early checks",
//   §7.3.1.4 note) only while fewer than MAX_EARLY_CHECKS wait.
// STUN responses go on: the library matches them to its own transactions
// (transaction id, MESSAGE-INTEGRITY with the peer's password, address).
//
// Everything else (DTLS, RTP, RTCP, RFC 7983) only from a source ICE has
// validated: one that sent us a check that verified, or the remote end of a
// pair whose check the peer answered (the valid list, §7.2.5.3.2; an
// ICE-lite peer only ever answers). Not only the selected pair: the
// controlling side may nominate several pairs (aggressive nomination) or
// renominate, and its media then comes from the pair it chose; every one of
// these addresses proved that it holds the peer's credentials. So an
// off-path stranger's datagram is dropped here whatever it contains, and the
// early-datagram buffer of a call (app/call.ts) only ever holds the peer's.
import { verifyCheck, type CheckRejection, type LocalCredentials } from "./stun-auth.js";
import { canonicalIp } from "./ip-address.js";

/** Peer-reflexive candidates learned per generation (RFC 8445 §7.3.1.3). */
export const MAX_LEARNED_CANDIDATES = 32;
/** Verified checks held until the first remote candidate is known. */
export const MAX_EARLY_CHECKS = 16;
/** Checks answered per source: a burst, then a steady rate (libwebrtc checks a weak pair every 48 ms, ~21/s). */
export const RATE_BURST = 40;
export const RATE_PER_SECOND = 25;
/** Sources whose answer rate is tracked (the oldest is forgotten). */
export const MAX_RATE_SOURCES = 256;

/** A datagram's source, on one of our local transports (`local`: an id of the transport). */
export interface Source {
  local: number;
  ip: string;
  port: number;
}

/** What the ICE library would do with a check, from its state. */
export interface RequestContext {
  /** The source is a remote candidate already (signalled, or learned before): nothing new to learn. */
  knownCandidate: boolean;
  /** How many checks wait for the first remote candidate; undefined when checks are handled at once. */
  earlyQueued: number | undefined;
}

export type DropReason = CheckRejection | "no-remote-credentials" | "rate-limited" | "too-many-learned" | "early-queue-full" | "unvalidated-source" | "not-from-turn-server";

export interface PortGuardOptions {
  local: LocalCredentials;
  /** The peer's ufrag, once its credentials are known. */
  remoteUfrag: () => string | undefined;
  /** Milliseconds, monotonic (tests inject a clock). */
  now?: () => number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** An address in one text form (ip-address.ts): "FD00:0::1" is fd00::1, "::ffff:192.0.2.1" on a dual-stack socket is 192.0.2.1. */
const ipKey = (ip: string) => canonicalIp(ip) ?? ip.toLowerCase();
const key = (s: Source) => `${s.local}|${ipKey(s.ip)}|${s.port}`;

export class PortGuard {
  readonly #o: PortGuardOptions;
  readonly #now: () => number;
  /** Sources (local transport + address) validated by a verified check or an answered pair. */
  readonly #validated = new Set<string>();
  /** Addresses that became (or are about to become) peer-reflexive candidates. */
  readonly #learned = new Set<string>();
  readonly #buckets = new Map<string, Bucket>();
  readonly #dropped = new Map<DropReason, number>();

  constructor(o: PortGuardOptions) {
    this.#o = o;
    this.#now = o.now ?? (() => performance.now());
  }

  /** A STUN request from `src`: true when the library may answer it and learn from it. */
  request(d: Buffer, src: Source, ctx: RequestContext): boolean {
    const remoteUfrag = this.#o.remoteUfrag();
    if (remoteUfrag === undefined) return this.drop("no-remote-credentials");
    const v = verifyCheck(d, this.#o.local, remoteUfrag);
    if (!v.ok) return this.drop(v.reason);
    if (!this.#take(key(src))) return this.drop("rate-limited");
    if (ctx.earlyQueued !== undefined && ctx.earlyQueued >= MAX_EARLY_CHECKS) return this.drop("early-queue-full");
    const address = `${ipKey(src.ip)}|${src.port}`;
    if (!ctx.knownCandidate && !this.#learned.has(address)) {
      if (this.#learned.size >= MAX_LEARNED_CANDIDATES) return this.drop("too-many-learned");
      this.#learned.add(address);
    }
    this.#validated.add(key(src));
    return true;
  }

  /** A datagram that is not STUN from `src`: true when it comes from a validated source. */
  data(src: Source, answeredPair: () => boolean): boolean {
    const k = key(src);
    if (this.#validated.has(k)) return true;
    if (answeredPair()) {
      this.#validated.add(k);
      return true;
    }
    return this.drop("unvalidated-source");
  }

  /** Counts a dropped datagram; always false. */
  drop(reason: DropReason): false {
    this.#dropped.set(reason, (this.#dropped.get(reason) ?? 0) + 1);
    return false;
  }

  /** Datagrams dropped so far, by reason. */
  get dropped(): Record<string, number> {
    return Object.fromEntries(this.#dropped);
  }

  /** Token bucket per source (RATE_BURST, RATE_PER_SECOND); the least recently used source is forgotten past MAX_RATE_SOURCES. */
  #take(k: string): boolean {
    const now = this.#now();
    let b = this.#buckets.get(k);
    if (b) {
      this.#buckets.delete(k);
      b.tokens = Math.min(RATE_BURST, b.tokens + ((now - b.at) * RATE_PER_SECOND) / 1000);
      b.at = now;
    } else {
      b = { tokens: RATE_BURST, at: now };
      if (this.#buckets.size >= MAX_RATE_SOURCES) this.#buckets.delete(this.#buckets.keys().next().value!);
    }
    this.#buckets.set(k, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }
}
