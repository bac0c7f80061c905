// The stream guard's rule as a table (src/xmpp/stream-guard.ts): what may
// leave and enter in each phase, and which features let negotiation go on.
// (The attacks against the real connection: xmpp-hostile-server.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "ltx";
import { checkFeatures, mayEnter, mayLeave, streamPhase, type StreamPhase } from "../../src/xmpp/stream-guard.js";

const TLS = "urn:ietf:params:xml:ns:xmpp-tls";
const SASL = "urn:ietf:params:xml:ns:xmpp-sasl";
const STREAMS = "http://etherx.jabber.org/streams";

test("phase: TLS or allowed plaintext makes the stream protected; SASL makes it authenticated", () => {
  const cases: [boolean, boolean, boolean, StreamPhase][] = [
    [false, false, false, "unprotected"],
    [false, false, true, "unprotected"], // no TLS, plaintext not allowed: SASL alone is not enough
    [true, false, false, "protected"],
    [false, true, false, "protected"],
    [true, false, true, "authenticated"],
    [false, true, true, "authenticated"],
  ];
  for (const [secure, allowPlaintext, authenticated, phase] of cases) {
    assert.equal(streamPhase({ secure, allowPlaintext, authenticated }), phase, JSON.stringify({ secure, allowPlaintext, authenticated }));
  }
});

test("what may leave, by phase", () => {
  const rows: [string, string, [boolean, boolean, boolean]][] = [
    ["starttls", `<starttls xmlns="${TLS}"/>`, [true, true, true]],
    ["sasl auth", `<auth xmlns="${SASL}" mechanism="SCRAM-SHA-1">x</auth>`, [false, true, true]],
    ["sasl response", `<response xmlns="${SASL}"/>`, [false, true, true]],
    ["iq bind", `<iq type="set" id="b"><bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/></iq>`, [false, false, true]],
    ["presence", `<presence/>`, [false, false, true]],
    ["message", `<message to="a@b"/>`, [false, false, true]],
    ["sm enable", `<enable xmlns="urn:xmpp:sm:3"/>`, [false, false, true]],
    ["sm ack", `<a xmlns="urn:xmpp:sm:3" h="1"/>`, [false, false, true]],
  ];
  for (const [what, text, expected] of rows) {
    const el = parse(text);
    assert.deepEqual((["unprotected", "protected", "authenticated"] as const).map((p) => mayLeave(el, p)), expected, what);
  }
});

test("what may enter, by phase", () => {
  const root = (inner: string) => parse(`<stream:stream xmlns="jabber:client" xmlns:stream="${STREAMS}">${inner}</stream:stream>`).getChildElements()[0]!;
  const rows: [string, string, [boolean, boolean, boolean]][] = [
    ["features", "<stream:features/>", [true, true, true]],
    ["stream error", "<stream:error/>", [true, true, true]],
    ["proceed", `<proceed xmlns="${TLS}"/>`, [true, true, true]],
    ["sasl success", `<success xmlns="${SASL}"/>`, [false, true, true]],
    ["iq ping", `<iq type="get" id="p"><ping xmlns="urn:xmpp:ping"/></iq>`, [false, false, true]],
    ["presence", `<presence from="x@y/z"/>`, [false, false, true]],
    ["sm request", `<r xmlns="urn:xmpp:sm:3"/>`, [false, false, true]],
  ];
  for (const [what, text, expected] of rows) {
    const el = root(text);
    assert.deepEqual((["unprotected", "protected", "authenticated"] as const).map((p) => mayEnter(el, p)), expected, what);
  }
});

test("features that skip a step are refused", () => {
  const features = (inner: string) => parse(`<stream:features xmlns:stream="${STREAMS}">${inner}</stream:features>`);
  const bind = `<bind xmlns="urn:ietf:params:xml:ns:xmpp-bind"/>`;
  const mechs = `<mechanisms xmlns="${SASL}"><mechanism>PLAIN</mechanism></mechanisms>`;
  assert.match(checkFeatures(features(bind), "unprotected", "S")?.message ?? "", /offered no STARTTLS/);
  assert.match(checkFeatures(features(mechs), "unprotected", "S")?.message ?? "", /offered no STARTTLS/);
  assert.equal(checkFeatures(features(`<starttls xmlns="${TLS}"/>`), "unprotected", "S"), undefined);
  assert.match(checkFeatures(features(bind), "protected", "S")?.message ?? "", /offered no SASL/);
  assert.equal(checkFeatures(features(mechs), "protected", "S"), undefined);
  assert.equal(checkFeatures(features(bind), "authenticated", "S"), undefined);
});
