// One call: the Jingle session (XEP-0166/0167/0176) <-> the ICE agent <-> the
// media session. Remote actions and local commands are applied through one
// serial queue, so they never interleave across awaits.
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import type { Jingle, JingleContent, IceCandidate, PayloadType, ReasonCondition, JmiElement, DtlsFingerprint } from "../../jingle/protocol/index.js";
import type { Role } from "../../jingle/session-manager.js";
import { IceAgent, type IceServers, type SelectedPair } from "../../ice/ice-agent.js";
import type { DtlsCertificate } from "../../rtp/dtls/certificate.js";
import { fingerprint } from "../../rtp/dtls/certificate.js";
import { OFFER_SETUP, roleForAnswerer, roleFromAnswer, type DtlsRole } from "../../rtp/dtls/setup-role.js";
import { dtlsTransport, plainTransport, TransportFailure, type MediaTransport } from "./media-transport.js";
import { MediaSession, type MediaPreferences, type MediaStats } from "../../media/media-session.js";
import type { CodecDescriptor } from "../../media/codecs/codec.js";
import { createSource } from "../../media/sources/index.js";
import { createSink } from "../../media/sinks/index.js";
import type { SourceSpec } from "../../media/sources/source.js";
import type { SinkSpec } from "../../media/sinks/sink.js";
import type { FrameClock } from "../../util/frame-clock.js";
import type { Logger } from "../../util/logger.js";
import { SerialQueue } from "../../util/serial-queue.js";
import { TypedEmitter } from "../../util/events.js";
import { CallError, errorMessage } from "../../util/errors.js";
import { bareJid, sameBareJid } from "../../util/jid.js";
import type { Actor, CallInfo, CallState, Encryption, FileEventType, IceEventType } from "../../control/protocol.js";
import { answerOffer, applyAnswer, encoderOptionsFor, offerPayloadTypes, type Negotiated, type OfferOptions } from "./negotiation.js";

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
  /** Media settings from the configuration (jitter bounds, Opus, ptime, DTMF, device failures, RTCP). */
  mediaPrefs?: MediaPreferences;
  ice: {
    addresses: string[];
    portRange?: [number, number];
    connectTimeoutMs: number;
    relayOnly: boolean;
    /** STUN/TURN servers, resolved when the call's ICE agent is made (TURN credentials are short-lived). */
    servers: () => Promise<IceServers>;
    /** Host addresses now (they may change during a call: an ICE restart picks them up). */
    currentAddresses?: () => string[];
  };
  ringTimeoutMs: number;
  clock: FrameClock;
  logger: Logger;
  /** Sends a Jingle action for this session and resolves when the peer acknowledged it. */
  send: (jingle: Omit<Jingle, "sid">) => Promise<void>;
  /** XEP-0320 DTLS-SRTP: "require" refuses peers without a fingerprint, "off" never offers it. */
  dtls: { policy: "require" | "prefer" | "off"; certificate: DtlsCertificate | undefined };
  /** Offer/accept RTP/RTCP multiplexing (RFC 5761, XEP-0167 <rtcp-mux/>). */
  rtcpMux: boolean;
  /** Sends a XEP-0353 message (propose, proceed, reject, ...) to `to`. */
  sendJmi: (to: string, el: JmiElement) => Promise<void>;
}

/**
 * Jingle Message Initiation phase of a call (XEP-0353): before the Jingle
 * session exists the call is a proposal; "proceeded" once the callee's
 * device has said yes (the session-initiate follows with sid = propose id).
 */
type JmiPhase = { role: "caller" | "callee"; state: "proposed" | "proceeded" };

export type CallEvents = {
  state: [state: CallState, info: CallInfo];
  media: [info: { codec: string; pair: SelectedPair; encryption: Encryption; srtpProfile?: string }];
  ended: [info: CallInfo & { durationMs: number; text?: string }];
  /** Hold and mute, by us (control commands) or by the peer (XEP-0167 session-info). */
  control: [type: "held" | "resumed" | "muted" | "unmuted", by: Actor];
  /** ICE path changes during the call: the pair went silent, a restart began (by us or the peer), a new pair carries media. */
  ice: [info: { type: IceEventType; by?: Actor; reason?: string; pair?: SelectedPair }];
  /** A DTMF digit the peer sent (RFC 4733). */
  dtmf: [digit: string, durationMs?: number];
  /** A playback or recording that ended: played out / written, cut short (another play, the call ended), or failed. */
  file: [kind: "playback" | "recording", file: string, result: FileEventType, error?: string];
};

const CONTENT_NAME = "audio";
/** How long ending a call waits for the peer to acknowledge session-terminate. */
const TERMINATE_ACK_WAIT_MS = 2000;

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
  /** Local candidates of the current ICE generation after a restart, resent whole if a transport-info is lost. */
  #restartCandidates: IceCandidate[] = [];
  #restartResends = 0;
  #restartResendTimer: NodeJS.Timeout | undefined;
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
  #remoteFingerprint: DtlsFingerprint | undefined;
  /** Whether both sides agreed on RTP/RTCP multiplexing. */
  #rtcpMux = false;
  /** Decided at answer time: DTLS-SRTP (our role and the setup we answered) or plain RTP. */
  #security: { mode: "dtls"; role: DtlsRole; setup: "actpass" | "active" | "passive" } | { mode: "plain" } | undefined;
  #transport: MediaTransport | undefined;
  /** Datagrams that came before the transport was decided (e.g. an early DTLS ClientHello); only the peer's: ICE drops those of sources it has not validated (ice/port-guard.ts). */
  readonly #early: Buffer[] = [];
  /** True once a Jingle session exists (session-initiate sent or received). */
  #session = false;
  /** We put the call on hold: no media is sent or played. */
  #held = false;
  #muted = false;
  #peerHeld = false;
  #peerMuted = false;

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
    if (this.#held) i.held = true;
    if (this.#muted) i.muted = true;
    if (this.#peerHeld) i.peerHeld = true;
    if (this.#peerMuted) i.peerMuted = true;
    return i;
  }

  stats(): (MediaStats & { recording?: string }) | undefined {
    const s = this.#mediaStats();
    if (!s) return undefined;
    return this.#recordingPath ? { ...s, recording: this.#recordingPath } : s;
  }

  /** The media session's figures plus what SRTP took out before it: replayed (duplicate) packets, forged ones. */
  #mediaStats(): MediaStats | undefined {
    const s = this.#media?.stats();
    const t = this.#transport?.stats();
    if (!s || !t) return s;
    return { ...s, packetsDuplicate: s.packetsDuplicate + t.replayed, srtpAuthFailures: t.authFailures };
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
      const ice = await this.#createIce(true);
      const gathering = ice.gather().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "gather"));
      this.#session = true;
      try {
        await this.#d.send({
          action: "session-initiate",
          initiator: this.#d.self,
          contents: [this.#content(offerPayloadTypes(this.#d.codecs, this.#offerOptions()), [])],
        });
      } catch (err) {
        await this.#end("general-error", { send: false, text: errorMessage(err) });
        throw new CallError("peer-unavailable", `${this.#peer} did not accept the session: ${errorMessage(err)}`);
      }
      if (!this.#answeredAt && !this.#jmi) this.#armRingTimer();
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
      this.#armRingTimer();
    });
  }

  /**
   * A JMI message about this call from `from`. The caller takes ringing,
   * proceed and reject from the callee's devices; the callee takes retract.
   */
  jmiReceived(el: JmiElement, from: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended" || !this.#jmi) return;
      if (!sameBareJid(from, this.#peer)) return;
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
      this.#rtcpMux = content.description.rtcpMux && this.#d.rtcpMux;
      const answer = answerOffer(this.#remoteOffer, this.#d.codecs, this.#offerOptions());
      if (!answer) {
        await this.#end("failed-application", { send: true, text: "no codec in common" });
        return;
      }
      this.#negotiated = answer.chosen;
      this.#takeRemoteTransport(content);
      const refused = this.#decideSecurity();
      if (refused) {
        await this.#end("security-error", { send: true, text: refused });
        return;
      }
      if (this.#jmi?.state === "proceeded") {
        // The user already answered the proposal: accept the session now.
        await this.#acceptSession();
        return;
      }
      const ringing = this.#d.send({ action: "session-info", contents: [], info: { type: "ringing" } }).catch((err: unknown) =>
        this.#log.debug({ err: errorMessage(err) }, "ringing not acknowledged"),
      );
      // Answering at once: the stream keeps ringing ahead of session-accept,
      // and its acknowledgement (a round trip through the server) is not
      // worth delaying the call for.
      if (!autoAnswer) await ringing;
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
    const answer = answerOffer(this.#remoteOffer, this.#d.codecs, this.#offerOptions())!;
    this.#prepareMedia();
    if (!this.#media) return; // media setup failed: the call is ending with media-error
    const ice = await this.#createIce(false);
    this.#makeTransport();
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

  /**
   * The peer's full JID went offline (unavailable presence, RFC 6121 §4.5.2):
   * the call ends now with XEP-0166 reason gone, instead of after the ICE
   * consent timeout. Nothing is sent: nobody is there to answer.
   */
  peerGone(): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") return;
      await this.#end("gone", { send: false, text: "the peer went offline" });
    });
  }

  // ------------------------------------------------------------ in-call controls

  /** An outgoing call nobody answers ends with reason timeout, like an unanswered incoming one. */
  #armRingTimer(): void {
    clearTimeout(this.#ringTimer);
    this.#ringTimer = setTimeout(() => void this.hangup("timeout").catch(() => undefined), this.#d.ringTimeoutMs);
  }

  #requireAnswered(command: string): void {
    if (this.#state !== "connecting" && this.#state !== "active") {
      throw new CallError("invalid-state", `${command}: call ${this.#d.id} is ${this.#state}; it must be answered first`);
    }
  }

  #requireMedia(command: string): MediaSession {
    this.#requireAnswered(command);
    if (!this.#media) throw new CallError("invalid-state", `${command}: call ${this.#d.id} has no media yet`);
    return this.#media;
  }

  async #sessionInfo(info: NonNullable<Jingle["info"]>): Promise<void> {
    await this.#d
      .send({ action: "session-info", contents: [], info })
      .catch((err: unknown) => this.#log.info({ err: errorMessage(err), info: info.type }, "session-info not acknowledged"));
  }

  /** XEP-0167 §7.2: holds the call; we neither send nor play media until resume. */
  hold(): Promise<void> {
    return this.#queue.run(async () => {
      this.#requireAnswered("hold");
      if (this.#held) return;
      this.#held = true;
      await this.#sessionInfo({ type: "hold" });
      this.emit("control", "held", "local");
    });
  }

  /** Ends our hold (XEP-0167 <unhold/>). */
  resume(): Promise<void> {
    return this.#queue.run(async () => {
      this.#requireAnswered("resume");
      if (!this.#held) return;
      this.#held = false;
      await this.#sessionInfo({ type: "unhold" });
      this.emit("control", "resumed", "local");
    });
  }

  /** XEP-0167 §7.3: silence instead of our source, and the peer is told. Allowed before answering too. */
  setMuted(muted: boolean): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended") throw new CallError("invalid-state", `call ${this.#d.id} has ended`);
      if (this.#muted === muted) return;
      this.#muted = muted;
      this.#applyMute();
      if (this.#session) {
        await this.#sessionInfo({ type: muted ? "mute" : "unmute", creator: this.#contentCreator, name: this.#contentName });
      }
      this.emit("control", muted ? "muted" : "unmuted", "local");
    });
  }

  #applyMute(): void {
    this.#media?.setMuted(this.#muted);
  }

  #onPeerInfo(type: NonNullable<Jingle["info"]>["type"]): void {
    const change = (flag: "#peerHeld" | "#peerMuted", on: boolean, event: "held" | "resumed" | "muted" | "unmuted"): void => {
      const now = flag === "#peerHeld" ? this.#peerHeld : this.#peerMuted;
      if (now === on) return;
      if (flag === "#peerHeld") this.#peerHeld = on;
      else this.#peerMuted = on;
      this.#log.info({ event }, "peer session-info");
      this.emit("control", event, "peer");
    };
    if (type === "hold") change("#peerHeld", true, "held");
    // <active/> also ends a hold (XEP-0167 §7.1: the party is active again).
    else if (type === "unhold" || type === "active") change("#peerHeld", false, "resumed");
    else if (type === "mute") change("#peerMuted", true, "muted");
    else if (type === "unmute") change("#peerMuted", false, "unmuted");
  }

  /** RFC 4733 digits; resolves once sent. */
  async sendDtmf(digits: string, durationMs?: number): Promise<void> {
    // Queued, but sent outside the queue: a digit string takes a while and must not hold up remote actions.
    const sending = await this.#queue.run(() => ({ done: this.#requireMedia("dtmf").sendDtmf(digits, durationMs) }));
    await sending.done;
  }

  /** Plays a WAV file into the call instead of the input; a `file` event (playback) follows when it ends. */
  play(file: string): Promise<void> {
    return this.#queue.run(async () => {
      const playing = this.#requireMedia("play").play(file);
      // A file that cannot be read fails at once: make that the command's error, not a later event.
      try {
        await Promise.race([playing, new Promise((r) => setImmediate(r))]);
      } catch (err) {
        throw new CallError("bad-argument", `play: ${errorMessage(err)}`);
      }
      playing.catch((err: unknown) => this.emit("file", "playback", file, "failed", errorMessage(err)));
    });
  }

  /** Switches what the peer hears, from the next frame on. */
  setInput(spec: SourceSpec): Promise<void> {
    return this.#queue.run(() => {
      const m = this.#requireMedia("set-input");
      m.replaceSource(createSource(spec, this.#negotiated!.codec.pcmRate));
    });
  }

  /** Switches where the peer's audio goes, from the next frame on. */
  setOutput(spec: SinkSpec): Promise<void> {
    return this.#queue.run(async () => {
      const m = this.#requireMedia("set-output");
      await m.replaceSink(createSink(this.#resolveSink(spec), this.#negotiated!.codec.pcmRate));
    });
  }

  /** Starts writing what the peer says to a WAV file; resolves with its path. */
  startRecording(pathTemplate: string): Promise<string> {
    return this.#queue.run(() => {
      const m = this.#requireMedia("record");
      if (m.recordingPath) throw new CallError("invalid-state", `record: call ${this.#d.id} is already recording to ${m.recordingPath}`);
      const { path } = this.#resolveSink({ type: "file", path: pathTemplate }, false) as { type: "file"; path: string };
      m.startRecording(path);
      return path;
    });
  }

  /** Finishes the recording; resolves with its path. */
  stopRecording(): Promise<string> {
    return this.#queue.run(async () => {
      if (!this.#media?.recordingPath) throw new CallError("invalid-state", `record: call ${this.#d.id} is not recording`);
      const { path } = await this.#media.stopRecording();
      this.emit("file", "recording", path, "finished");
      return path;
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
          for (const c of jingle.contents) await this.#onTransportInfo(c);
          if (this.#ice) this.#applyRemoteIce(this.#ice);
          return;
        case "session-info":
          if (jingle.info?.type === "ringing" && this.#state === "outgoing") this.#setState("ringing");
          else if (jingle.info) this.#onPeerInfo(jingle.info.type);
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
    const negotiated = content?.description && applyAnswer(content.description.payloadTypes, this.#d.codecs, this.#offerOptions());
    this.#rtcpMux = Boolean(content?.description?.rtcpMux) && this.#d.rtcpMux;
    if (!content || !negotiated) {
      await this.#end("failed-application", { send: true, text: "session-accept without a usable codec" });
      return;
    }
    clearTimeout(this.#ringTimer);
    this.#negotiated = negotiated;
    this.#answeredAt = new Date();
    this.#setState("connecting");
    this.#prepareMedia();
    this.#takeRemoteTransport(content);
    const refused = this.#decideSecurity();
    if (refused) {
      await this.#end("security-error", { send: true, text: refused });
      return;
    }
    this.#makeTransport();
    if (this.#ice) this.#applyRemoteIce(this.#ice);
    this.#maybeStartMedia();
  }

  // ------------------------------------------------------------ ICE

  async #createIce(controlling: boolean): Promise<IceAgent> {
    const servers: IceServers = await this.#d.ice.servers().catch((err: unknown) => {
      this.#log.warn({ err: errorMessage(err) }, "no STUN/TURN servers");
      return {};
    });
    const ice = new IceAgent({
      controlling,
      addresses: this.#d.ice.addresses,
      connectTimeoutMs: this.#d.ice.connectTimeoutMs,
      logger: this.#log,
      relayOnly: this.#d.ice.relayOnly,
      ...(servers.stunServer ? { stunServer: servers.stunServer } : {}),
      ...(servers.turn ? { turn: servers.turn } : {}),
      ...(this.#d.ice.portRange ? { portRange: this.#d.ice.portRange } : {}),
    });
    this.#ice = ice;
    ice.on("candidate", (c) => {
      this.#localQueue.push(c);
      if (ice.generation > 1) this.#restartCandidates.push(c);
      if (this.#canTrickle) void this.#queue.run(() => this.#flushCandidates());
    });
    ice.on("connected", (pair, { restart }) => {
      void this.#queue.run(async () => {
        this.#iceConnected = true;
        this.#pair = pair;
        if (restart) {
          this.#restartPending = false;
          this.emit("ice", { type: "restarted", pair });
        }
        this.#maybeStartMedia();
      });
    });
    ice.on("disconnected", (reason) => {
      this.emit("ice", { type: "disconnected", reason });
      // Both sides notice; the initiator (controlling) restarts at once, the
      // responder a little later unless the initiator's restart came first.
      const delay = this.#d.role === "initiator" ? 0 : 2000;
      setTimeout(() => {
        void this.#queue.run(async () => {
          if (this.#state === "ended" || this.#ice !== ice || ice.restarting || ice.state !== "connected") return;
          await this.#restartIce(reason, true);
        });
      }, delay).unref?.();
    });
    ice.on("failed", (reason) => {
      void this.#queue.run(() => this.#end("connectivity-error", { send: true, text: `ICE failed: ${reason}` }));
    });
    ice.on("data", (packet) => {
      if (this.#transport) this.#transport.receive(packet);
      else if (this.#early.length < 32) this.#early.push(packet);
    });
    return ice;
  }

  /** True while our ICE restart waits for the peer's new ufrag/pwd. */
  #restartPending = false;
  /** The peer's ufrag before the current restart: its late candidates belong to the old generation. */
  #staleRemoteUfrag: string | undefined;

  /**
   * XEP-0176 §8: a transport-info with a new ufrag/pwd restarts ICE. If we
   * restarted ourselves, it is the peer's answer (also when both restarted at
   * once); otherwise we restart too and send our new ufrag/pwd.
   */
  async #onTransportInfo(content: JingleContent): Promise<void> {
    const t = content.transport;
    const known = this.#remoteIce.ufrag;
    if (t?.ufrag && t.ufrag === this.#staleRemoteUfrag && t.ufrag !== known) return;
    if (this.#ice && t?.ufrag && t.pwd && known && t.ufrag !== known && this.#iceConnected) {
      if (this.#restartPending) {
        this.#restartPending = false;
      } else {
        await this.#restartIce("the peer restarted ICE", false);
      }
      this.#remoteIce = { ufrag: t.ufrag, pwd: t.pwd, candidates: [] };
    } else if (this.#restartPending && t?.ufrag === known) {
      return; // candidates of the generation we just left
    }
    this.#takeRemoteTransport(content);
  }

  /** Starts an ICE restart from our side (e.g. our addresses changed); no-op before ICE connected. */
  restartIce(reason: string): Promise<void> {
    return this.#queue.run(async () => {
      if (this.#state === "ended" || !this.#ice || !this.#iceConnected || this.#restartPending) return;
      await this.#restartIce(reason, true);
    });
  }

  async #restartIce(reason: string, ours: boolean): Promise<void> {
    const ice = this.#ice;
    if (!ice || this.#state === "ended") return;
    // Fresh servers: TURN credentials from XEP-0215 are short-lived.
    const servers: IceServers = await this.#d.ice.servers().catch(() => ({}));
    this.#localQueue = [];
    this.#restartCandidates = [];
    this.#restartResends = 0;
    clearTimeout(this.#restartResendTimer);
    if (!ice.restart({ addresses: this.#d.ice.currentAddresses?.() ?? this.#d.ice.addresses, stunServer: servers.stunServer, turn: servers.turn })) return;
    this.#restartPending = ours;
    this.#staleRemoteUfrag = this.#remoteIce.ufrag;
    this.#remoteIce.candidates = [];
    this.#log.info({ reason, by: ours ? "local" : "peer" }, "ICE restart");
    this.emit("ice", { type: "restarting", by: ours ? "local" : "peer", reason });
    // Our new ufrag/pwd at once; the candidates follow as they are gathered.
    await this.#d
      .send({ action: "transport-info", contents: [this.#content(undefined, [])] })
      .catch((err: unknown) => this.#onRestartTransportLost(ice.generation, err));
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
    const ice = this.#ice;
    if (!ice || ice.generation !== generation || this.#state === "ended" || this.#restartResendTimer || this.#restartResends >= 5) return;
    const delay = 500 * 2 ** this.#restartResends++;
    this.#restartResendTimer = setTimeout(() => {
      this.#restartResendTimer = undefined;
      void this.#queue.run(async () => {
        if (this.#state === "ended" || this.#ice !== ice || ice.generation !== generation || (ice.state === "connected" && !ice.restarting)) return;
        this.#log.info({ generation, candidates: this.#restartCandidates.length, attempt: this.#restartResends }, "resending the ICE restart transport");
        void this.#d
          .send({ action: "transport-info", contents: [this.#content(undefined, [...this.#restartCandidates])] })
          .catch((e: unknown) => this.#onRestartTransportLost(generation, e));
      });
    }, delay);
    this.#restartResendTimer.unref?.();
  }

  #takeRemoteTransport(content: JingleContent): void {
    const t = content.transport;
    if (!t) return;
    if (t.ufrag) this.#remoteIce.ufrag = t.ufrag;
    if (t.pwd) this.#remoteIce.pwd = t.pwd;
    if (t.fingerprint) this.#remoteFingerprint = t.fingerprint;
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
    const generation = this.#ice.generation;
    // Not awaited: the stream keeps stanzas in order, and a peer that never
    // acknowledges a transport-info must not hold up answer/hangup behind it.
    void this.#d
      .send({ action: "transport-info", contents: [this.#content(undefined, candidates)] })
      .catch((err: unknown) => (generation > 1 ? this.#onRestartTransportLost(generation, err) : this.#log.warn({ err: errorMessage(err) }, "transport-info not acknowledged")));
  }

  #content(payloadTypes: PayloadType[] | undefined, candidates: IceCandidate[]): JingleContent {
    const { ufrag, pwd } = this.#ice!.localParameters;
    return {
      creator: this.#contentCreator,
      name: this.#contentName,
      senders: "both",
      ...(payloadTypes
        ? { description: { media: "audio", payloadTypes, rtcpMux: this.#d.role === "initiator" ? this.#d.rtcpMux : this.#rtcpMux, headerExtensions: [] } }
        : {}),
      transport: { ufrag, pwd, candidates, ...(payloadTypes ? this.#localFingerprint() : {}) },
    };
  }

  /** Our XEP-0320 <fingerprint/>: offered (actpass) unless DTLS is off; answered with the setup we chose. */
  #localFingerprint(): { fingerprint?: DtlsFingerprint } {
    const cert = this.#d.dtls.certificate;
    if (!cert || this.#d.dtls.policy === "off") return {};
    if (this.#d.role === "initiator") return { fingerprint: { hash: "sha-256", setup: OFFER_SETUP, value: fingerprint(cert, "sha-256") } };
    if (this.#security?.mode !== "dtls") return {};
    return { fingerprint: { hash: "sha-256", setup: this.#security.setup, value: fingerprint(cert, "sha-256") } };
  }

  /**
   * Plain RTP or DTLS-SRTP, from the peer's fingerprint and our policy.
   * Returns an error text when the policy refuses the peer.
   */
  #decideSecurity(): string | undefined {
    const fp = this.#remoteFingerprint;
    const policy = this.#d.dtls.policy;
    if (!fp || policy === "off" || !this.#d.dtls.certificate) {
      if (policy === "require") return "the peer offers no DTLS-SRTP fingerprint and dtls policy is require";
      this.#security = { mode: "plain" };
      return undefined;
    }
    if (this.#d.role === "responder") {
      if (fp.setup === "holdconn") return "the peer's DTLS setup is holdconn";
      const d = roleForAnswerer(fp.setup);
      this.#security = { mode: "dtls", role: d.role, setup: d.answerSetup };
    } else {
      if (fp.setup === "holdconn") return "the peer's DTLS setup is holdconn";
      // RFC 4145 §4.1: an answer without setup means active; actpass in an answer is read the same way.
      this.#security = { mode: "dtls", role: roleFromAnswer(fp.setup), setup: OFFER_SETUP };
    }
    return undefined;
  }

  /** Builds the plain or DTLS-SRTP transport once security is decided, and feeds it what came early. */
  #makeTransport(): void {
    if (this.#transport || !this.#security || !this.#ice) return;
    const ice = this.#ice;
    const deliver = (p: Buffer) => {
      if (!this.#held) this.#media?.receive(p);
    };
    const send = (d: Buffer) => ice.send(d);
    this.#transport =
      this.#security.mode === "dtls"
        ? dtlsTransport({
            role: this.#security.role,
            certificate: this.#d.dtls.certificate!,
            remoteFingerprint: { hash: this.#remoteFingerprint!.hash, value: this.#remoteFingerprint!.value },
            send,
            deliver,
            logger: this.#log,
          })
        : plainTransport({ send, deliver });
    for (const d of this.#early.splice(0)) this.#transport.receive(d);
  }

  // ------------------------------------------------------------ media

  /** What our offer/answer announces (Opus DTX/FEC, ptime) and the ptime we send by default. */
  #offerOptions(): OfferOptions {
    const p = this.#d.mediaPrefs;
    return { ...(p?.encoder ? { encoder: p.encoder } : {}), ...(p?.ptimeMs ? { ptimeMs: p.ptimeMs } : {}) };
  }

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
      const prefs = this.#d.mediaPrefs ?? {};
      const n = this.#negotiated;
      this.#media = new MediaSession({
        codec,
        payloadType,
        source,
        sink,
        clock: this.#d.clock,
        send: (p) => {
          if (!this.#held) this.#transport?.send(p);
        },
        jitterFrames: this.#d.jitterFrames,
        logger: this.#log,
        ptimeMs: n.ptimeMs,
        encoder: encoderOptionsFor(n, prefs.encoder),
        ...(n.telephoneEvent ? { telephoneEvent: n.telephoneEvent } : {}),
        ...(prefs.jitter ? { jitter: prefs.jitter } : {}),
        ...(prefs.dtmf ? { dtmf: prefs.dtmf } : {}),
        ...(prefs.onDeviceError ? { onDeviceError: prefs.onDeviceError } : {}),
        // Without rtcp-mux RTCP would need a second component, which the ICE
        // agent does not have: send RTP only rather than fail (DESIGN.md).
        ...(!this.#rtcpMux ? { rtcp: false as const } : prefs.rtcpIntervalMs ? { rtcp: { intervalMs: prefs.rtcpIntervalMs } } : {}),
      });
      // A failed device: the session carries on with silence; end the call if so configured.
      this.#media.on("deviceError", ({ action }) => {
        if (action === "end") void this.hangup("media-error").catch(() => undefined);
      });
      this.#applyMute();
      this.#media.on("dtmf", ({ digit, durationMs }) => this.emit("dtmf", digit, durationMs));
      // play() resolves for every ending; this says which (failures come from play()'s rejection).
      this.#media.on("playbackEnded", ({ path, reason }) => this.emit("file", "playback", path, reason === "finished" ? "finished" : "stopped"));
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, "media setup failed");
      void this.#queue.run(() => this.#end("media-error", { send: true, text: errorMessage(err) }));
    }
  }

  #maybeStartMedia(): void {
    if (!this.#iceConnected || !this.#answeredAt || this.#state === "ended" || this.#transportStarting) return;
    this.#prepareMedia();
    this.#makeTransport();
    if (!this.#media || !this.#transport || this.#state === "active") return;
    // The DTLS handshake runs outside the call's queue: a hangup must not wait for it.
    this.#transportStarting = true;
    const transport = this.#transport;
    void transport.start().then(
      (info) =>
        this.#queue.run(() => {
          if (this.#state === "ended" || !this.#media) return;
          this.#media.start();
          this.#setState("active");
          this.emit("media", { codec: this.#negotiated!.codec.name, pair: this.#pair!, encryption: transport.encryption, ...(info.profile ? { srtpProfile: info.profile } : {}) });
        }),
      (err: unknown) => {
        const condition = err instanceof TransportFailure ? err.condition : "failed-transport";
        return this.#queue.run(() => this.#end(condition, { send: true, text: errorMessage(err) }));
      },
    );
  }

  #transportStarting = false;

  /** Fills in a file sink's {callId}, {sid}, {peer}, {time}; `output`: it is the call's output, shown in stats. */
  #resolveSink(spec: SinkSpec, output = true): SinkSpec {
    if (spec.type !== "file") return spec;
    const safePeer = this.#peer.replace(/[^A-Za-z0-9@._-]/g, "_");
    const path = spec.path
      .replaceAll("{callId}", this.#d.id)
      .replaceAll("{sid}", this.#d.sid.replace(/[^A-Za-z0-9_-]/g, "_"))
      .replaceAll("{peer}", safePeer)
      .replaceAll("{time}", this.#startedAt.toISOString().replace(/[:.]/g, "-"));
    mkdirSync(dirname(path), { recursive: true });
    if (output) this.#recordingPath = path;
    return { ...spec, path };
  }

  // ------------------------------------------------------------ end

  async #end(reason: ReasonCondition, opts: { send: boolean; text?: string }): Promise<void> {
    if (this.#state === "ended") return;
    clearTimeout(this.#ringTimer);
    clearTimeout(this.#restartResendTimer);
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
      // Bounded: a peer that vanished never acknowledges, and the call's resources must not wait for the IQ timeout.
      const terminated = this.#d
        .send({ action: "session-terminate", contents: [], reason: jreason })
        .catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, "session-terminate not acknowledged"));
      await Promise.race([terminated, new Promise((r) => setTimeout(r, TERMINATE_ACK_WAIT_MS).unref?.())]);
    }
    if (this.#jmi && this.#session && opts.send) {
      // XEP-0353 §3.6: the side that ends a JMI-started call sends finish (call logs on every device).
      await this.#d.sendJmi(bareJid(this.#peer), { action: "finish", id: this.#d.sid, reason: jreason }).catch(() => undefined);
    }
    const stats = this.#mediaStats();
    if (this.#media?.recordingPath) {
      const rec = await this.#media.stopRecording().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "recording"));
      if (rec) this.emit("file", "recording", rec.path, "finished");
    }
    await this.#media?.stop().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "media stop"));
    this.#transport?.close();
    await this.#ice?.close();
    const durationMs = this.#answeredAt ? this.#endedAt.getTime() - this.#answeredAt.getTime() : 0;
    this.#finalStats = stats;
    this.emit("ended", { ...this.info(), durationMs, ...(opts.text ? { text: opts.text } : {}) });
  }

  #finalStats: MediaStats | undefined;

  /** Media statistics, also after the call ended. */
  finalStats(): (MediaStats & { recording?: string }) | undefined {
    const s = this.#finalStats ?? this.#mediaStats();
    if (!s) return undefined;
    return this.#recordingPath ? { ...s, recording: this.#recordingPath } : s;
  }
}

