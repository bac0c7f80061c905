// ICE (RFC 8445) for one call, behind an interface of our own so that the
// library (werift-ice) can be replaced. Component 1 only: RTP and RTCP are
// multiplexed (RFC 5761) or RTCP is skipped.
//
// An ICE restart (RFC 8445 §9, XEP-0176 §8: new ufrag/pwd) starts a new
// generation (ice-generation.ts) with fresh sockets, server-reflexive and
// relay candidates; media keeps using the old generation's pair until the new
// one connects ("make before break"), then the old one is closed.
//
// Timers: connectTimeoutMs bounds the first connection and every restart;
// `disconnected` is reported after disconnectedAfterMs without a consent
// response or packet on the selected pair (the caller restarts ICE then);
// `failed` when consent expires (RFC 7675: 30 s without a response) with no
// newer generation connected.
import type { Candidate } from "werift-ice";
import { TypedEmitter } from "../util/events.js";
import type { Logger } from "../util/logger.js";
import { errorMessage } from "../util/errors.js";
import type { IceCandidate } from "../jingle/protocol/index.js";
import { fromJingleCandidate, toJingleCandidate } from "./candidate-map.js";
import { IceGeneration } from "./ice-generation.js";
import type { SelectedPair } from "../util/vocabulary.js";
import type { TurnServer } from "./turn-allocate.js";
import type { LocalCredentials } from "./stun-auth.js";

export interface IceAgentOptions {
  controlling: boolean;
  addresses: string[];
  /** STUN servers [host, port]: the first of each address family is asked; none: no server-reflexive candidates (never a public default). */
  stun?: [string, number][];
  /** TURN servers: a relay candidate from each (up to MAX_TURN_SERVERS, allocated in parallel). */
  turn?: TurnServer | TurnServer[];
  /** Relay candidates only (needs `turn`). */
  relayOnly?: boolean;
  portRange?: [number, number];
  connectTimeoutMs: number;
  /** How long relay pairs wait for a direct path before they are checked too (default 1000 ms). */
  relayGraceMs?: number;
  /** Silence on the selected pair (no consent response, no packet) reported as `disconnected` (default 7500 ms). */
  disconnectedAfterMs?: number;
  /** TURN over TCP starts after UDP has had this long without an answer (default TCP_AFTER_MS). */
  turnTcpAfterMs?: number;
  /** A TURN allocation not made by then is given up (default ALLOCATE_TIMEOUT_MS). */
  turnTimeoutMs?: number;
  /** Our ufrag/password of the first generation; made by the agent when not given (the owner may need them before the agent exists: media-plane/). */
  localCredentials?: LocalCredentials;
  logger: Logger;
}

/** What the app finds for a call: configured servers first, then the XMPP server's (XEP-0215). */
export interface IceServers {
  stun?: [string, number][];
  turn?: TurnServer[];
}

export type { TurnServer } from "./turn-allocate.js";
export type { CandidateSummary, SelectedPair } from "../util/vocabulary.js";

export type IceAgentEvents = {
  candidate: [candidate: IceCandidate];
  gatheringDone: [];
  /** A pair is selected: at first, and again after every ICE restart. */
  connected: [pair: SelectedPair, info: { restart: boolean; generation: number }];
  /** The selected pair went silent; consent has not expired yet (an ICE restart may save the call). */
  disconnected: [reason: string];
  /** Connectivity lost for good (checks failed, timeout, consent expired). */
  failed: [reason: string];
  data: [packet: Buffer];
};

export const ICE_STATES = { new: "new", checking: "checking", connected: "connected", failed: "failed", closed: "closed" } as const;
export type IceAgentState = (typeof ICE_STATES)[keyof typeof ICE_STATES];

export const RELAY_GRACE_MS = 1000;
export const DISCONNECTED_AFTER_MS = 7500;

/** What a restart may change: a new set of host addresses, fresh STUN/TURN servers (TURN credentials expire). */
export interface RestartOptions {
  addresses?: string[];
  stun?: [string, number][] | undefined;
  turn?: TurnServer | TurnServer[] | undefined;
  /** Our ufrag/password of the new generation; made by the agent when not given. */
  localCredentials?: LocalCredentials;
}

const turnList = (t: TurnServer | TurnServer[] | undefined): TurnServer[] => (t === undefined ? [] : Array.isArray(t) ? t : [t]);

export class IceAgent extends TypedEmitter<IceAgentEvents> {
  readonly #log: Logger;
  readonly #opts: IceAgentOptions;
  #state: IceAgentState = "new";
  #gen: IceGeneration;
  /** The generation that carries media while a restart is under way. */
  #prev: IceGeneration | undefined;
  #seq = 0;
  #deadline: NodeJS.Timeout | undefined;
  #monitor: NodeJS.Timeout | undefined;
  #silentReported = false;
  #candidateSeq = 0;
  readonly #idPrefix = Math.random().toString(36).slice(2, 8);

  constructor(opts: IceAgentOptions) {
    super();
    this.#opts = { ...opts };
    this.#log = opts.logger.child({ module: "ice" });
    this.#gen = this.#newGeneration(opts.localCredentials);
  }

  get state(): IceAgentState {
    return this.#state;
  }

  /** Our ufrag/pwd of the current generation. */
  get localParameters(): { ufrag: string; pwd: string } {
    return this.#gen.localParameters;
  }

  /** The peer's ufrag/pwd as applied to the current generation, if any yet. */
  get remoteParameters(): { ufrag: string; pwd: string } | undefined {
    return this.#gen.remoteParameters;
  }

  /** True from restart() until the new generation is connected. */
  get restarting(): boolean {
    return this.#prev !== undefined;
  }

  get generation(): number {
    return this.#gen.id;
  }

  #newGeneration(localCredentials?: LocalCredentials): IceGeneration {
    const id = ++this.#seq;
    const o = this.#opts;
    const gen: IceGeneration = new IceGeneration({
      id,
      controlling: o.controlling,
      addresses: o.addresses,
      relayOnly: o.relayOnly ?? false,
      relayGraceMs: o.relayGraceMs ?? RELAY_GRACE_MS,
      logger: this.#log,
      ...(o.stun ? { stun: o.stun } : {}),
      turn: turnList(o.turn),
      ...(o.portRange ? { portRange: o.portRange } : {}),
      ...(o.turnTcpAfterMs !== undefined ? { turnTcpAfterMs: o.turnTcpAfterMs } : {}),
      ...(o.turnTimeoutMs !== undefined ? { turnTimeoutMs: o.turnTimeoutMs } : {}),
      ...(localCredentials ? { localCredentials } : {}),
      onCandidate: (c: Candidate) => {
        if (gen !== this.#gen || this.#state === "closed") return;
        this.emit("candidate", toJingleCandidate(c, `${this.#idPrefix}${++this.#candidateSeq}`));
      },
      onGathered: () => {
        if (gen === this.#gen && this.#state !== "closed") this.emit("gatheringDone");
      },
      onConnected: () => this.#onConnected(gen),
      onFailed: (reason) => this.#onGenerationFailed(gen, reason),
      onData: (packet) => {
        if (this.#state !== "closed" && this.#state !== "failed") this.emit("data", packet);
      },
    });
    return gen;
  }

  #armDeadline(what: string): void {
    clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => this.#fail(`${what}: no connectivity within ${this.#opts.connectTimeoutMs} ms`), this.#opts.connectTimeoutMs);
    this.#deadline.unref?.();
  }

  /** Gathers candidates of the current generation; each is emitted as `candidate` as soon as it is known. */
  async gather(): Promise<void> {
    if (this.#state === "new") {
      this.#state = "checking";
      this.#armDeadline("ICE");
    }
    await this.#gen.gather();
  }

  setRemoteParameters(ufrag: string, pwd: string): void {
    if (this.#state === "closed" || this.#state === "failed") return;
    this.#gen.setRemoteParameters(ufrag, pwd);
  }

  /** Returns false when the candidate is unusable (and ignored). */
  async addRemoteCandidate(c: IceCandidate): Promise<boolean> {
    if (this.#state === "closed" || this.#state === "failed") return false;
    const cand = fromJingleCandidate(c);
    if (!cand) {
      this.#log.debug({ candidate: c }, "ignoring unusable remote candidate");
      return false;
    }
    await this.#gen.addRemoteCandidate(cand);
    return true;
  }

  /**
   * ICE restart: a new generation with new ufrag/pwd (read localParameters)
   * that gathers at once. Media stays on the old pair until the new one
   * connects. Returns false when the agent has ended.
   */
  restart(o: RestartOptions = {}): boolean {
    if (this.#state === "closed" || this.#state === "failed") return false;
    if (o.addresses) this.#opts.addresses = o.addresses;
    if ("stun" in o) this.#opts.stun = o.stun;
    if ("turn" in o) this.#opts.turn = o.turn;
    const old = this.#gen;
    // The generation that last carried media keeps doing so; an unconnected one is dropped.
    if (old.state === "connected") {
      if (this.#prev) void this.#prev.close();
      this.#prev = old;
    } else {
      void old.close();
    }
    this.#gen = this.#newGeneration(o.localCredentials);
    this.#silentReported = false;
    this.#log.info({ generation: this.#gen.id, addresses: this.#opts.addresses }, "ice restart");
    this.#state = this.#prev ? "connected" : "checking";
    this.#armDeadline("ICE restart");
    void this.#gen.gather().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "gather"));
    return true;
  }

  #onConnected(gen: IceGeneration): void {
    if (gen !== this.#gen || this.#state === "closed" || this.#state === "failed") return;
    const restart = this.#prev !== undefined || gen.id > 1;
    clearTimeout(this.#deadline);
    if (this.#prev) {
      void this.#prev.close();
      this.#prev = undefined;
    }
    this.#state = "connected";
    this.#silentReported = false;
    this.#startMonitor();
    const pair = gen.selectedPair()!;
    // Our ufrag is no secret (every check carries it in the clear); it matches a log line to a packet capture.
    this.#log.info({ pair, generation: gen.id, ufrag: gen.localParameters.ufrag }, restart ? "ice reconnected after restart" : "ice connected");
    this.emit("connected", pair, { restart, generation: gen.id });
  }

  #onGenerationFailed(gen: IceGeneration, reason: string): void {
    // The generation carrying media lost consent: fatal unless a newer one has taken over.
    const carrying = this.#prev ?? this.#gen;
    if (gen !== carrying) return;
    if (gen === this.#prev && this.#gen.state === "connected") return;
    this.#fail(reason);
  }

  /** Watches the pair that carries media for silence (no consent response, no packet). */
  #startMonitor(): void {
    if (this.#monitor) return;
    const limit = this.#opts.disconnectedAfterMs ?? DISCONNECTED_AFTER_MS;
    this.#monitor = setInterval(() => {
      const carrying = this.#prev ?? this.#gen;
      if (carrying.state !== "connected") return;
      const silence = carrying.silenceMs();
      if (silence >= limit && !this.#silentReported && !this.#prev) {
        this.#silentReported = true;
        this.#log.warn({ silenceMs: Math.round(silence) }, "ice disconnected");
        this.emit("disconnected", `no consent response or packet for ${Math.round(silence)} ms`);
      } else if (silence < limit && this.#silentReported) {
        this.#silentReported = false;
        this.#log.info("ice pair alive again");
      }
    }, 500);
    this.#monitor.unref?.();
  }

  /** The current generation's check list, one line per pair ("host 10.0.1.2:5000 -> srflx 203.0.113.20:6000 SUCCEEDED"). */
  describeChecks(): string[] {
    return this.#gen.describeChecks();
  }

  /** The pair media uses now. */
  selectedPair(): SelectedPair | undefined {
    return (this.#gen.state === "connected" ? this.#gen : (this.#prev ?? this.#gen)).selectedPair();
  }

  send(packet: Buffer): void {
    // While our checks finish, a pair may already be nominated (the library's
    // connect() resolves a little later): answering the peer's first DTLS
    // flight then saves it a retransmission (0.5 s). During a restart the old
    // pair carries media until the new one is up.
    if (this.#state === "closed" || this.#state === "failed") return;
    const gen = this.#gen.state === "connected" || !this.#prev ? this.#gen : this.#prev;
    if (gen.state !== "connected" && !(gen.state === "checking" && gen.nominated)) return;
    gen.send(packet);
  }

  #fail(reason: string): void {
    if (this.#state === "closed" || this.#state === "failed") return;
    this.#state = "failed";
    clearTimeout(this.#deadline);
    clearInterval(this.#monitor);
    this.#log.warn({ reason, checks: this.#gen.describeChecks(), localCandidates: this.#gen.conn.localCandidates.map((c) => `${c.type} ${c.host}:${c.port}`) }, "ice failed");
    this.emit("failed", reason);
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#deadline);
    clearInterval(this.#monitor);
    await Promise.all([this.#gen.close(), this.#prev?.close()]);
    this.#prev = undefined;
    this.removeAllListeners();
  }
}
