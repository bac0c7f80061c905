// The ICE part of a call (XEP-0176 over ice/ice-agent.ts): it makes the
// agent with fresh STUN/TURN servers, trickles our candidates once the peer
// knows the session, takes the peer's credentials and candidates (which may
// come before its session-accept), and runs ICE restarts (XEP-0176 §8, RFC
// 8445 §9): ours when the pair went silent or our addresses changed, the
// peer's when its transport-info brings a new ufrag/pwd, both at once, and
// the resending of a restart's transport-info that did not arrive.
//
// A restart's transport-infos have the shapes Conversations reads
// (./ice-restart.ts): our offer carries our new ufrag/pwd and no candidate,
// and our candidates follow only once the peer acknowledged it; our answer
// carries our new ufrag/pwd together with the candidates gathered so far.
//
// Its work runs on the call's serial queue (`run`); what the call must act
// on comes back through `on`. Datagrams go from the agent straight to the
// call's media, next to it in the media plane (media-plane/plane-call.ts),
// never through here or the call.
import type { IceAgentOptions, IceServers } from "../../ice/ice-agent.js";
import type { IceCandidate, JingleContent } from "../../jingle/protocol/index.js";
import type { Actor, IceEventType, SelectedPair } from "../../control/protocol.js";
import { errorMessage } from "../../util/errors.js";
import type { Logger } from "../../util/logger.js";
import { readTransportInfo, type IceRestartState, type TransportInfoMeaning } from "./ice-restart.js";
import type { IceConfig, IcePort } from "./parts.js";
import { JingleRefusal } from "./signalling.js";

export interface IceSessionOptions {
  /** The initiator controls (RFC 8445 §6.1.1) and restarts at once when the pair goes silent. */
  role: "initiator" | "responder";
  config: IceConfig;
  makeAgent: (o: IceAgentOptions) => IcePort;
  logger: Logger;
  /** The call's serial queue. */
  run: <T>(task: () => Promise<T> | T) => Promise<T>;
  /** Whether the call has ended. */
  ended: () => boolean;
  /** Sends a transport-info with our current ufrag/pwd and `candidates`; resolves when the peer acknowledged it. */
  sendTransport: (candidates: IceCandidate[]) => Promise<void>;
  on: {
    /** A pair carries media (at first, and after every restart). Runs on the queue. */
    connected: (pair: SelectedPair, restart: boolean) => void;
    /** ICE failed for good. Runs on the queue. */
    failed: (reason: string) => Promise<void>;
    /** What the call reports as an `ice` event. */
    event: (info: { type: IceEventType; by?: Actor; reason?: string; pair?: SelectedPair }) => void;
  };
}

/** A lost restart transport-info is resent this many times at most (500 ms, doubling). */
const MAX_RESTART_RESENDS = 5;
/** When the pair goes silent the responder waits this long, so that the initiator's restart usually comes first. */
const RESPONDER_RESTART_DELAY_MS = 2000;

export class IceSession {
  readonly #o: IceSessionOptions;
  readonly #log: Logger;
  #agent: IcePort | undefined;
  /** The peer's credentials and candidates not yet handed to the agent (they may come before it exists). */
  #remote: { ufrag?: string; pwd?: string; candidates: IceCandidate[] } = { candidates: [] };
  /** Our candidates not yet sent. */
  #localQueue: IceCandidate[] = [];
  /** Our candidates of the current generation after a restart, resent whole if a transport-info is lost. */
  #restartCandidates: IceCandidate[] = [];
  #restartResends = 0;
  #restartResendTimer: NodeJS.Timeout | undefined;
  /** The peer knows the session (our session-initiate or session-accept was acknowledged): candidates may go. */
  #trickling = false;
  #connected = false;
  #pair: SelectedPair | undefined;
  /** Our restart offer: sent (our candidates wait for its acknowledgement), acknowledged (its answer is due), or none. */
  #offer: IceRestartState["offer"] = "none";
  /** We owe the peer the answer to its restart: our new ufrag/pwd with candidates, as soon as there is one. */
  #answerDue = false;
  /** The peer's ufrag before the current restart: its late candidates belong to the old generation. */
  #staleRemoteUfrag: string | undefined;

  constructor(o: IceSessionOptions) {
    this.#o = o;
    this.#log = o.logger;
  }

  /** Whether the agent exists. */
  get exists(): boolean {
    return this.#agent !== undefined;
  }

  /** ICE connected at least once. */
  get connected(): boolean {
    return this.#connected;
  }

  /** The pair that carries media now. */
  get pair(): SelectedPair | undefined {
    return this.#pair;
  }

  /** Our ufrag/pwd of the current generation. */
  get localParameters(): { ufrag: string; pwd: string } {
    return this.#agent!.localParameters;
  }

  /** Makes the agent (with the servers known now) and starts gathering. */
  async start(): Promise<void> {
    const c = this.#o.config;
    const servers: IceServers = await c.servers().catch((err: unknown) => {
      this.#log.warn({ err: errorMessage(err) }, "no STUN/TURN servers");
      return {};
    });
    const agent = this.#o.makeAgent({
      controlling: this.#o.role === "initiator",
      addresses: c.addresses,
      connectTimeoutMs: c.connectTimeoutMs,
      logger: this.#log,
      relayOnly: c.relayOnly,
      ...(servers.stun ? { stun: servers.stun } : {}),
      ...(servers.turn ? { turn: servers.turn } : {}),
      ...(c.portRange ? { portRange: c.portRange } : {}),
    });
    this.#agent = agent;
    agent.on("candidate", (cand) => {
      this.#localQueue.push(cand);
      if (agent.generation > 1) this.#restartCandidates.push(cand);
      if (this.#trickling) void this.#o.run(() => this.#flush());
    });
    agent.on("connected", (pair, { restart }) => {
      void this.#o.run(() => {
        this.#connected = true;
        this.#pair = pair;
        if (restart) {
          this.#offer = "none";
          this.#answerDue = false;
          this.#o.on.event({ type: "restarted", pair });
        }
        this.#o.on.connected(pair, restart);
      });
    });
    agent.on("disconnected", (reason) => this.#onSilent(agent, reason));
    agent.on("failed", (reason) => void this.#o.run(() => this.#o.on.failed(reason)));
    void agent.gather().catch((err: unknown) => (this.#o.ended() ? this.#log.debug : this.#log.warn).call(this.#log, { err: errorMessage(err) }, "gather"));
  }

  /**
   * The pair went silent. Both sides notice; the initiator (controlling)
   * restarts at once, the responder a little later unless the initiator's
   * restart came first.
   */
  #onSilent(agent: IcePort, reason: string): void {
    this.#o.on.event({ type: "disconnected", reason });
    const delay = this.#o.role === "initiator" ? 0 : RESPONDER_RESTART_DELAY_MS;
    setTimeout(() => {
      void this.#o.run(async () => {
        if (this.#o.ended() || this.#agent !== agent || agent.restarting || agent.state !== "connected" || this.#offer !== "none" || this.#answerDue) return;
        await this.#restart(reason);
      });
    }, delay).unref?.();
  }

  /** Our session-initiate or session-accept was acknowledged: our candidates may go now. */
  async startTrickle(): Promise<void> {
    this.#trickling = true;
    await this.#flush();
  }

  /** Takes the peer's ufrag/pwd and candidates from its offer, answer or transport-info. */
  takeRemote(content: JingleContent): void {
    const t = content.transport;
    if (!t) return;
    if (t.ufrag) this.#remote.ufrag = t.ufrag;
    if (t.pwd) this.#remote.pwd = t.pwd;
    this.#remote.candidates.push(...t.candidates);
  }

  /** Hands the agent what the peer sent so far. */
  applyRemote(): void {
    const agent = this.#agent;
    if (!agent) return;
    const { ufrag, pwd } = this.#remote;
    if (ufrag && pwd) agent.setRemoteParameters(ufrag, pwd);
    for (const c of this.#remote.candidates.splice(0)) void agent.addRemoteCandidate(c);
  }

  /** What a transport-info content means now (./ice-restart.ts); the call asks before it acknowledges one. */
  meaning(content: JingleContent): TransportInfoMeaning {
    const t = content.transport;
    return readTransportInfo(
      { role: this.#o.role, connected: this.#connected && this.#agent !== undefined, remoteUfrag: this.#remote.ufrag, staleUfrag: this.#staleRemoteUfrag, offer: this.#offer },
      { ufrag: t?.ufrag, pwd: t?.pwd, candidates: t?.candidates.length ?? 0 },
    );
  }

  /**
   * One content of a transport-info (XEP-0176 §8): candidates of the
   * generation in force, the peer's answer to our restart, or the peer's
   * restart, which we answer. Returns false when the content is dropped (a
   * generation we left; an offer refused with tie-break).
   */
  async transportInfo(content: JingleContent): Promise<boolean> {
    const t = content.transport;
    const meaning = this.meaning(content);
    switch (meaning) {
      case "stale":
        return false;
      case "tie-break":
        // Refused on arrival (App sends the tie-break error and drops it), so this lands here only when it was
        // acknowledged before our own restart began: ours stands, and the peer, the responder, drops its own for it.
        this.#log.info({ ufrag: t?.ufrag }, "the peer's ICE restart crossed ours: ours stands (we initiated the session)");
        return false;
      case "answer":
        this.#offer = "none";
        this.#remote = { ufrag: t!.ufrag!, pwd: t!.pwd!, candidates: [] };
        break;
      case "offer":
        await this.#answerRestart();
        this.#remote = { ufrag: t!.ufrag!, pwd: t!.pwd!, candidates: [] };
        break;
      case "candidates":
        break;
    }
    this.takeRemote(content);
    return true;
  }

  /** Starts an ICE restart from our side (e.g. our addresses changed); nothing before ICE connected or while a restart runs. */
  async restartFromUs(reason: string): Promise<void> {
    if (!this.#agent || !this.#connected || this.#offer !== "none" || this.#answerDue || this.#agent.restarting) return;
    await this.#restart(reason);
  }

  /** Our restart: a new generation, and its ufrag/pwd offered alone (our candidates follow once the peer took it). */
  async #restart(reason: string): Promise<void> {
    const agent = this.#agent;
    if (!agent || this.#o.ended()) return;
    this.#offer = "sent";
    if (!(await this.#newGeneration(agent))) {
      this.#offer = "none";
      return;
    }
    this.#log.info({ reason, by: "local" }, "ICE restart");
    this.#o.on.event({ type: "restarting", by: "local", reason });
    const generation = agent.generation;
    await this.#o.sendTransport([]).then(
      () => this.#offerTaken(generation),
      (err: unknown) => this.#offerRefused(generation, err),
    );
  }

  /**
   * The peer restarts ICE: a new generation of ours (unless our own offer
   * crossed it and lost: that generation is fresh and unseen, and answers),
   * and the answer goes with our first candidates.
   */
  async #answerRestart(): Promise<void> {
    const agent = this.#agent!;
    if (this.#offer === "sent" || this.#offer === "refused") {
      // Glare, and we are the responder: our offer gives way (the initiator refuses it with tie-break).
      this.#log.info("our ICE restart crossed the peer's: answering the peer's (it initiated the session)");
      this.#offer = "none";
    } else {
      if (!(await this.#newGeneration(agent))) return;
      this.#log.info({ reason: "the peer restarted ICE", by: "peer" }, "ICE restart");
      this.#o.on.event({ type: "restarting", by: "peer", reason: "the peer restarted ICE" });
    }
    this.#staleRemoteUfrag = this.#remote.ufrag;
    this.#answerDue = true;
    await this.#flush();
  }

  /** A new generation with fresh servers (TURN credentials from XEP-0215 are short-lived); false when the agent has ended. */
  async #newGeneration(agent: IcePort): Promise<boolean> {
    const servers: IceServers = await this.#o.config.servers().catch(() => ({}));
    if (this.#o.ended() || this.#agent !== agent) return false;
    this.#localQueue = [];
    this.#restartCandidates = [];
    this.#restartResends = 0;
    clearTimeout(this.#restartResendTimer);
    this.#restartResendTimer = undefined;
    const c = this.#o.config;
    if (!agent.restart({ addresses: c.currentAddresses?.() ?? c.addresses, stun: servers.stun, turn: servers.turn })) return false;
    this.#staleRemoteUfrag = this.#remote.ufrag;
    this.#remote.candidates = [];
    return true;
  }

  /** The peer acknowledged our restart offer: its answer is due, and our candidates may go. */
  #offerTaken(generation: number): void {
    if (this.#agent?.generation !== generation || this.#offer !== "sent") return;
    this.#offer = "acked";
    void this.#o.run(() => this.#flush());
  }

  /**
   * Our restart offer was refused. A tie-break (XEP-0166 §9): the session
   * initiator restarted at the same moment and keeps its own; its offer
   * came before this error and is answered. Anything else: not delivered.
   */
  #offerRefused(generation: number, err: unknown): void {
    if (err instanceof JingleRefusal && err.jingleCondition === "tie-break") {
      // Its offer came before this error; it may still wait in our queue behind the restart that sent ours.
      this.#log.info({ generation }, "the peer refused our ICE restart with tie-break: its own stands");
      if (this.#agent?.generation === generation && this.#offer === "sent") this.#offer = "refused";
      return;
    }
    this.#onRestartTransportLost(generation, err);
  }

  /**
   * A transport-info of an ICE restart was not delivered (the peer's or our
   * XMPP connection dropped meanwhile: service-unavailable, a stream that
   * could not be resumed, a timeout). Without it the peer checks with our
   * old ufrag, or never learns our candidates, and the restart cannot
   * connect: resend the generation's whole transport (ufrag/pwd and every
   * candidate so far) after a pause, up to 5 times while it is not connected.
   */
  #onRestartTransportLost(generation: number, err: unknown): void {
    this.#log.warn({ err: errorMessage(err), generation }, "ICE restart transport-info not acknowledged");
    const agent = this.#agent;
    if (!agent || agent.generation !== generation || this.#o.ended() || this.#restartResendTimer || this.#restartResends >= MAX_RESTART_RESENDS) return;
    const delay = 500 * 2 ** this.#restartResends++;
    this.#restartResendTimer = setTimeout(() => {
      this.#restartResendTimer = undefined;
      void this.#o.run(() => {
        if (this.#o.ended() || this.#agent !== agent || agent.generation !== generation || (agent.state === "connected" && !agent.restarting)) return;
        // Our offer again as an offer (no candidate: with candidates it would read as an answer); anything else whole.
        const offer = this.#offer === "sent";
        this.#log.info({ generation, candidates: offer ? 0 : this.#restartCandidates.length, attempt: this.#restartResends, offer }, "resending the ICE restart transport");
        void this.#o.sendTransport(offer ? [] : [...this.#restartCandidates]).then(
          () => (offer ? this.#offerTaken(generation) : undefined),
          (e: unknown) => (offer ? this.#offerRefused(generation, e) : this.#onRestartTransportLost(generation, e)),
        );
      });
    }, delay);
    this.#restartResendTimer.unref?.();
  }

  async #flush(): Promise<void> {
    const agent = this.#agent;
    if (!this.#trickling || this.#o.ended() || !agent) return;
    // Our restart offer waits for the peer's acknowledgement: a candidate with our new ufrag before it would read as an answer.
    if (this.#offer === "sent" || this.#offer === "refused") return;
    const generation = agent.generation;
    if (this.#answerDue) {
      // The answer to the peer's restart: our ufrag/pwd with every candidate of the generation so far (at least one).
      if (this.#restartCandidates.length === 0) return;
      this.#answerDue = false;
      this.#localQueue = [];
      void this.#o.sendTransport([...this.#restartCandidates]).catch((err: unknown) => this.#onRestartTransportLost(generation, err));
      return;
    }
    if (this.#localQueue.length === 0) return;
    const candidates = this.#localQueue.splice(0);
    // Not awaited: the stream keeps stanzas in order, and a peer that never
    // acknowledges a transport-info must not hold up answer/hangup behind it.
    void this.#o
      .sendTransport(candidates)
      .catch((err: unknown) => {
        // After the call ended the peer forgets the session: its refusal of our last candidates is no news.
        if (this.#o.ended()) this.#log.debug({ err: errorMessage(err) }, "transport-info not acknowledged after the call ended");
        else if (generation > 1) this.#onRestartTransportLost(generation, err);
        else this.#log.warn({ err: errorMessage(err) }, "transport-info not acknowledged");
      });
  }

  /** Stops the restart timers and closes the agent. */
  async close(): Promise<void> {
    clearTimeout(this.#restartResendTimer);
    await this.#agent?.close();
  }

  /** Stops the restart timers (the call is ending; the agent closes after the media). */
  stopTimers(): void {
    clearTimeout(this.#restartResendTimer);
  }
}
