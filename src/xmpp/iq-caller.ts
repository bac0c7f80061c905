// IQ requests (RFC 6120 §8.2.3) through @xmpp/iq 0.14's caller: our one
// wrapper around it, with its flaws removed.
//
// 1. It takes the first result or error with the request's id as the answer,
//    whoever sent it (caller.js _route matches on id alone), and its ids come
//    from Math.random (@xmpp/id). Whoever learns or guesses an id can answer
//    in place of the entity we asked: a disco#info reply, a session-accept's
//    acknowledgement, our roster. Here every request gets a 128-bit id from
//    the CSPRNG, and a reply counts only when it comes from the JID we asked
//    — for a request without 'to', from our server: no 'from', our bare JID
//    or our domain (RFC 6120 §8.1.2.1, §10.3.3). Anything else is dropped.
// 2. request() rejects its pending promise when the error reply arrives but
//    handles that promise only once send() has resolved: a reply that comes
//    first (a stalled socket, a server that wakes up) was an unhandled
//    rejection.
// 3. Its timeout error has no message ("" in every log line).
import { randomBytes } from "node:crypto";
import _iqCaller from "@xmpp/iq/caller.js";
import type { Element } from "ltx";
import type { Logger } from "../util/logger.js";
import { sameAddress } from "../util/jid.js";

/** What request() needs of @xmpp/iq's caller (also a stand-in's, in tests). */
export interface LibraryIqCaller {
  request(stanza: Element, timeoutMs?: number): Promise<Element>;
}

type Handlers = Map<string, { promise?: Promise<unknown>; reject(err: Error): void }>;

function handlersOf(caller: LibraryIqCaller): Handlers | undefined {
  return (caller as { handlers?: Handlers }).handlers;
}

/** @xmpp/iq's request() without flaws 2 and 3. */
export async function requestIq(caller: LibraryIqCaller, stanza: Element, timeoutMs: number): Promise<Element> {
  const pending = caller.request(stanza, timeoutMs);
  // request() registered its deferred under the stanza's id before its first await.
  handlersOf(caller)?.get(stanza.attrs.id ?? "")?.promise?.catch(() => undefined);
  try {
    return await pending;
  } catch (err) {
    if ((err as Error)?.name === "TimeoutError") throw new Error(`no answer within ${timeoutMs} ms`);
    throw err;
  }
}

/** A stanza id nobody can predict (128 bits from the CSPRNG). */
export function unpredictableId(): string {
  return randomBytes(16).toString("base64url");
}

/** Our own addresses now: full JID (once bound), bare JID and domain. */
export interface OwnAddresses {
  full?: string;
  bare: string;
  domain: string;
}

/**
 * Whether a reply from `from` answers a request sent to `to` (RFC 6120
 * §8.1.2.1: a request without 'to' is handled by our server on behalf of our
 * account; so is one to our bare JID).
 */
export function isReplyFrom(to: string | undefined, from: string | undefined, own: OwnAddresses): boolean {
  if (to === undefined || to === "" || sameAddress(to, own.bare)) {
    return from === undefined || from === "" || [own.bare, own.domain, own.full].some((j) => j !== undefined && sameAddress(from, j));
  }
  return sameAddress(from, to);
}

export interface IqCaller {
  /** Sends an iq get/set with a fresh id; the result, or the stanza error, from the entity asked. */
  request(stanza: Element, timeoutMs: number): Promise<Element>;
  /** Fails a pending request at once (its stanza was lost with the stream); false if there is none. */
  fail(id: string, err: Error): boolean;
  /** The library's caller, as @xmpp/resource-binding wants it (its requests go through the same checks). */
  readonly library: unknown;
}

interface Middleware {
  use(fn: (ctx: { stanza: Element }, next: () => Promise<unknown>) => unknown): unknown;
}

export function createIqCaller(deps: { entity: unknown; middleware: Middleware; own: () => OwnAddresses; logger: Logger }): IqCaller {
  /** Whom each pending request went to, by id. */
  const askedOf = new Map<string, string | undefined>();
  // Before the library's router (registered by _iqCaller below): a reply from anyone else never reaches it.
  deps.middleware.use((ctx, next) => {
    const { stanza } = ctx;
    const { type, id, from } = stanza.attrs as { type?: string; id?: string; from?: string };
    if (stanza.name !== "iq" || (type !== "result" && type !== "error") || id === undefined || !askedOf.has(id)) return next();
    if (isReplyFrom(askedOf.get(id), from, deps.own())) return next();
    deps.logger.warn({ id, from, asked: askedOf.get(id) ?? "(our server)" }, "iq reply from someone we did not ask dropped");
    return undefined;
  });
  const library = _iqCaller({ middleware: deps.middleware, entity: deps.entity }) as LibraryIqCaller;
  const libraryRequest = library.request.bind(library);
  // resource-binding calls library.set() -> this.request(): the same path.
  library.request = (stanza: Element, timeoutMs?: number) => {
    const id = unpredictableId();
    stanza.attrs.id = id;
    askedOf.set(id, stanza.attrs.to);
    const p = libraryRequest(stanza, timeoutMs);
    p.then(
      () => askedOf.delete(id),
      () => askedOf.delete(id),
    );
    return p;
  };
  return {
    request: (stanza, timeoutMs) => requestIq(library, stanza, timeoutMs),
    fail(id, err) {
      const handlers = handlersOf(library);
      const pending = handlers?.get(id);
      if (!pending) return false;
      pending.reject(err);
      handlers!.delete(id);
      askedOf.delete(id);
      return true;
    },
    library,
  };
}
