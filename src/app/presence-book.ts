// Which full JIDs of a contact are available, from the presence we receive,
// so that a call to a bare JID goes to its best resource (highest priority).
import type { Element } from "ltx";

interface ResourceInfo {
  priority: number;
  since: number;
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
    res.set(from, { priority: Number.isFinite(p) ? p : 0, since: Date.now() });
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
