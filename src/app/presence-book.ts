// Which full JIDs of a contact are available, from the presence we receive,
// so that a call to a bare JID goes to its best resource (highest priority).
import type { Element } from "ltx";

interface ResourceInfo {
  priority: number;
  since: number;
  /** XEP-0115 caps: node#ver identifies the feature set (disco#info once per ver). */
  caps?: { node: string; ver: string };
}

function bareOf(jid: string): string {
  const slash = jid.indexOf("/");
  return (slash < 0 ? jid : jid.slice(0, slash)).toLowerCase();
}

export class PresenceBook {
  readonly #byBare = new Map<string, Map<string, ResourceInfo>>();
  /** Bounds memory against presence floods from many JIDs. */
  readonly #maxContacts: number;

  constructor(maxContacts = 10_000) {
    this.#maxContacts = maxContacts;
  }

  update(stanza: Element): void {
    const from = stanza.attrs.from;
    if (!from || !from.includes("/")) return;
    const bare = bareOf(from);
    const type = stanza.attrs.type;
    if (type === "unavailable" || type === "error") {
      const res = this.#byBare.get(bare);
      res?.delete(from);
      if (res && res.size === 0) this.#byBare.delete(bare);
      return;
    }
    if (type) return; // subscribe, probe, ...
    let res = this.#byBare.get(bare);
    if (!res) {
      if (this.#byBare.size >= this.#maxContacts) return;
      res = new Map();
      this.#byBare.set(bare, res);
    }
    const p = Number.parseInt(stanza.getChildText("priority") ?? "0", 10);
    const c = stanza.getChild("c", "http://jabber.org/protocol/caps");
    const info: ResourceInfo = { priority: Number.isFinite(p) ? p : 0, since: Date.now() };
    if (c?.attrs.node && c.attrs.ver && c.attrs.node.length < 512 && c.attrs.ver.length < 128) info.caps = { node: c.attrs.node, ver: c.attrs.ver };
    res.set(from, info);
  }

  /** The available full JIDs of a bare JID, best (highest priority, most recent) first, with their caps. */
  resources(bare: string): { jid: string; caps?: { node: string; ver: string } }[] {
    const res = this.#byBare.get(bareOf(bare));
    if (!res) return [];
    return [...res]
      .sort((a, b) => b[1].priority - a[1].priority || b[1].since - a[1].since)
      .map(([jid, i]) => (i.caps ? { jid, caps: i.caps } : { jid }));
  }

  /** The available full JID with the highest priority (most recent on a tie). */
  best(bare: string): string | undefined {
    const res = this.#byBare.get(bareOf(bare));
    if (!res) return undefined;
    let best: [string, ResourceInfo] | undefined;
    for (const e of res) {
      if (!best || e[1].priority > best[1].priority || (e[1].priority === best[1].priority && e[1].since > best[1].since)) best = e;
    }
    return best?.[0];
  }
}
