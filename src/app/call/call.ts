// One call: a coordinator over parts with one job each (StanzaJS's Session,
// ICESession and MediaSession; baresip's call, mnat and menc):
//
//   ./signalling.ts   the Jingle session: its phase, offer/answer, what is sent
//   ./ice-session.ts  ICE: trickle, restarts, generations
//   ./security.ts     plain RTP or DTLS-SRTP, our DTLS role (pure)
//   ../media-plane/   the ICE agent, source, sink, codec and transport,
//                     on a media thread or here (a CallMedia); hold and mute
//
// The call holds what the user sees (its state, when it was answered and
// ended, why) and decides when each part moves. Remote actions and local
// commands are applied through one serial queue, so they never interleave
// across awaits. Its media comes from the plane it is given (a test gives
// an in-process plane with fakes instead of sockets).
import type { Actor, CallInfo, CallState } from "../../control/protocol.js";
import type { Jingle, JingleContent, JmiElement, ReasonCondition } from "../../jingle/protocol/index.js";
import type { Role } from "../../jingle/session-manager.js";
import { codecId } from "../../media/codecs/codec.js";
import { opusBackend } from "../../media/codecs/opus-backend.js";
import type { BridgeLink } from "../../media/audio-bridge.js";
import type { SinkSpec } from "../../media/sinks/sink.js";
import type { SourceSpec } from "../../media/sources/source.js";
import { CallError, errorMessage } from "../../util/errors.js";
import { TypedEmitter } from "../../util/events.js";
import type { Logger } from "../../util/logger.js";
import { SerialQueue } from "../../util/serial-queue.js";
import type { CallMedia } from "../media-plane/call-media.js";
import { TransportFailure, type CallMediaStats, type MediaSetup } from "../media-plane/plane-protocol.js";
import { IceSession } from "./ice-session.js";
import { encoderOptionsFor, type Negotiated, type OfferOptions } from "./negotiation.js";
import type { CallDeps, CallEvents } from "./parts.js";
import { CallSecurity } from "./security.js";
import { JingleSignalling, SignallingPhase, type EndReason, type LocalTransport } from "./signalling.js";

export type { CallDeps, CallEvents } from "./parts.js";

/**
 * Who answered or ended a call, as the log's audit lines say it. Commands
 * name their client instead ("socket client 3", "mqtt client 1").
 */
export const By = {
  /** The peer: its session-terminate, reject, retract, or its answer. */
  Peer: "peer",
  /** The daemon itself: a refused offer, a security or media failure, ICE giving up. */
  Jingled: "jingled",
  RingTimeout: "ring timeout",
  /** The server bounced our proposal: nobody to reach. */
  Server: "server",
  /** Another device of our own account answered or declined (carbons). */
  OtherDevice: "another device",
  AutoAnswer: "auto-answer policy",
  Shutdown: "shutdown",
  Unknown: "unknown",
} as const;

/**
 * After our proceed, the caller's session-initiate must come within this
 * long (Conversations sends it after one XEP-0215 query and setting up its
 * peer connection: a second or two); otherwise the call ends at once
 * instead of after the ring timeout (the caller hung up, its retract lost).
 */
export const INITIATE_AFTER_PROCEED_MS = 10_000;

export class Call extends TypedEmitter<CallEvents> {
  readonly #d: CallDeps;
  readonly #log: Logger;
  readonly #queue = new SerialQueue();
  readonly #signal: JingleSignalling;
  readonly #ice: IceSession;
  readonly #media: CallMedia;
  #state: CallState;
  readonly #startedAt: Date;
  #answeredAt: Date | undefined;
  #endedAt: Date | undefined;
  #reason: string | undefined;
  #ringTimer: NodeJS.Timeout | undefined;
  /** Our proceed is out; the caller's session-initiate is due (INITIATE_AFTER_PROCEED_MS). */
  #initiateTimer: NodeJS.Timeout | undefined;
  readonly #security: CallSecurity;

  constructor(deps: CallDeps) {
    super();
    this.#d = deps;
    this.#startedAt = deps.startedAt ?? new Date();
    this.#log = deps.logger.child({ call: deps.id, sid: deps.sid });
    this.#state = deps.role === "initiator" ? "outgoing" : "incoming";
    this.#security = new CallSecurity({ ...deps.dtls, role: deps.role });
    const prefs = deps.mediaPrefs ?? {};
    const offer: OfferOptions = { ...(prefs.encoder ? { encoder: prefs.encoder } : {}), ...(prefs.ptimeMs ? { ptimeMs: prefs.ptimeMs } : {}) };
    this.#signal = new JingleSignalling({
      sid: deps.sid,
      role: deps.role,
      self: deps.self,
      peer: deps.peer,
      codecs: deps.codecs,
      rtcpMux: deps.rtcpMux,
      offer,
      logger: this.#log,
      send: deps.send,
      sendJmi: deps.sendJmi,
    });
    const { name: _name, ...log } = this.#log.bindings();
    this.#media = deps.plane.open({
      callId: deps.id,
      sid: deps.sid,
      startedAt: this.#startedAt.toISOString(),
      input: deps.input,
      output: deps.output,
      jitterFrames: deps.jitterFrames,
      prefs,
      log,
      ...(deps.quiet ? { quiet: true } : {}),
    });
    this.#media.on("dtmf", (digit, durationMs) => this.emit("dtmf", digit, durationMs));
    this.#media.on("file", (...args) => this.emit("file", ...args));
    // failed-application, not media-error: Conversations shows media-error as a connectivity error (docs/interop.md).
    this.#media.on("deviceFailed", () => void this.hangup("failed-application", By.Jingled).catch(() => undefined));
    // An exception in the call's media, or its media thread gone: the same for the peer (our application failed).
    this.#media.on("failed", (text) => void this.#queue.run(() => this.#end("failed-application", { send: true, text: `media failed: ${text}`, by: By.Jingled })).catch(() => undefined));
    this.#ice = new IceSession({
      role: deps.role,
      config: deps.ice,
      makeAgent: (o) => this.#media.ice(o),
      logger: this.#log,
      run: (task) => this.#queue.run(task),
      ended: () => this.#state === "ended",
      sendTransport: (candidates) => this.#signal.transportInfo({ ice: this.#ice.localParameters, candidates }),
      on: {
        connected: () => this.#maybeStartMedia(),
        failed: (reason) => this.#end("connectivity-error", { send: true, text: `ICE failed: ${reason}`, by: By.Jingled }),
        event: (info) => this.emit("ice", info),
      },
    });
    if (deps.role === "initiator") this.#log.info({ to: deps.peer, by: deps.placedBy ?? By.Unknown }, "outgoing call");
    else this.#log.info({ from: deps.peer }, "incoming call");
  }

  get id(): string {
    return this.#d.id;
  }
  get sid(): string {
    return this.#d.sid;
  }
  get role(): Role {
    return this.#d.role;
  }
  get state(): CallState {
    return this.#state;
  }
  /** The peer: a bare JID while a proposal is out, the full JID of its device after. */
  get peer(): string {
    return this.#signal.peer;
  }
  /** Where the signalling stands: XEP-0353 proposal, then the Jingle session. */
  get phase(): SignallingPhase {
    return this.#signal.phase;
  }
  /** The call began as a XEP-0353 proposal. */
  get proposal(): boolean {
    return this.#signal.proposal;
  }
  /** Answered by either side (proceed or session-accept, sent or received). */
  get answered(): boolean {
    return this.#answeredAt !== undefined;
  }
  get recordingPath(): string | undefined {
    return this.#media.recordingPath;
  }

  info(): CallInfo {
    const i: CallInfo = {
      id: this.#d.id,
      sid: this.#d.sid,
      peer: this.peer,
      direction: this.#d.role === "initiator" ? "outgoing" : "incoming",
      state: this.#state,
      startedAt: this.#startedAt.toISOString(),
    };
    if (this.#answeredAt) i.answeredAt = this.#answeredAt.toISOString();
    if (this.#endedAt) i.endedAt = this.#endedAt.toISOString();
    const negotiated = this.#signal.negotiated;
    if (negotiated) i.codec = negotiated.codec.name;
    if (this.#reason) i.reason = this.#reason;
    const pair = this.#ice.pair;
    if (pair) {
      i.localCandidate = pair.local;
      i.remoteCandidate = pair.remote;
    }
    if (this.#media.held) i.held = true;
    if (this.#media.muted) i.muted = true;
    if (this.#signal.peerHeld) i.peerHeld = true;
    if (this.#signal.peerMuted) i.peerMuted = true;
    return i;
  }

  /**
   * Media statistics (and the output file, when it is one), also after the
   * call ended: the latest known (from a media thread at most about a second
   * old; at the end, those at the end).
   */
  stats(): CallMediaStats | undefined {
    return this.#media.stats();
  }

  /** Media statistics no older than `maxAgeMs` (0: of now). */
  freshStats(maxAgeMs = 0): Promise<CallMediaStats | undefined> {
    return this.#media.freshStats(maxAgeMs);
  }

  #setState(state: CallState): void {
    if (this.#state === state || this.#state === "ended") return;
    this.#state = state;
    this.#log.debug({ state }, "call state");
    this.emit("state", state, this.info());
  }

  /** Our side of an offer or answer: ICE credentials and our fingerprint. */
  #local(): LocalTransport {
    const fingerprint = this.#security.local();
    return { ice: this.#ice.localParameters, candidates: [], ...(fingerprint ? { fingerprint } : {}) };
  }

  // ------------------------------------------------------------ outgoing

  /** Sends session-initiate; resolves once the peer acknowledged it, rejects (and ends the call) if not. */
  start(): Promise<void> {
    return this.#queue.run(async () => {
      await this.#ice.start();
      try {
        await this.#signal.initiate(this.#local());
      } catch (err) {
        await this.#end("general-error", { send: false, text: errorMessage(err), by: By.Peer });
        throw new CallError("peer-unavailable", `${this.peer} did not accept the session: ${errorMessage(err)}`);
      }
      if (!this.#answeredAt && !this.#signal.proposal) this.#armRingTimer();
      await this.#ice.startTrickle();
    });
  }

  /** XEP-0353: proposes the call to every device of a bare JID. */
  propose(): Promise<void> {
    return this.#queue.run(async () => {
      await this.#signal.propose();
      this.#armRingTimer();
    });
  }

  /**
   * A JMI message about this call from `from`. The caller takes ringing and
   * reject from the callee's devices (proceed: see proceeded()); the callee
   * takes retract.
   */
  jmiReceived(el: JmiElement, from: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      const what = this.#signal.jmiReceived(el, from, this.#d.role === "initiator" && this.#answeredAt !== undefined);
      if (what === "ringing" && this.#state === "outgoing") this.#setState("ringing");
      else if (what && what !== "ringing") await this.#end(what.condition, { send: false, by: By.Peer, ...(what.text ? { text: what.text } : {}) });
    });
  }

  /**
   * Tie-break lost (XEP-0353 §4.1): the peer proposed to us at the same time
   * with the lower id; our proposal is retracted with <tie-break/> and reason
   * expired, and the peer's goes on.
   */
  giveWay(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      await this.#end("expired", { send: true, text: "Tie-Break", tieBreak: true, by: By.Jingled });
    });
  }

  /**
   * The peer proposed a new session while this one is answered: it continues
   * there (XEP-0353 §4.2: a device switch, a restart after a crash). This one
   * is finished with reason expired and <migrated to=newSid/>, and its
   * Jingle session terminated, so that a device still in it stops too.
   */
  migrate(newSid: string, text: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      await this.#end("expired", { send: true, text, migratedTo: newSid, by: By.Peer });
    });
  }

  /** The callee's device `fullJid` proceeded: start the Jingle session with it. */
  async proceeded(fullJid: string): Promise<void> {
    await this.#queue.run(() => this.#signal.proceededBy(fullJid));
    await this.start();
  }

  /** Another device of our own account answered or declined this proposal (carbon). */
  handledElsewhere(action: "proceed" | "reject"): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state !== "incoming" || !this.#signal.proposal || this.#signal.phase === SignallingPhase.Session) return;
      await this.#end(action === "proceed" ? "cancel" : "decline", {
        send: false,
        by: By.OtherDevice,
        text: action === "proceed" ? "answered on another device" : "declined on another device",
      });
    });
  }

  /** An incoming XEP-0353 proposal: ring (or answer at once). */
  proposed(autoAnswer: boolean): Promise<void> {
    return this.#queue.run(async () => {
      await this.#signal.proposed();
      this.#armRingTimer();
      if (autoAnswer) await this.#answer();
    });
  }

  // ------------------------------------------------------------ incoming

  /** Takes the session-initiate of an incoming call; rings or refuses it. */
  offer(jingle: Jingle, autoAnswer: boolean): Promise<void> {
    return this.#queue.run(async () => {
      const offer = this.#signal.takeOffer(jingle);
      if (!offer.ok) {
        await this.#end(offer.condition, { send: true, text: offer.text, by: By.Jingled });
        return;
      }
      this.#takeTransport(offer.content);
      const refused = this.#security.decide();
      if (refused) {
        await this.#end("security-error", { send: true, text: refused, by: By.Jingled });
        return;
      }
      if (offer.proceeded) {
        // The user already answered the proposal: accept the session now.
        await this.#acceptSession();
        return;
      }
      const ringing = this.#signal.sessionInfo({ type: "ringing" }, true);
      // Answering at once: the stream keeps ringing ahead of session-accept,
      // and its acknowledgement (a round trip through the server) is not
      // worth delaying the call for.
      if (!autoAnswer) await ringing;
      if (this.#state === "ended") return;
      this.#armRingTimer();
      if (autoAnswer) await this.#answer();
    });
  }

  /** `by`: who answers, for the log (a control client, the auto-answer policy). */
  answer(by: string = By.Unknown): Promise<void> {
    return this.#queue.run(() => this.#answer(by));
  }

  async #answer(by: string = By.AutoAnswer): Promise<void> {
    if (this.#d.role !== "responder" || this.#state !== "incoming") {
      throw new CallError("invalid-state", `call ${this.#d.id} is ${this.#state}; only an incoming ringing call can be answered`);
    }
    this.#log.info({ peer: this.peer, by }, "call answered");
    clearTimeout(this.#ringTimer);
    if (this.#signal.proposal && this.#signal.phase !== SignallingPhase.Session) {
      // XEP-0353: say yes to the proposing device; its session-initiate follows.
      this.#answeredAt = new Date();
      this.#setState("connecting");
      await this.#signal.proceed();
      // Our other devices learn of it from the server's carbon of this
      // proceed (XEP-0280). The caller's session-initiate follows at once.
      this.#armInitiateTimer();
      return;
    }
    await this.#acceptSession();
  }

  async #acceptSession(): Promise<void> {
    clearTimeout(this.#ringTimer);
    clearTimeout(this.#initiateTimer);
    await this.#prepareMedia();
    if (!this.#media.prepared) return; // media setup failed: the call is ending with failed-application
    await this.#ice.start();
    this.#connectTransport();
    this.#ice.applyRemote();
    this.#answeredAt = new Date();
    this.#setState("connecting");
    await this.#signal.accept(this.#local());
    await this.#ice.startTrickle();
  }

  /** `by`: who refuses, for the log. */
  reject(reason: ReasonCondition = "decline", by: string = By.Unknown): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#d.role !== "responder" || this.#state !== "incoming") {
        throw new CallError("invalid-state", `call ${this.#d.id} is ${this.#state}; only an incoming ringing call can be rejected`);
      }
      await this.#end(reason, { send: true, by });
    });
  }

  /** Ends the call from our side (session-terminate with `reason`); `by`: who, for the log. */
  hangup(reason: ReasonCondition = "success", by: string = By.Unknown): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      // An outgoing call not yet answered is cancelled rather than ended successfully.
      const r = reason === "success" && !this.#answeredAt && this.#d.role === "initiator" ? "cancel" : reason;
      await this.#end(r, { send: true, by });
    });
  }

  /**
   * The peer's full JID went offline (unavailable presence, RFC 6121 §4.5.2):
   * the call ends now with XEP-0166 reason gone, instead of after the ICE
   * consent timeout. Nothing is sent: nobody is there to answer.
   */
  peerGone(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      await this.#end("gone", { send: false, text: "the peer went offline", by: By.Peer });
    });
  }

  /**
   * Our XEP-0353 proposal reached no device (the server bounced it:
   * jingle/proposal-bounce.ts): the call ends now, nothing is sent (there is
   * nobody to tell). `text` says why.
   */
  unreachable(text: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      await this.#end("general-error", { send: false, text, by: By.Server });
    });
  }

  /** Starts an ICE restart from our side (e.g. our addresses changed); no-op before ICE connected. */
  restartIce(reason: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      await this.#ice.restartFromUs(reason);
    });
  }

  // ------------------------------------------------------------ remote actions

  /**
   * The Jingle error to acknowledge this action with instead of a result,
   * decided on arrival: an ICE restart of the peer's that crossed ours while
   * we initiated the session is refused with tie-break (./ice-restart.ts).
   */
  refusal(jingle: Jingle): "tie-break" | undefined {
    if (jingle.action !== "transport-info" || this.#state === "ended") return undefined;
    return jingle.contents.some((c) => this.#ice.meaning(c) === "tie-break") ? "tie-break" : undefined;
  }

  remote(jingle: Jingle): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      switch (jingle.action) {
        case "session-accept":
          return this.#onAccept(jingle);
        case "transport-info":
          for (const c of jingle.contents) {
            if (await this.#ice.transportInfo(c)) this.#security.takeRemote(c.transport?.fingerprint);
          }
          this.#ice.applyRemote();
          return;
        case "session-info":
          if (jingle.info?.type === "ringing" && this.#state === "outgoing") this.#setState("ringing");
          else if (jingle.info) {
            const change = this.#signal.peerInfo(jingle.info.type);
            if (change === "held" || change === "resumed") this.#media.setPeerHeld(change === "held");
            if (change) this.emit("control", change, "peer");
          }
          return;
        case "session-terminate":
          await this.#end(jingle.reason?.condition ?? "success", { send: false, by: By.Peer, ...(jingle.reason?.text ? { text: jingle.reason.text } : {}) });
          return;
        default:
          this.#log.info({ action: jingle.action }, "ignoring unsupported action");
      }
    });
  }

  async #onAccept(jingle: Jingle): Promise<void> {
    const content = this.#signal.takeAnswer(jingle);
    if (!content) {
      await this.#end("failed-application", { send: true, text: "session-accept without a usable codec", by: By.Jingled });
      return;
    }
    this.#log.info({ peer: this.peer, by: By.Peer }, "call answered");
    clearTimeout(this.#ringTimer);
    this.#answeredAt = new Date();
    this.#setState("connecting");
    await this.#prepareMedia();
    this.#takeTransport(content);
    const refused = this.#security.decide();
    if (refused) {
      await this.#end("security-error", { send: true, text: refused, by: By.Jingled });
      return;
    }
    this.#connectTransport();
    this.#ice.applyRemote();
    this.#maybeStartMedia();
  }

  /** The peer's ICE credentials, candidates and fingerprint from its offer or answer. */
  #takeTransport(content: JingleContent): void {
    this.#ice.takeRemote(content);
    this.#security.takeRemote(content.transport?.fingerprint);
  }

  // ------------------------------------------------------------ media

  /**
   * Opens source, sink and codec as soon as the codec is settled (answer sent
   * or received): loading and resampling a WAV can take a while, and must not
   * happen while the peer's first packets arrive. Packets received before
   * ICE reports connected are already taken.
   */
  async #prepareMedia(): Promise<void> {
    const negotiated = this.#signal.negotiated;
    if (this.#media.prepared || !negotiated || this.#state === "ended") return;
    try {
      await this.#media.prepare(this.#mediaSetup(negotiated));
    } catch (err) {
      if ((this.#state as CallState) === "ended") return; // it ended meanwhile: nothing to report
      this.#log.warn({ err: errorMessage(err) }, "media setup failed");
      void this.#queue.run(() => this.#end("failed-application", { send: true, text: `media: ${errorMessage(err)}`, by: By.Jingled }));
    }
  }

  /** What the media is opened with: the negotiated codec, our encoder settings adjusted to the peer's fmtp. */
  #mediaSetup(n: Negotiated): MediaSetup {
    return {
      codec: codecId(n.codec),
      opusBackend: opusBackend(),
      payloadType: n.payloadType,
      ...(n.telephoneEvent ? { telephoneEvent: n.telephoneEvent } : {}),
      ptimeMs: n.ptimeMs,
      encoder: encoderOptionsFor(n, this.#d.mediaPrefs?.encoder),
      rtcpMux: this.#signal.rtcpMux,
      peer: this.#signal.peer,
    };
  }

  /** The transport under the media, once security is decided and the ICE agent exists. */
  #connectTransport(): void {
    const security = this.#security.forTransport();
    if (this.#media.connected || !security || !this.#ice.exists) return;
    this.#media.connect(security);
  }

  #maybeStartMedia(): void {
    if (!this.#ice.connected || !this.#answeredAt || this.#state === "ended" || this.#media.starting) return;
    // Media is prepared when the answer is sent or taken; ICE may connect while that is under way.
    this.#connectTransport();
    // The state may have changed while the media was being prepared.
    const state = this.#state as CallState;
    if (!this.#media.prepared || !this.#media.connected || this.#media.starting || state === "active" || state === "ended") return;
    // The DTLS handshake runs outside the call's queue: a hangup must not wait for it.
    void this.#media.startTransport().then(
      (info) =>
        this.#queue.run(() => {
          if (this.#state === "ended") return;
          this.#setState("active");
          const pair = this.#ice.pair!;
          this.#log.info({ peer: this.peer, codec: this.#signal.negotiated!.codec.name, encryption: info.encryption }, "call active");
          this.emit("media", { codec: this.#signal.negotiated!.codec.name, pair, encryption: info.encryption, ...(info.profile ? { srtpProfile: info.profile } : {}) });
        }),
      (err: unknown) => {
        const condition = err instanceof TransportFailure ? err.condition : "failed-transport";
        return this.#queue.run(() => this.#end(condition, { send: true, text: errorMessage(err), by: By.Jingled }));
      },
    );
  }

  // ------------------------------------------------------------ in-call controls

  /** An unanswered call, either way, ends with reason timeout. */
  #armRingTimer(): void {
    clearTimeout(this.#ringTimer);
    const text = `not answered within ${Math.round(this.#d.ringTimeoutMs / 100) / 10} s`;
    this.#ringTimer = setTimeout(() => void this.#queue.run(() => this.#end("timeout", { send: true, text, by: By.RingTimeout })).catch(() => undefined), this.#d.ringTimeoutMs);
  }

  /** No session-initiate came within INITIATE_AFTER_PROCEED_MS of our proceed: the call ends (the caller is told with a reject). */
  #armInitiateTimer(): void {
    const ms = this.#d.initiateTimeoutMs ?? INITIATE_AFTER_PROCEED_MS;
    clearTimeout(this.#initiateTimer);
    this.#initiateTimer = setTimeout(() => {
      void this.#queue.run(async () => {
        if (this.#state === "ended" || this.#signal.phase !== SignallingPhase.Proceeded) return;
        await this.#end("timeout", { send: true, by: "local", text: `no session-initiate from ${this.peer} within ${ms / 1000} s of our proceed` });
      });
    }, ms);
  }

  #requireAnswered(command: string): void {
    if (this.#state !== "connecting" && this.#state !== "active") {
      throw new CallError("invalid-state", `${command}: call ${this.#d.id} is ${this.#state}; it must be answered first`);
    }
  }

  /**
   * XEP-0167 §7.2: holds the call (or ends our hold, <unhold/>); on hold
   * media stops both ways and nothing counts as lost (MediaSession.setHeld).
   * The order keeps each side from waiting for packets the other no longer
   * sends: on hold we stop listening at once and sending once the peer has
   * acknowledged (and so stopped listening and sending); on resume we listen
   * and send at once, before the peer, told, sends again.
   */
  setHeld(held: boolean): Promise<void> {
    return this.#queue.run(async () => {
      this.#requireAnswered(held ? "hold" : "resume");
      if (this.#media.held === held) return;
      if (held) {
        this.#media.setHeld(true, "receive");
        await this.#signal.sessionInfo({ type: "hold" });
        this.#media.setHeld(true);
      } else {
        this.#media.setHeld(false);
        await this.#signal.sessionInfo({ type: "unhold" });
      }
      this.emit("control", held ? "held" : "resumed", "local");
    });
  }

  /** XEP-0167 §7.3: silence instead of our source, and the peer is told. Allowed before answering too. */
  setMuted(muted: boolean): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") throw new CallError("invalid-state", `call ${this.#d.id} has ended`);
      if (this.#media.muted === muted) return;
      this.#media.setMuted(muted);
      if (this.#signal.phase === SignallingPhase.Session) await this.#signal.muteInfo(muted);
      this.emit("control", muted ? "muted" : "unmuted", "local");
    });
  }

  /** The media controls of an answered call, in the call's queue. */
  #withMedia<T>(command: string, fn: (media: CallMedia) => T | Promise<T>): Promise<T> {
    return this.#queue.run(() => {
      this.#requireAnswered(command);
      return fn(this.#media);
    });
  }

  /** RFC 4733 digits; resolves once sent. */
  async sendDtmf(digits: string, durationMs?: number): Promise<void> {
    // Queued, but sent outside the queue: a digit string takes a while and must not hold up remote actions.
    const sending = await this.#withMedia("dtmf", (m) => ({ done: m.sendDtmf(digits, durationMs) }));
    await sending.done;
  }

  /** Plays a WAV file into the call instead of the input; a `file` event (playback) follows when it ends. */
  play(file: string): Promise<void> {
    return this.#withMedia("play", (m) => m.play(file));
  }

  /** Plays the peer's own audio back to it `delayMs` later (the echo service), instead of our input and output. */
  echo(delayMs: number): Promise<void> {
    return this.#withMedia("echo", (m) => m.echo(delayMs));
  }

  /** Switches what the peer hears, from the next frame on. */
  setInput(spec: SourceSpec): Promise<void> {
    return this.#withMedia("set-input", (m) => m.setInput(spec));
  }

  /** Switches where the peer's audio goes, from the next frame on; an existing file is replaced only with `overwrite`. */
  setOutput(spec: SinkSpec, opts: { overwrite?: boolean } = {}): Promise<void> {
    return this.#withMedia("set-output", (m) => m.setOutput(spec, opts));
  }

  /** Joins the call's audio to another call's (media/audio-bridge.ts) in place of its input and output. */
  bridgeAudio(link: BridgeLink): Promise<void> {
    return this.#withMedia("bridge", (m) => m.bridge(link));
  }

  /** Starts writing what the peer says to a WAV file; resolves with its path. An existing file is replaced only with `overwrite`. */
  startRecording(pathTemplate: string, opts: { overwrite?: boolean } = {}): Promise<string> {
    return this.#withMedia("record", (m) => m.startRecording(pathTemplate, opts));
  }

  /** Finishes the recording; resolves with its path. */
  stopRecording(): Promise<string> {
    return this.#queue.run(() => this.#media.stopRecording());
  }

  // ------------------------------------------------------------ end

  /**
   * Ends the call. `by` says who or what ended it, as the log's audit line
   * says it (a client's name, or one of By); the ended event's `by` is whose
   * doing it was: the peer's (its message or silence) or ours (a command, a
   * timer, a failure here). `send`: whether the peer is told (signalling.ts
   * end(): retract, reject, or session-terminate and finish).
   */
  async #end(reason: ReasonCondition, opts: { send: boolean; by: string } & Omit<EndReason, "condition">): Promise<void> {
    if (this.#state === "ended") return;
    clearTimeout(this.#ringTimer);
    clearTimeout(this.#initiateTimer);
    this.#ice.stopTimers();
    const wasState = this.#state;
    this.#state = "ended";
    this.#reason = reason;
    this.#endedAt = new Date();
    const durationMs = this.#answeredAt ? this.#endedAt.getTime() - this.#answeredAt.getTime() : 0;
    const elapsedMs = this.#endedAt.getTime() - this.#startedAt.getTime();
    const { send, by, ...extras } = opts;
    const actor: Actor = by === By.Peer ? "peer" : "local";
    this.#log.info({ peer: this.peer, reason, ...(opts.text ? { text: opts.text } : {}), by, from: wasState, durationMs, elapsedMs }, "call ended");
    if (send) await this.#signal.end({ condition: reason, ...extras });
    await this.#media.stop();
    await this.#ice.close();
    this.emit("ended", { ...this.info(), durationMs, elapsedMs, by: actor, ...(opts.text ? { text: opts.text } : {}) });
  }
}
