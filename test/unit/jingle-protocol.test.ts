// Golden fixtures for the Jingle protocol layer, checked both ways:
// parse(fixture.xml) deep-equals fixture.json, and build(fixture.json) is
// XML-equal to fixture.xml (namespaces resolved; attribute order, xmlns
// placement and indentation ignored). Then negative cases and bounds.

import { test, describe } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parse, createElement, type Element } from "ltx";
import {
  JINGLE_IQ_ERRORS,
  JingleParseError,
  LIMITS,
  NS,
  buildJingle,
  buildJingleIqError,
  candidateId,
  normaliseReasonCondition,
  parseJingle,
  readJingleIqError,
  type Jingle,
} from "../../src/jingle/protocol/index.js";

// dist/test/unit -> repo root; fixtures are not copied by tsc.
const FIXTURES = fileURLToPath(new URL("../../../test/fixtures/jingle/", import.meta.url));

/**
 * Fixtures that are only parsed: building the parsed object back adds what
 * the peer left out (candidate id/generation/network) or drops what we ignore
 * (<group/>, <source/>, <remote-candidate/>, underscore spellings).
 */
const PARSE_ONLY: Record<string, string> = {
  "stanzajs-transport-info": "defaults are written back on build",
  "stanzajs-session-initiate": "ignored elements are not rebuilt",
  "dino-failed-application": "we write the hyphenated spelling",
  "xep0176-transport-info-remote-candidate": "<remote-candidate/> is ignored",
};

// ------------------------------------------------------------------ helpers

interface Canon {
  name: string;
  ns: string | undefined;
  attrs: [string, string][];
  text: string;
  children: Canon[];
}

function isEl(n: unknown): n is Element {
  return typeof n === "object" && n !== null && typeof (n as Element).getName === "function";
}

/** Namespace-resolved, order-of-attributes-free, whitespace-trimmed view of an element. */
function canon(el: Element): Canon {
  return {
    name: el.getName(),
    ns: el.getNS(),
    attrs: Object.entries(el.attrs)
      .filter(([k]) => k !== "xmlns" && !k.startsWith("xmlns:"))
      .map(([k, v]): [string, string] => [k, String(v)])
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    text: el.getText().trim(),
    children: el.children.filter(isEl).map(canon),
  };
}

function assertXmlEqual(actual: Element, expected: Element): void {
  assert.deepStrictEqual(canon(actual), canon(expected));
}

function fixtureNames(): string[] {
  const files = readdirSync(FIXTURES);
  return files
    .filter((f) => f.endsWith(".xml") && files.includes(f.replace(/\.xml$/, ".json")))
    .map((f) => f.replace(/\.xml$/, ""))
    .sort();
}

function loadJingleEl(name: string): Element {
  const iq = parse(readFileSync(FIXTURES + name + ".xml", "utf8"));
  const jingle = iq.getChild("jingle", NS.jingle);
  assert.ok(jingle, `${name}.xml has no <jingle/>`);
  return jingle;
}

function loadJson(name: string): Jingle {
  return JSON.parse(readFileSync(FIXTURES + name + ".json", "utf8")) as Jingle;
}

/** Parse a <jingle/> given as a string, default namespace filled in. */
function j(xml: string): Jingle {
  return parseJingle(parse(xml));
}

function assertParseError(xml: string, pattern: RegExp, fields: { element?: string; attribute?: string } = {}): void {
  assert.throws(
    () => j(xml),
    (err: unknown) => {
      assert.ok(err instanceof JingleParseError, `expected JingleParseError, got ${String(err)}`);
      assert.match(err.message, pattern);
      assert.equal(err.code, "jingle-parse");
      if (fields.element !== undefined) assert.equal(err.element, fields.element);
      if (fields.attribute !== undefined) assert.equal(err.attribute, fields.attribute);
      return true;
    },
  );
}

const J = `xmlns='${NS.jingle}'`;
const RTP = `xmlns='${NS.rtp}'`;
const ICE = `xmlns='${NS.iceUdp}'`;
const CAND_ATTRS: Record<string, string> = {
  component: "1",
  foundation: "1",
  ip: "192.0.2.1",
  port: "3478",
  priority: "2130706431",
  protocol: "udp",
  type: "host",
};
function candidateXml(attrs: Record<string, string>): string {
  return `<candidate ${Object.entries(attrs)
    .map(([k, v]) => `${k}='${v}'`)
    .join(" ")}/>`;
}
function transportInfo(inner: string): string {
  return `<jingle ${J} action='transport-info' sid='s1'><content creator='initiator' name='a'><transport ${ICE} ufrag='u' pwd='p'>${inner}</transport></content></jingle>`;
}
function initiate(descriptionInner: string): string {
  return `<jingle ${J} action='session-initiate' sid='s1'><content creator='initiator' name='a'><description ${RTP} media='audio'>${descriptionInner}</description></content></jingle>`;
}

// ---------------------------------------------------------- golden fixtures

describe("golden fixtures", () => {
  const names = fixtureNames();
  test("fixtures are present", () => {
    assert.ok(names.length >= 20, `found only ${names.length} fixtures in ${FIXTURES}`);
  });

  for (const name of names) {
    test(`${name}: parse(xml) deep-equals json`, () => {
      assert.deepStrictEqual(parseJingle(loadJingleEl(name)), loadJson(name));
    });

    if (PARSE_ONLY[name] === undefined) {
      test(`${name}: build(json) is XML-equal to xml`, () => {
        assertXmlEqual(buildJingle(loadJson(name)), loadJingleEl(name));
      });
    }

    test(`${name}: parse(build(json)) deep-equals json`, () => {
      const json = loadJson(name);
      const rebuilt = parse(buildJingle(json).toString());
      // gatheringComplete is read-only (StanzaJS's non-standard element is never written).
      for (const c of json.contents) delete c.transport?.gatheringComplete;
      assert.deepStrictEqual(parseJingle(rebuilt), json);
    });
  }
});

// ------------------------------------------------------- liberal parsing

describe("liberal parsing", () => {
  test("StanzaJS candidate without id/generation/network gets defaults and a deterministic id", () => {
    const a = j(transportInfo(candidateXml(CAND_ATTRS)));
    const b = j(transportInfo(candidateXml(CAND_ATTRS)));
    const ca = a.contents[0]?.transport?.candidates[0];
    assert.ok(ca);
    assert.equal(ca.generation, 0);
    assert.equal(ca.network, 0);
    assert.equal(ca.id, candidateId(ca));
    assert.equal(ca.id, b.contents[0]?.transport?.candidates[0]?.id);
  });

  test("protocol is lower-cased", () => {
    const t = j(transportInfo(candidateXml({ ...CAND_ATTRS, protocol: "UDP" })));
    assert.equal(t.contents[0]?.transport?.candidates[0]?.protocol, "udp");
  });

  test("channels='0' (old libjingle) reads as 1", () => {
    const d = j(initiate(`<payload-type id='0' name='PCMU' clockrate='8000' channels='0'/>`));
    assert.equal(d.contents[0]?.description?.payloadTypes[0]?.channels, 1);
  });

  test("missing content creator defaults to initiator (XEP-0166 §7.3)", () => {
    const d = j(`<jingle ${J} action='transport-info' sid='s'><content name='a'/></jingle>`);
    assert.equal(d.contents[0]?.creator, "initiator");
  });

  test("unknown description and transport namespaces are reported, not fatal", () => {
    const d = j(
      `<jingle ${J} action='session-initiate' sid='s'><content creator='initiator' name='f'>` +
        `<description xmlns='urn:xmpp:jingle:apps:file-transfer:5'/><transport xmlns='urn:xmpp:jingle:transports:s5b:1'/></content></jingle>`,
    );
    assert.deepStrictEqual(d.contents[0], {
      creator: "initiator",
      name: "f",
      unsupportedDescriptionNs: "urn:xmpp:jingle:apps:file-transfer:5",
      unsupportedTransportNs: "urn:xmpp:jingle:transports:s5b:1",
    });
  });

  test("fingerprint without setup parses with setup left out", () => {
    const t = j(transportInfo(`<fingerprint xmlns='${NS.dtls}' hash='sha-256'>AA:BB</fingerprint>`));
    assert.deepStrictEqual(t.contents[0]?.transport?.fingerprint, { hash: "sha-256", value: "AA:BB" });
  });
});

// ------------------------------------------------------------------ reason

describe("reason", () => {
  const terminate = (inner: string): Jingle => j(`<jingle ${J} action='session-terminate' sid='s'><reason>${inner}</reason></jingle>`);

  test("every underscore spelling is normalised", () => {
    assert.equal(normaliseReasonCondition("failed_application"), "failed-application");
    assert.equal(normaliseReasonCondition("connectivity_error"), "connectivity-error");
    assert.equal(normaliseReasonCondition("failed-transport"), "failed-transport");
  });

  test("unknown condition -> general-error, text kept", () => {
    assert.deepStrictEqual(terminate("<bogus-condition/><text>why</text>").reason, { condition: "general-error", text: "why" });
  });

  test("empty reason -> general-error", () => {
    assert.deepStrictEqual(terminate("").reason, { condition: "general-error" });
  });

  test("application-specific condition next to the Jingle one is ignored", () => {
    const r = terminate(`<security-error/><crypto-required xmlns='urn:xmpp:jingle:apps:rtp:errors:1'/>`).reason;
    assert.deepStrictEqual(r, { condition: "security-error" });
  });

  test("build writes text after the condition, sid inside alternative-session", () => {
    const el = buildJingle({
      action: "session-terminate",
      sid: "s",
      contents: [],
      reason: { condition: "alternative-session", alternativeSid: "other", text: "use the other one" },
    });
    assert.equal(
      el.toString(),
      `<jingle xmlns="${NS.jingle}" action="session-terminate" sid="s"><reason><alternative-session><sid>other</sid></alternative-session><text>use the other one</text></reason></jingle>`,
    );
  });
});

// ------------------------------------------------------------ session-info

describe("session-info", () => {
  test("payload in an unknown namespace is unsupported (for <unsupported-info/>)", () => {
    // XEP-0166 §6.8's own example spells the namespace rtp:1:info.
    const d = j(`<jingle ${J} action='session-info' sid='s'><ringing xmlns='urn:xmpp:jingle:apps:rtp:1:info'/></jingle>`);
    assert.deepStrictEqual(d.info, { type: "unsupported", element: "ringing", xmlns: "urn:xmpp:jingle:apps:rtp:1:info" });
  });

  test("a ping builds to an empty <jingle/>", () => {
    const el = buildJingle({ action: "session-info", sid: "s", contents: [], info: { type: "ping" } });
    assert.equal(el.children.length, 0);
  });

  test("info is only read on session-info", () => {
    const d = j(`<jingle ${J} action='transport-info' sid='s'/>`);
    assert.equal(d.info, undefined);
    assert.equal("info" in d, false);
  });

  test("an unsupported payload cannot be built", () => {
    assert.throws(() => buildJingle({ action: "session-info", sid: "s", contents: [], info: { type: "unsupported", element: "x", xmlns: "y" } }));
  });
});

// ---------------------------------------------------------- negative cases

describe("rejects malformed input", () => {
  test("non-jingle element", () => {
    assertParseError(`<iq type='set'/>`, /expected <jingle/, { element: "iq" });
    assertParseError(`<jingle xmlns='urn:xmpp:jingle:0' action='session-info' sid='s'/>`, /expected <jingle xmlns='urn:xmpp:jingle:1'>/);
    assert.throws(() => parseJingle("<jingle/>" as unknown as Element), JingleParseError);
  });

  test("missing or unknown action, missing sid", () => {
    assertParseError(`<jingle ${J} sid='s'/>`, /<jingle> is missing required attribute 'action'/, { element: "jingle", attribute: "action" });
    assertParseError(`<jingle ${J} action='session-dance' sid='s'/>`, /unknown value 'session-dance'/, { attribute: "action" });
    assertParseError(`<jingle ${J} action='session-info'/>`, /missing required attribute 'sid'/, { attribute: "sid" });
  });

  test("content without name, bad creator, bad senders", () => {
    assertParseError(`<jingle ${J} action='content-add' sid='s'><content creator='initiator'/></jingle>`, /<content> is missing required attribute 'name'/);
    assertParseError(`<jingle ${J} action='content-add' sid='s'><content creator='nobody' name='a'/></jingle>`, /'creator' must be one of initiator, responder/);
    assertParseError(`<jingle ${J} action='content-modify' sid='s'><content name='a' senders='all'/></jingle>`, /'senders' must be one of/);
  });

  test("description without media; payload-type without or with a bad id", () => {
    assertParseError(
      `<jingle ${J} action='session-initiate' sid='s'><content name='a'><description ${RTP}/></content></jingle>`,
      /<description> is missing required attribute 'media'/,
    );
    assertParseError(initiate(`<payload-type name='PCMU'/>`), /<payload-type> is missing required attribute 'id'/, { element: "payload-type", attribute: "id" });
    assertParseError(initiate(`<payload-type id='128'/>`), /'id' must be in 0..127, got 128/);
    assertParseError(initiate(`<payload-type id='1e2'/>`), /'id' must be an unsigned integer, got '1e2'/);
    assertParseError(initiate(`<payload-type id='0'><parameter value='x'/></payload-type>`), /<parameter> is missing required attribute 'name'/);
  });

  for (const attr of ["ip", "port", "component", "priority", "type", "protocol"]) {
    test(`candidate without '${attr}'`, () => {
      const attrs = { ...CAND_ATTRS };
      delete attrs[attr];
      assertParseError(transportInfo(candidateXml(attrs)), new RegExp(`<candidate> is missing required attribute '${attr}'`), {
        element: "candidate",
        attribute: attr,
      });
    });
  }

  test("candidate with a bad type or port", () => {
    assertParseError(transportInfo(candidateXml({ ...CAND_ATTRS, type: "stun" })), /'type' must be one of host, srflx, prflx, relay/);
    assertParseError(transportInfo(candidateXml({ ...CAND_ATTRS, port: "70000" })), /'port' must be in 0..65535/);
    assertParseError(transportInfo(candidateXml({ ...CAND_ATTRS, port: "-1" })), /'port' must be an unsigned integer/);
  });

  test("fingerprint without hash or value, or with a bad setup", () => {
    assertParseError(transportInfo(`<fingerprint xmlns='${NS.dtls}' setup='actpass'>AA</fingerprint>`), /<fingerprint> is missing required attribute 'hash'/);
    assertParseError(transportInfo(`<fingerprint xmlns='${NS.dtls}' hash='sha-256' setup='actpass'> </fingerprint>`), /no fingerprint value/);
    assertParseError(transportInfo(`<fingerprint xmlns='${NS.dtls}' hash='sha-256' setup='both'>AA</fingerprint>`), /'setup' must be one of actpass, active, passive, holdconn/);
  });
});

// ------------------------------------------------------------------ bounds

describe("bounds against hostile input", () => {
  const contents = (n: number): string =>
    `<jingle ${J} action='session-initiate' sid='s'>${Array.from({ length: n }, (_, i) => `<content creator='initiator' name='c${i}'/>`).join("")}</jingle>`;
  const pts = (n: number): string => initiate(Array.from({ length: n }, (_, i) => `<payload-type id='${i}'/>`).join(""));
  const cands = (n: number): string => transportInfo(Array.from({ length: n }, (_, i) => candidateXml({ ...CAND_ATTRS, port: String(1000 + i) })).join(""));
  const params = (n: number): string =>
    initiate(`<payload-type id='111'>${Array.from({ length: n }, (_, i) => `<parameter name='p${i}' value='v'/>`).join("")}</payload-type>`);

  test(`${LIMITS.contents} contents accepted, ${LIMITS.contents + 1} rejected`, () => {
    assert.equal(j(contents(LIMITS.contents)).contents.length, LIMITS.contents);
    assertParseError(contents(LIMITS.contents + 1), /<jingle> has 17 <content> children; at most 16/, { element: "jingle" });
  });

  test(`${LIMITS.payloadTypes} payload types accepted, ${LIMITS.payloadTypes + 1} rejected`, () => {
    assert.equal(j(pts(LIMITS.payloadTypes)).contents[0]?.description?.payloadTypes.length, LIMITS.payloadTypes);
    assertParseError(pts(LIMITS.payloadTypes + 1), /<description> has 65 <payload-type> children; at most 64/);
  });

  test(`${LIMITS.candidates} candidates accepted, ${LIMITS.candidates + 1} rejected`, () => {
    assert.equal(j(cands(LIMITS.candidates)).contents[0]?.transport?.candidates.length, LIMITS.candidates);
    assertParseError(cands(LIMITS.candidates + 1), /<transport> has 65 <candidate> children; at most 64/);
  });

  test(`${LIMITS.parameters} parameters accepted, ${LIMITS.parameters + 1} rejected`, () => {
    assert.equal(j(params(LIMITS.parameters)).contents[0]?.description?.payloadTypes[0]?.parameters.length, LIMITS.parameters);
    assertParseError(params(LIMITS.parameters + 1), /<payload-type> has 65 <parameter> children; at most 64/);
  });

  test(`attribute of ${LIMITS.attributeLength} chars accepted, ${LIMITS.attributeLength + 1} rejected`, () => {
    const at = "x".repeat(LIMITS.attributeLength);
    assert.equal(j(`<jingle ${J} action='session-info' sid='${at}'/>`).sid, at);
    assertParseError(`<jingle ${J} action='session-info' sid='${at}x'/>`, /<jingle> attribute 'sid' is 1025 characters long; at most 1024/, {
      element: "jingle",
      attribute: "sid",
    });
  });

  test("oversized attribute on an element we otherwise ignore is rejected too", () => {
    const long = "y".repeat(LIMITS.attributeLength + 1);
    assertParseError(`<jingle ${J} action='session-info' sid='s'><whatever xmlns='urn:x'><deeper junk='${long}'/></whatever></jingle>`, /<deeper> attribute 'junk'/);
  });
});

// --------------------------------------------------------------- IQ errors

describe("buildJingleIqError", () => {
  const request = parse(`<iq from='romeo@montague.lit/orchard' to='juliet@capulet.lit/balcony' id='ur71vs62' type='set'><jingle ${J} action='session-info' sid='x'/></iq>`);

  // Expected replies: XEP-0166 v1.1.2 §6.7 "Unknown-session error", §7.2.16 "Initiator
  // returns conflict error on tie-break", §6.8 "Responder returns unsupported-info error".
  const cases: [string, keyof typeof JINGLE_IQ_ERRORS, string][] = [
    [
      "unknown-session",
      "unknown-session",
      `<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><unknown-session xmlns='urn:xmpp:jingle:errors:1'/></error>`,
    ],
    [
      "tie-break",
      "tie-break",
      `<error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><tie-break xmlns='urn:xmpp:jingle:errors:1'/></error>`,
    ],
    [
      "unsupported-info",
      "unsupported-info",
      `<error type='modify'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><unsupported-info xmlns='urn:xmpp:jingle:errors:1'/></error>`,
    ],
    [
      "out-of-order",
      "out-of-order",
      `<error type='wait'><unexpected-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><out-of-order xmlns='urn:xmpp:jingle:errors:1'/></error>`,
    ],
    ["bad-request", "bad-request", `<error type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>`],
  ];
  for (const [label, key, errorXml] of cases) {
    test(label, () => {
      const expected = parse(`<iq from='juliet@capulet.lit/balcony' id='ur71vs62' to='romeo@montague.lit/orchard' type='error'>${errorXml}</iq>`);
      assertXmlEqual(buildJingleIqError(request, JINGLE_IQ_ERRORS[key]), expected);
    });
  }

  test("text goes in the stanzas namespace; missing from/to are left out", () => {
    const iq = createElement("iq", { id: "a1", type: "set" });
    const reply = buildJingleIqError(iq, { ...JINGLE_IQ_ERRORS["bad-request"], text: "<candidate> is missing 'ip'" });
    assert.deepStrictEqual(reply.attrs, { type: "error", id: "a1" });
    assert.equal(reply.getChild("error")?.getChildText("text", NS.stanzas), "<candidate> is missing 'ip'");
  });

  test("readJingleIqError reads back what was built", () => {
    const reply = buildJingleIqError(request, { ...JINGLE_IQ_ERRORS["tie-break"], text: "lost" });
    assert.deepStrictEqual(readJingleIqError(parse(reply.toString())), { type: "cancel", condition: "conflict", jingleCondition: "tie-break", text: "lost" });
  });
});
