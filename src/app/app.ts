// The composition root: config -> XMPP connection, Jingle session manager,
// calls (ICE + media), control socket. The only module that knows everything.
import { randomBytes } from "node:crypto";
import { xml } from "@xmpp/xml";
import { networkInterfaces } from "node:os";
import type { Element } from "ltx";
import { loadConfigFile, type LoadedConfig } from "../config/load.js";
import { checkHostConfig } from "../config/host-check.js";
import { XmppConnection, type AccountState } from "../xmpp/connection.js";
import { capsVerificationOf, jingleFeatures } from "../xmpp/caps.js";
import { SessionManager } from "../jingle/session-manager.js";
import { NS_JINGLE, buildJmiMessage, findJmi, parseJmi, type JmiElement } from "../jingle/protocol/index.js";
import { selectHostAddresses, type AddressSelection } from "../ice/addresses.js";
import type { IceServers, TurnServer } from "../ice/ice-agent.js";
import { createCertificate, type DtlsCertificate } from "../rtp/dtls/certificate.js";
import { ExternalServices, buildServicesQuery } from "../xmpp/extdisco.js";
import { codecIds, findCodecById, warmUpCodecs } from "../media/codecs/index.js";
import type { CodecDescriptor } from "../media/codecs/codec.js";
import type { MediaPreferences } from "../media/media-session.js";
import { createControlServer, defaultSocketPath, type ControlServer } from "../control/server.js";
import { createDispatcher, type CommandDispatcher } from "../control/dispatch.js";
import { createEventBus, type EventBus } from "../control/event-bus.js";
import { startFrontEnds, type FrontEnds } from "./front-ends.js";
import { createFrameClock, type FrameClock } from "../util/frame-clock.js";
import { setLogLevel, type Logger } from "../util/logger.js";
import { CommandError, ConfigError, errorMessage } from "../util/errors.js";
import type { ReloadResult } from "../control/protocol.js";
import { Roster } from "../xmpp/roster.js";
import { createCommandHandlers, type CommandContext } from "./commands.js";
import { listDevices } from "./devices.js";
import { decideIncoming, type CallPolicy, type IncomingDecision } from "./policy.js";
import { planReload } from "./reload.js";
import { opusBackend, selectOpusBackend } from "../media/codecs/opus-backend.js";
import { Call, type CallInfo } from "./call.js";
import { PresenceBook, type Caps } from "./presence-book.js";

export { VERSION } from "../version.js";
import { VERSION } from "../version.js";

/** Codec ids (config media.codecs, the call command's codecs) to the registered codecs. */
function resolveCodecs(ids: string[]): CodecDescriptor[] {
  return ids.map((id) => {
    const c = findCodecById(id);
    if (!c) throw new CommandError("bad-argument", `unknown codec "${id}" (known: ${codecIds().join(", ")})`);
    return c;
  });
}

/** turn:HOST[:PORT][?transport=udp|tcp] or turns:HOST[:PORT] (RFC 7065). */
function parseTurn(uri: string, username: string, password: string): TurnServer {
  const m = /^(turns?):\[?([^\]?]+?)\]?(?::(\d+))?(?:\?transport=(udp|tcp))?$/.exec(uri);
  if (!m) throw new Error(`bad TURN URI ${uri}`);
  const secure = m[1] === "turns";
  return { host: m[2]!, port: m[3] ? Number(m[3]) : secure ? 5349 : 3478, username, password, transport: secure ? "tls" : ((m[4] as "udp" | "tcp" | undefined) ?? "udp") };
}

function parseStun(uri: string): [string, number] {
  const m = /^stun:\[?([^\]]+?)\]?(?::(\d+))?(\?.*)?$/.exec(uri);
  if (!m) throw new Error(`bad STUN URI ${uri}`);
  return [m[1]!, m[2] ? Number(m[2]) : 3478];
}

/** Which host addresses ICE uses (src/ice/addresses.ts), from the config. */
function addressSelection(cfg: LoadedConfig): AddressSelection {
  return {
    ...(cfg.ice.addresses ? { addresses: cfg.ice.addresses } : {}),
    ...(cfg.ice.interfaces ? { interfaces: cfg.ice.interfaces } : {}),
    linkLocal: cfg.ice.linkLocal,
  };
}

function bareOf(jid: string): string {
  const i = jid.indexOf("/");
  return i < 0 ? jid : jid.slice(0, i);
}

function sameJid(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** The configuration's media section as what calls need (issue 4). */
function mediaPrefsOf(m: LoadedConfig["media"]): MediaPreferences {
  const { bitrate, complexity, fec, dtx } = m.opus;
  return {
    jitter: { minMs: m.jitterMinMs, maxMs: m.jitterMaxMs },
    encoder: { bitrate, complexity, fec, ...(dtx !== undefined ? { dtx } : {}) },
    ptimeMs: m.ptimeMs,
    dtmf: m.dtmf,
    onDeviceError: m.onDeviceError,
    rtcpIntervalMs: m.rtcpIntervalMs,
  };
}

const JID_RE = /^[^@/\s]+@[^@/\s]+(\/[^\s]+)?$/;

export class App {
  /** Replaced by reload() (restart-only keys keep their start values). */
  #cfg: LoadedConfig;
  readonly #log: Logger;
  readonly #xmpp: XmppConnection;
  readonly #sessions = new SessionManager();
  readonly #calls = new Map<string, Call>();
  readonly #bySid = new Map<string, Call>();
  /** Presence of roster contacts, our own account and peers of live calls only: strangers' presence costs nothing. */
  readonly #presence = new PresenceBook({
    keep: (bare) =>
      this.#roster.has(bare) ||
      sameJid(bare, bareOf(this.#xmpp.jid ?? this.#cfg.account.jid)) ||
      [...this.#calls.values()].some((c) => sameJid(bareOf(c.peer), bare)),
  });
  readonly #extServices: ExternalServices;
  #certificate: DtlsCertificate | undefined;
  #clockErrors = 0;
  readonly #clock: FrameClock = createFrameClock(20, undefined, (err) => {
    // A call whose media throws every tick must not flood the log either.
    if (this.#clockErrors++ % 500 === 0) this.#log.error({ err: errorMessage(err), count: this.#clockErrors }, "media tick failed");
  });
  readonly #control: ControlServer;
  /** Every event, once: the control socket, MQTT, hooks and metrics subscribe. */
  readonly #events: EventBus;
  /** The one command table, for the control socket and MQTT alike. */
  readonly #commands: CommandDispatcher;
  /** Hooks, metrics, MQTT (./front-ends.ts). */
  #frontEnds: FrontEnds | undefined;
  #hostAddresses: string[];
  readonly #roster: Roster;
  #statsTimer: NodeJS.Timeout | undefined;
  /** Set by main: how the shutdown command stops the daemon (as SIGTERM does). */
  onShutdownRequest: (() => void) | undefined;
  #callSeq = 0;
  #accountReason: string | undefined;

  /** The environment the config is read with on reload (main.ts keeps JINGLED_PASSWORD here, not in process.env). */
  readonly #configEnv: NodeJS.ProcessEnv;

  constructor(cfg: LoadedConfig, logger: Logger, opts: { configEnv?: NodeJS.ProcessEnv } = {}) {
    this.#cfg = cfg;
    this.#configEnv = opts.configEnv ?? process.env;
    this.#log = logger;
    this.#events = createEventBus(logger);
    // The Opus implementation of the calls made from now on (the schema checked it is available).
    selectOpusBackend(cfg.media.opus.backend);
    this.#hostAddresses = selectHostAddresses(addressSelection(cfg));
    if (this.#hostAddresses.length === 0) logger.warn("no host addresses for ICE: set ice.addresses or ice.interfaces");
    this.#xmpp = new XmppConnection({
      jid: cfg.account.jid,
      password: cfg.secret,
      resource: cfg.account.resource,
      ...(cfg.account.server ? { service: cfg.account.server } : {}),
      allowPlaintext: cfg.tls.allowPlaintext,
      ...(cfg.tls.caFile ? { caFile: cfg.tls.caFile } : {}),
      priority: cfg.account.priority,
      features: jingleFeatures({ jingleMessage: cfg.calls.jingleMessage, dtls: cfg.media.dtls !== "off" }),
      logger,
    });
    this.#xmpp.onIqSet(NS_JINGLE, "jingle", (iq, el) => this.#onJingle(iq, el));
    this.#roster = new Roster(this.#xmpp, logger);
    this.#roster.on("request", (jid) => this.#events.publish("roster", { type: "request", jid }));
    this.#roster.on("changed", (item) => this.#events.publish("roster", { type: "changed", jid: item.jid, item }));
    this.#roster.on("removed", (jid) => {
      this.#presence.prune();
      this.#events.publish("roster", { type: "removed", jid });
    });
    this.#extServices = new ExternalServices(() => this.#xmpp.iq(buildServicesQuery(this.#xmpp.domain), 5000));
    this.#xmpp.on("presence", (p) => {
      this.#presence.update(p);
      // The full JID we are in a call or ringing with went offline: nobody is left to talk to.
      const from = p.attrs.from;
      if (p.attrs.type === "unavailable" && from?.includes("/")) {
        for (const c of this.#calls.values()) if (sameJid(c.peer, from)) void c.peerGone();
      }
    });
    this.#xmpp.on("message", (m) => this.#onMessage(m));
    this.#xmpp.on("state", (state, reason) => {
      this.#accountReason = reason;
      // XEP-0280: see what our other devices answer, so a proposal answered there stops ringing here.
      if (state === "online") void this.#xmpp.enableCarbons().catch((err: unknown) => this.#log.info({ err: errorMessage(err) }, "carbons not enabled"));
      this.#events.publish("account", { state, ...(reason ? { reason } : {}) });
    });
    this.#commands = createDispatcher(createCommandHandlers(this.#commandContext()), logger);
    this.#control = createControlServer({
      path: cfg.control.socket ?? defaultSocketPath(),
      logger,
      version: VERSION,
      snapshot: () => this.#status(),
      dispatch: this.#commands,
      events: this.#events,
    });
  }

  get socketPath(): string {
    return this.#cfg.control.socket ?? defaultSocketPath();
  }

  async start(): Promise<void> {
    warmUpCodecs();
    // One certificate per run; its fingerprint goes in every offer and answer (XEP-0320).
    if (this.#cfg.media.dtls !== "off") this.#certificate = await createCertificate();
    await this.#control.listen();
    this.#log.info({ socket: this.socketPath }, "control socket listening");
    this.#scheduleStats();
    this.#frontEnds = await startFrontEnds({ config: () => this.#cfg, events: this.#events, dispatch: this.#commands, status: () => this.#status(), socketPath: this.socketPath, logger: this.#log });
    await this.#xmpp.start();
    this.#watchAddresses();
  }

  /** Hangs up every call (session-terminate sent), then goes offline. */
  async stop(): Promise<void> {
    clearInterval(this.#statsTimer);
    clearInterval(this.#addressTimer);
    await Promise.allSettled([...this.#calls.values()].map((c) => c.hangup("success")));
    await this.#xmpp.stop();
    await this.#frontEnds?.stop();
    await this.#control.close();
  }

  // ------------------------------------------------------------ commands

  #status() {
    const account: { jid: string; state: AccountState; reason?: string } = {
      jid: this.#xmpp.jid ?? this.#cfg.account.jid,
      state: this.#xmpp.state,
    };
    if (this.#accountReason && this.#xmpp.state !== "online") account.reason = this.#accountReason;
    const { show, status } = this.#xmpp.presence;
    return {
      version: VERSION,
      account: { ...account, presence: { show, ...(status ? { text: status } : {}) } },
      media: { opusBackend: opusBackend(), codecs: codecIds() },
      calls: this.#callList(),
    };
  }

  /** What the control commands (commands.ts) may use of the app. */
  #commandContext(): CommandContext {
    return {
      calls: () => [...this.#calls.values()],
      placeCall: (args) => this.#cmdCall({ ...args }),
      status: () => this.#status(),
      callList: () => this.#callList(),
      policy: () => this.#policy(),
      account: () => ({ state: this.#xmpp.state }),
      setPresence: (show, text) => this.#xmpp.setPresence(show, text),
      roster: this.#roster,
      online: (bare) => this.#presence.resources(bare).map((r) => r.jid),
      devices: () => listDevices(),
      reload: () => this.reload(),
      // After the reply is written: stopping closes the socket.
      shutdown: () => void setImmediate(() => this.onShutdownRequest?.()),
    };
  }

  #policy(): CallPolicy {
    const c = this.#cfg.calls;
    return { acceptFrom: c.acceptFrom, allowlist: c.allowlist, autoAnswer: c.autoAnswer, autoAnswerDelayMs: c.autoAnswerDelaySec * 1000, maxCalls: c.maxCalls };
  }

  /** calls.* for a new incoming call from `peer`; a refusal is announced as a `refused` event. */
  #admit(peer: string): IncomingDecision {
    const d = decideIncoming(this.#policy(), { jid: peer, inRoster: this.#roster.has(peer) }, this.#xmpp.jid ?? this.#cfg.account.jid, this.#calls.size);
    if (d.action === "refuse" || d.action === "busy") {
      this.#log.info({ peer, decision: d.action }, "incoming call refused by policy");
      this.#events.publish("refused", { peer, reason: d.action === "busy" ? "busy" : "not-allowed" });
    }
    return d;
  }

  /** True: answer an admitted call at once; with a delay it is answered later, if still ringing. */
  #answerNow(call: Call, d: IncomingDecision | undefined): boolean {
    if (d?.action !== "ring" || !d.autoAnswer) return false;
    if (d.delayMs === 0) return true;
    setTimeout(() => {
      if (call.state === "incoming") void call.answer().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "auto-answer"));
    }, d.delayMs).unref();
    return false;
  }

  /** A `stats` event per active call every control.statsIntervalSec. */
  #scheduleStats(): void {
    clearInterval(this.#statsTimer);
    const sec = this.#cfg.control.statsIntervalSec;
    if (sec <= 0) return;
    this.#statsTimer = setInterval(() => {
      for (const c of this.#calls.values()) {
        const stats = c.state === "active" ? c.stats() : undefined;
        if (stats) this.#events.publish("stats", { callId: c.id, ...stats });
      }
    }, sec * 1000);
    this.#statsTimer.unref();
  }

  /** Re-reads the config file (SIGHUP, the reload command); reload.ts says what applies now. */
  async reload(): Promise<ReloadResult> {
    const file = this.#cfg.file;
    if (!file) throw new CommandError("not-supported", "reload: the daemon was not started from a config file");
    let next: LoadedConfig;
    try {
      next = loadConfigFile(file, this.#configEnv);
      checkHostConfig(next);
    } catch (err) {
      if (err instanceof ConfigError) throw new CommandError("bad-argument", `reload: ${err.message}\nnothing was changed`);
      throw err;
    }
    const { config, plan } = planReload(this.#cfg, next);
    this.#cfg = config;
    // media.* applies to new calls; calls in progress keep their codec instances.
    if (plan.applied.some((k) => k.startsWith("media.opus"))) selectOpusBackend(config.media.opus.backend);
    setLogLevel(this.#log, config.log.level);
    if (plan.applied.some((k) => k.startsWith("ice.addresses") || k.startsWith("ice.interfaces") || k === "ice.linkLocal")) {
      this.#hostAddresses = selectHostAddresses(addressSelection(config));
    }
    this.#scheduleStats();
    this.#log.info(plan, "configuration reloaded");
    this.#events.publish("reload", plan);
    return plan;
  }

  #callList(): CallInfo[] {
    return [...this.#calls.values()].map((c) => ({ ...c.info(), ...(c.stats() ? { stats: c.stats() } : {}) }));
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
    const direct = !target.includes("/") ? await this.#directTarget(target) : undefined;
    if (!target.includes("/") && !direct) {
      // XEP-0353: propose to every device of the bare JID; the session starts with the one that proceeds.
      const call = this.#newCall({ sid: randomBytes(12).toString("base64url"), peer: target, role: "initiator", codecs });
      this.#events.publish("call", { callId: call.id, type: "outgoing", peer: target });
      await call.propose();
      return { callId: call.id, sid: call.sid, peer: target };
    }
    const peer = direct ?? target;
    const call = this.#newCall({ sid: randomBytes(12).toString("base64url"), peer, role: "initiator", codecs });
    this.#sessions.createOutgoing(call.sid, peer);
    this.#events.publish("call", { callId: call.id, type: "outgoing", peer });
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
    const admission = res.ok && res.isNew && !proposal ? this.#admit(res.session.peer) : undefined;
    if (res.ok && admission?.action === "refuse") {
      // Not allowed to ring: the answer an account without that resource gives, so a stranger learns nothing.
      this.#sessions.remove(res.session.sid);
      void this.#xmpp.sendIqError(iq, "cancel", "service-unavailable").catch(() => undefined);
      return;
    }
    void this.#xmpp.send(res.reply).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "reply"));
    if (!res.ok) {
      this.#log.warn({ from: iq.attrs.from, error: res.error }, "jingle request refused");
      return;
    }
    if (res.isNew && proposal) {
      void proposal.offer(res.jingle, true).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "offer"));
      return;
    }
    if (res.isNew && admission?.action === "busy") {
      // XEP-0166 §6.8 busy: accept the request, then terminate with <busy/>.
      const sid = res.session.sid;
      void this.#sendJingle(sid, { action: "session-terminate", contents: [], reason: { condition: "busy" } })
        .catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, "busy not acknowledged"))
        .finally(() => this.#sessions.remove(sid));
      return;
    }
    if (res.isNew) {
      const call = this.#newCall({ sid: res.session.sid, peer: res.session.peer, role: "responder", codecs: resolveCodecs(this.#cfg.media.codecs) });
      this.#events.publish("call", { callId: call.id, type: "incoming", peer: call.info().peer });
      void call.offer(res.jingle, this.#answerNow(call, admission)).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "offer"));
      return;
    }
    const call = this.#bySid.get(res.session.sid);
    void call?.remote(res.jingle).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "remote action"));
  }

  // ------------------------------------------------------------ network changes

  #addressTimer: NodeJS.Timeout | undefined;

  /**
   * Interface addresses can change under a running daemon (DHCP, roaming, a
   * re-addressed LAN). Checked every second unless ice.addresses pins them:
   * the XMPP connection is re-made when its local address went away, and
   * every call restarts ICE with the new addresses (docs/networking.md).
   */
  #watchAddresses(): void {
    if (this.#cfg.ice.addresses?.length) return;
    const key = (a: string[]) => [...a].sort().join(",");
    this.#addressTimer = setInterval(() => {
      const now = selectHostAddresses(addressSelection(this.#cfg));
      if (key(now) === key(this.#hostAddresses)) return;
      this.#log.info({ from: this.#hostAddresses, to: now }, "host addresses changed");
      this.#hostAddresses = now;
      void this.#onAddressesChanged(now);
    }, 1000);
    this.#addressTimer.unref();
  }

  async #onAddressesChanged(now: string[]): Promise<void> {
    const local = this.#xmpp.localAddress?.replace(/^::ffff:/, "");
    const all = selectHostAddresses({ interfaces: Object.keys(networkInterfaces()) });
    if (local && !all.includes(local)) {
      this.#xmpp.reconnectNow(`local address ${local} is gone`);
      // The restart's transport-info needs the server: wait (bounded) for the account to be back.
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.#xmpp.off("state", onState);
          resolve();
        };
        const onState = (state: AccountState) => state === "online" && done();
        const timer = setTimeout(done, 10_000);
        this.#xmpp.on("state", onState);
      });
    }
    if (now.length === 0) return; // nothing to restart with; the next change will
    for (const c of this.#calls.values()) void c.restartIce("local addresses changed").catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "ICE restart"));
  }

  /**
   * For a call to a bare JID: when we see the callee's devices (presence) and
   * none advertises XEP-0353 but one does Jingle audio, call that device
   * directly (the best by priority). Otherwise undefined: propose (JMI also
   * reaches devices we cannot see: offline, push, no subscription).
   */
  async #directTarget(bare: string): Promise<string | undefined> {
    const resources = this.#presence.resources(bare).slice(0, 8);
    if (resources.length === 0) return undefined;
    const features = await Promise.all(resources.map((r) => this.#featuresOf(r.jid, r.caps)));
    if (features.some((f) => f?.has("urn:xmpp:jingle-message:0"))) return undefined;
    const i = features.findIndex((f) => f?.has("urn:xmpp:jingle:apps:rtp:audio"));
    return i >= 0 ? resources[i]!.jid : undefined;
  }

  readonly #featureCache = new Map<string, Set<string>>();

  /** disco#info of a device, cached by its caps ver (XEP-0115) once the answer hashes to it; undefined if it does not answer. */
  async #featuresOf(jid: string, caps?: Caps): Promise<Set<string> | undefined> {
    const key = caps ? `${caps.node}#${caps.ver}` : undefined;
    if (key && this.#featureCache.has(key)) return this.#featureCache.get(key);
    try {
      const reply = await this.#xmpp.iq(
        xml("iq", { type: "get", to: jid }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info", ...(key ? { node: key } : {}) })),
        3000,
      );
      const query = reply.getChild("query", "http://jabber.org/protocol/disco#info");
      const set = new Set((query?.getChildren("feature") ?? []).slice(0, 500).map((f) => f.attrs.var ?? ""));
      // XEP-0115 §5.4: a ver is cached only for the feature set it is the hash of (caps.ts).
      const verified = caps?.hash === "sha-1" && query !== undefined && capsVerificationOf(query) === caps.ver;
      if (key && verified && this.#featureCache.size < 1000) this.#featureCache.set(key, set);
      return set;
    } catch {
      return undefined;
    }
  }

  // ------------------------------------------------------------ STUN/TURN

  /**
   * Configured servers first, then the XMPP server's (XEP-0215, credentials
   * refreshed before expiry). Every STUN server (the agent asks the first of each family); every TURN server
   * (the ICE agent allocates on each, up to a bound).
   */
  async #iceServers(): Promise<IceServers> {
    const out: IceServers = {};
    // Every STUN server, configured ones first: the ICE agent asks the first of each address family.
    const stun: [string, number][] = this.#cfg.ice.stun.map(parseStun);
    const turn: TurnServer[] = this.#cfg.ice.turn.map((t) => parseTurn(t.uri, t.username, t.password));
    if (this.#cfg.ice.serverServices && this.#xmpp.state === "online") {
      const services = await this.#extServices.get().catch((err: unknown) => {
        this.#log.info({ err: errorMessage(err) }, "the server offers no external services (XEP-0215)");
        return [];
      });
      for (const s of services) if (s.type === "stun") stun.push([s.host, s.port]);
      for (const t of services) {
        if ((t.type !== "turn" && t.type !== "turns") || !t.username || !t.password) continue;
        turn.push({ host: t.host, port: t.port, username: t.username, password: t.password, transport: t.type === "turns" ? "tls" : t.transport });
      }
    }
    if (stun.length) out.stun = stun.slice(0, 8);
    if (turn.length) out.turn = turn;
    return out;
  }

  // ------------------------------------------------------------ XEP-0353

  #onMessage(stanza: Element): void {
    const carbon = this.#carbonOf(stanza);
    if (carbon) {
      const inner = findJmi(carbon.message);
      if (!inner) return;
      if (carbon.direction === "received") {
        // XEP-0353 §3.1: the server distributes a message sent to our bare JID
        // to every device "thanks to XEP-0280". RFC 6121 §8.5.2.1.1 lets it
        // deliver such a message only to the resources of highest priority
        // (Prosody and ejabberd both do): the others get it as a received
        // carbon, and must ring (propose), stop ringing (retract) or learn of
        // the answer to their own proposal (proceed) as if it had come directly.
        // A carbon of a message to another of our full JIDs is that device's business.
        const own = bareOf(this.#xmpp.jid ?? this.#cfg.account.jid);
        if (sameJid(carbon.message.attrs.to ?? "", own)) this.#onJmiMessage(carbon.message);
        return;
      }
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
    this.#onJmiMessage(stanza);
  }

  /** A jingle-message (XEP-0353) sent to us, directly or as a received carbon. */
  #onJmiMessage(stanza: Element): void {
    const from = stanza.attrs.from ?? "";
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
    if (el.action === "propose") return this.#cfg.calls.jingleMessage ? this.#onPropose(el, from) : undefined;
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
    // We called them ourselves (tie-break): wanted, whatever the policy says.
    const admission = mine ? undefined : this.#admit(from);
    if (admission?.action === "refuse") return; // no answer at all: a stranger learns nothing
    if (admission?.action === "busy") {
      void this.#xmpp.send(buildJmiMessage(from, { action: "reject", id: el.id, reason: { condition: "busy" } }, randomBytes(8).toString("hex")));
      return;
    }
    const call = this.#newCall({ sid: el.id, peer: from, role: "responder", codecs: resolveCodecs(this.#cfg.media.codecs) });
    this.#events.publish("call", { callId: call.id, type: "incoming", peer: from });
    // The peer wanted us as much as we wanted them: a tie-break loser answers the winner's call.
    void call.proposed(this.#answerNow(call, admission) || mine !== undefined).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "propose"));
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
      mediaPrefs: mediaPrefsOf(this.#cfg.media),
      ice: {
        addresses: this.#hostAddresses,
        connectTimeoutMs: this.#cfg.ice.connectTimeoutMs,
        relayOnly: this.#cfg.ice.policy === "relay",
        currentAddresses: () => this.#hostAddresses,
        servers: () => this.#iceServers(),
        ...(this.#cfg.ice.portRange ? { portRange: this.#cfg.ice.portRange } : {}),
      },
      ringTimeoutMs: this.#cfg.calls.ringTimeoutSec * 1000,
      clock: this.#clock,
      logger: this.#log,
      send: (jingle) => this.#sendJingle(o.sid, jingle),
      dtls: { policy: this.#cfg.media.dtls, certificate: this.#certificate },
      rtcpMux: this.#cfg.media.rtcpMux,
      sendJmi: (to, jmi) => this.#xmpp.send(buildJmiMessage(to, jmi, randomBytes(8).toString("hex"))),
    });
    this.#calls.set(id, call);
    this.#bySid.set(o.sid, call);
    call.on("state", (state, info) => {
      if (state === "ended") return;
      this.#events.publish("call", { callId: id, type: state, peer: info.peer, ...(info.codec ? { codec: info.codec } : {}) });
    });
    call.on("media", ({ codec, pair, encryption, srtpProfile }) => {
      this.#events.publish("media", {
        callId: id,
        codec,
        localCandidate: pair.local,
        remoteCandidate: pair.remote,
        pairType: pair.local.type === "relay" || pair.remote.type === "relay" ? "relayed" : "direct",
        encryption,
        ...(srtpProfile ? { srtpProfile } : {}),
      });
    });
    call.on("control", (type, by) => this.#events.publish("call", { callId: id, type, by, peer: call.peer }));
    call.on("ice", (info) => this.#events.publish("ice", { callId: id, ...info }));
    call.on("dtmf", (digit, durationMs) => this.#events.publish("dtmf", { callId: id, digit, ...(durationMs !== undefined ? { durationMs } : {}) }));
    call.on("file", (kind, file, type, error) => this.#events.publish(kind, { callId: id, file, type, ...(error ? { error } : {}) }));
    call.on("ended", (info) => {
      this.#events.publish("call", {
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
      this.#presence.prune();
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
