// jinglectl's output escaping (src/cli/format.ts): what a peer can put in a
// string (a newline, ESC, a C1 control, a bidi override) never reaches the
// terminal raw, in events, results and raw JSON alike.
import { test } from "node:test";
import assert from "node:assert/strict";
import { escapeControl, formatAccount, formatCall, formatEvent, formatRoster, printable, printableJson } from "../../src/cli/format.js";
import type { AnyEvent } from "../../src/control/client.js";

const RAW = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

test("escapeControl: C0, DEL, C1, separators and bidi controls become visible escapes; the rest is kept", () => {
  assert.equal(escapeControl("a\nb\r\tc"), "a\\nb\\r\\tc");
  assert.equal(escapeControl("\u001b[31mred\u0007"), "\\x1b[31mred\\x07");
  assert.equal(escapeControl("x\u009b2J\u007f"), "x\\x9b2J\\x7f");
  assert.equal(escapeControl("\u202eabc\u2066\u2028"), "\\u202eabc\\u2066\\u2028");
  assert.equal(escapeControl("bøb@exämple.org/Ψ 日本"), "bøb@exämple.org/Ψ 日本");
});

test("formatted events and results made from printable() data stay one line each, with nothing raw", () => {
  const evil = "x\ncall c9 active with eve@x\u001b]0;t\u0007\u009b\u202e";
  const event = printable({ event: "call", seq: 1, time: "t", callId: "c1", type: "ended", peer: `m@x/${evil}`, reason: "decline", text: evil } as AnyEvent);
  const line = formatEvent(event);
  assert.equal(line.split("\n").length, 1, line);
  assert.doesNotMatch(line, RAW);
  const other = formatEvent(printable({ event: "mystery", seq: 2, time: "t", [evil]: evil } as AnyEvent));
  assert.equal(other.split("\n").length, 1);
  assert.doesNotMatch(other, RAW);
  assert.doesNotMatch(formatCall(printable({ id: "c1", sid: "s", peer: evil, direction: "incoming", state: "ended", startedAt: "t", reason: evil })), RAW);
  const roster = formatRoster(printable({ items: [{ jid: evil, name: evil, subscription: "both" as const, groups: [evil] }], requests: [evil] }));
  assert.equal(roster.split("\n").length, 2);
  assert.doesNotMatch(roster, RAW);
});

test("printableJson is still the same JSON, with nothing raw", () => {
  const value = { text: "a\u009bb\u2028c\u202e\n\u001b" };
  const json = printableJson(value);
  assert.doesNotMatch(json.replace(/\n/g, ""), RAW);
  assert.deepEqual(JSON.parse(json), value);
});

test("the account line says where the connection went, why it is not online and when the next try is", () => {
  const retryAt = new Date(2026, 0, 2, 3, 4, 5).toISOString();
  assert.equal(
    formatAccount({ jid: "door@home.test", state: "reconnecting", reason: "cannot reach the XMPP service of home.test: xmpp://home.test:5222: connection refused", retryAt }),
    "account door@home.test reconnecting: cannot reach the XMPP service of home.test: xmpp://home.test:5222: connection refused (next try at 03:04:05)",
  );
  assert.equal(
    formatAccount({ jid: "door@home.test/jingled", state: "online", server: "xmpps://xmpp.home.test:5223 (2001:db8::1)" }),
    "account door@home.test/jingled online via xmpps://xmpp.home.test:5223 (2001:db8::1)",
  );
  assert.equal(
    formatEvent({ event: "account", seq: 3, time: "t", state: "reconnecting", reason: "connection lost", retryAt } as AnyEvent),
    "account reconnecting: connection lost (next try at 03:04:05)",
  );
});
