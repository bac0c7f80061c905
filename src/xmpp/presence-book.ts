// Which full JIDs of a contact are available, from the presence we receive,
// so that a call to a bare JID goes to its best resource (highest priority).
//
// Anyone can send us presence (directed presence, RFC 6121 §4.6), and a
// server can claim any number of resources for its users: only the JIDs the
// app cares about are kept (`keep`: roster contacts, our own account, peers
// of live calls), each with a bounded number of resources, so memory does
// not grow with what strangers send.
import type { Element } from "ltx";
import { bareKey } from "../util/jid.js";

export interface Caps {
  node: string;
  ver: string;
  /** XEP-0115 §4 hash function ("sha-1" is the only one we can verify). */
  hash: string;
}

interface ResourceInfo {
  priority: number;
  since: number;
  /** XEP-0115 caps: node#ver identifies the feature set (disco#info once per ver). */
  caps?: Caps;
}

export interface PresenceBookOptions {
  /** Whether presence from this bare JID (lower-cased) is worth keeping. */
  keep: (bare: string) => boolean;
  /** Bare JIDs kept at most (a large roster still fits). */
  maxContacts?: number;
  /** Resources kept per bare JID; a new one replaces the least recently seen. */
  maxResources?: number;
}

export const PRESENCE_LIMITS = { maxContacts: 10_000, maxResources: 16 } as const;

export class PresenceBook {
  readonly #byBare = new Map<string, Map<string, ResourceInfo>>();
  readonly #keep: (bare: string) => boolean;
  readonly #maxContacts: number;
  readonly #maxResources: number;

  constructor(opts: PresenceBookOptions) {
    this.#keep = opts.keep;
    this.#maxContacts = opts.maxContacts ?? PRESENCE_LIMITS.maxContacts;
    this.#maxResources = opts.maxResources ?? PRESENCE_LIMITS.maxResources;
  }

  update(stanza: Element): void {
    const from = stanza.attrs.from;
    if (!from || !from.includes("/")) return;
    const bare = bareKey(from);
    const type = stanza.attrs.type;
    if (type === "unavailable" || type === "error") {
      const res = this.#byBare.get(bare);
      res?.delete(from);
      if (res && res.size === 0) this.#byBare.delete(bare);
      return;
    }
    if (type) return; // subscribe, probe, ...
    if (!this.#keep(bare)) return;
    let res = this.#byBare.get(bare);
    if (!res) {
      if (this.#byBare.size >= this.#maxContacts) return;
      res = new Map();
      this.#byBare.set(bare, res);
    }
    // Map order is recency (every update re-inserts): the first is the least recently seen.
    if (!res.has(from) && res.size >= this.#maxResources) res.delete(res.keys().next().value!);
    const p = Number.parseInt(stanza.getChildText("priority") ?? "0", 10);
    const c = stanza.getChild("c", "http://jabber.org/protocol/caps");
    const info: ResourceInfo = { priority: Number.isFinite(p) ? p : 0, since: Date.now() };
    const { node, ver, hash } = (c?.attrs ?? {}) as Record<string, string | undefined>;
    if (node && ver && node.length < 512 && ver.length < 128) info.caps = { node, ver, hash: (hash ?? "").slice(0, 32) };
    res.delete(from);
    res.set(from, info);
  }

  /** Forgets every bare JID `keep` no longer wants (a contact removed, a stranger's call over). */
  prune(): void {
    for (const bare of this.#byBare.keys()) if (!this.#keep(bare)) this.#byBare.delete(bare);
  }

  /** Bare JIDs and resources held (for tests and diagnostics). */
  get size(): { contacts: number; resources: number } {
    let resources = 0;
    for (const r of this.#byBare.values()) resources += r.size;
    return { contacts: this.#byBare.size, resources };
  }

  /** The available full JIDs of a bare JID, best (highest priority, most recent) first, with their caps. */
  resources(bare: string): { jid: string; caps?: Caps }[] {
    const res = this.#byBare.get(bareKey(bare));
    if (!res) return [];
    return [...res]
      .sort((a, b) => b[1].priority - a[1].priority || b[1].since - a[1].since)
      .map(([jid, i]) => (i.caps ? { jid, caps: i.caps } : { jid }));
  }

  /** The available full JID with the highest priority (most recent on a tie). */
  best(bare: string): string | undefined {
    return this.resources(bare)[0]?.jid;
  }
}
