// The XMPP account connection, composed from @xmpp/* parts (like @xmpp/client,
// but with our own STARTTLS step so that a configured CA can be trusted, and
// with every stanza held back until the stream is encrypted — or plaintext
// explicitly allowed — and authenticated: stream-guard.ts). RFC 6120 + XEP-0198.
// Where to connect: discovery.ts (DNS SRV, XEP-0368) and dial.ts (Happy
// Eyeballs, Direct TLS) in place of @xmpp's connect(); when to reconnect and
// when to stop: reconnect-policy.ts in place of @xmpp/reconnect's fixed 1 s.
// So the umbrella @xmpp/client is not a dependency: its parts that serve are
// imported here one by one, and the ones it would add are replaced as said
// (its resolve: no SNI for Direct TLS, no '.' target, ENOTFOUND for a domain
// without an address; its SCRAM: no server signature check, no -PLUS).
import net from "node:net";
import tls from "node:tls";
import { readFileSync } from "node:fs";
import { Client, xml, jid as parseJid, type JID } from "@xmpp/client-core";
import _reconnect from "@xmpp/reconnect";
import _tcp from "@xmpp/tcp";
import _middleware from "@xmpp/middleware";
import _streamFeatures from "@xmpp/stream-features";
import _resourceBinding from "@xmpp/resource-binding";
import _streamManagement from "@xmpp/stream-management";
import SASLFactory from "saslmechanisms";
import plain from "@xmpp/sasl-plain";
import TlsSocket from "@xmpp/tls/lib/Socket.js";
import type { Element } from "ltx";
import { TypedEmitter } from "../util/events.js";
import { AccountError, errorMessage } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import { ScramSha1, ScramSha1Plus, ScramSha256, ScramSha256Plus } from "./scram.js";
import { availableBindings, bindingData, chooseMechanism, serverCbTypes, type Gs2Binding } from "./channel-binding.js";
import { inboundCounter } from "./sm-counter.js";
import { discover, endpointUri, parseService } from "./discovery.js";
import { dial } from "./dial.js";
import { INITIAL_POLICY, nextStep, online as policyOnline, saslFailureKind, type Failure, type PolicyState } from "./reconnect-policy.js";
import { NS_TLS, guardStream, type StreamGuard } from "./stream-guard.js";
import { sasl } from "./sasl.js";
import { createIqCaller, type IqCaller } from "./iq-caller.js";
import { CAPS_NODE, IDENTITY, NS_CAPS, NS_DISCO_INFO, capsVerification } from "./caps.js";
import type { AccountState, PresenceShow } from "../util/vocabulary.js";

export type { AccountState, PresenceShow } from "../util/vocabulary.js";

export interface XmppOptions {
  jid: string;
  password: string;
  resource: string;
  /** xmpp://host:port (STARTTLS) or xmpps://host:port (Direct TLS); default: DNS SRV discovery for the JID's domain. */
  service?: string;
  allowPlaintext: boolean;
  caFile?: string;
  priority: number;
  features: string[];
  logger: Logger;
}

export type XmppEvents = {
  state: [state: AccountState, reason?: string];
  /** Every incoming message stanza. */
  message: [stanza: Element];
  presence: [stanza: Element];
};

export type IqSetHandler = (stanza: Element, child: Element) => Promise<void> | void;

const NS_CARBONS = "urn:xmpp:carbons:2";
/** How long the initial presence waits for the carbons <enable/> to be answered. */
const CARBONS_TIMEOUT_MS = 5000;

/** Errors that end a login attempt: our policy (AccountError) or the server's SASL <failure/>. */
function refusal(err: Error): boolean {
  return err instanceof AccountError || err?.name === "SASLError";
}

/** An @xmpp error's condition (StreamError, SASLError). */
function conditionOf(err: unknown): string | undefined {
  const c = (err as { condition?: unknown } | null)?.condition;
  return typeof c === "string" ? c : undefined;
}

export class XmppConnection extends TypedEmitter<XmppEvents> {
  readonly #opts: XmppOptions;
  readonly #log: Logger;
  readonly #client: Client;
  readonly #iqCaller: IqCaller;
  readonly #reconnect: ReturnType<typeof _reconnect>;
  readonly #iqSetHandlers: { ns: string; name: string; handler: IqSetHandler }[] = [];
  readonly #capsVer: string;
  readonly #guard: StreamGuard;
  /** What the connection is aimed at: account.server, or "DOMAIN (DNS SRV)". */
  readonly #target: string;
  #state: AccountState = "offline";
  #stopping = false;
  /** start() is running: its caller gets the failure, nothing is retried. */
  #starting = false;
  #policy: PolicyState = INITIAL_POLICY;
  #retryTimer: NodeJS.Timeout | undefined;
  #retryAt: number | undefined;
  /** Why the current connection ends, once known (set before "disconnect"). */
  #failure: Failure | undefined;
  /** Where the current connection goes: URI and the address that answered. */
  #connectedTo: { uri: string; address: string } | undefined;

  constructor(opts: XmppOptions) {
    super();
    this.#opts = opts;
    this.#log = opts.logger.child({ module: "xmpp" });
    const account = parseJid(opts.jid);
    const domain = account.domain;
    // A bad account.server fails here, at start, not at the first connection.
    const configured = opts.service !== undefined ? parseService(opts.service) : undefined;
    this.#target = opts.service ?? `${domain} (DNS SRV)`;
    const client = new Client({ service: opts.service ?? domain, domain, lang: "en" });
    client.jid = parseJid(account.local, domain);
    this.#client = client;
    this.#capsVer = capsVerification([IDENTITY], opts.features);

    // Its reconnect() (connect, then open the stream) is used; the schedule is ours (#afterFailure).
    this.#reconnect = _reconnect({ entity: client });
    this.#reconnect.stop();
    _tcp({ entity: client });
    // @xmpp's connect() takes one xmpp:// URI and trusts no extra CA for Direct
    // TLS; ours finds the endpoints (configured, or DNS SRV) and dials them in
    // order. The TCP transport still frames the stream (also over Direct TLS).
    const transport = client.transports[0] as { prototype: { Socket: unknown; Parser: unknown } };
    client.connect = async () => {
      client._status("connecting", this.#target);
      this.#connectedTo = undefined;
      const found = configured
        ? { endpoints: [configured], source: "config", dnsErrors: [] }
        : await discover(domain).catch((err: unknown) => {
            client.status = "offline";
            throw err;
          });
      if (found.dnsErrors.length > 0) this.#log.warn({ errors: found.dnsErrors }, "DNS SRV lookup failed; trying the domain itself");
      this.#log.debug({ endpoints: found.endpoints.map(endpointUri), source: found.source }, "connecting");
      const ca = this.#ca();
      const last = found.endpoints.at(-1);
      let dialled;
      try {
        dialled = await dial(found.endpoints, {
          domain,
          ...(ca ? { ca } : {}),
          onFailure: (e, err) => this.#log.info({ endpoint: endpointUri(e), err: errorMessage(err) }, e === last ? "cannot connect" : "cannot connect; trying the next"),
        });
      } catch (err) {
        // Nothing is attached: the client is as before the attempt (start() refuses to run unless "offline").
        client.status = "offline";
        throw err;
      }
      this.#connectedTo = { uri: endpointUri(dialled.endpoint), address: dialled.address };
      this.#log.info({ endpoint: this.#connectedTo.uri, address: dialled.address, directTls: dialled.endpoint.directTls }, "connected");
      client.Transport = transport;
      client.Socket = transport.prototype.Socket;
      client.Parser = transport.prototype.Parser;
      let socket: unknown = dialled.socket;
      if (dialled.socket instanceof tls.TLSSocket) {
        // Direct TLS: @xmpp/tls's wrapper makes isSecure() true (and STARTTLS is skipped, XEP-0368 rule 5).
        const wrapper = new TlsSocket();
        wrapper._attachSocket(dialled.socket);
        socket = wrapper;
      }
      client._attachSocket(socket);
      client._status("connect");
    };
    const middleware = _middleware({ entity: client });
    // First of all middleware, before any stream feature handler: nothing goes
    // in or out before TLS (or allowed plaintext) and SASL (stream-guard.ts).
    this.#guard = guardStream({
      entity: client,
      middleware,
      allowPlaintext: opts.allowPlaintext,
      service: () => this.#connectedTo?.uri ?? this.#target,
      onDropped: (el, phase) => this.#log.debug({ element: el.name, phase }, "dropped before authentication"),
    });
    // The whole <stream:features/>, for what sits beside <mechanisms/> (XEP-0440 <sasl-channel-binding/>).
    middleware.use((ctx, next) => {
      if (ctx.stanza.is("features", "http://etherx.jabber.org/streams")) this.#features = ctx.stanza;
      return next();
    });
    const streamFeatures = _streamFeatures({ middleware });
    // XEP-0198 'h' is ours: before the iq caller, which swallows our results (sm-counter.ts).
    const smInbound = inboundCounter(middleware, client);
    // iq-caller.ts: unpredictable ids, and a reply counts only from whom we asked.
    this.#iqCaller = createIqCaller({
      entity: client,
      middleware,
      own: () => ({ full: client.jid?.resource ? client.jid.toString() : undefined, bare: client.jid?.bare().toString() ?? opts.jid, domain }),
      logger: this.#log,
    });

    // Stream features in priority order: STARTTLS, SASL, stream management (resumption), resource binding.
    streamFeatures.use("starttls", NS_TLS, async ({ entity }, next) => this.#startTls(entity, next));
    const saslFactory = new SASLFactory();
    // Everything we speak; channel-binding.ts chooses (-PLUS first, never a downgrade from it; PLAIN only inside TLS).
    saslFactory.use("SCRAM-SHA-256-PLUS", ScramSha256Plus);
    saslFactory.use("SCRAM-SHA-1-PLUS", ScramSha1Plus);
    saslFactory.use("SCRAM-SHA-256", ScramSha256);
    saslFactory.use("SCRAM-SHA-1", ScramSha1);
    plain(saslFactory);
    // sasl.ts: the SCRAM server signature is checked, wherever the server sends it.
    sasl({ streamFeatures, saslFactory }, async (authenticate, mechanisms, entity) => {
      // The guard already refused to get here without TLS unless plaintext is allowed; PLAIN only inside TLS even then.
      const secure = entity.isSecure();
      const offered = secure ? mechanisms : mechanisms.filter((m) => m !== "PLAIN" && !m.endsWith("-PLUS"));
      const socket = this.#tlsSocket();
      const available = socket ? availableBindings(socket) : [];
      const choice = chooseMechanism({
        mechanisms: offered,
        serverTypes: serverCbTypes(this.#features),
        available,
        secure,
      });
      const binding: Gs2Binding = choice.flag === "p" ? { flag: "p", type: choice.type, data: bindingData(socket!, choice.type) } : { flag: choice.flag };
      this.#log.debug({ mechanism: choice.mechanism, binding: choice.flag === "p" ? choice.type : choice.flag, offered: mechanisms }, "SASL");
      await authenticate({ username: account.local, password: opts.password, binding }, choice.mechanism);
      this.#login = { mechanism: choice.mechanism, ...(choice.flag === "p" ? { channelBinding: choice.type } : {}) };
      this.#guard.authenticated();
    });
    // Stream management before resource binding (XEP-0198 §5: resumption
    // replaces binding; a <resume/> after binding is refused). With binding
    // first, no session was ever resumed, and the <enable/> sent after the
    // session was online left the two stanza counters disagreeing: Prosody
    // closed the new stream ("Client acknowledged more stanzas than sent by
    // server") and the Jingle stanzas sent to us meanwhile bounced.
    const sm = _streamManagement({ streamFeatures, entity: client, middleware });
    _resourceBinding({ iqCaller: this.#iqCaller.library, streamFeatures }, opts.resource);
    smInbound.attach(sm);

    middleware.use(async (ctx, next) => {
      if (ctx.stanza.name === "message") this.emit("message", ctx.stanza);
      else if (ctx.stanza.name === "presence") this.emit("presence", ctx.stanza);
      return next();
    });
    // Our own iq routing (RFC 6120 §8.2.3), after stream management's inbound
    // counter: each get/set gets exactly one reply — our handlers send their
    // own, with Jingle error payloads where needed; anything unrouted gets
    // service-unavailable. (@xmpp/iq's callee would add a second reply.)
    middleware.use(async (ctx, next) => {
      const { stanza } = ctx;
      const type = stanza.attrs.type;
      if (stanza.name !== "iq" || (type !== "get" && type !== "set")) return next();
      const children = stanza.getChildElements();
      const child = children[0];
      try {
        if (children.length !== 1 || !child) return void (await this.sendIqError(stanza, "modify", "bad-request"));
        if (type === "get" && child.is("ping", "urn:xmpp:ping")) return void (await this.sendIqResult(stanza));
        if (type === "get" && child.is("query", NS_DISCO_INFO)) {
          return void (await this.send(xml("iq", { type: "result", to: stanza.attrs.from, id: stanza.attrs.id }, this.#discoInfo(child))));
        }
        const route = type === "set" ? this.#iqSetHandlers.find((h) => child.is(h.name, h.ns)) : undefined;
        if (route) return void (await route.handler(stanza, child));
        await this.sendIqError(stanza, "cancel", "service-unavailable");
      } catch (err) {
        this.#log.error({ err }, "iq handler failed");
        await this.sendIqError(stanza, "cancel", "internal-server-error").catch(() => undefined);
      }
      return undefined;
    });

    // Nagle's algorithm would hold small stanzas (a session-accept, a
    // transport-info) back by up to 40 ms each: measured setup 183 -> 131 ms.
    client.on("connect", () => {
      const sock = client.socket;
      if (sock instanceof net.Socket) sock.setNoDelay(true);
    });
    client.on("online", (address: JID) => {
      this.#policy = policyOnline(this.#policy);
      this.#log.info({ jid: address.toString(), secure: client.isSecure(), endpoint: this.#connectedTo?.uri, ...this.#login }, "online");
      // RFC 6121 §2.2: the roster is requested (by the state's listeners) before initial presence,
      // so the contacts' presence that answers it finds them known.
      this.#presenceSent = false;
      this.#setState("online");
      void this.#announce();
    });
    client.on("disconnect", (info: { clean?: boolean; reason?: unknown } | undefined) => {
      const failure = this.#failure ?? { kind: "lost", reason: info?.reason ? errorMessage(info.reason) : "connection lost" };
      this.#failure = undefined;
      this.#afterFailure(failure);
    });
    client.on("error", (err: Error) => {
      if (refusal(err)) return this.#refuse(err);
      if (err.name === "StreamError") {
        // RFC 6120 §4.9.3.3: <conflict/> — a session with our full JID started elsewhere and replaced this one.
        const condition = conditionOf(err);
        this.#failure =
          condition === "conflict"
            ? { kind: "conflict", reason: `another client took ${this.#fullJid()} (<conflict/> from the server)` }
            : { kind: "lost", reason: `the server closed the stream: ${err.message}` };
        this.#log.warn({ condition, err: errorMessage(err) }, "stream error");
        this.#lastError = err;
        return;
      }
      this.#log.warn({ err: errorMessage(err) }, "xmpp error");
      if (/certificate|self.signed/i.test(err.message)) this.#lastError = err;
    });
    // A resumed stream is online again, but @xmpp emits no "online" for it.
    sm.on("resumed", () => {
      this.#policy = policyOnline(this.#policy);
      this.#log.info({ endpoint: this.#connectedTo?.uri }, "stream resumed");
      this.#setState("online");
    });
    // Stanzas the server never acknowledged on a stream that could not be
    // resumed are lost: an iq among them fails now rather than at its timeout.
    sm.on("fail", (stanza: Element) => {
      const id = stanza.attrs.id;
      if (stanza.name !== "iq" || !id) return;
      this.#iqCaller.fail(id, new Error("not delivered: the stream was lost before the server acknowledged it"));
    });
  }

  #lastError: Error | undefined;
  /** The last <stream:features/> received. */
  #features: Element | undefined;
  /** How this session logged in (for the log and status). */
  #login: { mechanism: string; channelBinding?: string } | undefined;

  /** The TLS socket under the stream (STARTTLS or Direct TLS), if any. */
  #tlsSocket(): tls.TLSSocket | undefined {
    const s = this.#rawSocket();
    return s instanceof tls.TLSSocket ? s : undefined;
  }

  /** Our full JID once bound, else the configured bare JID with its resource. */
  #fullJid(): string {
    return this.#client.jid?.resource ? this.#client.jid.toString() : `${this.#client.jid?.bare().toString() ?? this.#opts.jid}/${this.#opts.resource}`;
  }

  /**
   * A login this side refuses (TLS or SASL skipped, a server that did not
   * prove itself) or the server refused (wrong password): one logged error
   * and, through the disconnect that follows, one account event; the
   * connection is dropped rather than left open. The first login reports it
   * from start(); later the reconnect policy decides (reconnect-policy.ts).
   */
  #refuse(err: Error): void {
    const sasl = err.name === "SASLError";
    const kind = sasl ? saslFailureKind(conditionOf(err)) : "refused";
    const text = (err as { text?: unknown }).text;
    const said = `${conditionOf(err)}${typeof text === "string" && text ? `: ${text}` : ""}`;
    const reason =
      kind === "not-authorized"
        ? `the server refused the password for ${this.#client.jid?.bare().toString() ?? this.#opts.jid} (${said})`
        : sasl
          ? `the server refused the login: ${errorMessage(err)}`
          : errorMessage(err);
    this.#lastError = sasl ? new AccountError(kind === "not-authorized" ? "not-authorized" : kind === "temporary" ? "temporary" : "auth-failed", reason) : err;
    this.#failure = { kind, reason };
    this.#log.error({ server: this.#connectedTo?.uri ?? this.#target, err: reason }, "login refused");
    this.#rawSocket()?.destroy();
  }

  /**
   * The connection ended or could not be made: retry later (backoff), or stop
   * and say why (reconnect-policy.ts). Each failed attempt is one account
   * event, "reconnecting" with the reason and the time of the next try.
   */
  #afterFailure(failure: Failure): void {
    if (this.#stopping || this.#starting) return;
    const step = nextStep(this.#policy, failure, Date.now(), this.#fullJid());
    this.#policy = step.state;
    clearTimeout(this.#retryTimer);
    if (step.action === "stop") {
      this.#retryAt = undefined;
      this.#log.error({ reason: step.reason }, "not reconnecting");
      this.#setState("offline", step.reason);
      return;
    }
    this.#retryAt = Date.now() + step.delayMs;
    this.#retryTimer = setTimeout(() => void this.#retry(), step.delayMs);
    this.#setState("reconnecting", failure.reason, true);
  }

  async #retry(): Promise<void> {
    this.#retryTimer = undefined;
    this.#retryAt = undefined;
    if (this.#stopping) return;
    this.#log.debug({ target: this.#target }, "reconnecting");
    try {
      await this.#reconnect.reconnect();
    } catch (err) {
      if (this.#stopping) return;
      const socket = this.#rawSocket();
      if (socket && !socket.destroyed) {
        // Connected, but the stream did not open: its disconnect leads to the next try.
        this.#failure ??= { kind: "lost", reason: errorMessage(err) };
        socket.destroy();
        return;
      }
      // Nothing connected (DNS, every endpoint refused or timed out, Direct TLS refused): no disconnect will come.
      const code = err instanceof AccountError ? err.code : undefined;
      this.#failure = undefined;
      this.#afterFailure({ kind: code === "tls-failed" ? "refused" : "lost", reason: errorMessage(err) });
    }
  }

  get state(): AccountState {
    return this.#state;
  }

  /** The account's domain (our server). */
  get domain(): string {
    return parseJid(this.#opts.jid).domain;
  }

  /** Our full JID once online. */
  get jid(): string | undefined {
    return this.#client.jid?.toString();
  }

  /** `again`: announce the same state once more, with a new reason. */
  #setState(state: AccountState, reason?: string, again = false): void {
    if (state === this.#state && !again) return;
    this.#state = state;
    this.#log.info({ state, reason }, "account state");
    this.emit("state", state, reason);
  }

  /** When the next connection attempt is due (ms since the epoch), while reconnecting. */
  get retryAt(): number | undefined {
    return this.#state === "reconnecting" ? this.#retryAt : undefined;
  }

  /** Where the connection goes ("xmpps://xmpp.example.org:5223 (2001:db8::1)"), while connected. */
  get server(): string | undefined {
    return this.#connectedTo ? `${this.#connectedTo.uri} (${this.#connectedTo.address})` : undefined;
  }

  /**
   * Connects and logs in once. A failure rejects with an AccountError whose
   * code says what kind (main.ts turns it into the exit code): not-authorized,
   * unreachable, no-service, tls-failed, ...; nothing is retried.
   */
  async start(): Promise<void> {
    this.#stopping = false;
    this.#starting = true;
    this.#setState("connecting");
    try {
      await this.#client.start();
    } catch (err) {
      const cause = this.#lastError ?? err;
      this.#stopping = true;
      clearTimeout(this.#retryTimer);
      this.#setState("offline", errorMessage(cause));
      throw cause instanceof AccountError ? cause : new AccountError("connect-failed", `cannot log in as ${this.#opts.jid}: ${errorMessage(cause)}`);
    } finally {
      this.#starting = false;
    }
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    clearTimeout(this.#retryTimer);
    this.#retryAt = undefined;
    try {
      if (this.#state === "online") await this.#client.send(xml("presence", { type: "unavailable" }));
      await this.#client.stop();
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, "stop");
    }
    this.#setState("offline", "stopped");
  }

  /** The TCP (or TLS) socket under @xmpp's wrapper (STARTTLS wraps it in @xmpp/tls's Socket). */
  #rawSocket(): net.Socket | undefined {
    const s: unknown = this.#client.socket;
    if (s instanceof net.Socket) return s;
    const inner = (s as { socket?: unknown } | null)?.socket;
    return inner instanceof net.Socket ? inner : undefined;
  }

  /** The local address of the connection to the server, while connected. */
  get localAddress(): string | undefined {
    return this.#rawSocket()?.localAddress;
  }

  /**
   * Drops the connection now and reconnects soon (stream resumption where the
   * server kept the session). After a local network change the old TCP
   * connection is dead, but noticing that would take minutes.
   */
  reconnectNow(reason: string): void {
    if (this.#stopping || this.#state !== "online") return;
    const inner = this.#rawSocket();
    if (!inner) return;
    this.#log.info({ reason }, "dropping the connection to reconnect");
    this.#policy = { ...this.#policy, delayMs: 125 }; // doubled by the policy: a first retry after ~250 ms
    this.#failure = { kind: "lost", reason };
    inner.destroy();
  }

  /**
   * A fresh session (not a resumed one, whose carbons stay enabled): XEP-0280
   * Message Carbons first, then the initial presence. The server delivers a
   * message to the bare JID only to the resources of highest priority and
   * copies it to the others as a carbon (RFC 6121 §8.5.2.1.1, XEP-0280 §5), so
   * a device that is available but has no carbons yet gets a call proposal
   * (XEP-0353) neither way: with the presence first, a proposal sent in that
   * round trip never rang here.
   */
  async #announce(): Promise<void> {
    try {
      await this.iq(xml("iq", { type: "set" }, xml("enable", { xmlns: NS_CARBONS })), CARBONS_TIMEOUT_MS);
      this.#log.debug("carbons enabled");
    } catch (err) {
      // Without carbons (a server without XEP-0280) calls still work; only other devices' answers go unseen.
      this.#log.info({ err: errorMessage(err) }, "carbons not enabled");
    }
    if (this.#state !== "online") return;
    this.#presenceSent = true;
    await this.#sendPresence();
  }

  onIqSet(ns: string, name: string, handler: IqSetHandler): void {
    this.#iqSetHandlers.push({ ns, name, handler });
  }

  async send(stanza: Element): Promise<void> {
    await this.#client.send(stanza);
  }

  /** Sends an iq and resolves with the result stanza; rejects with the stanza error. */
  async iq(stanza: Element, timeoutMs = 15_000): Promise<Element> {
    return this.#iqCaller.request(stanza, timeoutMs);
  }

  /**
   * A ping to our server (XEP-0199); resolves once it answered (a result or
   * an error, e.g. from a server without ping) or `timeoutMs` passed. A server
   * handles a stream's stanzas in order, so whatever it sent us in answer to
   * what we sent before (a bounce) has arrived by then.
   */
  async roundTrip(timeoutMs: number): Promise<void> {
    await this.iq(xml("iq", { type: "get", to: this.domain }, xml("ping", { xmlns: "urn:xmpp:ping" })), timeoutMs).catch(() => undefined);
  }

  async sendIqResult(request: Element): Promise<void> {
    await this.send(xml("iq", { type: "result", to: request.attrs.from, id: request.attrs.id }));
  }

  async sendIqError(request: Element, type: string, condition: string): Promise<void> {
    await this.send(
      xml(
        "iq",
        { type: "error", to: request.attrs.from, id: request.attrs.id },
        xml("error", { type }, xml(condition, { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })),
      ),
    );
  }

  /** Our presence (RFC 6121 §4.7.2: show, status); sent now when online, and at every login. */
  async setPresence(show: PresenceShow, status?: string): Promise<void> {
    this.#presence = { show, ...(status ? { status } : {}) };
    // Before the initial presence went out, #announce() sends this one.
    if (this.#state === "online" && this.#presenceSent) await this.#sendPresence();
  }

  get presence(): { show: PresenceShow; status?: string } {
    return this.#presence;
  }

  #presence: { show: PresenceShow; status?: string } = { show: "available" };
  /** The initial presence of this session went out (after carbons: #announce). */
  #presenceSent = false;

  async #sendPresence(): Promise<void> {
    const { show, status } = this.#presence;
    const presence = xml(
      "presence",
      {},
      ...(show !== "available" ? [xml("show", {}, show)] : []),
      ...(status ? [xml("status", {}, status)] : []),
      xml("priority", {}, String(this.#opts.priority)),
      xml("c", { xmlns: NS_CAPS, hash: "sha-1", node: CAPS_NODE, ver: this.#capsVer }),
    );
    await this.#client.send(presence).catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "presence"));
  }

  #discoInfo(request: Element): Element {
    const node = request.attrs.node;
    const query = xml("query", { xmlns: NS_DISCO_INFO, ...(node ? { node } : {}) });
    query.append(xml("identity", { category: IDENTITY.category, type: IDENTITY.type, name: IDENTITY.name }));
    for (const f of this.#opts.features) query.append(xml("feature", { var: f }));
    return query;
  }

  /** The system's CAs plus tls.caFile, or undefined (the system's alone). Read at each connection: a renewed file counts. */
  #ca(): string[] | undefined {
    return this.#opts.caFile ? [...tls.rootCertificates, readFileSync(this.#opts.caFile, "utf8")] : undefined;
  }

  async #startTls(entity: Client, next: () => Promise<unknown>): Promise<unknown> {
    const socket = entity.socket;
    if (!(socket instanceof net.Socket) || socket instanceof tls.TLSSocket) return next();
    const answer = await entity.sendReceive(xml("starttls", { xmlns: NS_TLS }));
    if (!answer.is("proceed", NS_TLS)) throw new AccountError("tls-failed", "server refused STARTTLS");
    const domain = entity.options.domain ?? "";
    const ca = this.#ca();
    const secure = new TlsSocket();
    await new Promise<void>((resolve, reject) => {
      secure.once("connect", () => resolve());
      secure.once("error", (err: Error) =>
        reject(new AccountError("tls-failed", `TLS with ${domain} failed: ${err.message}${this.#opts.caFile ? "" : " (set tls.caFile to trust a private CA)"}`)),
      );
      secure.connect({ socket, servername: domain, host: domain, ...(ca ? { ca } : {}), rejectUnauthorized: true });
    });
    entity._attachSocket(secure);
    await entity.restart();
    return undefined;
  }
}
