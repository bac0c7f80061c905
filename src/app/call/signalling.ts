// The Jingle-session part of a call: where its signalling stands, as one
// phase value (a XEP-0353 proposal first, or not; then the XEP-0166 session),
// the offer/answer of its one audio content (XEP-0167 codecs through
// ./negotiation.ts, rtcp-mux), and every message the call sends: Jingle
// actions to the session's peer, XEP-0353 messages to the peer's devices.
// The Jingle session's own state (pending, active, ended) is the session
// manager's (jingle/session-manager.ts): it checks each action we send.
import type { DtlsFingerprint, IceCandidate, Jingle, JingleContent, JmiElement, PayloadType, ReasonCondition } from "../../jingle/protocol/index.js";
import type { CodecDescriptor } from "../../media/codecs/codec.js";
import { CallError, errorMessage } from "../../util/errors.js";
import { bareJid, sameBareJid, sameJid } from "../../util/jid.js";
import type { Logger } from "../../util/logger.js";
import { answerOffer, applyAnswer, offerPayloadTypes, type Negotiated, type OfferOptions } from "./negotiation.js";

/** How far a call's signalling has come. */
export const SignallingPhase = {
  /** Nothing sent or received yet: a call to a full JID before its session-initiate. */
  Idle: "idle",
  /** XEP-0353 propose sent (we call) or received (we are called); no Jingle session. */
  Proposed: "proposed",
  /** proceed sent (we are called) or received (we call): the session-initiate follows. */
  Proceeded: "proceeded",
  /** session-initiate sent or received: the Jingle session exists. */
  Session: "session",
} as const;
export type SignallingPhase = (typeof SignallingPhase)[keyof typeof SignallingPhase];

export interface SignallingOptions {
  sid: string;
  role: "initiator" | "responder";
  /** Our full JID (the Jingle initiator/responder attribute). */
  self: string;
  peer: string;
  codecs: CodecDescriptor[];
  /** We offer/accept RTP/RTCP multiplexing (RFC 5761, XEP-0167 <rtcp-mux/>). */
  rtcpMux: boolean;
  /** What our offer/answer announces (Opus DTX/FEC, ptime). */
  offer: OfferOptions;
  logger: Logger;
  /** Sends a Jingle action for this session; resolves when the peer acknowledged it. */
  send: (jingle: Omit<Jingle, "sid">) => Promise<void>;
  /** Sends a XEP-0353 message to `to`. */
  sendJmi: (to: string, el: JmiElement) => Promise<void>;
}

/** Our ICE credentials and candidates, and our DTLS fingerprint when the content carries one. */
export interface LocalTransport {
  ice: { ufrag: string; pwd: string };
  candidates: IceCandidate[];
  fingerprint?: DtlsFingerprint | undefined;
}

export type OfferCheck = { ok: true; content: JingleContent; proceeded: boolean } | { ok: false; condition: ReasonCondition; text: string };

/** How a call ends, as the peer is told: the XEP-0166 reason, and the XEP-0353 decorations of §4. */
export interface EndReason {
  condition: ReasonCondition;
  text?: string;
  /** Our proposal gives way to the peer's crossing one (§4.1: the retract carries <tie-break/>). */
  tieBreak?: boolean;
  /** The session continues as this one (§4.2: the finish carries <migrated to=.../>). */
  migratedTo?: string;
}

/**
 * What the owner's send() throws when the peer answered a Jingle action with
 * an IQ error: the stanza condition and the Jingle one (XEP-0166 §9), e.g.
 * conflict + tie-break for an ICE restart that crossed the peer's.
 */
export class JingleRefusal extends Error {
  constructor(
    message: string,
    readonly condition: string | undefined,
    readonly jingleCondition: string | undefined,
  ) {
    super(message);
    this.name = "JingleRefusal";
  }
}

const CONTENT_NAME = "audio";
/** How long ending a call waits for the peer to acknowledge session-terminate. */
const TERMINATE_ACK_WAIT_MS = 2000;

export class JingleSignalling {
  readonly #o: SignallingOptions;
  readonly #log: Logger;
  #phase: SignallingPhase = SignallingPhase.Idle;
  #proposal = false;
  #peer: string;
  #contentName = CONTENT_NAME;
  #contentCreator: "initiator" | "responder" = "initiator";
  #remoteOffer: PayloadType[] = [];
  /** Whether both sides agreed on RTP/RTCP multiplexing. */
  #rtcpMux = false;
  #negotiated: Negotiated | undefined;
  /** What the peer said about itself in session-info (XEP-0167 §7). */
  #peerHeld = false;
  #peerMuted = false;

  constructor(o: SignallingOptions) {
    this.#o = o;
    this.#log = o.logger;
    this.#peer = o.peer;
  }

  get phase(): SignallingPhase {
    return this.#phase;
  }
  /** The call began as a XEP-0353 proposal. */
  get proposal(): boolean {
    return this.#proposal;
  }
  /** The peer: a bare JID while our proposal is out, the full JID of its device after. */
  get peer(): string {
    return this.#peer;
  }
  get negotiated(): Negotiated | undefined {
    return this.#negotiated;
  }
  get rtcpMux(): boolean {
    return this.#rtcpMux;
  }
  get peerHeld(): boolean {
    return this.#peerHeld;
  }
  get peerMuted(): boolean {
    return this.#peerMuted;
  }

  // ------------------------------------------------------------ XEP-0353

  /** We propose the call to every device of the peer's bare JID. */
  async propose(): Promise<void> {
    this.#phase = SignallingPhase.Proposed;
    this.#proposal = true;
    await this.#o.sendJmi(bareJid(this.#peer), { action: "propose", id: this.#o.sid, media: ["audio"] });
  }

  /** A proposal reached us: we ring (the caller's device hears so). */
  async proposed(): Promise<void> {
    this.#phase = SignallingPhase.Proposed;
    this.#proposal = true;
    await this.#o.sendJmi(this.#peer, { action: "ringing", id: this.#o.sid }).catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, "ringing not sent"));
  }

  /** The callee's device `fullJid` proceeded: the session goes to it. */
  proceededBy(fullJid: string): void {
    if (this.#phase !== SignallingPhase.Proposed) throw new CallError("invalid-state", "no proposal is pending");
    this.#phase = SignallingPhase.Proceeded;
    this.#peer = fullJid;
  }

  /**
   * A XEP-0353 message about our proposal from `from`: what it means for the
   * call, if anything. The caller takes ringing from any device of the
   * callee, and reject from any of them while the proposal is out, and from
   * the device that proceeded until the session is answered (the callee
   * reconsidered); proceed: proceededBy(). The callee takes retract from the
   * caller's device before the session-initiate, also after its proceed
   * (Conversations retracts then when its user hangs up first).
   */
  jmiReceived(el: JmiElement, from: string, answered: boolean): "ringing" | { condition: ReasonCondition; text?: string } | undefined {
    if (!this.#proposal || !sameBareJid(from, this.#peer)) return undefined;
    const text = el.reason?.text ? { text: el.reason.text } : {};
    if (this.#o.role === "initiator") {
      if (el.action === "ringing") return "ringing";
      const proposed = this.#phase === SignallingPhase.Proposed;
      const reconsidered = !proposed && !answered && sameJid(from, this.#peer);
      // Conversations rejects without a <reason/>, also when its ring timeout ends the ringing.
      if (el.action === "reject" && (proposed || reconsidered)) return { condition: el.reason?.condition ?? "decline", ...text };
    } else if (el.action === "retract" && (this.#phase === SignallingPhase.Proposed || this.#phase === SignallingPhase.Proceeded) && sameJid(from, this.#peer)) {
      const after = this.#phase === SignallingPhase.Proceeded ? " after we answered" : "";
      return { condition: el.reason?.condition ?? "cancel", text: el.reason?.text ?? `the caller cancelled${after}` };
    }
    return undefined;
  }

  /** We say yes to the proposing device; its session-initiate follows. */
  async proceed(): Promise<void> {
    this.#phase = SignallingPhase.Proceeded;
    await this.#o.sendJmi(this.#peer, { action: "proceed", id: this.#o.sid });
  }

  // ------------------------------------------------------------ offer/answer

  /** Sends session-initiate with our offer; resolves once the peer acknowledged it. */
  async initiate(local: LocalTransport): Promise<void> {
    this.#phase = SignallingPhase.Session;
    await this.#o.send({
      action: "session-initiate",
      initiator: this.#o.self,
      contents: [this.#content(offerPayloadTypes(this.#o.codecs, this.#o.offer), local)],
    });
  }

  /** The peer's session-initiate: the audio content we can answer, or why not. */
  takeOffer(jingle: Jingle): OfferCheck {
    const proceeded = this.#phase === SignallingPhase.Proceeded;
    this.#phase = SignallingPhase.Session;
    const content = jingle.contents.find((c) => c.description?.media === "audio");
    if (!content?.description) return { ok: false, condition: "unsupported-applications", text: "no audio content" };
    if (!content.transport) return { ok: false, condition: "unsupported-transports", text: "no ICE-UDP transport" };
    this.#contentName = content.name;
    this.#contentCreator = content.creator;
    this.#remoteOffer = content.description.payloadTypes;
    this.#rtcpMux = content.description.rtcpMux && this.#o.rtcpMux;
    const answer = answerOffer(this.#remoteOffer, this.#o.codecs, this.#o.offer);
    if (!answer) return { ok: false, condition: "failed-application", text: "no codec in common" };
    this.#negotiated = answer.chosen;
    return { ok: true, content, proceeded };
  }

  /** Sends session-accept with our answer to the offer taken. */
  async accept(local: LocalTransport): Promise<void> {
    const answer = answerOffer(this.#remoteOffer, this.#o.codecs, this.#o.offer)!;
    await this.#o.send({ action: "session-accept", responder: this.#o.self, contents: [this.#content(answer.payloadTypes, local)] });
  }

  /** The peer's session-accept: its content, or undefined when it has no codec we offered. */
  takeAnswer(jingle: Jingle): JingleContent | undefined {
    const content = jingle.contents.find((c) => c.name === this.#contentName) ?? jingle.contents[0];
    const negotiated = content?.description && applyAnswer(content.description.payloadTypes, this.#o.codecs, this.#o.offer);
    this.#rtcpMux = Boolean(content?.description?.rtcpMux) && this.#o.rtcpMux;
    if (!content || !negotiated) return undefined;
    this.#negotiated = negotiated;
    return content;
  }

  /** A transport-info with our ICE credentials and these candidates. */
  transportInfo(local: LocalTransport): Promise<void> {
    return this.#o.send({ action: "transport-info", contents: [this.#content(undefined, local)] });
  }

  #content(payloadTypes: PayloadType[] | undefined, local: LocalTransport): JingleContent {
    const { ufrag, pwd } = local.ice;
    return {
      creator: this.#contentCreator,
      name: this.#contentName,
      senders: "both",
      ...(payloadTypes
        ? { description: { media: "audio", payloadTypes, rtcpMux: this.#o.role === "initiator" ? this.#o.rtcpMux : this.#rtcpMux, headerExtensions: [] } }
        : {}),
      transport: { ufrag, pwd, candidates: local.candidates, ...(payloadTypes && local.fingerprint ? { fingerprint: local.fingerprint } : {}) },
    };
  }

  // ------------------------------------------------------------ session-info

  /** XEP-0167 session-info (ringing, hold, unhold, ...); a peer that does not acknowledge it is only logged. */
  async sessionInfo(info: NonNullable<Jingle["info"]>, quietly = false): Promise<void> {
    await this.#o.send({ action: "session-info", contents: [], info }).catch((err: unknown) =>
      quietly ? this.#log.debug({ err: errorMessage(err) }, `${info.type} not acknowledged`) : this.#log.info({ err: errorMessage(err), info: info.type }, "session-info not acknowledged"),
    );
  }

  /** The peer's session-info about itself (XEP-0167 §7): what changed, if anything. */
  peerInfo(type: NonNullable<Jingle["info"]>["type"]): "held" | "resumed" | "muted" | "unmuted" | undefined {
    let change: "held" | "resumed" | "muted" | "unmuted" | undefined;
    if (type === "hold" && !this.#peerHeld) change = "held";
    // <active/> also ends a hold (§7.1: the party is active again).
    else if ((type === "unhold" || type === "active") && this.#peerHeld) change = "resumed";
    else if (type === "mute" && !this.#peerMuted) change = "muted";
    else if (type === "unmute" && this.#peerMuted) change = "unmuted";
    if (change === "held" || change === "resumed") this.#peerHeld = change === "held";
    if (change === "muted" || change === "unmuted") this.#peerMuted = change === "muted";
    if (change) this.#log.info({ event: change }, "peer session-info");
    return change;
  }

  /** XEP-0167 §7.3 mute/unmute names our content. */
  muteInfo(muted: boolean): Promise<void> {
    return this.sessionInfo({ type: muted ? "mute" : "unmute", creator: this.#contentCreator, name: this.#contentName });
  }

  // ------------------------------------------------------------ end

  /**
   * What ending the call tells the peer: a proposal is retracted (we call)
   * or rejected (we are called); a session is terminated (waiting a bounded
   * time for the acknowledgement: a peer that vanished never sends one), and
   * one begun by a proposal is finished (XEP-0353 §3.7: call logs on every
   * device). A migrated session is finished first (§4.2: the finish names
   * the new session, and the proceed for that follows at once); its Jingle
   * session ends with success, so that a device still in it stops too.
   */
  async end(reason: EndReason): Promise<void> {
    const { tieBreak, migratedTo, ...jingleReason } = reason;
    if (this.#phase === SignallingPhase.Proposed || this.#phase === SignallingPhase.Proceeded) {
      const caller = this.#o.role === "initiator";
      const action = caller ? "retract" : "reject";
      await this.#o
        .sendJmi(caller ? bareJid(this.#peer) : this.#peer, { action, id: this.#o.sid, reason: jingleReason, ...(tieBreak ? { tieBreak } : {}) })
        .catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, `${action} not sent`));
      return;
    }
    if (this.#phase !== SignallingPhase.Session) return;
    const finish = () => this.#o.sendJmi(bareJid(this.#peer), { action: "finish", id: this.#o.sid, reason: jingleReason, ...(migratedTo ? { migratedTo } : {}) }).catch(() => undefined);
    if (migratedTo) await finish();
    // A migrated session's device gets success: the call goes on elsewhere (Conversations shows any
    // other condition but decline, busy, cancel and timeout as a connectivity error).
    const terminateReason = migratedTo ? { ...jingleReason, condition: "success" as const } : jingleReason;
    const terminated = this.#o
      .send({ action: "session-terminate", contents: [], reason: terminateReason })
      .catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, "session-terminate not acknowledged"));
    await Promise.race([terminated, new Promise((r) => setTimeout(r, TERMINATE_ACK_WAIT_MS).unref?.())]);
    if (this.#proposal && !migratedTo) await finish();
  }
}
