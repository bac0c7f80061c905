// The session manager's answers (XEP-0166 §7.2, §6.8): every set is answered;
// unknown or someone else's sid -> item-not-found + <unknown-session/>;
// wrong order -> unexpected-request + <out-of-order/>; unparseable -> bad-request.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse, type Element } from "ltx";
import { SessionManager } from "../../src/jingle/session-manager.js";

const J = "urn:xmpp:jingle:1";
const ALICE = "alice@example.org/phone";
const BOB = "bob@example.org/desk";

function iq(from: string, jingle: string, id = "i1"): { iq: Element; el: Element } {
  const el = parse(`<iq type="set" from="${from}" to="${BOB}" id="${id}">${jingle}</iq>`);
  return { iq: el, el: el.getChild("jingle", J)! };
}

const initiate = (sid: string) =>
  `<jingle xmlns="${J}" action="session-initiate" sid="${sid}" initiator="${ALICE}"><content creator="initiator" name="audio"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"><payload-type id="0" name="PCMU" clockrate="8000"/></description><transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="u" pwd="p0123456789012345678901"/></content></jingle>`;

function errorOf(reply: Element): { type?: string; condition?: string; jingle?: string } {
  assert.equal(reply.attrs.type, "error");
  const e = reply.getChild("error")!;
  const out: { type?: string; condition?: string; jingle?: string } = { type: e.attrs.type };
  for (const c of e.getChildElements()) {
    if (c.getNS() === "urn:ietf:params:xml:ns:xmpp-stanzas" && c.name !== "text") out.condition = c.name;
    if (c.getNS() === "urn:xmpp:jingle:errors:1") out.jingle = c.name;
  }
  return out;
}

test("session-initiate creates a pending session and is acknowledged", () => {
  const m = new SessionManager();
  const { iq: req, el } = iq(ALICE, initiate("s1"));
  const res = m.incoming(req, el);
  assert.ok(res.ok);
  assert.equal(res.reply.attrs.type, "result");
  assert.equal(res.reply.attrs.id, "i1");
  assert.equal(res.reply.attrs.to, ALICE);
  assert.equal(res.ok && res.isNew, true);
  assert.equal(m.get("s1")?.state, "pending");
  assert.equal(m.get("s1")?.role, "responder");
});

test("an unknown sid gets item-not-found + unknown-session", () => {
  const m = new SessionManager();
  const { iq: req, el } = iq(ALICE, `<jingle xmlns="${J}" action="session-terminate" sid="nope"><reason><success/></reason></jingle>`);
  const res = m.incoming(req, el);
  assert.equal(res.ok, false);
  assert.deepEqual(errorOf(res.reply), { type: "cancel", condition: "item-not-found", jingle: "unknown-session" });
});

test("a third party acting on someone else's sid is told the sid is unknown, and the session is untouched", () => {
  const m = new SessionManager();
  const a = iq(ALICE, initiate("s1"));
  m.incoming(a.iq, a.el);
  const evil = iq("mallory@example.org/x", `<jingle xmlns="${J}" action="session-terminate" sid="s1"><reason><success/></reason></jingle>`);
  const res = m.incoming(evil.iq, evil.el);
  assert.deepEqual(errorOf(res.reply), { type: "cancel", condition: "item-not-found", jingle: "unknown-session" });
  assert.equal(m.get("s1")?.state, "pending");
});

test("a duplicate session-initiate and a session-accept sent to the responder are out of order", () => {
  const m = new SessionManager();
  const a = iq(ALICE, initiate("s1"));
  m.incoming(a.iq, a.el);
  const again = iq(ALICE, initiate("s1"), "i2");
  assert.deepEqual(errorOf(m.incoming(again.iq, again.el).reply), { type: "wait", condition: "unexpected-request", jingle: "out-of-order" });
  // We are the responder: the initiator cannot accept its own session.
  const accept = iq(ALICE, `<jingle xmlns="${J}" action="session-accept" sid="s1"/>`, "i3");
  assert.deepEqual(errorOf(m.incoming(accept.iq, accept.el).reply), { type: "wait", condition: "unexpected-request", jingle: "out-of-order" });
});

test("an unparseable jingle element gets bad-request; an empty session-info (ping) gets a result", () => {
  const m = new SessionManager();
  const bad = iq(ALICE, `<jingle xmlns="${J}" action="no-such-action" sid="s9"/>`);
  assert.deepEqual(errorOf(m.incoming(bad.iq, bad.el).reply), { type: "modify", condition: "bad-request" });
  const a = iq(ALICE, initiate("s1"));
  m.incoming(a.iq, a.el);
  const ping = iq(ALICE, `<jingle xmlns="${J}" action="session-info" sid="s1"/>`, "p1");
  const res = m.incoming(ping.iq, ping.el);
  assert.ok(res.ok);
  assert.equal(res.reply.attrs.type, "result");
  assert.equal(res.ok && res.jingle.info?.type, "ping");
});

test("outgoing: session-initiate is built for the peer; accept moves the session to active; terminate ends it", () => {
  const m = new SessionManager();
  m.createOutgoing("s2", BOB);
  const out = m.outgoing("s2", { action: "session-initiate", contents: [] }, "o1");
  assert.equal(out.attrs.to, BOB);
  assert.equal(out.getChild("jingle", J)?.attrs.sid, "s2");
  assert.equal(m.get("s2")?.state, "pending");
  const accept = iq(BOB, `<jingle xmlns="${J}" action="session-accept" sid="s2"/>`);
  assert.ok(m.incoming(accept.iq, accept.el).ok);
  assert.equal(m.get("s2")?.state, "active");
  assert.throws(() => m.outgoing("s2", { action: "session-initiate", contents: [] }, "o2"), /cannot send session-initiate/);
  m.outgoing("s2", { action: "session-terminate", contents: [], reason: { condition: "success" } }, "o3");
  assert.equal(m.get("s2")?.state, "ended");
});

test("the number of sessions is bounded: a flood of initiates gets resource-constraint", () => {
  const m = new SessionManager(3);
  for (let i = 0; i < 3; i++) {
    const a = iq(ALICE, initiate(`f${i}`), `i${i}`);
    assert.ok(m.incoming(a.iq, a.el).ok);
  }
  const one = iq(ALICE, initiate("f3"), "i3");
  assert.deepEqual(errorOf(m.incoming(one.iq, one.el).reply), { type: "wait", condition: "resource-constraint" });
});
