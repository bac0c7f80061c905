// The composition root: config -> XMPP connection, Jingle session manager,
// calls (ICE + media), control socket. The only module that knows everything.
import { randomBytes } from "node:crypto";
import type { Element } from "ltx";
import type { LoadedConfig } from "../config/load.js";
import { XmppConnection, type AccountState } from "../xmpp/connection.js";
import { jingleFeatures } from "../xmpp/caps.js";
import { SessionManager } from "../jingle/session-manager.js";
import { NS_JINGLE, type ReasonCondition, REASON_CONDITIONS } from "../jingle/protocol/index.js";
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
      features: jingleFeatures(),
      logger,
    });
    this.#xmpp.onIqSet(NS_JINGLE, "jingle", (iq, el) => this.#onJingle(iq, el));
    this.#xmpp.on("presence", (p) => this.#presence.update(p));
    this.#xmpp.on("state", (state, reason) => {
      this.#accountReason = reason;
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
    let peer = target;
    if (!target.includes("/")) {
      const best = this.#presence.best(target);
      if (!best) throw new CommandError("peer-unavailable", `no available resource of ${target} is known (no presence received); call a full JID`);
      peer = best;
    }
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
    const res = this.#sessions.incoming(iq, el);
    void this.#xmpp.send(res.reply).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "reply"));
    if (!res.ok) {
      this.#log.warn({ from: iq.attrs.from, error: res.error }, "jingle request refused");
      return;
    }
    if (res.isNew) {
      const call = this.#newCall({ sid: res.session.sid, peer: res.session.peer, role: "responder", codecs: resolveCodecs(this.#cfg.media.codecs) });
      this.#control.broadcast("call", { callId: call.id, type: "incoming", peer: call.info().peer });
      void call.offer(res.jingle, this.#cfg.calls.autoAnswer).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "offer"));
      return;
    }
    const call = this.#bySid.get(res.session.sid);
    void call?.remote(res.jingle).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "remote action"));
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
