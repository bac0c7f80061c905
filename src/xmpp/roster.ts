// The account's roster and presence subscriptions, RFC 6121
// (https://www.rfc-editor.org/rfc/rfc6121): §2 roster get, set and push,
// §3 subscription requests and approvals. Kept in memory, reloaded each time
// the account comes online; the call policy asks it who is a contact.
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import { TypedEmitter } from "../util/events.js";
import { errorMessage } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import type { XmppConnection } from "./connection.js";
import { bareKey } from "../util/jid.js";
import { Subscription, type RosterItem } from "../util/vocabulary.js";

export const NS_ROSTER = "jabber:iq:roster";

const SUBSCRIPTIONS: readonly string[] = Object.values(Subscription);

export type { RosterItem } from "../util/vocabulary.js";

export type RosterEvents = {
  /** A contact's item was added or changed (roster push). */
  changed: [item: RosterItem];
  removed: [jid: string];
  /** `jid` asks to see our presence (§3.1.3). */
  request: [jid: string];
};

/** The few connection features the roster needs; XmppConnection has them. */
export type RosterTransport = Pick<XmppConnection, "iq" | "send" | "sendIqResult" | "sendIqError" | "onIqSet" | "on" | "jid">;

/** One <item/> of a roster result or push; undefined when it has no usable jid. */
export function parseRosterItem(el: Element): (RosterItem & { remove?: true }) | undefined {
  const jid = el.attrs.jid;
  if (typeof jid !== "string" || !jid.includes("@") || jid.includes("/")) return undefined;
  const sub = el.attrs.subscription;
  const item: RosterItem & { remove?: true } = {
    jid: jid.toLowerCase(),
    subscription: SUBSCRIPTIONS.includes(sub) ? (sub as Subscription) : "none",
    groups: el.getChildren("group").map((g) => g.getText()).filter((g) => g !== ""),
  };
  if (typeof el.attrs.name === "string" && el.attrs.name !== "") item.name = el.attrs.name;
  if (el.attrs.ask === "subscribe") item.pendingOut = true;
  if (sub === "remove") item.remove = true;
  return item;
}

export class Roster extends TypedEmitter<RosterEvents> {
  readonly #xmpp: RosterTransport;
  readonly #log: Logger;
  readonly #items = new Map<string, RosterItem>();
  /** Inbound subscription requests not answered yet (bounded against floods). */
  readonly #requests = new Set<string>();
  #loaded = false;

  constructor(xmpp: RosterTransport, logger: Logger) {
    super();
    this.#xmpp = xmpp;
    this.#log = logger.child({ module: "roster" });
    xmpp.onIqSet(NS_ROSTER, "query", (iq, query) => this.#onPush(iq, query));
    xmpp.on("presence", (p) => this.#onPresence(p));
    xmpp.on("state", (state) => {
      if (state === "online") void this.load().catch((err: unknown) => this.#log.warn({ err: errorMessage(err) }, "roster not loaded"));
    });
  }

  get loaded(): boolean {
    return this.#loaded;
  }

  /** §2.1.3: fetches the whole roster, replacing what we had. */
  async load(): Promise<void> {
    const result = await this.#xmpp.iq(xml("iq", { type: "get" }, xml("query", { xmlns: NS_ROSTER })));
    const query = result.getChild("query", NS_ROSTER);
    this.#items.clear();
    for (const el of query?.getChildren("item") ?? []) {
      const item = parseRosterItem(el);
      if (item && !item.remove) this.#items.set(item.jid, item);
    }
    this.#loaded = true;
    this.#log.info({ contacts: this.#items.size }, "roster loaded");
  }

  items(): RosterItem[] {
    return [...this.#items.values()].sort((a, b) => a.jid.localeCompare(b.jid));
  }

  /** Bare JIDs that asked to see our presence. */
  requests(): string[] {
    return [...this.#requests].sort();
  }

  /** Whether the bare JID of `jid` is in the roster (any subscription: someone put it there). */
  has(jid: string): boolean {
    return this.#items.has(bareKey(jid));
  }

  /** §2.3 add (or rename) the item, then §3.1.1 ask for the contact's presence. */
  async add(jid: string, name?: string): Promise<void> {
    const b = bareKey(jid);
    await this.#xmpp.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: b, ...(name ? { name } : {}) }))));
    await this.#xmpp.send(xml("presence", { to: b, type: "subscribe" }));
  }

  /** §3.1.5: lets `jid` see our presence (answers its request, or pre-approves it). */
  async approve(jid: string): Promise<void> {
    const b = bareKey(jid);
    await this.#xmpp.send(xml("presence", { to: b, type: "subscribed" }));
    this.#requests.delete(b);
  }

  /** §2.5: removes the item; the server cancels both subscriptions. */
  async remove(jid: string): Promise<void> {
    const b = bareKey(jid);
    await this.#xmpp.iq(xml("iq", { type: "set" }, xml("query", { xmlns: NS_ROSTER }, xml("item", { jid: b, subscription: "remove" }))));
    this.#requests.delete(b);
  }

  async #onPush(iq: Element, query: Element): Promise<void> {
    // §2.1.6: a push not from our own account (or the server on its behalf) is a spoof.
    const from = iq.attrs.from;
    const own = this.#xmpp.jid ? bareKey(this.#xmpp.jid) : undefined;
    if (from !== undefined && from !== "" && bareKey(from) !== own) {
      this.#log.warn({ from }, "roster push from a third party ignored");
      await this.#xmpp.sendIqError(iq, "cancel", "service-unavailable");
      return;
    }
    await this.#xmpp.sendIqResult(iq);
    const el = query.getChild("item");
    const item = el && parseRosterItem(el);
    if (!item) return;
    if (item.remove) {
      this.#items.delete(item.jid);
      this.emit("removed", item.jid);
      return;
    }
    const { remove: _remove, ...clean } = item;
    this.#items.set(clean.jid, clean);
    // Both sides see each other's presence now: nothing left to approve.
    if (clean.subscription === "from" || clean.subscription === "both") this.#requests.delete(clean.jid);
    this.emit("changed", clean);
  }

  #onPresence(p: Element): void {
    const from = p.attrs.from;
    if (p.attrs.type !== "subscribe" || typeof from !== "string") return;
    const b = bareKey(from);
    const item = this.#items.get(b);
    if (item && (item.subscription === "from" || item.subscription === "both")) return; // already approved
    if (this.#requests.has(b)) return;
    if (this.#requests.size >= 1000) return;
    this.#requests.add(b);
    this.#log.info({ from: b }, "subscription request");
    this.emit("request", b);
  }
}
