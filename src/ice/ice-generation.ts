// One ICE "generation" (RFC 8445 §9: everything between two ICE restarts):
// one werift Connection with its own ufrag/pwd, local transports, check list
// and consent freshness (RFC 7675). The IceAgent (ice-agent.ts) owns one or,
// while a restart is under way, two of them.
//
// What this adds to werift:
// - checks start as soon as there are remote credentials and a remote
//   candidate, without waiting for gathering (a STUN or TURN server that does
//   not answer would otherwise hold the call up for seconds); candidates found
//   later are paired as they come, TURN ones included (werift forgets those);
// - relay pairs are held back for a grace period (werift nominates
//   aggressively: the first pair that works wins, and a relay pair must not
//   beat a direct one that needs one more retransmission to punch its NAT);
// - liveness: the time of the last consent response or packet on the selected
//   pair, for an early "disconnected" long before consent expires;
// - TURN: relay candidates from every TURN server, allocated by us in
//   parallel (turn-allocate.ts), not from the one server werift takes;
// - host candidates on sockets bound to their own address, IPv4 and IPv6,
//   ranked per RFC 6724/RFC 8421 (priority.ts) and announced best first;
//   server-reflexive ones from the first STUN server of each family, relay
//   ones over each family we have addresses in (turn-allocate.ts); pairs
//   checked in RFC 8445 order (werift's is not), a link-local address only
//   with a link-local one;
// - trust (issue 12): our own ufrag/password (stun-auth.ts); every datagram
//   at our transports passes a PortGuard (port-guard.ts) before werift sees
//   it; remote candidates wait for the peer's ufrag/pwd, so that no check is
//   sent or answered without them (werift would check with an empty
//   password, and a stranger could answer such a check).
import { Candidate, CandidatePairState, Connection, candidateFoundation, type CandidatePair } from "werift-ice";
import type { Logger } from "../util/logger.js";
import { errorMessage } from "../util/errors.js";
import {
  addHost, adoptRelay, announce, closeLocal, deleteAllocation, guardReceive, guardSockets, mediaSender, mergeIntoPeerReflexive, onNominated, orderChecksByPriority, retriggerInProgress, pairLocal, reflexiveAddress, releaseTurnAllocations, setLocalCredentials,
} from "./werift-internals.js";
import { allocateRelay, distinctTurnServers, type TurnServer } from "./turn-allocate.js";
import { newLocalCredentials, type LocalCredentials } from "./stun-auth.js";
import { PortGuard } from "./port-guard.js";
import { canonicalIp, ipFamily, isLinkLocalV6, type IpFamily } from "./ip-address.js";
import { candidatePriority, rankHostAddresses } from "./priority.js";
import type { CandidateType, SelectedPair } from "../util/vocabulary.js";

/** A STUN server gets this long to answer (werift's own limit). */
const STUN_TIMEOUT_MS = 5000;

export interface GenerationOptions {
  id: number;
  controlling: boolean;
  addresses: string[];
  /** STUN servers: the first of each family (a name counts for both) gives the server-reflexive candidates of that family. */
  stun?: [string, number][];
  /** Every TURN server: one relay candidate from each (turn-allocate.ts). */
  turn?: TurnServer[];
  relayOnly: boolean;
  /** Passed to allocateRelay (tests shorten them). */
  turnTcpAfterMs?: number;
  turnTimeoutMs?: number;
  portRange?: [number, number];
  relayGraceMs: number;
  /** Our ufrag/password (RFC 8445 §5.3; stun-auth.ts); made here when not given. */
  localCredentials?: LocalCredentials;
  logger: Logger;
  onCandidate: (c: Candidate) => void;
  onGathered: () => void;
  onConnected: () => void;
  /** Consent expired (RFC 7675 §5.1: 30 s without a response). */
  onFailed: (reason: string) => void;
  onData: (packet: Buffer) => void;
}

/** Remote candidates taken per generation (see addRemoteCandidate). */
export const MAX_REMOTE_CANDIDATES = 100;

export type GenerationState = "new" | "checking" | "connected" | "failed" | "closed";

function isRelayPair(pair: CandidatePair): boolean {
  const local = (pair.protocol as { localCandidate?: Candidate }).localCandidate;
  return local?.type === "relay" || pair.remoteCandidate.type === "relay";
}

/** A link-local IPv6 address reaches only link-local ones, and is reached only from them (as libwebrtc pairs). */
function sameScope(pair: CandidatePair): boolean {
  const local = (pair.protocol as { localCandidate?: Candidate }).localCandidate;
  return !local || isLinkLocalV6(local.host) === isLinkLocalV6(pair.remoteCandidate.host);
}

/** The families we have routable host addresses in. */
function familiesOf(addresses: readonly string[]): Set<IpFamily> {
  return new Set(addresses.filter((a) => !isLinkLocalV6(a)).map((a) => ipFamily(a)).filter((f): f is IpFamily => f !== undefined));
}

export class IceGeneration {
  readonly id: number;
  readonly conn: Connection;
  state: GenerationState = "new";
  readonly #o: GenerationOptions;
  readonly #log: Logger;
  #gatherStarted = false;
  #remoteSet = false;
  #remoteCount = 0;
  #remoteTaken = 0;
  readonly #remoteKeys = new Set<string>();
  /** Remote candidates that came before the peer's ufrag/pwd: they wait. */
  #waiting: Candidate[] = [];
  readonly #guard: PortGuard;
  #relayReleased: boolean;
  #relayTimer: NodeJS.Timeout | undefined;
  #checksStartedAt = 0;
  /** performance.now() of the last consent response or packet on the selected pair. */
  #lastAliveAt = 0;
  #aliveMark = -1;
  /** The pair #direct sends on, and how (mediaSender: undefined for a relayed pair). */
  #directPair: CandidatePair | undefined;
  #direct: ((packet: Buffer) => boolean) | undefined;

  constructor(o: GenerationOptions) {
    this.id = o.id;
    this.#o = o;
    this.#log = o.logger.child({ generation: o.id });
    this.#relayReleased = o.relayOnly || o.relayGraceMs <= 0;
    this.conn = new Connection(o.controlling, {
      // Host addresses are chosen by us (see addresses.ts) and their sockets
      // made by us (#gatherHosts): the library's own enumeration is off, and
      // so are its STUN queries (IPv4 only) and its one TURN server.
      useIpv4: false,
      useIpv6: false,
      additionalHostAddresses: [],
      ...(o.portRange ? { portRange: o.portRange } : {}),
      forceTurn: o.relayOnly,
      filterCandidatePair: (pair) => sameScope(pair) && (this.#relayReleased || !isRelayPair(pair)),
    });
    if (!orderChecksByPriority(this.conn)) this.#log.warn("werift-ice internals changed: pairs are checked in the library's order");
    if (!onNominated(this.conn, () => this.#connected())) this.#log.warn("werift-ice internals changed: connected only when the library's connect() returns");
    if (!retriggerInProgress(this.conn)) this.#log.warn("werift-ice internals changed: no triggered check for a pair in progress");
    const local = o.localCredentials ?? newLocalCredentials();
    this.#guard = new PortGuard({ local, remoteUfrag: () => (this.#remoteSet ? this.conn.remoteUsername : undefined) });
    // Without these the transports would take anything from anyone: refuse to run at all.
    if (!setLocalCredentials(this.conn, local)) throw new Error("werift-ice internals changed: cannot set the ICE credentials");
    const guarded = guardReceive(this.conn, {
      request: (d, src, ctx) => this.#guard.request(d, src, ctx),
      data: (src, answered) => this.#guard.data(src, answered),
      foreign: () => this.#guard.drop("not-from-turn-server"),
      unsupported: (type) => this.#log.warn({ type }, "werift-ice transport of an unknown kind: it receives nothing"),
      // Host transports hand data here directly; relayed data still comes through conn.onData below.
      deliver: (data) => {
        if (this.state !== "closed") o.onData(data);
      },
    });
    if (!guarded) throw new Error("werift-ice internals changed: cannot check the sources of datagrams");
    // The library falls back to a public STUN server when none is given; ours are asked by #gatherHosts.
    this.conn.stunServer = undefined;
    this.conn.onIceCandidate.subscribe((c: Candidate) => {
      if (this.state === "closed") {
        // Gathering outlived the generation (a slow TURN server): do not leak the allocation.
        if (c.type === "relay") void closeLocal(this.conn, c);
        return;
      }
      guardSockets(this.conn, (err) => this.#log.debug({ err: errorMessage(err) }, "socket error"));
      // A TURN allocation that completes after checks began is not paired by the library.
      if (c.type === "relay" && this.#relayReleased) pairLocal(this.conn, c);
      this.#log.debug({ type: c.type, ip: c.host, port: c.port }, "local candidate");
      o.onCandidate(c);
    });
    this.conn.onData.subscribe((data: Buffer) => {
      if (this.state === "closed") return;
      o.onData(data);
    });
    this.conn.stateChanged.subscribe((s) => {
      this.#log.debug({ state: s }, "werift state");
      if (s === "failed" && this.state === "connected") {
        this.state = "failed";
        o.onFailed("consent expired");
      }
    });
  }

  get localParameters(): { ufrag: string; pwd: string } {
    return { ufrag: this.conn.localUsername, pwd: this.conn.localPassword };
  }

  get remoteParameters(): { ufrag: string; pwd: string } | undefined {
    return this.#remoteSet ? { ufrag: this.conn.remoteUsername, pwd: this.conn.remotePassword } : undefined;
  }

  /** Gathers host (and srflx, relay) candidates; each is reported as soon as it is known. */
  async gather(): Promise<void> {
    if (this.#gatherStarted) return;
    this.#gatherStarted = true;
    // Gathers nothing itself (see the constructor); the library needs it called before connect().
    const gathering = this.conn.gatherCandidates();
    const hosts = this.#gatherHosts();
    const relays = this.#gatherRelays();
    this.#maybeCheck();
    await Promise.all([gathering, hosts, relays]);
    if (this.state === "closed") return;
    guardSockets(this.conn, (err) => this.#log.debug({ err: errorMessage(err) }, "socket error"));
    this.#o.onGathered();
  }

  /**
   * One socket per host address, bound to it; the candidates are announced
   * together, best first (the peer checks in the order it learns them), then
   * a server-reflexive candidate for each from a STUN server of its family.
   */
  async #gatherHosts(): Promise<void> {
    if (this.#o.relayOnly) return;
    const ranked = rankHostAddresses(this.#o.addresses);
    const made = await Promise.all(ranked.map((r) => addHost(this.conn, r.address, r.localPreference, this.#o.portRange)));
    const hosts: { candidate: Candidate; localPreference: number }[] = [];
    for (const [i, candidate] of made.entries()) {
      if (!candidate) {
        this.#log.warn({ address: ranked[i]!.address }, "cannot open a UDP socket on this host address: no candidate from it");
        continue;
      }
      // Closed meanwhile: the library closed the transports it had, not these.
      if (this.state === "closed") void closeLocal(this.conn, candidate);
      else hosts.push({ candidate, localPreference: ranked[i]!.localPreference });
    }
    if (this.state === "closed") return;
    for (const h of hosts) announce(this.conn, h.candidate);
    await Promise.all(hosts.map((h) => this.#reflexive(h.candidate, h.localPreference)));
  }

  /** The server-reflexive candidate of one host candidate, when a STUN server of its family sees another address (RFC 8445 §5.1.3: not a copy of the host). */
  async #reflexive(host: Candidate, localPreference: number): Promise<void> {
    if (isLinkLocalV6(host.host)) return;
    const family = ipFamily(host.host);
    const server = (this.#o.stun ?? []).find(([h]) => ipFamily(h) === undefined || ipFamily(h) === family);
    if (!server) return;
    const mapped = await reflexiveAddress(this.conn, host, server, STUN_TIMEOUT_MS);
    if (!mapped || this.state === "closed") return;
    if (mapped[0] === host.host && mapped[1] === host.port) return;
    const c = new Candidate(candidateFoundation("srflx", "udp", host.host), 1, "udp", candidatePriority("srflx", localPreference), mapped[0], mapped[1], "srflx", host.host, host.port, undefined, host.generation, host.ufrag);
    announce(this.conn, c);
  }

  /**
   * One allocation per TURN server and family we have host addresses in,
   * all at once; each relay candidate is announced as soon as it is made.
   */
  async #gatherRelays(): Promise<void> {
    const servers = distinctTurnServers(this.#o.turn ?? []);
    const wanted = () => this.state !== "closed";
    const ours = familiesOf(this.#o.addresses);
    const jobs = servers.flatMap((server, index) => {
      const literal = ipFamily(server.host);
      // A literal server address decides the family; a name is tried in each of ours.
      const families: IpFamily[] = literal ? (ours.size === 0 || ours.has(literal) ? [literal] : []) : ours.size ? [...ours] : [4];
      return families.map((family) => ({ server, index, family }));
    });
    await Promise.all(
      jobs.map(async ({ server, index, family }) => {
        // The UDP socket on our one address of that family, if there is just one.
        const local = this.#o.addresses.filter((a) => ipFamily(a) === family && !isLinkLocalV6(a));
        const a = await allocateRelay(
          server,
          {
            logger: this.#log,
            family,
            ...(this.#o.portRange ? { portRange: this.#o.portRange } : {}),
            ...(local.length === 1 ? { udpAddress: local[0]! } : {}),
            ...(this.#o.turnTcpAfterMs !== undefined ? { tcpAfterMs: this.#o.turnTcpAfterMs } : {}),
            ...(this.#o.turnTimeoutMs !== undefined ? { timeoutMs: this.#o.turnTimeoutMs } : {}),
          },
          wanted,
        );
        if (!a) return;
        if (!wanted()) {
          await deleteAllocation(a.protocol.turn as never);
          return;
        }
        // The first configured server is preferred among equally good relays, and IPv6 over IPv4 on one server (RFC 8421).
        if (!adoptRelay(this.conn, a.protocol, 65535 - 2 * index - (family === 4 ? 1 : 0))) {
          this.#log.warn("werift internals changed: relay candidate not added");
          await deleteAllocation(a.protocol.turn as never);
          return;
        }
        const relayed = a.protocol.turn.relayedAddress;
        this.#log.info({ server: `${server.host}:${server.port}`, via: a.via, family, relayed: `${canonicalIp(relayed[0]) ?? relayed[0]}:${relayed[1]}`, ms: a.ms }, "relay candidate");
      }),
    );
  }

  setRemoteParameters(ufrag: string, pwd: string): void {
    if (!ufrag || !pwd) return;
    if (this.#remoteSet && ufrag === this.conn.remoteUsername && pwd === this.conn.remotePassword) return;
    this.conn.setRemoteParams({ iceLite: false, usernameFragment: ufrag, password: pwd });
    this.#remoteSet = true;
    for (const c of this.#waiting.splice(0)) void this.#takeRemote(c);
    this.#maybeCheck();
  }

  async addRemoteCandidate(c: Candidate): Promise<void> {
    if (this.state === "closed" || this.state === "failed") return;
    // A resent transport-info (after a lost one, see call.ts) repeats candidates: pair each once.
    const key = `${c.transport} ${c.host} ${c.port}`.toLowerCase();
    if (this.#remoteKeys.has(key)) return;
    this.#remoteKeys.add(key);
    // RFC 8445 §6.1.2.5 bounds the checklist (100 pairs by default): a peer
    // naming thousands of addresses across transport-infos gets the first
    // ones checked, not a scan of whatever it names.
    // Counted before the await: callers add a stanza's candidates without awaiting each.
    if (this.#remoteTaken++ >= MAX_REMOTE_CANDIDATES) {
      if (this.#remoteTaken === MAX_REMOTE_CANDIDATES + 1) this.#log.warn({ max: MAX_REMOTE_CANDIDATES }, "too many remote candidates; ignoring the rest");
      return;
    }
    // Paired only once the peer's credentials are known: werift answers and
    // sends triggered checks on the pairs of a candidate, with whatever
    // remote password it has (none yet).
    if (!this.#remoteSet) {
      this.#waiting.push(c);
      return;
    }
    await this.#takeRemote(c);
  }

  async #takeRemote(c: Candidate): Promise<void> {
    if (this.state === "closed" || this.state === "failed") return;
    if (mergeIntoPeerReflexive(this.conn, c)) this.#log.debug({ type: c.type, ip: c.host, port: c.port }, "remote candidate (was learned as peer-reflexive)");
    else {
      await this.conn.addRemoteCandidate(c);
      this.#log.debug({ type: c.type, ip: c.host, port: c.port }, "remote candidate");
    }
    this.#remoteCount++;
    this.#maybeCheck();
  }

  #maybeCheck(): void {
    if (this.state !== "new" || !this.#gatherStarted || !this.#remoteSet || this.#remoteCount === 0) return;
    this.state = "checking";
    this.#checksStartedAt = performance.now();
    if (!this.#relayReleased) {
      this.#relayTimer = setInterval(() => this.#maybeReleaseRelay(), 50);
      this.#relayTimer.unref?.();
    }
    void this.#runChecks();
  }

  /** Relay pairs join the check list after the grace period, or once every direct pair has failed. */
  #maybeReleaseRelay(): void {
    if (this.#relayReleased || this.state !== "checking") {
      clearInterval(this.#relayTimer);
      return;
    }
    const elapsed = performance.now() - this.#checksStartedAt;
    const direct = this.conn.checkList.filter((p) => !isRelayPair(p));
    const allFailed = direct.length > 0 && direct.every((p) => p.state === CandidatePairState.FAILED);
    if (elapsed < this.#o.relayGraceMs && !(allFailed && elapsed >= 200)) return;
    this.#relayReleased = true;
    clearInterval(this.#relayTimer);
    this.#log.debug({ elapsedMs: Math.round(elapsed), directFailed: allFailed }, "relay pairs released");
    pairLocal(this.conn);
  }

  async #runChecks(): Promise<void> {
    // connect() keeps scheduling while more remote candidates may come (we
    // never signal end-of-candidates) and resolves once a pair is nominated;
    // onNominated() usually tells first.
    while (this.state === "checking") {
      try {
        await this.conn.connect();
        this.#connected();
        return;
      } catch (err) {
        if (this.state !== "checking") return;
        this.#log.debug({ err: errorMessage(err) }, "ice checks failed; retrying");
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** A pair is nominated (werift-internals onNominated(), or connect() returned): media may flow. */
  #connected(): void {
    if (this.state !== "checking") return;
    this.state = "connected";
    clearInterval(this.#relayTimer);
    this.#lastAliveAt = performance.now();
    this.#o.onConnected();
  }

  /** The nominated pair, once there is one (possibly before connect() returned). */
  get nominated(): CandidatePair | undefined {
    return this.conn.nominated;
  }

  selectedPair(): SelectedPair | undefined {
    const p = this.conn.nominated;
    if (!p) return undefined;
    const l = p.localCandidate;
    const r = p.remoteCandidate;
    return { local: { type: l.type as CandidateType, ip: l.host, port: l.port }, remote: { type: r.type as CandidateType, ip: r.host, port: r.port } };
  }

  /**
   * Milliseconds since the selected pair last showed that the peer reaches
   * us: a packet, or the peer's own consent check on the pair.
   *
   * Answers to our consent checks do not count once the peer has sent checks
   * of its own: they only prove the path towards the peer. When a NAT
   * re-maps our side (a symmetric NAT that forgot its mapping), the peer
   * answers our checks at our new port, yet its media and checks still go to
   * the old one and are dropped: we hear nothing while "consent" looks fine.
   * A peer that never sent a check (ICE-lite) is judged by the answers too.
   */
  silenceMs(): number {
    const p = this.conn.nominated;
    if (!p) return 0;
    const inbound = p.packetsReceived + p.requestsReceived;
    const mark = p.requestsReceived > 0 ? inbound : inbound + p.responsesReceived;
    const now = performance.now();
    if (mark !== this.#aliveMark) {
      this.#aliveMark = mark;
      this.#lastAliveAt = now;
    }
    return now - this.#lastAliveAt;
  }

  /** The check list, one line per pair ("host 10.0.1.2:5000 -> srflx 203.0.113.20:6000 FAILED"), for diagnostics. */
  describeChecks(): string[] {
    return this.conn.checkList.map((p) => {
      const l = (p.protocol as { localCandidate?: Candidate }).localCandidate;
      const r = p.remoteCandidate;
      return `${l?.type} ${l?.host}:${l?.port} -> ${r.type} ${r.host}:${r.port} ${CandidatePairState[p.state]}`;
    });
  }

  /**
   * One datagram to the peer on the nominated pair: on a host pair straight
   * on its socket (werift-internals.ts, mediaSender), on a relayed one
   * through werift (ChannelData or a Send indication to the TURN server).
   * Nothing before a pair is nominated or once consent has expired.
   */
  send(packet: Buffer): void {
    const pair = this.conn.nominated;
    if (!pair) return;
    if (pair !== this.#directPair) {
      this.#directPair = pair;
      this.#direct = mediaSender(this.conn, pair);
    }
    if (this.#direct) this.#direct(packet);
    else this.conn.send(packet).catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, "send failed"));
  }

  async close(): Promise<void> {
    if (this.state === "closed") return;
    this.state = "closed";
    clearInterval(this.#relayTimer);
    // The peer's first checks often overtake its credentials (they travel through the XMPP server): only other drops are news.
    const dropped = this.#guard.dropped;
    const reasons = Object.keys(dropped);
    if (reasons.some((r) => r !== "no-remote-credentials")) this.#log.info({ dropped }, "datagrams dropped at the media port");
    else if (reasons.length > 0) this.#log.debug({ dropped }, "datagrams dropped at the media port");
    try {
      await releaseTurnAllocations(this.conn);
      await this.conn.close();
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, "close");
    }
  }
}
