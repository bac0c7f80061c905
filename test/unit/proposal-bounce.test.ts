// jingle/proposal-bounce.ts: a message error answering our XEP-0353
// proposal, as Prosody 0.12 sends it (without the payload: the stanzas below
// are what it sent to such proposals), recognised by the proposal's message
// id, from the callee or its domain only, while the proposal is out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "ltx";
import { proposalBounce, proposeStanzaId } from "../../src/jingle/proposal-bounce.js";
import type { CallView } from "../../src/jingle/message-initiation.js";

const SID = "k3vD0cZ2yQ9wA1bX";
const ours: CallView = { sid: SID, peer: "nobody@localhost", role: "initiator", phase: "proposed", answered: false };
const ctx = (call: CallView | undefined) => ({ call: (sid: string) => (sid === call?.sid ? call : undefined) });

const bounce = (from: string, error: string, id = proposeStanzaId(SID)) =>
  parse(`<message from="${from}" type="error" to="alice@localhost/r" id="${id}"><error type="cancel">${error}</error></message>`);

const SERVICE_UNAVAILABLE = `<service-unavailable xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`;

const cases: Array<[name: string, stanza: ReturnType<typeof parse>, call: CallView | undefined, expected: { condition: string; text: RegExp } | undefined]> = [
  [
    "no such account on our server (Prosody: service-unavailable, no payload)",
    bounce("nobody@localhost", SERVICE_UNAVAILABLE),
    ours,
    { condition: "service-unavailable", text: /^nobody@localhost cannot take calls: there is no such account, or no device of it can be reached \(service-unavailable\)$/ },
  ],
  [
    "an unknown domain, server-to-server off (Prosody: not-allowed with a text)",
    bounce("someone@unknown.example", `<not-allowed xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/><text xmlns="urn:ietf:params:xml:ns:xmpp-stanzas">Communication with remote domains is not enabled</text>`),
    { ...ours, peer: "someone@unknown.example" },
    { condition: "not-allowed", text: /^someone@unknown\.example cannot be reached \(not-allowed: Communication with remote domains is not enabled\)$/ },
  ],
  [
    "an unknown domain (remote-server-not-found, from the domain)",
    bounce("unknown.example", `<remote-server-not-found xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/>`),
    { ...ours, peer: "someone@unknown.example" },
    { condition: "remote-server-not-found", text: /^someone@unknown\.example cannot be reached: no server for unknown\.example was found \(remote-server-not-found\)$/ },
  ],
  ["from someone else: not ours to believe", bounce("mallory@localhost", SERVICE_UNAVAILABLE), ours, undefined],
  ["from another domain", bounce("localhost.evil", SERVICE_UNAVAILABLE), ours, undefined],
  ["another message's error (not a proposal id)", bounce("nobody@localhost", SERVICE_UNAVAILABLE, "a1b2c3"), ours, undefined],
  ["a proposal we no longer have", bounce("nobody@localhost", SERVICE_UNAVAILABLE), undefined, undefined],
  ["a proposal already proceeded (the session is on)", bounce("nobody@localhost", SERVICE_UNAVAILABLE), { ...ours, phase: "session" }, undefined],
  ["a proposal to us (we are the callee)", bounce("nobody@localhost", SERVICE_UNAVAILABLE), { ...ours, role: "responder" }, undefined],
  ["not an error", parse(`<message from="nobody@localhost" type="chat" id="${proposeStanzaId(SID)}"/>`), ours, undefined],
];

for (const [name, stanza, call, expected] of cases) {
  test(`proposalBounce: ${name}`, () => {
    const r = proposalBounce(stanza, ctx(call));
    if (!expected) return assert.equal(r, undefined);
    assert.ok(r, "recognised");
    assert.equal(r.sid, SID);
    assert.equal(r.condition, expected.condition);
    assert.match(r.text, expected.text);
  });
}

test("proposeStanzaId: the session id behind a prefix, as Conversations writes it", () => {
  assert.equal(proposeStanzaId(SID), `jm-propose-${SID}`);
});
