// One call: the Jingle session (XEP-0166/0167/0176) <-> the ICE agent <-> the
// media session. Remote actions and local commands are applied through one
// serial queue, so they never interleave across awaits.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Jingle, JingleContent, IceCandidate, PayloadType, ReasonCondition, JmiElement } from "../jingle/protocol/index.js";
import type { Role } from "../jingle/session-manager.js";
import { IceAgent, type SelectedPair } from "../ice/ice-agent.js";
import { MediaSession, type MediaStats } from "../media/media-session.js";
import type { CodecDescriptor } from "../media/codecs/codec.js";
import { createSource } from "../media/sources/index.js";
import { createSink } from "../media/sinks/index.js";
import type { SinkSpec, SourceSpec } from "../config/schema.js";
import type { FrameClock } from "../util/frame-clock.js";
import type { Logger } from "../util/logger.js";
import { SerialQueue } from "../util/serial-queue.js";
import { TypedEmitter } from "../util/events.js";
import { CallError, errorMessage } from "../util/errors.js";
import { answerOffer, applyAnswer, offerPayloadTypes, type Negotiated } from "./negotiation.js";

export const CALL_STATES = {
  outgoing: "outgoing",
  ringing: "ringing",
  incoming: "incoming",
  connecting: "connecting",
  active: "active",
  ended: "ended",
} as const;
export type CallState = (typeof CALL_STATES)[keyof typeof CALL_STATES];

export interface CallInfo {
  id: string;
  sid: string;
  peer: string;
  direction: "outgoing" | "incoming";
  state: CallState;
  startedAt: string;
  answeredAt?: string;
  endedAt?: string;
  codec?: string;
  reason?: string;
  localCandidate?: SelectedPair["local"];
  remoteCandidate?: SelectedPair["remote"];
}

export interface CallDeps {
  id: string;
  sid: string;
  peer: string;
  role: Role;
  /** Our full JID (the Jingle initiator attribute). */
  self: string;
  codecs: CodecDescriptor[];
  input: SourceSpec;
  output: SinkSpec;
  jitterFrames: number;
  ice: { addresses: string[]; stunServer?: [string, number]; portRange?: [number, number]; connectTimeoutMs: number };
  ringTimeoutMs: number;
  clock: FrameClock;
  logger: Logger;
  /** Sends a Jingle action for this session and resolves when the peer acknowledged it. */
  send: (jingle: Omit<Jingle, "sid">) => Promise<void>;
  /** Sends a XEP-0353 message (propose, proceed, reject, ...) to `to`. */
  sendJmi: (to: string, el: JmiElement) => Promise<void>;
}

/**
 * Jingle Message Initiation phase of a call (XEP-0353): before the Jingle
 * session exists the call is a proposal; "proceeded" once the callee's
 * device has said yes (the session-initiate follows with sid = propose id).
 */
type JmiPhase = { role: "caller" | "callee"; state: "proposed" | "proceeded" };

function bareJid(jid: string): string {
  const i = jid.indexOf("/");
  return i < 0 ? jid : jid.slice(0, i);
}

export type CallEvents = {
  state: [state: CallState, info: CallInfo];
  media: [info: { codec: string; pair: SelectedPair }];
  ended: [info: CallInfo & { durationMs: number; text?: string }];
};

const CONTENT_NAME = "audio";

export class Call extends TypedEmitter<CallEvents> {
  readonly #d: CallDeps;
  readonly #log: Logger;
  readonly #queue = new SerialQueue();
  #state: CallState;
  #ice: IceAgent | undefined;
  #media: MediaSession | undefined;
  #negotiated: Negotiated | undefined;
  #contentName = CONTENT_NAME;
  #contentCreator: "initiator" | "responder" = "initiator";
  #remoteOffer: PayloadType[] = [];
  #remoteIce: { ufrag?: string; pwd?: string; candidates: IceCandidate[] } = { candidates: [] };
  #localQueue: IceCandidate[] = [];
  #canTrickle = false;
  #iceConnected = false;
  #pair: SelectedPair | undefined;
  readonly #startedAt = new Date();
  #answeredAt: Date | undefined;
  #endedAt: Date | undefined;
  #reason: string | undefined;
  #ringTimer: NodeJS.Timeout | undefined;
  #recordingPath: string | undefined;
  #peer: string;
  #jmi: JmiPhase | undefined;
  /** True once a Jingle session exists (session-initiate sent or received). */
  #session = false;

  constructor(deps: CallDeps) {
    super();
    this.#d = deps;
    this.#log = deps.logger.child({ call: deps.id, sid: deps.sid });
    this.#peer = deps.peer;
    this.#state = deps.role === "initiator" ? "outgoing" : "incoming";
  }

  get id(): string {
    return this.#d.id;
  }
  get sid(): string {
    return this.#d.sid;
  }
  get state(): CallState {
    return this.#state;
  }
  /** The peer: a bare JID while a proposal is out, the full JID of its device after. */
  get peer(): string {
    return this.#peer;
  }
  /** The XEP-0353 phase, while the call is a proposal. */
  get jmi(): Readonly<JmiPhase> | undefined {
    return this.#jmi;
  }
  get hasSession(): boolean {
    return this.#session;
  }
  get recordingPath(): string | undefined {
    return this.#recordingPath;
  }

  info(): CallInfo {
    const i: CallInfo = {
      id: this.#d.id,
      sid: this.#d.sid,
      peer: this.#peer,
      direction: this.#d.role === "initiator" ? "outgoing" : "incoming",
      state: this.#state,
      startedAt: this.#startedAt.toISOString(),
    };
    if (this.#answeredAt) i.answeredAt = this.#answeredAt.toISOString();
    if (this.#endedAt) i.endedAt = this.#endedAt.toISOString();
    if (this.#negotiated) i.codec = this.#negotiated.codec.name;
    if (this.#reason) i.reason = this.#reason;
    if (this.#pair) {
      i.localCandidate = this.#pair.local;
      i.remoteCandidate = this.#pair.remote;
    }
    return i;
  }

  stats(): (MediaStats & { recording?: string }) | undefined {
    const s = this.#media?.stats();
    if (!s) return undefined;
    return this.#recordingPath ? { ...s, recording: this.#recordingPath } : s;
  }

  #setState(state: CallState): void {
    if (this.#state === state || this.#state === "ended") return;
    this.#state = state;
    this.#log.info({ state }, "call state");
    this.emit("state", state, this.info());
  }

  // ------------------------------------------------------------ outgoing

  /** Sends session-initiate; resolves once the peer acknowledged it, rejects (and ends the call) if not. */
  start(): Promise<void> {
    return this.#queue.run(async () => {
      const ice = this.#createIce(true);
      const gathering = ice.gather().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "gather"));
      this.#session = true;
      try {
        await this.#d.send({
          action: "session-initiate",
          initiator: this.#d.self,
          contents: [this.#content(offerPayloadTypes(this.#d.codecs), [])],
        });
      } catch (err) {
        await this.#end("general-error", { send: false, text: errorMessage(err) });
        throw new CallError("peer-unavailable", `${this.#peer} did not accept the session: ${errorMessage(err)}`);
      }
      this.#canTrickle = true;
      await this.#flushCandidates();
      void gathering;
    });
  }

  /** XEP-0353: proposes the call to every device of a bare JID. */
  propose(): Promise<void> {
    return this.#queue.run(async () => {
      this.#jmi = { role: "caller", state: "proposed" };
      await this.#d.sendJmi(bareJid(this.#peer), { action: "propose", id: this.#d.sid, media: ["audio"] });
    });
  }

  /**
   * A JMI message about this call from `from`. The caller takes ringing,
   * proceed and reject from the callee's devices; the callee takes retract.
   */
  jmiReceived(el: JmiElement, from: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended" || !this.#jmi) return;
      if (bareJid(from).toLowerCase() !== bareJid(this.#peer).toLowerCase()) return;
      if (this.#jmi.role === "caller") {
        if (el.action === "ringing" && this.#state === "outgoing") this.#setState("ringing");
        else if (el.action === "reject" && this.#jmi.state === "proposed") {
          await this.#end(el.reason?.condition ?? "decline", { send: false, ...(el.reason?.text ? { text: el.reason.text } : {}) });
        }
        // proceed is handled by the app (the session must be registered first): see proceeded().
      } else if (el.action === "retract" && this.#jmi.state === "proposed" && !this.#session) {
        await this.#end(el.reason?.condition ?? "cancel", { send: false, text: el.reason?.text ?? "the caller cancelled" });
      }
    });
  }

  /** The callee's device `fullJid` proceeded: start the Jingle session with it. */
  async proceeded(fullJid: string): Promise<void> {
    await this.#queue.run(() => {
      if (!this.#jmi || this.#jmi.state !== "proposed") throw new CallError("invalid-state", "no proposal is pending");
      this.#jmi.state = "proceeded";
      this.#peer = fullJid;
      // Other devices of the callee stop ringing when they see our session
      // start; tell them explicitly too (they may have missed the proceed).
    });
    await this.start();
  }

  /** Another device of our own account answered or declined this proposal (carbon). */
  handledElsewhere(action: "proceed" | "reject"): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state !== "incoming" || !this.#jmi || this.#session) return;
      await this.#end(action === "proceed" ? "cancel" : "decline", {
        send: false,
        text: action === "proceed" ? "answered on another device" : "declined on another device",
      });
    });
  }

  /** An incoming XEP-0353 proposal: ring (or answer at once). */
  proposed(autoAnswer: boolean): Promise<void> {
    return this.#queue.run(async () => {
      this.#jmi = { role: "callee", state: "proposed" };
      await this.#d.sendJmi(this.#peer, { action: "ringing", id: this.#d.sid }).catch((err: unknown) =>
        this.#log.debug({ err: errorMessage(err) }, "ringing not sent"),
      );
      this.#ringTimer = setTimeout(() => void this.hangup("timeout").catch(() => undefined), this.#d.ringTimeoutMs);
      if (autoAnswer) await this.#answer();
    });
  }

  // ------------------------------------------------------------ incoming

  /** Takes the session-initiate of an incoming call; rings or refuses it. */
  offer(jingle: Jingle, autoAnswer: boolean): Promise<void> {
    return this.#queue.run(async () => {
      this.#session = true;
      const content = jingle.contents.find((c) => c.description?.media === "audio");
      if (!content?.description) {
        await this.#end("unsupported-applications", { send: true, text: "no audio content" });
        return;
      }
      if (!content.transport) {
        await this.#end("unsupported-transports", { send: true, text: "no ICE-UDP transport" });
        return;
      }
      this.#contentName = content.name;
      this.#contentCreator = content.creator;
      this.#remoteOffer = content.description.payloadTypes;
      const answer = answerOffer(this.#remoteOffer, this.#d.codecs);
      if (!answer) {
        await this.#end("failed-application", { send: true, text: "no codec in common" });
        return;
      }
      this.#negotiated = answer.chosen;
      this.#takeRemoteTransport(content);
      if (this.#jmi?.state === "proceeded") {
        // The user already answered the proposal: accept the session now.
        await this.#acceptSession();
        return;
      }
      await this.#d.send({ action: "session-info", contents: [], info: { type: "ringing" } }).catch((err: unknown) =>
        this.#log.debug({ err: errorMessage(err) }, "ringing not acknowledged"),
      );
      if (this.#state === "ended") return;
      this.#ringTimer = setTimeout(() => void this.hangup("timeout").catch(() => undefined), this.#d.ringTimeoutMs);
      if (autoAnswer) await this.#answer();
    });
  }

  answer(): Promise<void> {
    return this.#queue.run(() => this.#answer());
  }

  async #answer(): Promise<void> {
    if (this.#d.role !== "responder" || this.#state !== "incoming") {
      throw new CallError("invalid-state", `call ${this.#d.id} is ${this.#state}; only an incoming ringing call can be answered`);
    }
    clearTimeout(this.#ringTimer);
    if (this.#jmi && !this.#session) {
      // XEP-0353: say yes to the proposing device; its session-initiate follows.
      this.#jmi.state = "proceeded";
      this.#answeredAt = new Date();
      this.#setState("connecting");
      await this.#d.sendJmi(this.#peer, { action: "proceed", id: this.#d.sid });
      // Tell our other devices (a carbon goes to them as well) and give the
      // caller a bound: no session-initiate within the ring timeout ends it.
      this.#ringTimer = setTimeout(() => void this.hangup("timeout").catch(() => undefined), this.#d.ringTimeoutMs);
      return;
    }
    await this.#acceptSession();
  }

  async #acceptSession(): Promise<void> {
    clearTimeout(this.#ringTimer);
    const answer = answerOffer(this.#remoteOffer, this.#d.codecs)!;
    this.#prepareMedia();
    if (!this.#media) return; // media setup failed: the call is ending with media-error
    const ice = this.#createIce(false);
    const gathering = ice.gather().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "gather"));
    this.#applyRemoteIce(ice);
    this.#answeredAt = new Date();
    this.#setState("connecting");
    await this.#d.send({
      action: "session-accept",
      responder: this.#d.self,
      contents: [this.#content(answer.payloadTypes, [])],
    });
    this.#canTrickle = true;
    await this.#flushCandidates();
    void gathering;
  }

  reject(reason: ReasonCondition = "decline"): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#d.role !== "responder" || this.#state !== "incoming") {
        throw new CallError("invalid-state", `call ${this.#d.id} is ${this.#state}; only an incoming ringing call can be rejected`);
      }
      await this.#end(reason, { send: true });
    });
  }

  /** Ends the call from our side (session-terminate with `reason`). */
  hangup(reason: ReasonCondition = "success"): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      // An outgoing call not yet answered is cancelled rather than ended successfully.
      const r = reason === "success" && !this.#answeredAt && this.#d.role === "initiator" ? "cancel" : reason;
      await this.#end(r, { send: true });
    });
  }

  // ------------------------------------------------------------ remote actions

  remote(jingle: Jingle): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      switch (jingle.action) {
        case "session-accept":
          return this.#onAccept(jingle);
        case "transport-info":
          for (const c of jingle.contents) this.#takeRemoteTransport(c);
          if (this.#ice) this.#applyRemoteIce(this.#ice);
          return;
        case "session-info":
          if (jingle.info?.type === "ringing" && this.#state === "outgoing") this.#setState("ringing");
          return;
        case "session-terminate":
          await this.#end(jingle.reason?.condition ?? "success", { send: false, ...(jingle.reason?.text ? { text: jingle.reason.text } : {}) });
          return;
        default:
          this.#log.info({ action: jingle.action }, "ignoring unsupported action");
      }
    });
  }

  async #onAccept(jingle: Jingle): Promise<void> {
    const content = jingle.contents.find((c) => c.name === this.#contentName) ?? jingle.contents[0];
    const negotiated = content?.description && applyAnswer(content.description.payloadTypes, this.#d.codecs);
    if (!content || !negotiated) {
      await this.#end("failed-application", { send: true, text: "session-accept without a usable codec" });
      return;
    }
    this.#negotiated = negotiated;
    this.#answeredAt = new Date();
    this.#setState("connecting");
    this.#prepareMedia();
    this.#takeRemoteTransport(content);
    if (this.#ice) this.#applyRemoteIce(this.#ice);
    this.#maybeStartMedia();
  }

  // ------------------------------------------------------------ ICE

  #createIce(controlling: boolean): IceAgent {
    const ice = new IceAgent({
      controlling,
      addresses: this.#d.ice.addresses,
      connectTimeoutMs: this.#d.ice.connectTimeoutMs,
      logger: this.#log,
      ...(this.#d.ice.stunServer ? { stunServer: this.#d.ice.stunServer } : {}),
      ...(this.#d.ice.portRange ? { portRange: this.#d.ice.portRange } : {}),
    });
    this.#ice = ice;
    ice.on("candidate", (c) => {
      this.#localQueue.push(c);
      if (this.#canTrickle) void this.#queue.run(() => this.#flushCandidates());
    });
    ice.on("connected", (pair) => {
      void this.#queue.run(async () => {
        this.#iceConnected = true;
        this.#pair = pair;
        this.#maybeStartMedia();
      });
    });
    ice.on("failed", (reason) => {
      void this.#queue.run(() => this.#end("connectivity-error", { send: true, text: `ICE failed: ${reason}` }));
    });
    ice.on("data", (packet) => this.#media?.receive(packet));
    return ice;
  }

  #takeRemoteTransport(content: JingleContent): void {
    const t = content.transport;
    if (!t) return;
    if (t.ufrag) this.#remoteIce.ufrag = t.ufrag;
    if (t.pwd) this.#remoteIce.pwd = t.pwd;
    this.#remoteIce.candidates.push(...t.candidates);
  }

  #applyRemoteIce(ice: IceAgent): void {
    const { ufrag, pwd } = this.#remoteIce;
    if (ufrag && pwd) ice.setRemoteParameters(ufrag, pwd);
    const cands = this.#remoteIce.candidates.splice(0);
    for (const c of cands) void ice.addRemoteCandidate(c);
  }

  async #flushCandidates(): Promise<void> {
    if (!this.#canTrickle || this.#state === "ended" || this.#localQueue.length === 0 || !this.#ice) return;
    const candidates = this.#localQueue.splice(0);
    await this.#d
      .send({ action: "transport-info", contents: [this.#content(undefined, candidates)] })
      .catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "transport-info not acknowledged"));
  }

  #content(payloadTypes: PayloadType[] | undefined, candidates: IceCandidate[]): JingleContent {
    const { ufrag, pwd } = this.#ice!.localParameters;
    return {
      creator: this.#contentCreator,
      name: this.#contentName,
      senders: "both",
      ...(payloadTypes
        ? { description: { media: "audio", payloadTypes, rtcpMux: true, headerExtensions: [] } }
        : {}),
      transport: { ufrag, pwd, candidates },
    };
  }

  // ------------------------------------------------------------ media

  /**
   * Opens source, sink and codec as soon as the codec is settled (answer sent
   * or received): loading and resampling a WAV can take a while, and must not
   * happen while the peer's first packets arrive. Packets received before
   * ICE reports connected are already taken.
   */
  #prepareMedia(): void {
    if (this.#media || !this.#negotiated || this.#state === "ended") return;
    const { codec, payloadType } = this.#negotiated;
    try {
      const source = createSource(this.#d.input, codec.pcmRate);
      const sinkSpec = this.#resolveSink(this.#d.output);
      const sink = createSink(sinkSpec, codec.pcmRate);
      this.#media = new MediaSession({
        codec,
        payloadType,
        source,
        sink,
        clock: this.#d.clock,
        send: (p) => this.#ice?.send(p),
        jitterFrames: this.#d.jitterFrames,
        logger: this.#log,
      });
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, "media setup failed");
      void this.#queue.run(() => this.#end("media-error", { send: true, text: errorMessage(err) }));
    }
  }

  #maybeStartMedia(): void {
    if (!this.#iceConnected || !this.#answeredAt || this.#state === "ended") return;
    this.#prepareMedia();
    if (!this.#media || this.#state === "active") return;
    this.#media.start();
    this.#setState("active");
    this.emit("media", { codec: this.#negotiated!.codec.name, pair: this.#pair! });
  }

  #resolveSink(spec: SinkSpec): SinkSpec {
    if (spec.type !== "file") return spec;
    const safePeer = this.#peer.replace(/[^A-Za-z0-9@._-]/g, "_");
    const path = spec.path
      .replaceAll("{callId}", this.#d.id)
      .replaceAll("{sid}", this.#d.sid.replace(/[^A-Za-z0-9_-]/g, "_"))
      .replaceAll("{peer}", safePeer)
      .replaceAll("{time}", this.#startedAt.toISOString().replace(/[:.]/g, "-"));
    mkdirSync(dirname(path), { recursive: true });
    this.#recordingPath = path;
    return { ...spec, path };
  }

  // ------------------------------------------------------------ end

  async #end(reason: ReasonCondition, opts: { send: boolean; text?: string }): Promise<void> {
    if (this.#state === "ended") return;
    clearTimeout(this.#ringTimer);
    const wasState = this.#state;
    this.#state = "ended";
    this.#reason = reason;
    this.#endedAt = new Date();
    this.#log.info({ reason, text: opts.text, from: wasState }, "call ended");
    const jreason = { condition: reason, ...(opts.text ? { text: opts.text } : {}) };
    if (opts.send && !this.#session && this.#jmi) {
      // No Jingle session yet: withdraw or refuse the proposal instead.
      const action = this.#jmi.role === "caller" ? "retract" : "reject";
      await this.#d
        .sendJmi(this.#jmi.role === "caller" ? bareJid(this.#peer) : this.#peer, { action, id: this.#d.sid, reason: jreason })
        .catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, `${action} not sent`));
    } else if (opts.send && this.#session) {
      await this.#d
        .send({ action: "session-terminate", contents: [], reason: jreason })
        .catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, "session-terminate not acknowledged"));
    }
    if (this.#jmi && this.#session && opts.send) {
      // XEP-0353 §3.6: the side that ends a JMI-started call sends finish (call logs on every device).
      await this.#d.sendJmi(bareJid(this.#peer), { action: "finish", id: this.#d.sid, reason: jreason }).catch(() => undefined);
    }
    const stats = this.#media?.stats();
    await this.#media?.stop().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "media stop"));
    await this.#ice?.close();
    const durationMs = this.#answeredAt ? this.#endedAt.getTime() - this.#answeredAt.getTime() : 0;
    this.#finalStats = stats;
    this.emit("ended", { ...this.info(), durationMs, ...(opts.text ? { text: opts.text } : {}) });
  }

  #finalStats: MediaStats | undefined;

  /** Media statistics, also after the call ended. */
  finalStats(): (MediaStats & { recording?: string }) | undefined {
    const s = this.#finalStats ?? this.#media?.stats();
    if (!s) return undefined;
    return this.#recordingPath ? { ...s, recording: this.#recordingPath } : s;
  }
}

