// The roster (RFC 6121) against a fake connection: load, push (and spoofed
// pushes), subscription requests, add/approve/remove stanzas.
import { test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import { TypedEmitter } from "../../src/util/events.js";
import { silentLogger } from "../../src/util/logger.js";
import { Roster, parseRosterItem, type RosterTransport } from "../../src/xmpp/roster.js";

class FakeXmpp extends TypedEmitter<{ state: [string, string?]; presence: [Element]; message: [Element] }> {
  jid: string | undefined = "alice@example.org/jingled";
  sent: Element[] = [];
  iqs: Element[] = [];
  results: Element[] = [];
  errors: string[] = [];
  handlers: { ns: string; name: string; fn: (iq: Element, child: Element) => unknown }[] = [];
  rosterResult: Element = xml("iq", { type: "result" }, xml("query", { xmlns: "jabber:iq:roster" }));
  async iq(stanza: Element): Promise<Element> {
    this.iqs.push(stanza);
    return stanza.attrs.type === "get" ? this.rosterResult : xml("iq", { type: "result" });
  }
  async send(stanza: Element): Promise<void> {
    this.sent.push(stanza);
  }
  async sendIqResult(req: Element): Promise<void> {
    this.results.push(req);
  }
  async sendIqError(_req: Element, _type: string, condition: string): Promise<void> {
    this.errors.push(condition);
  }
  onIqSet(ns: string, name: string, fn: (iq: Element, child: Element) => unknown): void {
    this.handlers.push({ ns, name, fn });
  }
  async push(iq: Element): Promise<void> {
    const child = iq.getChildElements()[0]!;
    await this.handlers.find((h) => child.is(h.name, h.ns))!.fn(iq, child);
  }
}

function setup(): { xmpp: FakeXmpp; roster: Roster } {
  const xmpp = new FakeXmpp();
  return { xmpp, roster: new Roster(xmpp as unknown as RosterTransport, silentLogger()) };
}

const item = (attrs: Record<string, string>, ...groups: string[]) => xml("item", attrs, ...groups.map((g) => xml("group", {}, g)));
const push = (from: string | undefined, it: Element) =>
  xml("iq", { type: "set", id: "p1", ...(from ? { from } : {}) }, xml("query", { xmlns: "jabber:iq:roster" }, it));

test("parseRosterItem: subscription, ask, groups, lower-cased bare JID; bad items skipped", () => {
  assert.deepEqual(parseRosterItem(item({ jid: "Bob@Example.org", name: "Bob", subscription: "both" }, "Friends")), {
    jid: "bob@example.org",
    name: "Bob",
    subscription: "both",
    groups: ["Friends"],
  });
  assert.deepEqual(parseRosterItem(item({ jid: "c@x", ask: "subscribe" })), { jid: "c@x", subscription: "none", pendingOut: true, groups: [] });
  assert.equal(parseRosterItem(item({ jid: "c@x", subscription: "remove" }))?.remove, true);
  assert.equal(parseRosterItem(item({ jid: "c@x/res" })), undefined);
  assert.equal(parseRosterItem(item({})), undefined);
});

test("load on online; has() by bare JID", async () => {
  const { xmpp, roster } = setup();
  xmpp.rosterResult = xml("iq", { type: "result" }, xml("query", { xmlns: "jabber:iq:roster" }, item({ jid: "bob@example.org", subscription: "to" })));
  xmpp.emit("state", "online");
  await new Promise((r) => setImmediate(r));
  assert.equal(roster.loaded, true);
  assert.equal(roster.has("bob@example.org/phone"), true);
  assert.equal(roster.has("BOB@example.org"), true);
  assert.equal(roster.has("carol@example.org"), false);
});

test("pushes from the server update the roster; a third party's push is refused", async () => {
  const { xmpp, roster } = setup();
  const changed: string[] = [];
  roster.on("changed", (i) => changed.push(`${i.jid} ${i.subscription}`));
  roster.on("removed", (j) => changed.push(`${j} removed`));
  await xmpp.push(push(undefined, item({ jid: "bob@example.org", subscription: "none", ask: "subscribe" })));
  await xmpp.push(push("alice@example.org", item({ jid: "bob@example.org", subscription: "to" })));
  await xmpp.push(push("mallory@evil.example/x", item({ jid: "mallory@evil.example", subscription: "both" })));
  assert.deepEqual(changed, ["bob@example.org none", "bob@example.org to"]);
  assert.equal(roster.has("mallory@evil.example"), false);
  assert.deepEqual(xmpp.errors, ["service-unavailable"]);
  assert.equal(xmpp.results.length, 2);
  await xmpp.push(push(undefined, item({ jid: "bob@example.org", subscription: "remove" })));
  assert.equal(roster.has("bob@example.org"), false);
  assert.equal(changed.at(-1), "bob@example.org removed");
});

test("subscription requests are listed once, and approve answers them", async () => {
  const { xmpp, roster } = setup();
  const requests: string[] = [];
  roster.on("request", (j) => requests.push(j));
  xmpp.emit("presence", xml("presence", { from: "Carol@example.org", type: "subscribe" }));
  xmpp.emit("presence", xml("presence", { from: "carol@example.org", type: "subscribe" }));
  xmpp.emit("presence", xml("presence", { from: "dave@example.org/x" }));
  assert.deepEqual(requests, ["carol@example.org"]);
  assert.deepEqual(roster.requests(), ["carol@example.org"]);
  await roster.approve("carol@example.org");
  assert.deepEqual(roster.requests(), []);
  assert.equal(xmpp.sent.at(-1)!.toString(), '<presence to="carol@example.org" type="subscribed"/>');
});

test("add sets the item then asks for presence; remove sends subscription=remove", async () => {
  const { xmpp, roster } = setup();
  await roster.add("bob@example.org", "Bob");
  assert.equal(xmpp.iqs[0]!.toString(), '<iq type="set"><query xmlns="jabber:iq:roster"><item jid="bob@example.org" name="Bob"/></query></iq>');
  assert.equal(xmpp.sent[0]!.toString(), '<presence to="bob@example.org" type="subscribe"/>');
  await roster.remove("bob@example.org");
  assert.equal(xmpp.iqs[1]!.toString(), '<iq type="set"><query xmlns="jabber:iq:roster"><item jid="bob@example.org" subscription="remove"/></query></iq>');
});
