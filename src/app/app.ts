// The composition root: config -> XMPP connection, Jingle session manager,
// calls (ICE + media), control socket. The only module that knows everything.
import { randomBytes } from "node:crypto";
import type { Element } from "ltx";
import type { LoadedConfig } from "../config/load.js";
import { XmppConnection, type AccountState } from "../xmpp/connection.js";
import { jingleFeatures } from "../xmpp/caps.js";
import { SessionManager } from "../jingle/session-manager.js";
import { NS_JINGLE, buildJmiMessage, findJmi, parseJmi, type JmiElement, type ReasonCondition, REASON_CONDITIONS } from "../jingle/protocol/index.js";
import { selectHostAddresses } from "../ice/addresses.js";
import { findCodec, warmUpCodecs } from "../media/codecs/index.js";
import type { CodecDescriptor } from "../media/codecs/codec.js";
import { createControlServer, defaultSocketPath, type ControlServer } from "../control/server.js";
import { createFrameClock, type FrameClock } from "../util/frame-clock.js";
import type { Logger } from "../util/logger.js";
import { CommandError, errorMessage } from "../util/errors.js";
import { Call, type CallInfo } from "./call.js";
import { PresenceBook } from "./presence-book.js";

export const VERSION = "0.1.0";

const CODEC_IDS: Record<string, { name: string; clockRate: number }> = {
  opus: { name: "opus", clockRate: 48000 },
  pcmu: { name: "PCMU", clockRate: 8000 },
};

function resolveCodecs(names: string[]): CodecDescriptor[] {
  return names.map((n) => {
    const id = CODEC_IDS[n.toLowerCase()];
    const c = id && findCodec(id.name, id.clockRate);
    if (!c) throw new CommandError("bad-argument", `unknown codec "${n}" (known: ${Object.keys(CODEC_IDS).join(", ")})`);
    return c;
  });
}

function parseStun(uri: string): [string, number] {
  const m = /^stun:\[?([^\]]+?)\]?(?::(\d+))?(\?.*)?$/.exec(uri);
  if (!m) throw new Error(`bad STUN URI ${uri}`);
  return [m[1]!, m[2] ? Number(m[2]) : 3478];
}

function bareOf(jid: string): string {
  const i = jid.indexOf("/");
  return i < 0 ? jid : jid.slice(0, i);
}

function sameJid(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

const JID_RE = /^[^@/\s]+@[^@/\s]+(\/[^\s]+)?$/;

export class App {
  readonly #cfg: LoadedConfig;
  readonly #log: Logger;
  readonly #xmpp: XmppConnection;
  readonly #sessions = new SessionManager();
  readonly #calls = new Map<string, Call>();
  readonly #bySid = new Map<string, Call>();
  readonly #presence = new PresenceBook();
  readonly #clock: FrameClock = createFrameClock(20);
  readonly #control: ControlServer;
  readonly #hostAddresses: string[];
  #callSeq = 0;
  #accountReason: string | undefined;

  constructor(cfg: LoadedConfig, logger: Logger) {
    this.#cfg = cfg;
    this.#log = logger;
    this.#hostAddresses = selectHostAddresses({
      ...(cfg.ice.addresses ? { addresses: cfg.ice.addresses } : {}),
      ...(cfg.ice.interfaces ? { interfaces: cfg.ice.interfaces } : {}),
    });
    if (this.#hostAddresses.length === 0) logger.warn("no host addresses for ICE: set ice.addresses or ice.interfaces");
    this.#xmpp = new XmppConnection({
      jid: cfg.account.jid,
      password: cfg.secret,
      resource: cfg.account.resource,
      ...(cfg.account.server ? { service: cfg.account.server } : {}),
      allowPlaintext: cfg.tls.allowPlaintext,
      ...(cfg.tls.caFile ? { caFile: cfg.tls.caFile } : {}),
      priority: cfg.account.priority,
      features: jingleFeatures({ jingleMessage: true }),
      logger,
    });
    this.#xmpp.onIqSet(NS_JINGLE, "jingle", (iq, el) => this.#onJingle(iq, el));
    this.#xmpp.on("presence", (p) => this.#presence.update(p));
    this.#xmpp.on("message", (m) => this.#onMessage(m));
    this.#xmpp.on("state", (state, reason) => {
      this.#accountReason = reason;
      // XEP-0280: see what our other devices answer, so a proposal answered there stops ringing here.
      if (state === "online") void this.#xmpp.enableCarbons().catch((err: unknown) => this.#log.info({ err: errorMessage(err) }, "carbons not enabled"));
      this.#control.broadcast("account", { state, ...(reason ? { reason } : {}) });
    });
    this.#control = createControlServer({
      path: cfg.control.socket ?? defaultSocketPath(),
      logger,
      version: VERSION,
      snapshot: () => this.#status(),
      handlers: {
        call: (args) => this.#cmdCall(args),
        answer: (args) => this.#withCall(args, (c) => c.answer()),
        reject: (args) => this.#withCall(args, (c) => c.reject(this.#reasonArg(args.reason, "decline"))),
        hangup: (args) => this.#withCall(args, (c) => c.hangup(this.#reasonArg(args.reason, "success"))),
        status: () => this.#status(),
        calls: () => this.#callList(),
      },
    });
  }

  get socketPath(): string {
    return this.#cfg.control.socket ?? defaultSocketPath();
  }

  async start(): Promise<void> {
    warmUpCodecs();
    await this.#control.listen();
    this.#log.info({ socket: this.socketPath }, "control socket listening");
    await this.#xmpp.start();
  }

  /** Hangs up every call (session-terminate sent), then goes offline. */
  async stop(): Promise<void> {
    await Promise.allSettled([...this.#calls.values()].map((c) => c.hangup("success")));
    await this.#xmpp.stop();
    await this.#control.close();
  }

  // ------------------------------------------------------------ commands

  #status() {
    const account: { jid: string; state: AccountState; reason?: string } = {
      jid: this.#xmpp.jid ?? this.#cfg.account.jid,
      state: this.#xmpp.state,
    };
    if (this.#accountReason && this.#xmpp.state !== "online") account.reason = this.#accountReason;
    return { version: VERSION, account, calls: this.#callList() };
  }

  #callList(): CallInfo[] {
    return [...this.#calls.values()].map((c) => ({ ...c.info(), ...(c.stats() ? { stats: c.stats() } : {}) }));
  }

  #reasonArg(v: unknown, dflt: ReasonCondition): ReasonCondition {
    if (v === undefined) return dflt;
    if (typeof v !== "string" || !(REASON_CONDITIONS as readonly string[]).includes(v)) {
      throw new CommandError("bad-argument", `reason must be one of ${REASON_CONDITIONS.join(", ")}`);
    }
    return v as ReasonCondition;
  }

  async #withCall(args: Record<string, unknown>, fn: (c: Call) => Promise<void>): Promise<CallInfo> {
    const id = args.callId;
    let call: Call | undefined;
    if (id === undefined) {
      if (this.#calls.size === 0) throw new CommandError("unknown-call", "there is no call");
      if (this.#calls.size > 1) throw new CommandError("ambiguous-call", `${this.#calls.size} calls exist: name one with callId`);
      call = this.#calls.values().next().value;
    } else {
      if (typeof id !== "string") throw new CommandError("bad-argument", "callId must be a string");
      call = this.#calls.get(id);
      if (!call) throw new CommandError("unknown-call", `no call with id ${id}`);
    }
    await fn(call!);
    return call!.info();
  }

  async #cmdCall(args: Record<string, unknown>): Promise<{ callId: string; sid: string; peer: string }> {
    const target = args.jid;
    if (typeof target !== "string" || !JID_RE.test(target)) {
      throw new CommandError("bad-argument", "jid must be a JID like user@example.org or user@example.org/resource");
    }
    if (this.#xmpp.state !== "online") throw new CommandError("not-connected", `the account is ${this.#xmpp.state}`);
    let codecs = resolveCodecs(this.#cfg.media.codecs);
    if (args.codecs !== undefined) {
      if (!Array.isArray(args.codecs) || args.codecs.some((c) => typeof c !== "string") || args.codecs.length === 0) {
        throw new CommandError("bad-argument", "codecs must be a non-empty list of codec names");
      }
      codecs = resolveCodecs(args.codecs as string[]);
    }
    if (!target.includes("/")) {
      // XEP-0353: propose to every device of the bare JID; the session starts with the one that proceeds.
      const call = this.#newCall({ sid: randomBytes(12).toString("base64url"), peer: target, role: "initiator", codecs });
      this.#control.broadcast("call", { callId: call.id, type: "outgoing", peer: target });
      await call.propose();
      return { callId: call.id, sid: call.sid, peer: target };
    }
    const peer = target;
    const call = this.#newCall({ sid: randomBytes(12).toString("base64url"), peer, role: "initiator", codecs });
    this.#sessions.createOutgoing(call.sid, peer);
    this.#control.broadcast("call", { callId: call.id, type: "outgoing", peer });
    try {
      await call.start();
    } catch (err) {
      // The initiate was refused (offline resource, unknown JID): the call is already ended.
      throw new CommandError("peer-unavailable", errorMessage(err));
    }
    return { callId: call.id, sid: call.sid, peer };
  }

  // ------------------------------------------------------------ Jingle

  #onJingle(iq: Element, el: Element): void {
    const proposal = el.attrs.action === "session-initiate" && el.attrs.sid ? this.#bySid.get(el.attrs.sid) : undefined;
    if (proposal && !(proposal.jmi?.role === "callee" && proposal.jmi.state === "proceeded" && !proposal.hasSession && sameJid(proposal.peer, iq.attrs.from ?? ""))) {
      // A sid we know, from someone else or at the wrong time: not a session we agreed to.
      void this.#xmpp.sendIqError(iq, "cancel", "conflict").catch(() => undefined);
      this.#log.warn({ from: iq.attrs.from, sid: el.attrs.sid }, "session-initiate for a sid in use refused");
      return;
    }
    const res = this.#sessions.incoming(iq, el);
    void this.#xmpp.send(res.reply).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "reply"));
    if (!res.ok) {
      this.#log.warn({ from: iq.attrs.from, error: res.error }, "jingle request refused");
      return;
    }
    if (res.isNew && proposal) {
      void proposal.offer(res.jingle, true).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "offer"));
      return;
    }
    if (res.isNew) {
      const call = this.#newCall({ sid: res.session.sid, peer: res.session.peer, role: "responder", codecs: resolveCodecs(this.#cfg.media.codecs) });
      this.#control.broadcast("call", { callId: call.id, type: "incoming", peer: call.info().peer });
      void call.offer(res.jingle, this.#cfg.calls.autoAnswer === "all").catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "offer"));
      return;
    }
    const call = this.#bySid.get(res.session.sid);
    void call?.remote(res.jingle).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "remote action"));
  }

  // ------------------------------------------------------------ XEP-0353

  #onMessage(stanza: Element): void {
    const from = stanza.attrs.from ?? "";
    const carbon = this.#carbonOf(stanza);
    if (carbon) {
      const inner = findJmi(carbon.message);
      if (!inner || carbon.direction !== "sent") return;
      let el: JmiElement;
      try {
        el = parseJmi(inner);
      } catch {
        return;
      }
      const call = this.#bySid.get(el.id);
      if (call && (el.action === "proceed" || el.action === "reject")) void call.handledElsewhere(el.action);
      return;
    }
    const jmiEl = findJmi(stanza);
    if (!jmiEl) return;
    let el: JmiElement;
    try {
      el = parseJmi(jmiEl);
    } catch (err) {
      this.#log.warn({ from, err: errorMessage(err) }, "malformed jingle-message ignored");
      return;
    }
    if (stanza.attrs.type === "error") {
      // Our proposal bounced (e.g. no such user).
      const call = this.#bySid.get(el.id);
      if (call?.jmi?.role === "caller" && !call.hasSession) void call.hangup("general-error").catch(() => undefined);
      return;
    }
    if (!from.includes("/")) return; // JMI comes from a device
    if (el.action === "propose") return this.#onPropose(el, from);
    const call = this.#bySid.get(el.id);
    if (!call) {
      this.#log.info({ from, action: el.action, id: el.id }, "jingle-message for no known call ignored");
      return;
    }
    if (el.action === "proceed") {
      if (call.jmi?.role !== "caller" || call.jmi.state !== "proposed" || !sameJid(bareOf(from), bareOf(call.peer))) {
        this.#log.warn({ from, id: el.id }, "proceed from a JID never proposed to ignored");
        return;
      }
      this.#sessions.createOutgoing(call.sid, from);
      void call.proceeded(from).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "session start after proceed"));
      return;
    }
    void call.jmiReceived(el, from);
  }

  #onPropose(el: JmiElement, from: string): void {
    if (!(el.media ?? []).includes("audio")) {
      void this.#xmpp.send(buildJmiMessage(from, { action: "reject", id: el.id, reason: { condition: "unsupported-applications" } }, randomBytes(8).toString("hex")));
      return;
    }
    if (this.#bySid.has(el.id)) return; // a duplicate (e.g. from the archive)
    // Tie-break (both sides proposed at once): the lower id loses, on both sides alike.
    const mine = [...this.#calls.values()].find(
      (c) => c.jmi?.role === "caller" && c.jmi.state === "proposed" && sameJid(bareOf(c.peer), bareOf(from)),
    );
    if (mine) {
      if (mine.sid > el.id) {
        void this.#xmpp.send(buildJmiMessage(from, { action: "reject", id: el.id, reason: { condition: "expired" }, tieBreak: true }, randomBytes(8).toString("hex")));
        return;
      }
      void mine.hangup("expired").catch(() => undefined);
    }
    const call = this.#newCall({ sid: el.id, peer: from, role: "responder", codecs: resolveCodecs(this.#cfg.media.codecs) });
    this.#control.broadcast("call", { callId: call.id, type: "incoming", peer: from });
    // The peer wanted us as much as we wanted them: a tie-break loser answers the winner's call.
    void call.proposed(this.#cfg.calls.autoAnswer === "all" || mine !== undefined).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "propose"));
  }

  /** A XEP-0280 carbon, only when it really comes from our own account. */
  #carbonOf(stanza: Element): { direction: "sent" | "received"; message: Element } | undefined {
    for (const direction of ["sent", "received"] as const) {
      const wrapper = stanza.getChild(direction, "urn:xmpp:carbons:2");
      if (!wrapper) continue;
      const own = bareOf(this.#xmpp.jid ?? this.#cfg.account.jid);
      if (!sameJid(stanza.attrs.from ?? "", own)) return undefined; // spoofed carbon
      const message = wrapper.getChild("forwarded", "urn:xmpp:forward:0")?.getChild("message");
      return message ? { direction, message } : undefined;
    }
    return undefined;
  }

  #newCall(o: { sid: string; peer: string; role: "initiator" | "responder"; codecs: CodecDescriptor[] }): Call {
    const id = `c${++this.#callSeq}`;
    const stun = this.#cfg.ice.stun[0];
    const call = new Call({
      id,
      sid: o.sid,
      peer: o.peer,
      role: o.role,
      self: this.#xmpp.jid ?? this.#cfg.account.jid,
      codecs: o.codecs,
      input: this.#cfg.media.input,
      output: this.#cfg.media.output,
      jitterFrames: this.#cfg.media.jitterFrames,
      ice: {
        addresses: this.#hostAddresses,
        connectTimeoutMs: this.#cfg.ice.connectTimeoutMs,
        ...(stun ? { stunServer: parseStun(stun) } : {}),
        ...(this.#cfg.ice.portRange ? { portRange: this.#cfg.ice.portRange } : {}),
      },
      ringTimeoutMs: this.#cfg.calls.ringTimeoutSec * 1000,
      clock: this.#clock,
      logger: this.#log,
      send: (jingle) => this.#sendJingle(o.sid, jingle),
      sendJmi: (to, jmi) => this.#xmpp.send(buildJmiMessage(to, jmi, randomBytes(8).toString("hex"))),
    });
    this.#calls.set(id, call);
    this.#bySid.set(o.sid, call);
    call.on("state", (state, info) => {
      if (state === "ended") return;
      this.#control.broadcast("call", { callId: id, type: state, peer: info.peer, ...(info.codec ? { codec: info.codec } : {}) });
    });
    call.on("media", ({ codec, pair }) => {
      this.#control.broadcast("media", {
        callId: id,
        codec,
        localCandidate: pair.local,
        remoteCandidate: pair.remote,
        pairType: pair.local.type === "relay" || pair.remote.type === "relay" ? "relayed" : "direct",
      });
    });
    call.on("ended", (info) => {
      this.#control.broadcast("call", {
        callId: id,
        type: "ended",
        peer: info.peer,
        reason: info.reason,
        durationMs: info.durationMs,
        ...(info.text ? { text: info.text } : {}),
        ...(call.finalStats() ? { stats: call.finalStats() } : {}),
      });
      this.#calls.delete(id);
      this.#bySid.delete(o.sid);
      this.#sessions.remove(o.sid);
    });
    return call;
  }

  async #sendJingle(sid: string, jingle: Parameters<SessionManager["outgoing"]>[1]): Promise<void> {
    const iq = this.#sessions.outgoing(sid, jingle, randomBytes(8).toString("hex"));
    try {
      await this.#xmpp.iq(iq);
    } catch (err) {
      // A stanza error (e.g. service-unavailable for an offline JID): name the
      // condition and any Jingle condition (unknown-session, out-of-order, ...).
      const app = (err as { application?: Element }).application;
      throw new Error(app ? `${errorMessage(err)} (${app.name})` : errorMessage(err));
    }
  }
}
