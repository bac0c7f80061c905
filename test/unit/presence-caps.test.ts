// The presence book keeps only what the app cares about, bounded per bare
// JID; XEP-0115 verification strings are computed as the XEP's examples say,
// so a disco#info result is cached under a ver only when it hashes to it.
// (A presence flood through a real Prosody: test/integration/presence-flood.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "ltx";
import { PresenceBook, PRESENCE_LIMITS } from "../../src/xmpp/presence-book.js";
import { capsVerification, capsVerificationOf } from "../../src/xmpp/caps.js";
import { DiscoCache } from "../../src/xmpp/disco-cache.js";

const presence = (from: string, o: { type?: string; priority?: number; ver?: string } = {}) =>
  parse(
    `<presence from="${from}"${o.type ? ` type="${o.type}"` : ""}>${o.priority !== undefined ? `<priority>${o.priority}</priority>` : ""}` +
      `${o.ver ? `<c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="n" ver="${o.ver}"/>` : ""}</presence>`,
  );

test("presence from JIDs the app does not keep (strangers) is not stored", () => {
  const contacts = new Set(["bob@example.org"]);
  const book = new PresenceBook({ keep: (bare) => contacts.has(bare) });
  for (let i = 0; i < 5000; i++) book.update(presence(`mallory${i % 50}@evil.example/r${i}`));
  book.update(presence("Bob@Example.org/phone", { priority: 5, ver: "abc" }));
  assert.deepEqual(book.size, { contacts: 1, resources: 1 });
  assert.deepEqual(book.resources("bob@example.org"), [{ jid: "Bob@Example.org/phone", caps: { node: "n", ver: "abc", hash: "sha-1" } }]);
  assert.equal(book.best("mallory1@evil.example"), undefined);
});

test("a contact's resources are bounded: a new one replaces the least recently seen", () => {
  const book = new PresenceBook({ keep: () => true });
  for (let i = 0; i < 1000; i++) book.update(presence(`bob@example.org/r${i}`));
  assert.deepEqual(book.size, { contacts: 1, resources: PRESENCE_LIMITS.maxResources });
  const kept = book.resources("bob@example.org").map((r) => r.jid);
  assert.ok(kept.includes("bob@example.org/r999") && !kept.includes("bob@example.org/r0"), kept.join(" "));
  // An update of an old resource keeps it (and makes it the most recent).
  book.update(presence("bob@example.org/r990", { priority: 9 }));
  book.update(presence("bob@example.org/new"));
  assert.equal(book.best("bob@example.org"), "bob@example.org/r990");
  assert.ok(!book.resources("bob@example.org").some((r) => r.jid === "bob@example.org/r984"), "the least recent went");
});

test("unavailable removes; prune() forgets JIDs no longer kept", () => {
  const contacts = new Set(["bob@example.org", "carol@example.org"]);
  const book = new PresenceBook({ keep: (bare) => contacts.has(bare) });
  book.update(presence("bob@example.org/a", { priority: 1 }));
  book.update(presence("bob@example.org/b", { priority: 3 }));
  book.update(presence("carol@example.org/x"));
  assert.equal(book.best("bob@example.org"), "bob@example.org/b");
  book.update(presence("bob@example.org/b", { type: "unavailable" }));
  assert.equal(book.best("bob@example.org"), "bob@example.org/a");
  contacts.delete("carol@example.org");
  book.prune();
  assert.deepEqual(book.size, { contacts: 1, resources: 1 });
});

test("XEP-0115 §5.2 simple example", () => {
  const ver = capsVerification([{ category: "client", type: "pc", name: "Exodus 0.9.1" }], [
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "http://jabber.org/protocol/muc",
    "http://jabber.org/protocol/caps",
  ]);
  assert.equal(ver, "QgayPKawpkPSDYmwT/WM94uAlu0=");
});

const COMPLEX = `<query xmlns="http://jabber.org/protocol/disco#info" node="http://psi-im.org#q07IKJEyjvHSyhy//CH0CxmKi8w=">
  <identity xml:lang="en" category="client" name="Psi 0.11" type="pc"/>
  <identity xml:lang="el" category="client" name="Ψ 0.11" type="pc"/>
  <feature var="http://jabber.org/protocol/caps"/>
  <feature var="http://jabber.org/protocol/disco#info"/>
  <feature var="http://jabber.org/protocol/disco#items"/>
  <feature var="http://jabber.org/protocol/muc"/>
  <x xmlns="jabber:x:data" type="result">
    <field var="FORM_TYPE" type="hidden"><value>urn:xmpp:dataforms:softwareinfo</value></field>
    <field var="ip_version"><value>ipv4</value><value>ipv6</value></field>
    <field var="os"><value>Mac</value></field>
    <field var="os_version"><value>10.5.1</value></field>
    <field var="software"><value>Psi</value></field>
    <field var="software_version"><value>0.11</value></field>
  </x>
</query>`;

test("XEP-0115 §5.3 complex example (languages, an extended form) from the disco#info result", () => {
  assert.equal(capsVerificationOf(parse(COMPLEX)), "q07IKJEyjvHSyhy//CH0CxmKi8w=");
});

test("a result that does not hash to the announced ver, or is ill-formed (§5.4), verifies to something else", () => {
  const forged = parse(COMPLEX.replace('<feature var="http://jabber.org/protocol/muc"/>', '<feature var="urn:xmpp:jingle-message:0"/>'));
  assert.notEqual(capsVerificationOf(forged), "q07IKJEyjvHSyhy//CH0CxmKi8w=");
  const dupFeature = parse(COMPLEX.replace("</query>", '<feature var="http://jabber.org/protocol/muc"/></query>'));
  assert.equal(capsVerificationOf(dupFeature), undefined);
  const twoFormTypes = parse(COMPLEX.replace("<value>urn:xmpp:dataforms:softwareinfo</value>", "<value>a</value><value>b</value>"));
  assert.equal(capsVerificationOf(twoFormTypes), undefined);
});

test("disco#info answers are cached under a caps ver only when they hash to it (XEP-0115 §5.4)", async () => {
  const features = ["http://jabber.org/protocol/disco#info", "urn:xmpp:jingle:apps:rtp:audio"];
  const identity = { category: "client", type: "phone", name: "Phone" };
  const goodVer = capsVerification([identity], features);
  const answer = () =>
    parse(
      `<iq type="result"><query xmlns="http://jabber.org/protocol/disco#info"><identity category="client" type="phone" name="Phone"/>` +
        features.map((f) => `<feature var="${f}"/>`).join("") +
        `</query></iq>`,
    );
  let asked = 0;
  const cache = new DiscoCache(async () => {
    asked++;
    return answer();
  });
  const honest = { node: "n", ver: goodVer, hash: "sha-1" };
  assert.deepEqual([...(await cache.featuresOf("bob@x/1", honest))!], features);
  await cache.featuresOf("bob@x/2", honest);
  assert.equal(asked, 1, "the second device with that ver is not asked");
  const lying = { node: "n", ver: "AAAAAAAAAAAAAAAAAAAAAAAAAAA=", hash: "sha-1" };
  await cache.featuresOf("eve@x/1", lying);
  await cache.featuresOf("eve@x/2", lying);
  assert.equal(asked, 3, "a ver the answer does not hash to is never cached");
  const silent = new DiscoCache(async () => {
    throw new Error("timeout");
  });
  assert.equal(await silent.featuresOf("bob@x/1", honest), undefined);
});
