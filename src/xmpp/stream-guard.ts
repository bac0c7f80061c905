// Who may talk on the stream before it is secured and authenticated (RFC 6120
// §5 STARTTLS, §6 SASL, §4.3 stream negotiation). One rule, checked where
// every element enters and leaves, on every connection (first or reconnect):
//
//   unprotected    only the stream header and <starttls/> leave; the server's
//                  features must offer STARTTLS (unless plaintext is allowed).
//   protected      TLS is up, or plaintext was explicitly allowed: SASL
//                  elements leave as well; the features must offer SASL.
//   authenticated  SASL succeeded and the server proved itself where the
//                  mechanism can (sasl.ts): everything may flow.
//
// No stanza (iq, message, presence) goes either way before "authenticated":
// a server or a man in the middle that skips STARTTLS or SASL and offers
// <bind/> at once gets nothing, and we never come online through it.
import type { Element } from "ltx";
import { AccountError } from "../util/errors.js";

export const NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls";
export const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const NS_STREAMS = "http://etherx.jabber.org/streams";

export const STREAM_PHASES = {
  unprotected: "unprotected",
  protected: "protected",
  authenticated: "authenticated",
} as const;
export type StreamPhase = (typeof STREAM_PHASES)[keyof typeof STREAM_PHASES];

/**
 * Where the stream stands. The one place that decides whether the stream
 * counts as protected: TLS on the socket (STARTTLS today, Direct TLS
 * likewise), or plaintext explicitly allowed by the configuration.
 */
export function streamPhase(s: { secure: boolean; allowPlaintext: boolean; authenticated: boolean }): StreamPhase {
  if (!s.secure && !s.allowPlaintext) return "unprotected";
  return s.authenticated ? "authenticated" : "protected";
}

function isStanza(el: Element): boolean {
  return el.name === "iq" || el.name === "message" || el.name === "presence";
}

/** Whether `el` may be written to the stream in `phase`. The header and the closing tag are not elements and always may. */
export function mayLeave(el: Element, phase: StreamPhase): boolean {
  if (phase === "authenticated") return true;
  if (el.name === "stream:error") return true; // telling the peer why we close is harmless
  if (el.is("starttls", NS_TLS)) return true;
  // RFC 6120 §6.4.2-§6.4.5: auth, response, abort.
  return phase === "protected" && ["auth", "response", "abort"].some((name) => el.is(name, NS_SASL));
}

/** Whether a received top-level element may reach the rest of the pipeline in `phase`. */
export function mayEnter(el: Element, phase: StreamPhase): boolean {
  if (phase === "authenticated") return true;
  if (isStanza(el)) return false;
  if (el.is("features", NS_STREAMS) || el.is("error", NS_STREAMS)) return true;
  if (el.is("proceed", NS_TLS) || el.is("failure", NS_TLS)) return true;
  return phase === "protected" && ["challenge", "success", "failure"].some((name) => el.is(name, NS_SASL));
}

/**
 * What the stream features (RFC 6120 §4.3.2) must offer in `phase` for
 * negotiation to go on; an AccountError says why not. Once authenticated,
 * any features (stream management, binding) are fine.
 */
export function checkFeatures(features: Element, phase: StreamPhase, service: string): AccountError | undefined {
  if (phase === "unprotected" && !features.getChild("starttls", NS_TLS)) {
    return new AccountError(
      "tls-required",
      `server ${service} offered no STARTTLS; refusing to go on in plaintext (set tls.allowPlaintext to allow it)`,
    );
  }
  if (phase === "protected" && !features.getChild("mechanisms", NS_SASL)) {
    return new AccountError("auth-required", `server ${service} offered no SASL authentication; refusing to go on unauthenticated`);
  }
  return undefined;
}

/** The part of @xmpp's client the guard wraps. */
export interface GuardedEntity {
  isSecure(): boolean;
  send(el: Element): Promise<void>;
  sendMany?(els: Element[]): Promise<void>;
  on(event: "connect" | "disconnect", listener: () => void): unknown;
}

interface IncomingMiddleware {
  use(fn: (ctx: { stanza: Element }, next: () => Promise<unknown>) => unknown): unknown;
}

export interface StreamGuard {
  readonly phase: StreamPhase;
  /** SASL completed (and the server proved itself where the mechanism can): stanzas may flow on this connection. */
  authenticated(): void;
}

/**
 * Puts the rule on `entity`: its send()/sendMany() refuse what may not leave,
 * and a middleware — installed before any stream feature handler — drops
 * what may not enter and refuses features that would skip a step. Every new
 * TCP connection starts unauthenticated again.
 */
export function guardStream(deps: {
  entity: GuardedEntity;
  middleware: IncomingMiddleware;
  allowPlaintext: boolean;
  /** The server, for messages (a function: it is known only once connected). */
  service: string | (() => string);
  /** An element dropped before authentication (logged by the caller). */
  onDropped?: (el: Element, phase: StreamPhase) => void;
}): StreamGuard {
  const { entity, middleware, allowPlaintext, service } = deps;
  let authenticated = false;
  const phase = (): StreamPhase => streamPhase({ secure: entity.isSecure(), allowPlaintext, authenticated });
  entity.on("connect", () => void (authenticated = false));
  entity.on("disconnect", () => void (authenticated = false));

  const refused = (el: Element, p: StreamPhase): Error =>
    new AccountError("stream-not-ready", `not sending <${el.name}/>: the stream to the server is not ${p === "unprotected" ? "encrypted" : "authenticated"} (yet)`);
  const send = entity.send.bind(entity);
  entity.send = async (el: Element) => {
    const p = phase();
    if (!mayLeave(el, p)) throw refused(el, p);
    return send(el);
  };
  const sendMany = entity.sendMany?.bind(entity);
  if (sendMany) {
    entity.sendMany = async (els: Element[]) => {
      const p = phase();
      const bad = els.find((el) => !mayLeave(el, p));
      if (bad) throw refused(bad, p);
      return sendMany(els);
    };
  }

  middleware.use((ctx, next) => {
    const p = phase();
    if (!mayEnter(ctx.stanza, p)) {
      deps.onDropped?.(ctx.stanza, p);
      return undefined;
    }
    if (ctx.stanza.is("features", NS_STREAMS)) {
      const err = checkFeatures(ctx.stanza, p, typeof service === "function" ? service() : service);
      if (err) throw err;
    }
    return next();
  });

  return {
    get phase() {
      return phase();
    },
    authenticated() {
      authenticated = true;
    },
  };
}
