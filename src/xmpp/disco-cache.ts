// What another device can do (XEP-0030 disco#info), asked once per XEP-0115
// caps ver: a device's presence names its feature set by a hash (node#ver),
// and the answer is cached under it only when it hashes to that ver (§5.4:
// caps.ts), so a contact cannot announce another client's ver with features
// of its choosing. A device that does not answer has no features.
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import { NS_DISCO_INFO, capsVerificationOf } from "./caps.js";
import type { Caps } from "./presence-book.js";

/** Feature sets kept at most. */
const MAX_CACHED = 1000;
/** Features read from one answer at most. */
const MAX_FEATURES = 500;
const QUERY_TIMEOUT_MS = 3000;

export class DiscoCache {
  readonly #iq: (request: Element, timeoutMs: number) => Promise<Element>;
  readonly #byVer = new Map<string, Set<string>>();

  /** `iq`: sends a request and resolves with its result (rejects on an error or no answer). */
  constructor(iq: (request: Element, timeoutMs: number) => Promise<Element>) {
    this.#iq = iq;
  }

  /** The features of the device `jid`, whose presence carried `caps`; undefined if it does not answer. */
  async featuresOf(jid: string, caps?: Caps): Promise<Set<string> | undefined> {
    const key = caps ? `${caps.node}#${caps.ver}` : undefined;
    if (key && this.#byVer.has(key)) return this.#byVer.get(key);
    try {
      const reply = await this.#iq(xml("iq", { type: "get", to: jid }, xml("query", { xmlns: NS_DISCO_INFO, ...(key ? { node: key } : {}) })), QUERY_TIMEOUT_MS);
      const query = reply.getChild("query", NS_DISCO_INFO);
      const set = new Set((query?.getChildren("feature") ?? []).slice(0, MAX_FEATURES).map((f) => f.attrs.var ?? ""));
      // XEP-0115 §5.4: a ver is cached only for the feature set it is the hash of.
      const verified = caps?.hash === "sha-1" && query !== undefined && capsVerificationOf(query) === caps.ver;
      if (key && verified && this.#byVer.size < MAX_CACHED) this.#byVer.set(key, set);
      return set;
    } catch {
      return undefined;
    }
  }
}
