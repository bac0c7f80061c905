// ICE (RFC 8445) for one call, behind an interface of our own so that the
// library (werift-ice) can be replaced. Component 1 only: RTP and RTCP are
// multiplexed (RFC 5761) or RTCP is skipped.
import { Connection, type Candidate } from "werift-ice";
import { TypedEmitter } from "../util/events.js";
import type { Logger } from "../util/logger.js";
import { errorMessage } from "../util/errors.js";
import type { IceCandidate } from "../jingle/protocol/index.js";
import { fromJingleCandidate, toJingleCandidate } from "./candidate-map.js";

export interface IceAgentOptions {
  controlling: boolean;
  addresses: string[];
  /** [host, port]; none: no server-reflexive candidates (never a public default). */
  stunServer?: [string, number];
  /** One TURN server (the library takes one): relay candidates. */
  turn?: TurnServer;
  /** Relay candidates only (needs `turn`). */
  relayOnly?: boolean;
  portRange?: [number, number];
  connectTimeoutMs: number;
  logger: Logger;
}

export interface TurnServer {
  host: string;
  port: number;
  username: string;
  password: string;
  transport: "udp" | "tcp" | "tls";
}

export interface CandidateSummary {
  type: string;
  ip: string;
  port: number;
}

export interface SelectedPair {
  local: CandidateSummary;
  remote: CandidateSummary;
}

export type IceAgentEvents = {
  candidate: [candidate: IceCandidate];
  gatheringDone: [];
  connected: [pair: SelectedPair];
  /** Connectivity lost for good (checks failed, timeout, consent expired). */
  failed: [reason: string];
  data: [packet: Buffer];
};

export const ICE_STATES = { new: "new", checking: "checking", connected: "connected", failed: "failed", closed: "closed" } as const;
export type IceAgentState = (typeof ICE_STATES)[keyof typeof ICE_STATES];

export class IceAgent extends TypedEmitter<IceAgentEvents> {
  readonly #conn: Connection;
  readonly #log: Logger;
  readonly #opts: IceAgentOptions;
  #state: IceAgentState = "new";
  #remoteSet = false;
  #remoteCount = 0;
  #gathered = false;
  #connecting = false;
  #deadline: NodeJS.Timeout | undefined;
  #candidateSeq = 0;
  readonly #idPrefix = Math.random().toString(36).slice(2, 8);

  constructor(opts: IceAgentOptions) {
    super();
    this.#opts = opts;
    this.#log = opts.logger.child({ module: "ice" });
    this.#conn = new Connection(opts.controlling, {
      // Host addresses are chosen by us (see addresses.ts): switch off the
      // library's own enumeration and give ours as "additional" addresses.
      useIpv4: false,
      useIpv6: false,
      additionalHostAddresses: opts.addresses,
      ...(opts.addresses.length === 1 && !opts.addresses[0]!.includes(":")
        ? { interfaceAddresses: { udp4: opts.addresses[0]! } }
        : {}),
      ...(opts.portRange ? { portRange: opts.portRange } : {}),
      ...(opts.stunServer ? { stunServer: opts.stunServer } : {}),
      ...(opts.turn
        ? {
            turnServer: [opts.turn.host, opts.turn.port] as [string, number],
            turnUsername: opts.turn.username,
            turnPassword: opts.turn.password,
            turnTransport: opts.turn.transport,
            forceTurn: opts.relayOnly ?? false,
          }
        : {}),
    });
    // The library falls back to a public STUN server when none is given.
    if (!opts.stunServer) this.#conn.stunServer = undefined;
    this.#conn.onIceCandidate.subscribe((c: Candidate) => {
      if (this.#state === "closed") return;
      this.emit("candidate", toJingleCandidate(c, `${this.#idPrefix}${++this.#candidateSeq}`));
    });
    this.#conn.onData.subscribe((data: Buffer) => {
      // While checks finish on our side the peer may already send media over a
      // pair it validated; take it (the media layer checks SSRC / SRTP).
      if (this.#state === "connected" || this.#state === "checking") this.emit("data", data);
    });
    this.#conn.stateChanged.subscribe((s) => {
      this.#log.debug({ state: s }, "werift state");
      if (this.#state === "connected" && (s === "failed" || s === "disconnected")) {
        this.#fail(s === "failed" ? "consent expired" : "disconnected");
      }
    });
  }

  get state(): IceAgentState {
    return this.#state;
  }

  get localParameters(): { ufrag: string; pwd: string } {
    return { ufrag: this.#conn.localUsername, pwd: this.#conn.localPassword };
  }

  /** Gathers host (and srflx) candidates; each is emitted as `candidate` as soon as it is known. */
  async gather(): Promise<void> {
    this.#deadline = setTimeout(() => this.#fail(`no connectivity within ${this.#opts.connectTimeoutMs} ms`), this.#opts.connectTimeoutMs);
    this.#deadline.unref?.();
    await this.#conn.gatherCandidates();
    this.#gathered = true;
    if (this.#state !== "closed") this.emit("gatheringDone");
    this.#maybeConnect();
  }

  setRemoteParameters(ufrag: string, pwd: string): void {
    if (this.#remoteSet && ufrag === this.#conn.remoteUsername && pwd === this.#conn.remotePassword) return;
    this.#conn.setRemoteParams({ iceLite: false, usernameFragment: ufrag, password: pwd });
    this.#remoteSet = true;
    this.#maybeConnect();
  }

  /** Returns false when the candidate is unusable (and ignored). */
  async addRemoteCandidate(c: IceCandidate): Promise<boolean> {
    if (this.#state === "closed" || this.#state === "failed") return false;
    const cand = fromJingleCandidate(c);
    if (!cand) {
      this.#log.debug({ candidate: c }, "ignoring unusable remote candidate");
      return false;
    }
    await this.#conn.addRemoteCandidate(cand);
    this.#remoteCount++;
    this.#maybeConnect();
    return true;
  }

  #maybeConnect(): void {
    if (this.#connecting || this.#state !== "new") return;
    if (!this.#gathered || !this.#remoteSet || this.#remoteCount === 0) return;
    this.#connecting = true;
    this.#state = "checking";
    void this.#runChecks();
  }

  async #runChecks(): Promise<void> {
    // werift's connect() fails when its check list runs empty; with trickle
    // ICE more candidates may still come, so retry until the deadline.
    let seen = -1;
    while (this.#state === "checking") {
      seen = this.#remoteCount;
      try {
        await this.#conn.connect();
        if (this.#state !== "checking") return;
        const pair = this.selectedPair();
        this.#state = "connected";
        clearTimeout(this.#deadline);
        this.#log.info({ pair }, "ice connected");
        this.emit("connected", pair!);
        return;
      } catch (err) {
        this.#log.debug({ err: errorMessage(err) }, "ice checks failed; waiting for more candidates");
        while (this.#state === "checking" && this.#remoteCount === seen) {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  }

  selectedPair(): SelectedPair | undefined {
    const p = this.#conn.nominated;
    if (!p) return undefined;
    const l = p.localCandidate;
    const r = p.remoteCandidate;
    return {
      local: { type: l.type, ip: l.host, port: l.port },
      remote: { type: r.type, ip: r.host, port: r.port },
    };
  }

  send(packet: Buffer): void {
    // While our checks finish, a pair may already be nominated (the library's
    // connect() resolves a little later): answering the peer's first DTLS
    // flight then saves it a retransmission (0.5 s).
    if (this.#state === "connected" || (this.#state === "checking" && this.#conn.nominated)) {
      this.#conn.send(packet).catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, "send failed"));
    }
  }

  #fail(reason: string): void {
    if (this.#state === "closed" || this.#state === "failed") return;
    this.#state = "failed";
    clearTimeout(this.#deadline);
    this.#log.warn({ reason }, "ice failed");
    this.emit("failed", reason);
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearTimeout(this.#deadline);
    try {
      await this.#conn.close();
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, "close");
    }
    this.removeAllListeners();
  }
}
