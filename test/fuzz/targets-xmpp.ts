// Fuzz targets for what arrives over XMPP: Jingle IQs (XEP-0166/0167/0176/
// 0320) through the parser and the session manager, XEP-0353 messages, and
// the other stanzas we parse (XEP-0215 services, roster items, IQ errors).
import assert from "node:assert/strict";
import type { Element } from "ltx";
import {
  JingleParseError,
  LIMITS,
  NS,
  buildJingle,
  buildJmi,
  buildJmiMessage,
  findJmi,
  parseJingle,
  parseJmi,
  readJingleIqError,
  type Jingle,
  type JmiElement,
} from "../../src/jingle/protocol/index.js";
import { SessionManager } from "../../src/jingle/session-manager.js";
import { answerOffer, applyAnswer, encoderOptionsFor } from "../../src/app/call/negotiation.js";
import { fromJingleCandidate } from "../../src/ice/candidate-map.js";
import { findCodec } from "../../src/media/codecs/index.js";
import { NS_EXTDISCO, parseServices } from "../../src/xmpp/extdisco.js";
import { parseRosterItem } from "../../src/xmpp/roster.js";
import { jingleFixtures, mutatedStanza, parseStanza } from "./xml-mutate.js";
import type { FuzzTarget } from "./target.js";

const CODECS = [findCodec("opus", 48000)!, findCodec("PCMU", 8000)!];
/** Reply size bound beyond the echoed id/from/to: a condition, a Jingle condition and a text of at most a few attribute lengths. */
const REPLY_OVERHEAD = 4 * LIMITS.attributeLength + 1024;
/** The longest string a parsed object may carry (attribute values, texts). */
const MAX_STRING = LIMITS.attributeLength;

const text = {
  encode: (s: string) => Buffer.from(s, "utf8"),
  decode: (b: Buffer) => b.toString("utf8"),
  ext: "xml",
};

/** Every string anywhere in `v` is at most `max` long; arrays at most `maxItems`. */
function assertBounded(v: unknown, path = "$", max = MAX_STRING, maxItems = LIMITS.payloadTypes): void {
  if (typeof v === "string") {
    assert.ok(v.length <= max, `${path}: string of ${v.length} characters`);
  } else if (Array.isArray(v)) {
    assert.ok(v.length <= maxItems, `${path}: ${v.length} items`);
    v.forEach((x, i) => assertBounded(x, `${path}[${i}]`, max, maxItems));
  } else if (typeof v === "object" && v !== null) {
    for (const [k, x] of Object.entries(v)) assertBounded(x, `${path}.${k}`, max, maxItems);
  } else if (typeof v === "number") {
    assert.ok(Number.isFinite(v), `${path}: ${v}`);
  }
}

/** What buildJingle cannot write back (read-only markers, unknown payloads): dropped before comparing. */
function normalise(j: Jingle): Jingle {
  const copy = structuredClone(j);
  for (const c of copy.contents) {
    delete c.unsupportedDescriptionNs;
    delete c.unsupportedTransportNs;
    if (c.transport) delete c.transport.gatheringComplete;
  }
  return copy;
}

function checkParsedJingle(j: Jingle): void {
  assert.ok(j.contents.length <= LIMITS.contents);
  for (const c of j.contents) {
    assert.ok((c.description?.payloadTypes.length ?? 0) <= LIMITS.payloadTypes);
    assert.ok((c.transport?.candidates.length ?? 0) <= LIMITS.candidates);
  }
  assertBounded(j);
  // Round trip: what we parsed, built and parsed again, is the same (XEP-0166 golden-fixture rule).
  if (j.info?.type !== "unsupported") {
    const again = parseJingle(buildJingle(j));
    assert.deepEqual(again, normalise(j), "parse(build(parse(x))) differs from parse(x)");
  }
  // What the call layer does with an offer/answer must not throw either.
  for (const c of j.contents) {
    if (c.description) {
      const answer = answerOffer(c.description.payloadTypes, CODECS);
      if (answer) encoderOptionsFor(answer.chosen, {});
      const applied = applyAnswer(c.description.payloadTypes, CODECS);
      if (applied) encoderOptionsFor(applied, { bitrate: 32000 });
    }
    for (const cand of c.transport?.candidates ?? []) fromJingleCandidate(cand);
  }
}

function checkReply(iq: Element, reply: Element): void {
  assert.equal(reply.name, "iq");
  assert.ok(reply.attrs.type === "result" || reply.attrs.type === "error", `reply type ${reply.attrs.type}`);
  assert.equal(reply.attrs.id, iq.attrs.id);
  assert.equal(reply.attrs.to, iq.attrs.from);
  if (reply.attrs.type === "error") {
    const error = reply.getChild("error");
    assert.ok(error, "an error reply has <error/>");
    assert.ok(error.getChildElements().some((c) => c.getNS() === NS.stanzas && c.name !== "text"), "with a stanza condition");
  }
  const echoed = String(iq.attrs.id ?? "").length + String(iq.attrs.from ?? "").length + String(iq.attrs.to ?? "").length;
  const size = reply.toString().length;
  assert.ok(size <= echoed * 6 + REPLY_OVERHEAD, `reply of ${size} characters`);
}

/** A Jingle IQ: parsed (JingleParseError only), bounded, round-tripped; the session manager answers it in every state. */
export const jingleIq: FuzzTarget<string> = {
  name: "jingle-iq",
  description: "mutated golden Jingle IQs -> parseJingle, buildJingle round trip, negotiation, SessionManager.incoming",
  arbitrary: mutatedStanza(jingleFixtures()),
  runs: 2000,
  ...text,
  check(s) {
    const iq = parseStanza(s);
    if (!iq) return;
    // As the connection routes it (src/xmpp/connection.ts): the first child, when it is <jingle xmlns="urn:xmpp:jingle:1">.
    const el = iq.getChildElements()[0];
    if (!el?.is("jingle", NS.jingle)) return;
    let parsed: Jingle | undefined;
    try {
      parsed = parseJingle(el);
    } catch (err) {
      if (!(err instanceof JingleParseError)) throw err;
      assert.ok(err.message.length <= 4 * LIMITS.attributeLength, `error message of ${err.message.length} characters`);
    }
    if (parsed) checkParsedJingle(parsed);

    // No session, a session we initiated with this sender (pending, active), and one with someone else.
    const from = String(iq.attrs.from ?? "");
    const sid = String(el.attrs.sid ?? "");
    for (const setup of ["none", "pending", "active", "other-peer"] as const) {
      const m = new SessionManager(4);
      const applied = setup !== "none" && sid !== "" && sid.length <= LIMITS.attributeLength;
      if (applied) {
        const rec = m.createOutgoing(sid, setup === "other-peer" ? "someone@else.example/x" : from);
        rec.state = setup === "active" ? "active" : "pending";
      }
      const res = m.incoming(iq, el);
      checkReply(iq, res.reply);
      if (res.ok) assert.ok(parsed, "accepted only what parses");
      // Someone else's session: nothing a third party sends is accepted (XEP-0166 §7.2: unknown-session).
      if (applied && setup === "other-peer") assert.equal(res.ok, false, "a third party acted on someone else's session");
      // XEP-0166 §6.8: an informational payload we do not know is answered <unsupported-info/>, not acknowledged.
      if (applied && setup !== "other-peer" && parsed?.info?.type === "unsupported") {
        assert.equal(res.reply.getChild("error")?.getChild("unsupported-info", NS.jingleErrors)?.name, "unsupported-info");
      }
      assert.ok(m.size <= 4);
    }
  },
};

function jmiGolden(): string[] {
  const to = "alice@example.org";
  const out: JmiElement[] = [
    { action: "propose", id: "p1", media: ["audio"] },
    { action: "ringing", id: "p1" },
    { action: "proceed", id: "p1" },
    { action: "reject", id: "p1", reason: { condition: "busy", text: "in a call" } },
    { action: "retract", id: "p1", reason: { condition: "cancel" }, tieBreak: true },
    { action: "finish", id: "p1", reason: { condition: "success" } },
  ];
  return out.map((j) => {
    const m = buildJmiMessage(to, j, "m1");
    m.attrs.from = "bob@example.org/phone";
    return m.toString();
  });
}

/** A XEP-0353 message: findJmi/parseJmi throw JingleParseError only, bounded, round trip. */
export const jmiMessage: FuzzTarget<string> = {
  name: "jmi-message",
  description: "mutated XEP-0353 messages -> findJmi, parseJmi, buildJmi round trip",
  arbitrary: mutatedStanza(jmiGolden()),
  runs: 2000,
  ...text,
  check(s) {
    const msg = parseStanza(s);
    if (!msg) return;
    const el = findJmi(msg);
    if (!el) return;
    let j: JmiElement;
    try {
      j = parseJmi(el);
    } catch (err) {
      if (err instanceof JingleParseError) return;
      throw err;
    }
    assertBounded(j);
    assert.deepEqual(parseJmi(buildJmi(j)), j, "parse(build(parse(x))) differs from parse(x)");
  },
};

function miscGolden(): string[] {
  return [
    `<iq type="result" id="s1" from="example.org"><services xmlns="${NS_EXTDISCO}">` +
      `<service type="stun" host="stun.example.org" port="3478" transport="udp"/>` +
      `<service type="turn" host="turn.example.org" port="3478" transport="udp" username="1700000000:alice" password="x" expires="2030-01-01T00:00:00Z" restricted="1"/>` +
      `<service type="turns" host="turn.example.org" port="5349" transport="tcp" username="u" password="p"/></services></iq>`,
    `<iq type="result" id="r1"><query xmlns="jabber:iq:roster"><item jid="bob@example.org" name="Bob" subscription="both"><group>Friends</group></item>` +
      `<item jid="carol@example.org" subscription="none" ask="subscribe"/><item jid="x@example.org" subscription="remove"/></query></iq>`,
    `<iq type="error" id="e1" from="bob@example.org/x"><error type="cancel"><item-not-found xmlns="${NS.stanzas}"/>` +
      `<unknown-session xmlns="${NS.jingleErrors}"/><text xmlns="${NS.stanzas}">no such session</text></error></iq>`,
  ];
}

/** XEP-0215 services, roster items and IQ errors: never throw (but JingleParseError from readJingleIqError), bounded. */
export const xmppMisc: FuzzTarget<string> = {
  name: "xmpp-misc",
  description: "mutated XEP-0215 results, roster results and IQ errors -> parseServices, parseRosterItem, readJingleIqError",
  arbitrary: mutatedStanza(miscGolden()),
  runs: 1000,
  ...text,
  check(s) {
    const iq = parseStanza(s);
    if (!iq) return;
    const services = parseServices(iq.getChild("services", NS_EXTDISCO));
    assert.ok(services.length <= 32);
    for (const svc of services) {
      assert.ok(svc.port > 0 && svc.port < 65536 && Number.isInteger(svc.port), `port ${svc.port}`);
      assert.ok(svc.host.length > 0 && svc.host.length <= 255);
      assert.ok(svc.expires === undefined || Number.isFinite(svc.expires));
    }
    for (const item of iq.getChild("query")?.getChildren("item") ?? []) {
      const r = parseRosterItem(item);
      if (r) assert.ok(r.jid.includes("@") && !r.jid.includes("/"));
    }
    try {
      readJingleIqError(iq);
    } catch (err) {
      if (!(err instanceof JingleParseError)) throw err;
    }
  },
};

export const XMPP_TARGETS = [jingleIq, jmiMessage, xmppMisc];
