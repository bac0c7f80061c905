// The iq caller (src/xmpp/iq-caller.ts) over the real @xmpp/middleware and
// @xmpp/iq caller, on a stand-in entity: replies are taken only from whom we
// asked, and ids cannot be predicted. (Spoofed replies through a real Prosody:
// test/integration/xmpp-connection.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { parse, type Element } from "ltx";
import { xml } from "@xmpp/xml";
import _middleware from "@xmpp/middleware";
import { createIqCaller, isReplyFrom } from "../../src/xmpp/iq-caller.js";
import { silentLogger } from "../../src/util/logger.js";

const OWN = { full: "alice@example.org/phone", bare: "alice@example.org", domain: "example.org" };

function rig() {
  const entity = Object.assign(new EventEmitter(), {
    jid: null,
    options: { domain: "example.org" },
    sent: [] as Element[],
    async send(el: Element) {
      entity.sent.push(el);
    },
  });
  const middleware = _middleware({ entity });
  const caller = createIqCaller({ entity, middleware, own: () => OWN, logger: silentLogger() });
  const reply = (text: string) => entity.emit("element", parse(text));
  return { entity, caller, reply };
}

const settled = async (p: Promise<unknown>): Promise<string> =>
  Promise.race([p.then((el) => `resolved from ${(el as Element).attrs.from ?? "(none)"}`, (err: Error) => `rejected ${err.message}`), new Promise<string>((r) => setTimeout(() => r("pending"), 50))]);

test("a reply with the right id from someone we did not ask is dropped; the real one counts", async () => {
  const { entity, caller, reply } = rig();
  const p = caller.request(xml("iq", { type: "get", to: "bob@example.org/desk" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })), 2000);
  const id = entity.sent[0]!.attrs.id!;
  reply(`<iq type="result" id="${id}" from="mallory@evil.example/x"/>`);
  reply(`<iq type="error" id="${id}" from="bob@example.org/other"><error type="cancel"><item-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`);
  reply(`<iq type="result" id="${id}"/>`); // no from: our server speaking, but we asked bob
  assert.equal(await settled(p), "pending");
  reply(`<iq type="result" id="${id}" from="BOB@Example.org/desk"/>`);
  assert.equal(await settled(p), "resolved from BOB@Example.org/desk");
});

test("a request without 'to' is answered by our server only: no from, our bare JID or our domain", async () => {
  for (const [from, taken] of [
    [undefined, true],
    ["alice@example.org", true],
    ["example.org", true],
    ["alice@example.org/phone", true],
    ["mallory@example.org/x", false],
    ["alice@evil.example", false],
    ["evil.example", false],
  ] as const) {
    const { entity, caller, reply } = rig();
    const p = caller.request(xml("iq", { type: "get" }, xml("query", { xmlns: "jabber:iq:roster" })), 2000);
    const id = entity.sent[0]!.attrs.id!;
    reply(`<iq type="result" id="${id}"${from ? ` from="${from}"` : ""}/>`);
    assert.equal(await settled(p), taken ? `resolved from ${from ?? "(none)"}` : "pending", `reply from ${from}`);
    p.catch(() => undefined);
  }
});

test("isReplyFrom: a table", () => {
  const cases: [string | undefined, string | undefined, boolean][] = [
    ["bob@x/r", "bob@x/r", true],
    ["bob@x/r", "Bob@X/r", true],
    ["bob@x/r", "bob@x/R", false],
    ["bob@x/r", "bob@x", false],
    ["bob@x", "bob@x", true],
    ["bob@x", "bob@x/r", false],
    ["x", "x", true],
    ["x", undefined, false],
    ["alice@example.org", undefined, true],
    ["alice@example.org", "example.org", true],
    [undefined, "bob@x", false],
  ];
  for (const [to, from, ok] of cases) assert.equal(isReplyFrom(to, from, OWN), ok, `to ${to}, from ${from}`);
});

test("ids are unpredictable: fresh from the CSPRNG, whatever Math.random says or the caller set", async () => {
  const { entity, caller } = rig();
  const random = Math.random;
  Math.random = () => 0.5;
  try {
    for (let i = 0; i < 20; i++) void caller.request(xml("iq", { type: "get", id: "chosen" }, xml("ping", { xmlns: "urn:xmpp:ping" })), 10).catch(() => undefined);
  } finally {
    Math.random = random;
  }
  const ids = entity.sent.map((s) => s.attrs.id!);
  assert.equal(new Set(ids).size, 20, `distinct: ${ids.join(" ")}`);
  for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{22}$/, "128 bits, base64url");
});
