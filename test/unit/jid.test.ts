// src/util/jid.ts: the daemon's one set of JID helpers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { bareJid, bareKey, domainOf, isFullJid, isUserJid, parseJid, sameAddress, sameBareJid, sameJid } from "../../src/util/jid.js";

test("isUserJid: local@domain with an optional resource, no whitespace before it", () => {
  const cases: Array<[string, boolean]> = [
    ["bob@example.org", true],
    ["bob@example.org/phone", true],
    ["bob@example.org/a phone/with slash", true],
    ["bob", false],
    ["bob@", false],
    ["@example.org", false],
    ["bob@example.org/", false],
    ["b ob@example.org", false],
    ["bob@exa mple.org", false],
    ["a@b@c", false],
    ["", false],
  ];
  for (const [jid, ok] of cases) assert.equal(isUserJid(jid), ok, jid);
});

test("bare JIDs keep the text as written; keys and comparisons fold case", () => {
  assert.equal(bareJid("Bob@Example.org/Phone"), "Bob@Example.org");
  assert.equal(bareJid("bob@example.org"), "bob@example.org");
  assert.equal(bareKey("Bob@Example.org/Phone"), "bob@example.org");
  assert.ok(sameBareJid("Bob@Example.org/a", "bob@example.org/b"));
  assert.ok(!sameBareJid("bob@example.org", "bobby@example.org"));
  assert.ok(isFullJid("bob@example.org/x") && !isFullJid("bob@example.org"));
});

test("sameJid folds the whole JID; sameAddress keeps the resource exact (RFC 7622 §3)", () => {
  assert.ok(sameJid("Bob@Example.org/Phone", "bob@example.org/phone"));
  assert.ok(!sameJid("bob@example.org/a", "bob@example.org/b"));
  assert.ok(sameAddress("Bob@Example.org/Phone", "bob@example.org/Phone"));
  assert.ok(!sameAddress("bob@example.org/Phone", "bob@example.org/phone"));
  assert.ok(sameAddress(undefined, undefined));
  assert.ok(!sameAddress("bob@example.org", undefined));
});

test("parseJid is @xmpp/jid's split, total on anything", () => {
  assert.deepEqual(parseJid("Bob@Example.org/Phone"), { local: "bob", domain: "example.org", resource: "Phone" });
  assert.deepEqual(parseJid("example.org"), { local: "", domain: "example.org", resource: "" });
  for (const bad of ["", "bob@", "/r", "@"]) assert.equal(parseJid(bad), undefined, bad);
  assert.equal(domainOf("bob@Example.org/x"), "example.org");
  assert.equal(domainOf("bob@"), "");
});
