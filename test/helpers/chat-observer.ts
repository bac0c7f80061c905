// An XMPP account that reads its chat messages, for tests of what jingled
// sends in chat (voicemail, the echo report): the project's own client
// stack (src/xmpp/connection.ts) on a real server. Messages with a body are
// kept with their XEP-0066 out-of-band URL, if any.
import type { Element } from "ltx";
import { silentLogger } from "../../src/util/logger.js";
import { XmppConnection } from "../../src/xmpp/connection.js";

export interface ChatMessage {
  from: string;
  body: string;
  /** <x xmlns="jabber:x:oob"><url> */
  oobUrl?: string;
}

export interface ChatObserver {
  readonly messages: ChatMessage[];
  /** Resolves with the first message (seen so far or later) that `pred` accepts. */
  waitFor(pred: (m: ChatMessage) => boolean, timeoutMs: number, what: string): Promise<ChatMessage>;
  stop(): Promise<void>;
}

export async function observeChat(o: { jid: string; password: string; resource?: string; port: number; caFile: string; priority?: number }): Promise<ChatObserver> {
  const conn = new XmppConnection({
    jid: o.jid,
    password: o.password,
    resource: o.resource ?? "observer",
    service: `xmpp://127.0.0.1:${o.port}`,
    allowPlaintext: false,
    caFile: o.caFile,
    priority: o.priority ?? 0,
    features: [],
    logger: silentLogger(),
  });
  const messages: ChatMessage[] = [];
  const waiters = new Set<() => void>();
  conn.on("message", (m: Element) => {
    const body = m.getChildText("body");
    if (body === null || body === undefined) return;
    const url = m.getChild("x", "jabber:x:oob")?.getChildText("url") ?? undefined;
    messages.push({ from: m.attrs.from ?? "", body, ...(url ? { oobUrl: url } : {}) });
    for (const w of waiters) w();
  });
  await conn.start();
  const deadline = Date.now() + 15_000;
  while (conn.state !== "online") {
    if (Date.now() > deadline) throw new Error(`observeChat: ${o.jid} not online`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    messages,
    waitFor(pred, timeoutMs, what) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = messages.find(pred);
          if (!m) return;
          waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`no chat message within ${timeoutMs} ms: ${what}; got ${JSON.stringify(messages)}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    stop: () => conn.stop(),
  };
}
