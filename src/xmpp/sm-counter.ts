// The XEP-0198 inbound stanza counter ('h'), kept by us instead of by
// @xmpp/stream-management 0.14, whose own counter is wrong in two ways:
//
// 1. It counts in a middleware, so it sees only what earlier middleware
//    passes on. @xmpp/iq's caller sits earlier (resource binding needs it
//    before stream management is set up) and swallows the results of our own
//    requests: every iq result the server sent went uncounted. Prosody then
//    keeps those stanzas queued as unacknowledged for ever (a long-running
//    daemon fills the queue) and replays them when the stream is resumed.
// 2. It resets the counter to zero when its enable promise settles: a
//    microtask after <enabled/> was parsed. Stanzas and an <r/> that arrive
//    in the same TCP read as <enabled/> are handled before that, so the
//    <a h/> it sends carries the count from before stream management was
//    enabled, and Prosody closes the stream: "Client acknowledged more
//    stanzas than sent by server". The same happens after a failed
//    resumption, where the old stream's count is still there.
//
// Our counter runs before the iq caller, restarts synchronously on
// <enabled/> (XEP-0198 §4: "set to zero and started after receiving ...
// <enabled/>"), is kept across a disconnect for <resume h/>, and wraps at
// 2^32 (§4). The library's own writes to `inbound` are ignored.

export const NS_SM = "urn:xmpp:sm:3";

const H_MODULO = 2 ** 32;

interface IncomingMiddleware {
  use(fn: (ctx: { stanza: { name: string; is(name: string, ns?: string): boolean } }, next: () => Promise<unknown>) => unknown): unknown;
}

interface OfflineEmitter {
  on(event: "offline", listener: () => void): unknown;
}

export interface InboundCounter {
  /** Stanzas handled since <enabled/> (mod 2^32). */
  readonly value: number;
  /** Makes `sm.inbound` read our count; the library's writes are ignored. */
  attach(sm: object): void;
}

/**
 * Registers the counting middleware. Call it before anything that may
 * swallow stanzas (the iq caller) is registered on the same middleware.
 */
export function inboundCounter(middleware: IncomingMiddleware, entity: OfflineEmitter): InboundCounter {
  let h = 0;
  middleware.use((ctx, next) => {
    const { stanza } = ctx;
    if (stanza.name === "iq" || stanza.name === "message" || stanza.name === "presence") h = (h + 1) % H_MODULO;
    else if (stanza.is("enabled", NS_SM)) h = 0;
    return next();
  });
  // A stream that ended for good (no resumption possible): start afresh.
  entity.on("offline", () => {
    h = 0;
  });
  return {
    get value() {
      return h;
    },
    attach(sm: object) {
      Object.defineProperty(sm, "inbound", {
        configurable: true,
        enumerable: true,
        get: () => h,
        set: () => undefined,
      });
    },
  };
}
