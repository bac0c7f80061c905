// The ICE part of a call (XEP-0176 over ice/ice-agent.ts): it makes the
// agent with fresh STUN/TURN servers, trickles our candidates once the peer
// knows the session, takes the peer's credentials and candidates (which may
// come before its session-accept), and runs ICE restarts (XEP-0176 §8, RFC
// 8445 §9): ours when the pair went silent or our addresses changed, the
// peer's when its transport-info brings a new ufrag/pwd, both at once, and
// the resending of a restart's transport-info that did not arrive.
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
import type { IceConfig, IcePort } from "./parts.js";

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
  /** True while our ICE restart waits for the peer's new ufrag/pwd. */
  #restartPending = false;
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
          this.#restartPending = false;
          this.#o.on.event({ type: "restarted", pair });
        }
        this.#o.on.connected(pair, restart);
      });
    });
    agent.on("disconnected", (reason) => this.#onSilent(agent, reason));
    agent.on("failed", (reason) => void this.#o.run(() => this.#o.on.failed(reason)));
    void agent.gather().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "gather"));
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
        if (this.#o.ended() || this.#agent !== agent || agent.restarting || agent.state !== "connected") return;
        await this.#restart(reason, true);
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

  /**
   * One content of a transport-info (XEP-0176 §8): a new ufrag/pwd restarts
   * ICE. If we restarted ourselves, it is the peer's answer (also when both
   * restarted at once); otherwise we restart too and send our new ufrag/pwd.
   * Returns false when the content belongs to a generation we left (ignored).
   */
  async transportInfo(content: JingleContent): Promise<boolean> {
    const t = content.transport;
    const known = this.#remote.ufrag;
    if (t?.ufrag && t.ufrag === this.#staleRemoteUfrag && t.ufrag !== known) return false;
    if (this.#agent && t?.ufrag && t.pwd && known && t.ufrag !== known && this.#connected) {
      if (this.#restartPending) {
        this.#restartPending = false;
      } else {
        await this.#restart("the peer restarted ICE", false);
      }
      this.#remote = { ufrag: t.ufrag, pwd: t.pwd, candidates: [] };
    } else if (this.#restartPending && t?.ufrag === known) {
      return false; // candidates of the generation we just left
    }
    this.takeRemote(content);
    return true;
  }

  /** Starts an ICE restart from our side (e.g. our addresses changed); nothing before ICE connected or while ours is pending. */
  async restartFromUs(reason: string): Promise<void> {
    if (!this.#agent || !this.#connected || this.#restartPending) return;
    await this.#restart(reason, true);
  }

  async #restart(reason: string, ours: boolean): Promise<void> {
    const agent = this.#agent;
    if (!agent || this.#o.ended()) return;
    // Fresh servers: TURN credentials from XEP-0215 are short-lived.
    const servers: IceServers = await this.#o.config.servers().catch(() => ({}));
    this.#localQueue = [];
    this.#restartCandidates = [];
    this.#restartResends = 0;
    clearTimeout(this.#restartResendTimer);
    const c = this.#o.config;
    if (!agent.restart({ addresses: c.currentAddresses?.() ?? c.addresses, stun: servers.stun, turn: servers.turn })) return;
    this.#restartPending = ours;
    this.#staleRemoteUfrag = this.#remote.ufrag;
    this.#remote.candidates = [];
    const by: Actor = ours ? "local" : "peer";
    this.#log.info({ reason, by }, "ICE restart");
    this.#o.on.event({ type: "restarting", by, reason });
    // Our new ufrag/pwd at once; the candidates follow as they are gathered.
    await this.#o.sendTransport([]).catch((err: unknown) => this.#onRestartTransportLost(agent.generation, err));
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
        this.#log.info({ generation, candidates: this.#restartCandidates.length, attempt: this.#restartResends }, "resending the ICE restart transport");
        void this.#o.sendTransport([...this.#restartCandidates]).catch((e: unknown) => this.#onRestartTransportLost(generation, e));
      });
    }, delay);
    this.#restartResendTimer.unref?.();
  }

  async #flush(): Promise<void> {
    const agent = this.#agent;
    if (!this.#trickling || this.#o.ended() || this.#localQueue.length === 0 || !agent) return;
    const candidates = this.#localQueue.splice(0);
    const generation = agent.generation;
    // Not awaited: the stream keeps stanzas in order, and a peer that never
    // acknowledges a transport-info must not hold up answer/hangup behind it.
    void this.#o
      .sendTransport(candidates)
      .catch((err: unknown) => (generation > 1 ? this.#onRestartTransportLost(generation, err) : this.#log.warn({ err: errorMessage(err) }, "transport-info not acknowledged")));
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
