// The composition root: config -> the XMPP account, the Jingle session
// manager, the calls, the control socket and the other front ends. It wires
// the parts and holds none of their rules:
//
//   Jingle IQs        jingle/session-manager.ts (which actions, from whom, when)
//   XEP-0353/carbons  ./jmi-messages.ts (rules: jingle/message-initiation.ts, routing and tie-break)
//   incoming calls    ./incoming.ts (who may call: ./policy.ts; forward, echo, auto-answer, voicemail)
//   a call            ./call/ (signalling, ICE, security, media)
//   its events        ./call-events.ts -> control/event-bus.ts
//   the commands      ./commands.ts -> control/dispatch.ts
//   outgoing calls    ./dialer.ts (a JID or a ring group: ./ring-group.ts); calls.forward ./call-forward.ts
//   devices' features xmpp/presence-book.ts, xmpp/disco-cache.ts
//   STUN/TURN         ./call-ice-servers.ts (config + XEP-0215); host addresses ice/host-addresses.ts, ./address-change.ts
//   voicemail, echo   ./voicemail.ts (XEP-0363 upload: xmpp/http-upload.ts), ./echo-service.ts
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { rootCertificates } from "node:tls";
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import { loadConfigFile, type LoadedConfig } from "../config/load.js";
import type { CallInfo, ReloadResult, StatusResult } from "../control/protocol.js";
import { createControlServer, type ControlServer } from "../control/server.js";
import { defaultSocketPath } from "../control/socket-path.js";
import { createDispatcher, type CommandDispatcher } from "../control/dispatch.js";
import { createEventBus, type EventBus } from "../control/event-bus.js";
import { HostAddresses } from "../ice/host-addresses.js";
import { JINGLE_IQ_ERRORS, NS_JINGLE, buildJingleIqError, buildJmiMessage, type JmiElement } from "../jingle/protocol/index.js";
import { SessionManager } from "../jingle/session-manager.js";
import { codecIds } from "../media/codecs/index.js";
import { opusBackend, selectOpusBackend } from "../media/codecs/opus-backend.js";
import { createCertificate, type DtlsCertificate } from "../rtp/dtls/certificate.js";
import { CommandError, ConfigError, errorMessage } from "../util/errors.js";
import { MEDIA_CLOCK_MS, createFrameClock, type FrameClock } from "../util/frame-clock.js";
import { isFullJid, sameBareJid, sameJid } from "../util/jid.js";
import { setLogLevel, type LogFormat, type Logger } from "../util/logger.js";
import { collectGarbage, releaseMemory } from "../util/release-memory.js";
import type { AccountState } from "../util/vocabulary.js";
import { jingleFeatures } from "../xmpp/caps.js";
import { XmppConnection } from "../xmpp/connection.js";
import { DiscoCache } from "../xmpp/disco-cache.js";
import { ExternalServices, buildServicesQuery } from "../xmpp/extdisco.js";
import { PresenceBook } from "../xmpp/presence-book.js";
import { Roster } from "../xmpp/roster.js";
import { uploadFile } from "../xmpp/http-upload.js";
import { onAddressesChanged } from "./address-change.js";
import { By, Call } from "./call/call.js";
import { JingleRefusal } from "./call/signalling.js";
import { createMediaPlane, type MediaPlane } from "./media-plane/media-plane.js";
import { CallBook } from "./call-book.js";
import { publishCallEvents, publishStatsEvery } from "./call-events.js";
import { CallIceServers } from "./call-ice-servers.js";
import { addressSelection, callSettings, resolveCodecs } from "./call-settings.js";
import { warmUpCalls } from "./warm-up-calls.js";
import { createCommandHandlers, type CommandContext } from "./commands.js";
import { listDevices } from "./devices.js";
import { Dialer, type NewCall } from "./dialer.js";
import { startFrontEnds, type FrontEnds } from "./front-ends.js";
import { IncomingCalls } from "./incoming.js";
import { JmiMessages } from "./jmi-messages.js";
import type { CallPolicy } from "./policy.js";
import { planReload } from "./reload.js";
import type { CallControl } from "./ring-group.js";
import { checkRuntime } from "./runtime-checks.js";
import { Voicemail } from "./voicemail.js";

export { VERSION } from "../version.js";
import { VERSION } from "../version.js";

const newStanzaId = (): string => randomBytes(8).toString("hex");
/** How long after the login the main thread's second collection comes (see start()). */
const LOGIN_SETTLE_MS = 2000;

/** The longest the login waits for the preloaded media thread (media.preload). */
const PRELOAD_WAIT_MS = 5000;

export class App {
  /** Replaced by reload() (restart-only keys keep their start values). */
  #cfg: LoadedConfig;
  readonly #log: Logger;
  readonly #xmpp: XmppConnection;
  readonly #sessions = new SessionManager();
  readonly #calls = new CallBook();
  /** Outgoing calls and ring groups (./dialer.ts). */
  readonly #dialer: Dialer;
  /** Ids of the calls that are ring group legs. */
  readonly #legIds = new Set<string>();
  /** Presence of roster contacts, our own account and peers of live calls only: strangers' presence costs nothing. */
  readonly #presence = new PresenceBook({
    keep: (bare) => this.#roster.has(bare) || sameBareJid(bare, this.#self) || this.#calls.hasPeer(bare),
  });
  readonly #disco: DiscoCache;
  /** STUN/TURN for new calls: config + XEP-0215 (./call-ice-servers.ts). */
  readonly #iceServers: CallIceServers;
  readonly #hosts: HostAddresses;
  #certificate: DtlsCertificate | undefined;
  #clockErrors = 0;
  readonly #clock: FrameClock = createFrameClock(MEDIA_CLOCK_MS, undefined, (err) => {
    // A call whose media throws every tick must not flood the log either.
    if (this.#clockErrors++ % 500 === 0) this.#log.error({ err: errorMessage(err), count: this.#clockErrors }, "media tick failed");
  });
  /** Where calls' media run: media threads, or this one (media.threads); made by start(). */
  #plane: MediaPlane | undefined;
  readonly #logFormat: LogFormat;
  readonly #control: ControlServer;
  /** Every event, once: the control socket, MQTT, hooks and metrics subscribe. */
  readonly #events: EventBus;
  /** The one command table, for the control socket and MQTT alike. */
  readonly #commands: CommandDispatcher;
  /** Hooks, metrics, MQTT (./front-ends.ts). */
  #frontEnds: FrontEnds | undefined;
  readonly #roster: Roster;
  #statsTimer: NodeJS.Timeout | undefined;
  /** Set by main: how the shutdown command stops the daemon (as SIGTERM does). */
  onShutdownRequest: (() => void) | undefined;
  #accountReason: string | undefined;
  /** Unanswered incoming calls to chat (calls.voicemail). */
  readonly #voicemail: Voicemail;
  /** What becomes of a new incoming call: policy, forwarding, echo, auto-answer, voicemail (./incoming.ts). */
  readonly #incoming: IncomingCalls;
  /** XEP-0353 messages and our proposals' bounces (./jmi-messages.ts). */
  readonly #jmi: JmiMessages;

  /** The environment the config is read with on reload (main.ts keeps JINGLED_PASSWORD here, not in process.env). */
  readonly #configEnv: NodeJS.ProcessEnv;

  constructor(cfg: LoadedConfig, logger: Logger, opts: { configEnv?: NodeJS.ProcessEnv; logFormat?: LogFormat } = {}) {
    this.#cfg = cfg;
    this.#configEnv = opts.configEnv ?? process.env;
    this.#log = logger;
    this.#logFormat = opts.logFormat ?? cfg.log.format;
    this.#events = createEventBus(logger);
    // The Opus implementation of the calls made from now on (main checked it is available: runtime-checks.ts).
    selectOpusBackend(cfg.media.opus.backend);
    this.#hosts = new HostAddresses(addressSelection(cfg));
    if (this.#hosts.current.length === 0) logger.warn("no host addresses for ICE: set ice.addresses or ice.interfaces");
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
    this.#disco = new DiscoCache((request, timeoutMs) => this.#xmpp.iq(request, timeoutMs));
    this.#iceServers = new CallIceServers({
      config: () => this.#cfg.ice,
      online: () => this.#xmpp.state === "online",
      services: new ExternalServices(() => this.#xmpp.iq(buildServicesQuery(this.#xmpp.domain), 5000)),
      logger,
    });
    this.#xmpp.on("presence", (p) => {
      this.#presence.update(p);
      // The full JID we are in a call or ringing with went offline: nobody is left to talk to.
      const from = p.attrs.from;
      if (p.attrs.type === "unavailable" && from && isFullJid(from)) for (const c of this.#calls.withPeer(from)) void c.peerGone();
    });
    this.#xmpp.on("message", (m) => this.#jmi.onMessage(m));
    this.#xmpp.on("state", (state, reason) => {
      this.#accountReason = reason;
      // The server's STUN/TURN services (XEP-0215) are asked for now, so the first call finds them cached
      // instead of waiting for the answer (a server round trip on the caller's way to its session-initiate).
      if (state === "online") void this.#iceServers.get();
      const retryAt = this.#xmpp.retryAt;
      this.#events.publish("account", { state, ...(reason ? { reason } : {}), ...(retryAt ? { retryAt: new Date(retryAt).toISOString() } : {}) });
    });
    this.#voicemail = new Voicemail({
      settings: () => this.#cfg.calls.voicemail,
      upload: (file, name, type) =>
        uploadFile({ iq: (r, t) => this.#xmpp.iq(r, t), domain: this.#xmpp.domain, allowHttp: this.#cfg.calls.voicemail.allowHttpUpload, ca: this.#tlsTrust() }, file, name, type),
      sendChat: (to, body, oob) => this.#sendChat(to, body, oob),
      domain: () => this.#xmpp.domain,
      logger,
      event: (e) => this.#events.publish("voicemail", e),
    });
    this.#dialer = new Dialer({
      account: this.#xmpp,
      self: () => this.#self,
      roster: this.#roster,
      presence: this.#presence,
      disco: this.#disco,
      calls: this.#calls,
      settings: () => ({ maxCalls: this.#cfg.calls.maxCalls, ringTimeoutSec: this.#cfg.calls.ringTimeoutSec, codecs: this.#cfg.media.codecs }),
      newCall: (o) => this.#newCall(o),
      createSession: (sid, peer) => this.#sessions.createOutgoing(sid, peer),
      events: this.#events,
      logger,
    });
    this.#incoming = new IncomingCalls({
      policy: () => this.#policy(),
      settings: () => ({ forward: this.#cfg.calls.forward, echo: this.#cfg.calls.echo, echoDelayMs: this.#cfg.calls.echoDelayMs, codecs: this.#cfg.media.codecs }),
      self: () => this.#self,
      roster: this.#roster,
      calls: this.#calls,
      ringGroup: (o) => this.#dialer.ringGroup(o),
      voicemail: this.#voicemail,
      sendChat: (to, body) => this.#sendChat(to, body),
      events: this.#events,
      logger,
    });
    this.#jmi = new JmiMessages({
      self: () => this.#self,
      calls: this.#calls,
      settings: () => ({ jingleMessage: this.#cfg.calls.jingleMessage, audioOnlyForVideo: this.#cfg.calls.videoProposals === "audio-only", codecs: this.#cfg.media.codecs }),
      dialer: this.#dialer,
      incoming: this.#incoming,
      newCall: (o) => this.#newCall(o),
      createSession: (sid, peer) => this.#sessions.createOutgoing(sid, peer),
      sendJmi: (to, el) => this.#sendJmi(to, el),
      send: (stanza) => this.#xmpp.send(stanza),
      callFailed: (call, what, err) => this.#callFailed(call, what, err),
      events: this.#events,
      logger,
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

  /** Our full JID once bound, else the configured one. */
  get #self(): string {
    return this.#xmpp.jid ?? this.#cfg.account.jid;
  }

  async start(): Promise<void> {
    this.#plane = await createMediaPlane({ threads: this.#cfg.media.threads, priority: this.#cfg.media.priority, clock: this.#clock, logger: this.#log, log: { level: this.#cfg.log.level, format: this.#logFormat } });
    // What the first call needs loads now (a media thread takes 0.2-0.6 s), not on the first call's way.
    const preloaded = this.#cfg.media.preload ? this.#plane.preload() : undefined;
    this.#voicemail.start();
    // One certificate per run; its fingerprint goes in every offer and answer (XEP-0320).
    if (this.#cfg.media.dtls !== "off") this.#certificate = await createCertificate();
    await this.#control.listen();
    // The one start-up line: what this daemon is and runs with.
    this.#log.info(
      { version: VERSION, config: this.#cfg.file ?? null, opusBackend: opusBackend(), iceAddresses: this.#hosts.current, socket: this.socketPath },
      "jingled started, control socket listening",
    );
    this.#scheduleStats();
    this.#frontEnds = await startFrontEnds({ config: () => this.#cfg, events: this.#events, dispatch: this.#commands, status: () => this.#status(), socketPath: this.socketPath, logger: this.#log });
    // Online only once it is ready (bounded: a thread that does not start is the first call's problem, not the login's).
    if (preloaded) {
      await Promise.race([preloaded, new Promise((r) => setTimeout(r, PRELOAD_WAIT_MS).unref())]);
      // And the main thread's part of a call, once (./warm-up-calls.ts): not on the first real call's way.
      await this.#warmUpCalls();
    }
    // Start-up's garbage (config parsing, module loading) goes now, not never (../util/release-memory.ts);
    // before the login, so that it never delays a first call (a collection takes some ms).
    releaseMemory();
    await this.#xmpp.start();
    // And once the login's replies are in, when no call is being made: a full collection then is what starts
    // V8's memory reducer, which gives the heap's empty pages back some seconds later.
    setTimeout(() => {
      if (this.#calls.all().length === 0) collectGarbage();
    }, LOGIN_SETTLE_MS).unref();
    this.#hosts.watch((now, before) => {
      this.#log.info({ from: before, to: now }, "host addresses changed");
      void onAddressesChanged(now, { account: this.#xmpp, calls: () => this.#calls.all(), logger: this.#log });
    });
  }

  /** Hangs up every call (session-terminate sent), then goes offline. */
  async stop(): Promise<void> {
    clearInterval(this.#statsTimer);
    this.#voicemail.stop();
    this.#hosts.stop();
    await Promise.allSettled(this.#calls.all().map((c) => c.hangup("success", By.Shutdown)));
    await this.#xmpp.stop();
    await this.#frontEnds?.stop();
    await this.#control.close();
    await this.#plane?.close();
  }

  // ------------------------------------------------------------ commands

  #status(): StatusResult {
    const account: { jid: string; state: AccountState; reason?: string; retryAt?: string; server?: string } = { jid: this.#self, state: this.#xmpp.state };
    if (this.#accountReason && this.#xmpp.state !== "online") account.reason = this.#accountReason;
    const { retryAt, server } = this.#xmpp;
    if (retryAt) account.retryAt = new Date(retryAt).toISOString();
    if (server && this.#xmpp.state === "online") account.server = server;
    const { show, status } = this.#xmpp.presence;
    return {
      version: VERSION,
      account: { ...account, presence: { show, ...(status ? { text: status } : {}) } },
      media: { opusBackend: opusBackend(), codecs: codecIds() },
      calls: this.#callList(),
    };
  }

  #callList(): CallInfo[] {
    return this.#visibleCalls().map((c) => {
      const stats = c.stats();
      return { ...c.info(), ...(stats ? { stats } : {}) };
    });
  }

  /** The calls as the user sees them: a ring group is one call, its legs are not shown. */
  #visibleCalls(): CallControl[] {
    return [...this.#calls.all().filter((c) => !this.#legIds.has(c.id)), ...this.#dialer.groups().filter((g) => g.state !== "ended")];
  }

  /** What the control commands (commands.ts) may use of the app. */
  #commandContext(): CommandContext {
    return {
      calls: () => this.#visibleCalls(),
      placeCall: (args, by) => this.#dialer.placeCall(args, by),
      status: () => this.#status(),
      callList: () => this.#callList(),
      policy: () => this.#policy(),
      account: () => ({ state: this.#xmpp.state }),
      setPresence: (show, text) => this.#xmpp.setPresence(show, text),
      roster: this.#roster,
      voicemail: this.#voicemail,
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

  /** A chat message; `oobUrl`: with XEP-0066 out-of-band data (jabber:x:oob) naming it. */
  #sendChat(to: string, body: string, oobUrl?: string): Promise<void> {
    const oob = oobUrl ? [xml("x", { xmlns: "jabber:x:oob" }, xml("url", {}, oobUrl))] : [];
    return this.#xmpp.send(xml("message", { to, type: "chat", id: newStanzaId() }, xml("body", {}, body), ...oob));
  }

  /** The certificates HTTPS trusts: the XMPP connection's (the system's, plus tls.caFile), read now. */
  #tlsTrust(): string[] | undefined {
    const caFile = this.#cfg.tls.caFile;
    return caFile ? [...rootCertificates, readFileSync(caFile, "utf8")] : undefined;
  }

  /** A `stats` event per active call every control.statsIntervalSec (0: none). */
  #scheduleStats(): void {
    clearInterval(this.#statsTimer);
    this.#statsTimer = publishStatsEvery(this.#cfg.control.statsIntervalSec, () => this.#visibleCalls(), this.#events);
  }

  /** Re-reads the config file (SIGHUP, the reload command); reload.ts says what applies now. */
  async reload(): Promise<ReloadResult> {
    const file = this.#cfg.file;
    if (!file) throw new CommandError("not-supported", "reload: the daemon was not started from a config file");
    let next: LoadedConfig;
    try {
      next = loadConfigFile(file, this.#configEnv);
      checkRuntime(next);
    } catch (err) {
      if (err instanceof ConfigError) throw new CommandError("bad-argument", `reload: ${err.message}\nnothing was changed`);
      throw err;
    }
    const { config, plan } = planReload(this.#cfg, next);
    this.#cfg = config;
    // media.* applies to new calls; calls in progress keep their codec instances.
    if (plan.applied.some((k) => k.startsWith("media.opus"))) selectOpusBackend(config.media.opus.backend);
    setLogLevel(this.#log, config.log.level);
    this.#plane?.setLogLevel(config.log.level);
    if (plan.applied.some((k) => k.startsWith("ice.addresses") || k.startsWith("ice.interfaces") || k === "ice.linkLocal")) this.#hosts.configure(addressSelection(config));
    this.#scheduleStats();
    this.#log.info(plan, "configuration reloaded");
    this.#events.publish("reload", plan);
    return plan;
  }

  // ------------------------------------------------------------ Jingle and XEP-0353

  /** A Jingle IQ: checked by the session manager; a new session admitted (./incoming.ts), or the action to its call. */
  #onJingle(iq: Element, el: Element): void {
    const proposal = el.attrs.action === "session-initiate" && el.attrs.sid ? this.#calls.bySid(el.attrs.sid) : undefined;
    if (proposal && !(proposal.role === "responder" && proposal.phase === "proceeded" && sameJid(proposal.peer, iq.attrs.from ?? ""))) {
      // A sid we know, from someone else or at the wrong time: not a session we agreed to.
      void this.#xmpp.sendIqError(iq, "cancel", "conflict").catch(() => undefined);
      this.#log.warn({ from: iq.attrs.from, sid: el.attrs.sid }, "session-initiate for a sid in use refused");
      return;
    }
    const res = this.#sessions.incoming(iq, el);
    const admission = res.ok && res.isNew && !proposal ? this.#incoming.admit(res.session.peer) : undefined;
    if (res.ok && admission?.action === "refuse") {
      // Not allowed to ring: the answer an account without that resource gives, so a stranger learns nothing.
      this.#sessions.remove(res.session.sid);
      void this.#xmpp.sendIqError(iq, "cancel", "service-unavailable").catch(() => undefined);
      return;
    }
    const refusal = res.ok && !res.isNew ? this.#calls.bySid(res.session.sid)?.refusal(res.jingle) : undefined;
    if (refusal) {
      // The call's own answer to this action (an ICE restart that lost a glare); the action goes no further.
      this.#log.info({ from: iq.attrs.from, sid: el.attrs.sid, action: el.attrs.action, refusal }, "jingle action refused by the call");
      void this.#xmpp.send(buildJingleIqError(iq, JINGLE_IQ_ERRORS[refusal])).catch(() => undefined);
      return;
    }
    void this.#xmpp.send(res.reply).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "reply"));
    if (!res.ok) {
      // A request for a session that has just ended (our terminate crossed the peer's accept or info) is no news.
      if (/ in state ended$/.test(res.error)) this.#log.debug({ from: iq.attrs.from, error: res.error }, "jingle request refused");
      else this.#log.warn({ from: iq.attrs.from, error: res.error }, "jingle request refused");
      return;
    }
    if (res.isNew && proposal) {
      void proposal.offer(res.jingle, true).catch((err: unknown) => this.#callFailed(proposal, "offer", err));
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
    // A new session not from a proposal: admitted above, so the policy let it ring.
    if (res.isNew && admission?.action === "ring") {
      const call = this.#newCall({ sid: res.session.sid, peer: res.session.peer, role: "responder", codecs: resolveCodecs(this.#cfg.media.codecs) });
      this.#events.publish("call", { callId: call.id, type: "incoming", peer: call.peer });
      void call.offer(res.jingle, this.#incoming.take(call, admission)).catch((err: unknown) => this.#callFailed(call, "offer", err));
      return;
    }
    const call = this.#calls.bySid(res.session.sid);
    void call?.remote(res.jingle).catch((err: unknown) => this.#callFailed(call, "remote action", err));
  }

  /**
   * A call's step failed: worth a warning, unless the call has ended or the
   * peer has (it answers out-of-order or unknown-session, XEP-0166 §7.2: our
   * answer crossed its hangup, whose session-terminate ends the call here).
   */
  #callFailed(call: Call, what: string, err: unknown): void {
    const fields = { call: call.id, err: errorMessage(err) };
    if (call.state === "ended" || /\((out-of-order|unknown-session)\)$/.test(fields.err)) this.#log.debug(fields, what);
    else this.#log.warn(fields, what);
  }

  async #sendJingle(sid: string, jingle: Parameters<SessionManager["outgoing"]>[1]): Promise<void> {
    const iq = this.#sessions.outgoing(sid, jingle, newStanzaId());
    try {
      await this.#xmpp.iq(iq);
    } catch (err) {
      // A stanza error (e.g. service-unavailable for an offline JID): name the
      // condition and any Jingle condition (unknown-session, out-of-order, ...).
      const { application: app, condition } = err as { application?: Element; condition?: string };
      const message = app ? `${errorMessage(err)} (${app.name})` : errorMessage(err);
      throw condition ? new JingleRefusal(message, condition, app?.name) : new Error(message);
    }
  }

  /** A XEP-0353 message (our calls' proposals, proceeds, rejects, ...). */
  #sendJmi(to: string, el: JmiElement): Promise<void> {
    // A proposal's message id names its session (buildJmiMessage), so that a bounce without the payload is recognised (jingle/proposal-bounce.ts).
    return this.#xmpp.send(buildJmiMessage(to, el, newStanzaId()));
  }

  // ------------------------------------------------------------ calls

  #warmUpCalls(): Promise<void> {
    const { ice, dtlsPolicy, jitterFrames, mediaPrefs, ringTimeoutMs, rtcpMux } = callSettings(this.#cfg);
    return warmUpCalls({
      settings: { jitterFrames, mediaPrefs, ringTimeoutMs, rtcpMux, plane: this.#plane!, dtls: { policy: dtlsPolicy, certificate: this.#certificate }, connectTimeoutMs: ice.connectTimeoutMs },
      codecs: resolveCodecs(this.#cfg.media.codecs),
      self: `${this.#cfg.account.jid.split("/")[0]}/${this.#cfg.account.resource}`,
      logger: this.#log,
    });
  }

  #newCall(o: NewCall): Call {
    const { ice, dtlsPolicy, ...settings } = callSettings(this.#cfg);
    const call = new Call({
      ...settings,
      id: this.#calls.nextId(),
      sid: o.sid,
      ...(o.startedAt ? { startedAt: o.startedAt } : {}),
      ...(o.placedBy ? { placedBy: o.placedBy } : {}),
      peer: o.peer,
      role: o.role,
      self: this.#self,
      codecs: o.codecs,
      ice: { ...ice, addresses: this.#hosts.current, currentAddresses: () => this.#hosts.current, servers: () => this.#iceServers.get() },
      plane: this.#plane!,
      logger: this.#log,
      send: (jingle) => this.#sendJingle(o.sid, jingle),
      dtls: { policy: dtlsPolicy, certificate: this.#certificate },
      sendJmi: (to, el) => this.#sendJmi(to, el),
    });
    this.#calls.add(call);
    if (o.leg) {
      this.#legIds.add(call.id);
      o.leg.created(call);
    }
    publishCallEvents(call, o.leg ? { publish: o.leg.publish } : this.#events, () => {
      this.#legIds.delete(call.id);
      this.#calls.remove(call);
      this.#sessions.remove(call.sid);
      this.#presence.prune();
    });
    return call;
  }
}
