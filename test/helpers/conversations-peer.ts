// A scripted XMPP client that signals calls the way Conversations (Android)
// does, read from its own source (eu.siacs.conversations.xmpp.jingle:
// JingleConnectionManager, JingleRtpConnection, RtpContentMap; parser
// MessageParser; generator MessageGenerator), 2.12.8 and 2.18: the same
// rules, written anew here. It runs over a real server (a real XMPP client
// stack: src/xmpp/connection.ts) and carries real media: ICE with the
// project's agent, DTLS-SRTP with the project's DTLS, Opus (or whatever the
// answer names) at 20 ms.
//
// What it does as Conversations does:
//
//   XEP-0353  propose with message id "jm-propose-SID", <request/> receipt
//             and <store/>; a receipt for every jingle-message it gets that
//             asks for one; <ringing/> to the caller only from 2.13 on
//             ("2.18"), before that only the receipt; proceed (message id
//             "jm-proceed-SID") to the caller's full JID beside <accept/> to
//             its own bare JID; reject and retract without a <reason/>;
//             retract after proceed when its user hangs up first; proposals
//             with media other than audio/video ignored
//   glare     two open proposals between the same pair with the same media:
//             if its id is the greater (then its full JID), it retracts its
//             own and rings the other's; otherwise it ignores the other's and
//             waits (it sends no reject)
//   Jingle    content "0" with a BUNDLE-style single transport, the DTLS
//             fingerprint with setup actpass (offer) or active (answer), one
//             candidate per transport-info after the initiate/accept; a
//             session-initiate after its proceed is accepted at once, one
//             whose media differ from the proposal's, or a session-accept
//             whose media differ from its offer's, ends with security-error
//   restarts  a transport-info with new credentials and no candidate is an
//             offer, with candidates an answer; its own restart offer is
//             credentials alone, candidates after the result; an offer that
//             crosses its own: as initiator it answers tie-break and keeps
//             its own, as responder it drops its own and answers; an answer
//             when it offered nothing ends the call (failed-application:
//             WebRTC cannot take an answer in the stable state)
//   timeout   its ring timeout (30 s, or ringTimeout() at once): reject
//             without reason while proposed, session-terminate decline
//             after a session-initiate
import { randomBytes } from "node:crypto";
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import { IceAgent } from "../../src/ice/ice-agent.js";
import {
  JINGLE_IQ_ERRORS,
  NS_JINGLE,
  buildJingle,
  buildJingleIqError,
  findJmi,
  parseJingle,
  parseJmi,
  type IceCandidate,
  type Jingle,
  type JingleContent,
  type JmiElement,
  type PayloadType,
  type ReasonCondition,
} from "../../src/jingle/protocol/index.js";
import { findCodec } from "../../src/media/codecs/index.js";
import type { AudioEncoder } from "../../src/media/codecs/codec.js";
import { dtlsTransport, type MediaTransport } from "../../src/app/media-plane/media-transport.js";
import { createCertificate, fingerprint, type DtlsCertificate } from "../../src/rtp/dtls/certificate.js";
import { RtpPacketizer } from "../../src/rtp/rtp-packet.js";
import { createLogger, type Logger } from "../../src/util/logger.js";
import { XmppConnection } from "../../src/xmpp/connection.js";
import type { XmppTestServer } from "../../scripts/lab/daemon.js";
import type { UdpCable } from "./udp-cable.js";

const NS_JMI = "urn:xmpp:jingle-message:0";
const NS_RTP = "urn:xmpp:jingle:apps:rtp:1";
const NS_RECEIPTS = "urn:xmpp:receipts";
const PROPOSE_PREFIX = "jm-propose-";
const PROCEED_PREFIX = "jm-proceed-";

/** What Conversations puts in disco#info for calls (its caps, as jingled reads them). */
export const CONVERSATIONS_FEATURES = [
  "urn:xmpp:jingle:1",
  "urn:xmpp:jingle:apps:rtp:1",
  "urn:xmpp:jingle:apps:rtp:audio",
  "urn:xmpp:jingle:apps:rtp:video",
  "urn:xmpp:jingle:transports:ice-udp:1",
  "urn:xmpp:jingle:apps:dtls:0",
  "urn:xmpp:jingle-message:0",
  "urn:xmpp:receipts",
];

/** libwebrtc's audio offer as Conversations sends it (payload types and fmtp). */
const AUDIO_OFFER: PayloadType[] = [
  { id: 111, name: "opus", clockrate: 48000, channels: 2, parameters: [{ name: "minptime", value: "10" }, { name: "useinbandfec", value: "1" }] },
  { id: 63, name: "red", clockrate: 48000, channels: 2, parameters: [] },
  { id: 9, name: "G722", clockrate: 8000, channels: 1, parameters: [] },
  { id: 0, name: "PCMU", clockrate: 8000, channels: 1, parameters: [] },
  { id: 8, name: "PCMA", clockrate: 8000, channels: 1, parameters: [] },
  { id: 13, name: "CN", clockrate: 8000, channels: 1, parameters: [] },
  { id: 110, name: "telephone-event", clockrate: 48000, channels: 1, parameters: [] },
  { id: 126, name: "telephone-event", clockrate: 8000, channels: 1, parameters: [] },
];
const VIDEO_OFFER: PayloadType[] = [{ id: 96, name: "VP8", clockrate: 90000, channels: 1, parameters: [] }];

export type PeerState =
  | "proposed" // a proposal rings here
  | "proceed" // we said proceed (responder) or got one (initiator)
  | "session-initialized" // a session-initiate, not pre-approved: rings
  | "session-initialized-pre-approved"
  | "session-accepted"
  | "terminated";

/** What the peer saw, in order: every message and Jingle IQ it received. */
export interface Seen {
  kind: "message" | "iq";
  stanza: Element;
  jmi?: JmiElement;
  jingle?: Jingle;
}

export interface PeerOptions {
  server: XmppTestServer;
  username: string;
  password: string;
  /** Conversations names its resource "Conversations.XXXX" (random, kept per install). */
  resource?: string;
  priority?: number;
  /** "2.12": no <ringing/>, the receipt alone; "2.18": <ringing/> as well. */
  version?: "2.12" | "2.18";
  /** Carry ICE through this cable (so that the test can cut the path). */
  cable?: UdpCable;
  /** Accept a session-accept that drops part of our offer's media (Conversations does not: security-error). */
  lenientMedia?: boolean;
  logger?: Logger;
}

/** One call of the peer (JingleRtpConnection's part that matters here). */
export class PeerSession {
  state: PeerState;
  /** The other side's full JID (the device that proposed or proceeded). */
  with: string;
  readonly role: "initiator" | "responder";
  readonly sid: string;
  media: string[];
  /** Why it ended (the reason it sent or received). */
  reason: ReasonCondition | undefined;
  reasonBy: "us" | "them" | undefined;
  agent: IceAgent | undefined;
  transport: MediaTransport | undefined;
  /** RTP packets received, and when (for "media after the restart"). */
  rtpReceived: number[] = [];
  rtpSent = 0;
  /** ICE generations that connected (1, then one per restart). */
  connectedGenerations: number[] = [];
  /** Our ICE restart offer is out and unanswered (the WebRTC signalling state is not stable). */
  restartPending = false;
  /** How the other side acknowledged our own restart offers. */
  ownRestarts: ("result" | "tie-break" | "error")[] = [];
  /** Restart offers seen from the other side, and how each was answered. */
  restartsSeen: { ufrag: string; answered: "result" | "tie-break" | "applied-answer" | "failed" }[] = [];
  remoteUfrag: string | undefined;
  remotePwd: string | undefined;
  remoteFingerprint: { hash: string; value: string; setup?: string } | undefined;
  backlog: IceCandidate[] = [];
  /** Remote candidates handed to the ICE agent. */
  remoteCandidates = 0;
  /** Our candidates go out only once the initiate/accept (or a restart offer) went. */
  readyToSend = false;
  heldCandidates: IceCandidate[] = [];
  ringTimer: NodeJS.Timeout | undefined;
  mediaTimer: NodeJS.Timeout | undefined;
  mediaStarted = false;
  /** The codec of the offer we answer with. */
  pendingCodec: PayloadType | undefined;
  encoder: AudioEncoder | undefined;
  packetizer: RtpPacketizer | undefined;
  pcmRate = 48000;
  clockRate = 48000;
  dtlsRole: "client" | "server" | undefined;

  constructor(o: { sid: string; with: string; role: "initiator" | "responder"; state: PeerState; media: string[] }) {
    this.sid = o.sid;
    this.with = o.with;
    this.role = o.role;
    this.state = o.state;
    this.media = o.media;
  }

  get terminated(): boolean {
    return this.state === "terminated";
  }

  /** One line for a failure message. */
  summary(): string {
    return JSON.stringify({
      sid: this.sid, state: this.state, with: this.with, generations: this.connectedGenerations, ice: this.agent?.state,
      remoteCandidates: this.remoteCandidates, backlog: this.backlog.length, dtls: this.dtlsRole, mediaStarted: this.mediaStarted,
      rtp: { in: this.rtpReceived.length, out: this.rtpSent }, reason: this.reason,
    });
  }

  /** RTP received since `since` (performance.now()). */
  rtpSince(since: number): number {
    return this.rtpReceived.filter((t) => t >= since).length;
  }
}

export class ConversationsPeer {
  readonly #o: PeerOptions;
  readonly #log: Logger;
  readonly xmpp: XmppConnection;
  readonly seen: Seen[] = [];
  readonly #waiters = new Set<() => void>();
  /** Our open proposals (rtpSessionProposals): sid -> bare JID and media. */
  readonly proposals = new Map<string, { with: string; media: string[]; state: "searching" | "discovered" | "retracted" | "rejected" }>();
  readonly sessions = new Map<string, PeerSession>();
  #certificate!: DtlsCertificate;
  /** Called when a proposal starts ringing here (the test may accept it). */
  onRing: ((s: PeerSession) => void) | undefined;
  /** Called before a jingle-message is handled: the test may act first (e.g. send a crossing proposal). */
  beforeJmi: ((el: JmiElement, from: string) => Promise<void> | void) | undefined;
  /** Called before a Jingle action is handled. */
  beforeJingle: ((j: Jingle, from: string) => Promise<void> | void) | undefined;

  private constructor(o: PeerOptions) {
    this.#o = o;
    this.#log = o.logger ?? createLogger({ level: (process.env.TEST_PEER_LOG as "debug" | undefined) ?? "silent" });
    this.xmpp = new XmppConnection({
      jid: `${o.username}@${o.server.domain}`,
      password: o.password,
      resource: o.resource ?? `Conversations.${randomBytes(3).toString("hex")}`,
      service: `xmpp://127.0.0.1:${o.server.port}`,
      allowPlaintext: false,
      caFile: o.server.caFile,
      priority: o.priority ?? 0,
      features: CONVERSATIONS_FEATURES,
      logger: this.#log,
    });
  }

  static async start(o: PeerOptions): Promise<ConversationsPeer> {
    const p = new ConversationsPeer(o);
    p.#certificate = await createCertificate("Conversations");
    p.xmpp.on("message", (m) => void p.#onMessage(m).catch((err: unknown) => p.#log.warn({ err }, "peer message")));
    p.xmpp.onIqSet(NS_JINGLE, "jingle", (iq) => p.#onJingle(iq));
    // Online, and the server has our initial presence (it echoes it to us): until then a
    // message to the bare JID would not count this device among the recipients.
    const announced = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("peer: no presence echo in 10 s")), 10_000);
      const onPresence = (pr: Element) => {
        if (pr.attrs.from !== p.xmpp.jid || pr.attrs.type) return;
        clearTimeout(timer);
        p.xmpp.off("presence", onPresence);
        resolve();
      };
      p.xmpp.on("presence", onPresence);
    });
    await p.xmpp.start();
    await announced;
    return p;
  }

  get jid(): string {
    return this.xmpp.jid!;
  }

  get bare(): string {
    return this.jid.split("/")[0]!;
  }

  async stop(): Promise<void> {
    for (const s of this.sessions.values()) this.#close(s);
    await this.xmpp.stop();
  }

  // ------------------------------------------------------------ what the test waits for

  #record(e: Seen): void {
    this.seen.push(e);
    for (const w of [...this.#waiters]) w();
  }

  /** The first entry from `mark` on that matches (waits for it). */
  waitSeen(pred: (e: Seen) => boolean, what: string, timeoutMs = 15_000, mark = 0): Promise<Seen> {
    const find = () => this.seen.slice(mark).find(pred);
    const now = find();
    if (now) return Promise.resolve(now);
    return new Promise((resolve, reject) => {
      const check = () => {
        const e = find();
        if (!e) return;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(e);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`peer ${this.jid}: timed out after ${timeoutMs} ms waiting for ${what}; seen: ${this.seen.slice(-8).map((s) => describe(s)).join(" | ")}`));
      }, timeoutMs);
      this.#waiters.add(check);
    });
  }

  /** A jingle-message `action` (for `sid`, when given). */
  waitJmi(action: string, sid?: string, timeoutMs?: number, mark?: number): Promise<Seen> {
    return this.waitSeen((e) => e.jmi?.action === action && (sid === undefined || e.jmi.id === sid), `<${action}/>${sid ? ` for ${sid}` : ""}`, timeoutMs, mark);
  }

  /** A Jingle action (for `sid`, when given). */
  waitJingle(action: string, sid?: string, timeoutMs?: number, mark?: number): Promise<Seen> {
    return this.waitSeen((e) => e.jingle?.action === action && (sid === undefined || e.jingle.sid === sid), `${action}${sid ? ` for ${sid}` : ""}`, timeoutMs, mark);
  }

  /** Waits until `pred` holds, checking every 50 ms. */
  async until(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    const end = performance.now() + timeoutMs;
    while (!pred()) {
      if (performance.now() > end) throw new Error(`peer ${this.jid}: timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // ------------------------------------------------------------ XEP-0353, as the user drives it

  /** Calls a bare JID (proposeJingleRtpSession): a random 16-byte id, as Conversations makes it, unless given. */
  async propose(to: string, o: { media?: string[]; id?: string } = {}): Promise<string> {
    const sid = o.id ?? randomBytes(16).toString("base64url");
    const media = o.media ?? ["audio"];
    this.proposals.set(sid, { with: to.split("/")[0]!, media, state: "searching" });
    await this.xmpp.send(
      xml(
        "message",
        { to, type: "chat", id: PROPOSE_PREFIX + sid },
        xml("propose", { xmlns: NS_JMI, id: sid }, ...media.map((m) => xml("description", { xmlns: NS_RTP, media: m }))),
        xml("request", { xmlns: NS_RECEIPTS }),
        xml("store", { xmlns: "urn:xmpp:hints" }),
      ),
    );
    return sid;
  }

  /** The user hangs up before anyone answered (retractSessionProposal): a retract without reason, to the bare JID. */
  async retractProposal(sid: string): Promise<void> {
    const p = this.proposals.get(sid);
    if (!p) throw new Error(`no proposal ${sid}`);
    p.state = "retracted";
    await this.#sendRetract(p.with, sid);
  }

  async #sendRetract(to: string, sid: string): Promise<void> {
    // MessageGenerator.sessionRetract: an empty <description/> child, no reason.
    await this.xmpp.send(xml("message", { to, type: "chat" }, xml("retract", { xmlns: NS_JMI, id: sid }, xml("description", { xmlns: NS_RTP })), xml("store", { xmlns: "urn:xmpp:hints" })));
  }

  async #sendJmi(action: string, to: string, sid: string, id?: string): Promise<void> {
    await this.xmpp.send(xml("message", { to, type: "chat", ...(id ? { id } : {}) }, xml(action, { xmlns: NS_JMI, id: sid }), xml("store", { xmlns: "urn:xmpp:hints" })));
  }

  /** The user answers a ringing call (acceptCall). */
  async accept(sid: string): Promise<void> {
    const s = this.#session(sid);
    clearTimeout(s.ringTimer);
    if (s.state === "proposed") {
      s.state = "proceed";
      await this.#sendJmi("accept", this.bare, sid);
      await this.#sendJmi("proceed", s.with, sid, PROCEED_PREFIX + sid);
    } else if (s.state === "session-initialized") {
      await this.#sendAccept(s);
    } else throw new Error(`cannot accept in ${s.state}`);
  }

  /** The user declines (rejectCall): reject without reason, or session-terminate decline. */
  async reject(sid: string): Promise<void> {
    const s = this.#session(sid);
    clearTimeout(s.ringTimer);
    if (s.state === "proposed") {
      this.#end(s, "decline", "us");
      await this.#sendJmi("reject", s.with, sid);
    } else if (s.state === "session-initialized") {
      await this.#terminate(s, "decline");
    } else throw new Error(`cannot reject in ${s.state}`);
  }

  /** Its ring timeout fires (30 s in Conversations; here when the test says): the same as the user declining. */
  ringTimeout(sid: string): Promise<void> {
    return this.reject(sid);
  }

  /** The user hangs up (endCall). */
  async hangup(sid: string): Promise<void> {
    const s = this.#session(sid);
    if (s.terminated) return;
    if (s.state === "proceed") {
      // retractFromProceed / rejectCallFromProceed
      this.#end(s, s.role === "initiator" ? "cancel" : "decline", "us");
      await this.#sendJmi(s.role === "initiator" ? "retract" : "reject", s.with, sid);
      return;
    }
    if (s.state === "proposed" && s.role === "responder") return this.reject(sid);
    if (s.role === "initiator" && s.state === "session-initialized-pre-approved") return this.#terminate(s, "cancel");
    if (s.state === "session-initialized") return this.#terminate(s, "decline");
    await this.#terminate(s, "success");
  }

  /** After a proceed, the caller's WebRTC set-up never finishes: no session-initiate goes out. */
  stallAfterProceed = false;

  // ------------------------------------------------------------ ICE restart, as Conversations starts one

  /** PeerConnection FAILED after it was connected: restartIce -> a transport-info with the new credentials and no candidate. */
  async restartIce(sid: string): Promise<void> {
    const s = this.#session(sid);
    const agent = s.agent!;
    agent.restart();
    s.restartPending = true;
    s.readyToSend = false;
    const { ufrag, pwd } = agent.localParameters;
    try {
      await this.xmpp.iq(this.#jingleIq(s, { action: "transport-info", contents: [this.#content(s, { ufrag, pwd, candidates: [] }, false)] }));
      // "received success to our ice restart": candidates may go
      s.ownRestarts.push("result");
      s.readyToSend = true;
      await this.#flushCandidates(s);
    } catch (err) {
      // A tie-break: the other side keeps its own restart (we answer it). Anything else ends the call.
      const app = (err as { application?: Element }).application;
      if (app?.name === "tie-break") {
        this.#log.info("received tie-break as result of ice restart");
        s.ownRestarts.push("tie-break");
        return;
      }
      s.ownRestarts.push("error");
      this.#log.warn({ err }, "ice restart not acknowledged");
    }
  }

  // ------------------------------------------------------------ messages in (JingleConnectionManager.deliverMessage)

  async #onMessage(m: Element): Promise<void> {
    if (m.attrs.type === "error") {
      this.#record({ kind: "message", stanza: m });
      return;
    }
    const child = findJmi(m);
    const from = m.attrs.from ?? "";
    const fromSelf = from.split("/")[0] === this.bare;
    let el: JmiElement | undefined;
    if (child) {
      try {
        el = parseJmi(child);
      } catch {
        el = undefined;
      }
    }
    this.#record({ kind: "message", stanza: m, ...(el ? { jmi: el } : {}) });
    // MessageParser: a receipt for a jingle-message that asks for one (not from our own account).
    if (el && !fromSelf && m.attrs.id && m.getChild("request", NS_RECEIPTS)) {
      await this.xmpp.send(xml("message", { to: from, type: m.attrs.type ?? "chat" }, xml("received", { xmlns: NS_RECEIPTS, id: m.attrs.id }), xml("store", { xmlns: "urn:xmpp:hints" })));
    }
    const receipt = m.getChild("received", NS_RECEIPTS)?.attrs.id as string | undefined;
    if (!el && receipt?.startsWith(PROPOSE_PREFIX)) {
      const p = this.proposals.get(receipt.slice(PROPOSE_PREFIX.length));
      if (p && p.state === "searching") p.state = "discovered";
      return;
    }
    if (!el || fromSelf) return;
    await this.beforeJmi?.(el, from);
    const sid = el.id;
    const existing = this.sessions.get(sid);
    if (existing && existing.with === from) return this.#deliverToSession(existing, el, from);
    const addressedDirectly = m.attrs.to === this.jid;
    if (el.action === "propose") return this.#onPropose(el, from);
    const p = this.proposals.get(sid);
    if (addressedDirectly && el.action === "proceed" && p && p.with === from.split("/")[0] && (p.state === "searching" || p.state === "discovered")) {
      this.proposals.delete(sid);
      const s = new PeerSession({ sid, with: from, role: "initiator", state: "proceed", media: p.media });
      this.sessions.set(sid, s);
      if (!this.stallAfterProceed) await this.#sendInitiate(s);
      return;
    }
    if (addressedDirectly && el.action === "reject" && p) {
      p.state = "rejected";
      return;
    }
    if (addressedDirectly && el.action === "ringing" && p && p.state === "searching") p.state = "discovered";
    // anything else: "retrieved out of order jingle message", ignored
  }

  async #onPropose(el: JmiElement, from: string): Promise<void> {
    const media = el.media ?? [];
    if (media.length === 0 || media.some((m) => m !== "audio" && m !== "video")) return; // unknown media: ignored
    const fromBare = from.split("/")[0]!;
    const mine = [...this.proposals.entries()].find(
      ([, p]) => p.with === fromBare && (p.state === "searching" || p.state === "discovered") && sameSet(p.media, media),
    );
    if (mine) {
      const [ourSid] = mine;
      const order = compareJava(ourSid, el.id) || compareJava(this.jid, from);
      if (order <= 0) return; // "our session won tie break. waiting for other party to accept"
      // "our session lost tie break. automatically accepting their session": retract ours, ring theirs
      mine[1].state = "retracted";
      await this.#sendRetract(fromBare, ourSid);
    } else if ([...this.sessions.values()].some((s) => !s.terminated)) {
      return; // busy on this device: ignored (other devices may take it)
    }
    const s = new PeerSession({ sid: el.id, with: from, role: "responder", state: "proposed", media });
    this.sessions.set(el.id, s);
    this.#startRinging(s);
    if (this.#o.version === "2.18") await this.#sendJmi("ringing", from, el.id);
    this.onRing?.(s);
  }

  #startRinging(s: PeerSession): void {
    s.ringTimer = setTimeout(() => void this.ringTimeout(s.sid).catch(() => undefined), 30_000);
    s.ringTimer.unref?.();
  }

  async #deliverToSession(s: PeerSession, el: JmiElement, from: string): Promise<void> {
    if (el.action === "retract" && from === s.with && (s.state === "proposed" || s.state === "proceed")) {
      clearTimeout(s.ringTimer);
      this.#end(s, "cancel", "them");
    } else if (el.action === "reject" && s.role === "initiator" && (s.state === "proceed" || s.state === "session-initialized-pre-approved")) {
      this.#end(s, "decline", "them");
    }
  }

  // ------------------------------------------------------------ Jingle in (JingleRtpConnection.deliverPacket)

  async #onJingle(iq: Element): Promise<void> {
    let j: Jingle;
    try {
      j = parseJingle(iq.getChild("jingle", NS_JINGLE)!);
    } catch {
      await this.xmpp.send(buildJingleIqError(iq, JINGLE_IQ_ERRORS["bad-request"]));
      return;
    }
    const from = iq.attrs.from ?? "";
    this.#record({ kind: "iq", stanza: iq, jingle: j });
    await this.beforeJingle?.(j, from);
    let s = this.sessions.get(j.sid);
    if (s && s.with !== from) s = undefined;
    if (!s) {
      if (j.action !== "session-initiate") {
        await this.xmpp.send(buildJingleIqError(iq, JINGLE_IQ_ERRORS["unknown-session"]));
        return;
      }
      s = new PeerSession({ sid: j.sid, with: from, role: "responder", state: "session-initialized", media: mediaOf(j.contents) });
      this.sessions.set(j.sid, s);
      await this.xmpp.sendIqResult(iq);
      this.#takeOffer(s, j);
      this.#startRinging(s);
      this.onRing?.(s);
      return;
    }
    switch (j.action) {
      case "session-initiate": {
        if (s.state !== "proceed" || s.role !== "responder") {
          await this.xmpp.send(buildJingleIqError(iq, JINGLE_IQ_ERRORS["out-of-order"]));
          return;
        }
        await this.xmpp.sendIqResult(iq);
        if (!sameSet(s.media, mediaOf(j.contents))) {
          await this.#terminate(s, "security-error", `Your session proposal included media ${s.media} but your session-initiate was ${mediaOf(j.contents)}`);
          return;
        }
        s.state = "session-initialized-pre-approved";
        this.#takeOffer(s, j);
        await this.#sendAccept(s); // "automatically accepting session-initiate"
        return;
      }
      case "session-accept": {
        await this.xmpp.sendIqResult(iq);
        if (!this.#o.lenientMedia && !sameSet(s.media, mediaOf(j.contents))) {
          await this.#terminate(s, "security-error", `Your session-accept included media ${mediaOf(j.contents)} but our session-initiate was ${s.media}`);
          return;
        }
        s.state = "session-accepted";
        const c = j.contents.find((x) => x.name === "0") ?? j.contents[0]!;
        this.#takeTransport(s, c);
        this.#startEncoder(s, c.description?.payloadTypes[0]);
        await this.#applyBacklog(s);
        await this.#startDtls(s, "server");
        return;
      }
      case "transport-info":
        return this.#onTransportInfo(s, iq, j);
      case "session-terminate":
        await this.xmpp.sendIqResult(iq);
        this.#end(s, j.reason?.condition ?? "success", "them");
        return;
      default:
        await this.xmpp.sendIqResult(iq);
    }
  }

  async #onTransportInfo(s: PeerSession, iq: Element, j: Jingle): Promise<void> {
    const c = j.contents.find((x) => x.name === "0") ?? j.contents[0];
    const t = c?.transport;
    if (!t) {
      await this.xmpp.sendIqResult(iq);
      return;
    }
    if (s.state !== "session-accepted") {
      // "received transport-info prematurely. adding to backlog"
      s.backlog.push(...t.candidates);
      await this.xmpp.sendIqResult(iq);
      return;
    }
    const restart = t.ufrag !== undefined && t.pwd !== undefined && t.ufrag !== s.remoteUfrag;
    if (!restart) {
      await this.xmpp.sendIqResult(iq);
      for (const cand of t.candidates) await this.#addRemote(s, cand);
      return;
    }
    const isOffer = t.candidates.length === 0;
    if (isOffer) {
      if (s.restartPending && s.role === "initiator") {
        // "We ignore the offer and respond with tie-break."
        s.restartsSeen.push({ ufrag: t.ufrag!, answered: "tie-break" });
        await this.xmpp.send(buildJingleIqError(iq, JINGLE_IQ_ERRORS["tie-break"]));
        return;
      }
      // An offer: as responder with our own offer pending, ours is rolled back (this generation answers).
      s.readyToSend = false;
      if (!s.restartPending) s.agent!.restart();
      s.restartPending = false;
      s.remoteUfrag = t.ufrag;
      s.remotePwd = t.pwd;
      s.agent!.setRemoteParameters(t.ufrag!, t.pwd!);
      s.restartsSeen.push({ ufrag: t.ufrag!, answered: "result" });
      // "We need to respond OK before sending any candidates"
      await this.xmpp.sendIqResult(iq);
      s.readyToSend = true;
      await this.#flushCandidates(s);
      return;
    }
    if (!s.restartPending) {
      // An answer in the stable state: WebRTC refuses it and the session ends.
      s.restartsSeen.push({ ufrag: t.ufrag!, answered: "failed" });
      await this.xmpp.sendIqResult(iq);
      await this.#terminate(s, "failed-application", "Called in wrong state: stable");
      return;
    }
    s.restartPending = false;
    s.remoteUfrag = t.ufrag;
    s.remotePwd = t.pwd;
    s.agent!.setRemoteParameters(t.ufrag!, t.pwd!);
    s.restartsSeen.push({ ufrag: t.ufrag!, answered: "applied-answer" });
    await this.xmpp.sendIqResult(iq);
    for (const cand of t.candidates) await this.#addRemote(s, cand);
  }

  // ------------------------------------------------------------ the session's media

  #session(sid: string): PeerSession {
    const s = this.sessions.get(sid);
    if (!s) throw new Error(`peer: no session ${sid}`);
    return s;
  }

  #jingleIq(s: PeerSession, j: Omit<Jingle, "sid">): Element {
    return xml("iq", { type: "set", to: s.with, id: randomBytes(6).toString("hex") }, buildJingle({ ...j, sid: s.sid } as Jingle));
  }

  #content(s: PeerSession, transport: JingleContent["transport"], withDescription: boolean, media = "audio"): JingleContent {
    return {
      creator: "initiator",
      name: media === "audio" ? "0" : "1",
      senders: "both",
      ...(withDescription ? { description: { media, payloadTypes: media === "audio" ? AUDIO_OFFER : VIDEO_OFFER, rtcpMux: true, headerExtensions: [] } } : {}),
      ...(transport ? { transport } : {}),
    };
  }

  #makeAgent(s: PeerSession): IceAgent {
    const agent = new IceAgent({ controlling: s.role === "initiator", addresses: ["127.0.0.1"], connectTimeoutMs: 20_000, logger: this.#log });
    s.agent = agent;
    agent.on("candidate", (c) => void this.#localCandidate(s, c));
    agent.on("connected", (_pair, info) => {
      s.connectedGenerations.push(info.generation);
      if (info.generation === 1) void this.#startMedia(s);
    });
    agent.on("data", (d) => s.transport?.receive(d));
    return agent;
  }

  async #localCandidate(s: PeerSession, c: IceCandidate): Promise<void> {
    const cable = this.#o.cable;
    const cand = cable ? { ...c, port: await cable.standIn(c.ip, c.port) } : c;
    s.heldCandidates.push(cand);
    await this.#flushCandidates(s);
  }

  /** One candidate per transport-info, with our current credentials (sendTransportInfo). */
  async #flushCandidates(s: PeerSession): Promise<void> {
    if (!s.readyToSend || s.terminated || !s.agent) return;
    for (const cand of s.heldCandidates.splice(0)) {
      const { ufrag, pwd } = s.agent.localParameters;
      await this.xmpp.send(this.#jingleIq(s, { action: "transport-info", contents: [this.#content(s, { ufrag, pwd, candidates: [cand] }, false)] })).catch(() => undefined);
    }
  }

  async #addRemote(s: PeerSession, c: IceCandidate): Promise<void> {
    const cable = this.#o.cable;
    const cand = cable ? { ...c, ip: "127.0.0.1", port: await cable.standIn(c.ip, c.port) } : c;
    s.remoteCandidates++;
    await s.agent?.addRemoteCandidate(cand);
  }

  #takeTransport(s: PeerSession, c: JingleContent): void {
    const t = c.transport;
    if (!t) return;
    s.remoteUfrag = t.ufrag;
    s.remotePwd = t.pwd;
    if (t.fingerprint) s.remoteFingerprint = t.fingerprint;
    if (t.ufrag && t.pwd) s.agent!.setRemoteParameters(t.ufrag, t.pwd);
    s.backlog.push(...t.candidates);
  }

  async #applyBacklog(s: PeerSession): Promise<void> {
    for (const c of s.backlog.splice(0)) await this.#addRemote(s, c);
  }

  #takeOffer(s: PeerSession, j: Jingle): void {
    const c = j.contents.find((x) => x.description?.media === "audio") ?? j.contents[0]!;
    s.remoteUfrag = c.transport?.ufrag;
    s.remotePwd = c.transport?.pwd;
    if (c.transport?.fingerprint) s.remoteFingerprint = c.transport.fingerprint;
    s.backlog.push(...(c.transport?.candidates ?? []));
    const ours = AUDIO_OFFER.map((p) => p.name!.toLowerCase());
    s.pendingCodec = c.description?.payloadTypes.find((p) => ours.includes((p.name ?? "").toLowerCase()) && p.name !== "telephone-event");
  }

  async #sendInitiate(s: PeerSession): Promise<void> {
    const agent = this.#makeAgent(s);
    s.state = "session-initialized-pre-approved";
    const { ufrag, pwd } = agent.localParameters;
    const fp = { hash: "sha-256", value: fingerprint(this.#certificate), setup: "actpass" as const };
    const contents = s.media.map((m) => this.#content(s, { ufrag, pwd, candidates: [], fingerprint: fp }, true, m));
    await this.xmpp.send(this.#jingleIq(s, { action: "session-initiate", initiator: this.jid, contents }));
    s.readyToSend = true;
    void agent.gather();
  }

  async #sendAccept(s: PeerSession): Promise<void> {
    const agent = this.#makeAgent(s);
    if (s.remoteUfrag && s.remotePwd) agent.setRemoteParameters(s.remoteUfrag, s.remotePwd);
    // From here on the other side's candidates go to the agent, not the backlog.
    s.state = "session-accepted";
    await this.#applyBacklog(s);
    const { ufrag, pwd } = agent.localParameters;
    const codec = s.pendingCodec ?? AUDIO_OFFER[0]!;
    const fp = { hash: "sha-256", value: fingerprint(this.#certificate), setup: "active" as const };
    // Every offered medium is answered (audio with the codec taken, video with VP8), on the one bundled transport.
    const contents: JingleContent[] = s.media.map((m) => ({
      creator: "initiator",
      name: m === "audio" ? "0" : "1",
      senders: "both",
      description: { media: m, payloadTypes: m === "audio" ? [codec] : VIDEO_OFFER, rtcpMux: true, headerExtensions: [] },
      transport: { ufrag, pwd, candidates: [], fingerprint: fp },
    }));
    this.#startEncoder(s, codec);
    await this.xmpp.send(this.#jingleIq(s, { action: "session-accept", responder: this.jid, contents }));
    s.readyToSend = true;
    void agent.gather();
    await this.#startDtls(s, "client");
  }

  #startEncoder(s: PeerSession, pt: PayloadType | undefined): void {
    if (!pt?.name || !pt.clockrate) return;
    const codec = findCodec(pt.name, pt.clockrate);
    if (!codec) return;
    s.encoder = codec.createEncoder();
    s.packetizer = new RtpPacketizer({ payloadType: pt.id, clockRate: codec.clockRate });
    s.pcmRate = codec.pcmRate;
    s.clockRate = codec.clockRate;
  }

  async #startDtls(s: PeerSession, role: "client" | "server"): Promise<void> {
    const fp = s.remoteFingerprint;
    if (!fp || !s.agent) return;
    const agent = s.agent;
    s.transport = dtlsTransport({
      role,
      certificate: this.#certificate,
      remoteFingerprint: { hash: fp.hash, value: fp.value },
      send: (d) => agent.send(d),
      deliver: { receiveRtp: () => void s.rtpReceived.push(performance.now()), receiveRtcp: () => undefined },
      logger: this.#log,
    });
    s.dtlsRole = role;
    if (s.connectedGenerations.length > 0) await this.#startMedia(s);
  }

  /** Once ICE is up: the DTLS handshake, then a 440 Hz tone every 20 ms. */
  async #startMedia(s: PeerSession): Promise<void> {
    if (!s.transport || s.mediaStarted) return;
    s.mediaStarted = true;
    try {
      await s.transport.start();
    } catch (err) {
      this.#log.warn({ err }, "peer DTLS failed");
      return;
    }
    let n = 0;
    s.mediaTimer = setInterval(() => {
      if (!s.encoder || !s.packetizer || s.terminated) return;
      const samples = s.encoder.frameSamples;
      const pcm = new Int16Array(samples);
      for (let i = 0; i < samples; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (n * samples + i)) / s.pcmRate));
      n++;
      const payload = s.encoder.encode(pcm);
      s.transport!.send(s.packetizer.packetize(payload, (samples * s.clockRate) / s.pcmRate));
      s.rtpSent++;
    }, 20);
  }

  async #terminate(s: PeerSession, reason: ReasonCondition, text?: string): Promise<void> {
    this.#end(s, reason, "us");
    await this.xmpp.iq(this.#jingleIq(s, { action: "session-terminate", contents: [], reason: { condition: reason, ...(text ? { text } : {}) } }), 5000).catch(() => undefined);
  }

  #end(s: PeerSession, reason: ReasonCondition, by: "us" | "them"): void {
    if (s.terminated) return;
    s.state = "terminated";
    s.reason = reason;
    s.reasonBy = by;
    this.#close(s);
    for (const w of [...this.#waiters]) w();
  }

  #close(s: PeerSession): void {
    clearTimeout(s.ringTimer);
    clearInterval(s.mediaTimer);
    s.transport?.close();
    void s.agent?.close();
    s.encoder?.close();
    s.encoder = undefined;
  }
}

function mediaOf(contents: JingleContent[]): string[] {
  return contents.map((c) => c.description?.media ?? "").filter(Boolean);
}

function sameSet(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x)) && b.every((x) => a.includes(x));
}

/** Java's String.compareTo: UTF-16 code units (ids and JIDs here are ASCII, where it is i;octet). */
function compareJava(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describe(s: Seen): string {
  if (s.jmi) return `<${s.jmi.action} ${s.jmi.id}> from ${s.stanza.attrs.from}`;
  if (s.jingle) return `${s.jingle.action} ${s.jingle.sid} from ${s.stanza.attrs.from}`;
  return s.stanza.toString().slice(0, 120);
}
