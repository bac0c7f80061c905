// Structured mutation of XML stanzas for property-based fuzzing (fast-check).
// A golden stanza (test/fixtures/jingle/*.xml, or one we build) is parsed,
// then a short list of edits is applied to a clone: attributes set to
// hostile values or removed, children duplicated (past every LIMIT), removed,
// renamed, moved to another namespace, unknown elements and text added, deep
// nesting. The result goes back through the XML serialiser and parser, as it
// would over the wire. No test-framework imports: test/fuzz/fuzz-long.ts uses it.
import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import * as ltx from "ltx";
import { parse, createElement, type Element } from "ltx";
import { NS } from "../../src/jingle/protocol/namespaces.js";
import { JINGLE_ACTIONS } from "../../src/jingle/protocol/xep0166.js";

/** The repository's test/ directory (this file runs from dist/test/fuzz). */
export const TEST_DIR = fileURLToPath(new URL("../../../test/", import.meta.url));

/** Golden Jingle stanzas: every `<iq/>` of test/fixtures/jingle, as text. */
export function jingleFixtures(): string[] {
  const dir = `${TEST_DIR}fixtures/jingle/`;
  return readdirSync(dir)
    .filter((f) => f.endsWith(".xml"))
    .sort()
    .map((f) => readFileSync(dir + f, "utf8").replace(/<!--[\s\S]*?-->/g, "").trim());
}

export const ATTR_NAMES = [
  "action", "sid", "initiator", "responder", "creator", "name", "senders", "disposition", "media", "ssrc",
  "id", "clockrate", "channels", "ptime", "maxptime", "value", "type", "subtype", "uri", "component",
  "foundation", "generation", "ip", "network", "port", "priority", "protocol", "rel-addr", "rel-port",
  "tcptype", "ufrag", "pwd", "hash", "setup", "xmlns", "from", "to", "xml:lang", "host", "username",
  "password", "expires", "transport", "restricted", "jid", "subscription", "ask",
] as const;

export const ELEMENT_NAMES = [
  "jingle", "content", "description", "transport", "payload-type", "parameter", "rtcp-fb", "rtp-hdrext",
  "rtcp-mux", "candidate", "remote-candidate", "fingerprint", "reason", "text", "success", "busy",
  "alternative-session", "sid", "ringing", "mute", "unmute", "hold", "unhold", "active", "propose",
  "proceed", "reject", "retract", "finish", "tie-break", "gathering-complete", "source", "group",
  "service", "services", "item", "query", "error", "x", "unknown",
] as const;

export const NAMESPACES = [...Object.values(NS), "", "urn:example:unknown", "jabber:client", "urn:xmpp:extdisco:2", "jabber:iq:roster"];

/** Attribute values that have broken parsers elsewhere: numbers at and past bounds, odd syntax, huge, prototype names. */
export const HOSTILE_VALUES = [
  "", "0", "1", "-1", "+1", "01", " 5", "5 ", "1e3", "0x10", "1.5", "NaN", "Infinity", "127", "128", "255",
  "256", "257", "65535", "65536", "4294967295", "4294967296", "9007199254740991", "9007199254740993",
  "18446744073709551616", "999999999999999999999999", "udp", "UDP", "tcp", "host", "srflx", "prflx", "relay",
  "both", "none", "initiator", "responder", "actpass", "active", "passive", "holdconn", "sha-256", "md5",
  "::1", "127.0.0.1", "0.0.0.0", "255.255.255.255", "fe80::1%eth0", "example.local", "audio", "video",
  "__proto__", "constructor", "toString", "hasOwnProperty", "1023", "1024", "1025",
  "a".repeat(1024), "b".repeat(1025), "c".repeat(5000), "é😀\u202e", "<>&'\"", "a:b:c", "turn:x?transport=tcp",
  "2030-01-01T00:00:00Z", "not-a-date", ...JINGLE_ACTIONS,
];

export type XmlEdit =
  | { op: "setAttr"; at: number; name: string; value: string }
  | { op: "delAttr"; at: number; pick: number }
  | { op: "dupChild"; at: number; pick: number; times: number }
  | { op: "delChild"; at: number; pick: number }
  | { op: "rename"; at: number; name: string }
  | { op: "setNs"; at: number; ns: string }
  | { op: "addChild"; at: number; name: string; ns: string; attrs: [string, string][] }
  | { op: "text"; at: number; text: string }
  | { op: "nest"; at: number; depth: number }
  | { op: "swap"; at: number; pick: number };

const attrName = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...ATTR_NAMES) }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom(..."abcxyz-_:") }) });
const attrValue = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...HOSTILE_VALUES) },
  { weight: 2, arbitrary: fc.nat({ max: 70000 }).map(String) },
  { weight: 2, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ maxLength: 12, unit: "binary" }) },
);
const elementName = fc.oneof({ weight: 5, arbitrary: fc.constantFrom(...ELEMENT_NAMES) }, { weight: 1, arbitrary: fc.string({ minLength: 1, maxLength: 8, unit: fc.constantFrom(..."abcxyz") }) });
const at = fc.nat();

export const xmlEdit: fc.Arbitrary<XmlEdit> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant("setAttr" as const), at, name: attrName, value: attrValue }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("delAttr" as const), at, pick: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("dupChild" as const), at, pick: fc.nat(), times: fc.oneof(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 60, max: 120 })) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("delChild" as const), at, pick: fc.nat() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("rename" as const), at, name: elementName }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("setNs" as const), at, ns: fc.constantFrom(...NAMESPACES) }) },
  {
    weight: 3,
    arbitrary: fc.record({
      op: fc.constant("addChild" as const),
      at,
      name: elementName,
      ns: fc.constantFrom(...NAMESPACES),
      attrs: fc.array(fc.tuple(attrName, attrValue), { maxLength: 4 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant("text" as const), at, text: fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom("t".repeat(1025), "u".repeat(5000))) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("nest" as const), at, depth: fc.integer({ min: 1, max: 600 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant("swap" as const), at, pick: fc.nat() }) },
);

/** ltx exports clone() as a function (Element#clone is not in this version; not declared in src/types). */
const cloneElement = (ltx as unknown as { clone(el: Element): Element }).clone;

function elementsOf(root: Element): Element[] {
  const out: Element[] = [];
  const stack = [root];
  while (stack.length > 0) {
    const el = stack.pop()!;
    out.push(el);
    for (const c of el.children) if (typeof c === "object") stack.push(c);
  }
  return out;
}

function childEls(el: Element): Element[] {
  return el.children.filter((c): c is Element => typeof c === "object");
}

/** Elements in a mutated stanza at most: about what fits in Prosody's 256 KiB stanza limit. */
const MAX_ELEMENTS = 3000;

/** Applies edits to a clone of `root`; never throws. */
export function applyEdits(root: Element, edits: readonly XmlEdit[]): Element {
  const doc = cloneElement(root);
  for (const e of edits) {
    const all = elementsOf(doc);
    const el = all[e.at % all.length]!;
    const kids = childEls(el);
    switch (e.op) {
      case "setAttr":
        if (e.name === "__proto__") break; // not representable as an attribute in ltx
        el.attrs[e.name] = e.value;
        break;
      case "delAttr": {
        const names = Object.keys(el.attrs);
        if (names.length > 0) delete el.attrs[names[e.pick % names.length]!];
        break;
      }
      case "dupChild": {
        const k = kids[e.pick % Math.max(1, kids.length)];
        // Duplicating what was duplicated grows exponentially: stay within a stanza the server would pass (256 KiB).
        const times = k ? Math.min(e.times, Math.floor((MAX_ELEMENTS - all.length) / elementsOf(k).length)) : 0;
        for (let i = 0; i < times; i++) el.cnode(cloneElement(k!));
        break;
      }
      case "delChild": {
        const k = kids[e.pick % Math.max(1, kids.length)];
        if (k) el.remove(k);
        break;
      }
      case "rename":
        if (el !== doc) el.name = e.name;
        break;
      case "setNs":
        if (e.ns === "") delete el.attrs.xmlns;
        else el.attrs.xmlns = e.ns;
        break;
      case "addChild": {
        const attrs: Record<string, string> = {};
        for (const [k, v] of e.attrs) if (k !== "__proto__") attrs[k] = v;
        if (e.ns !== "") attrs.xmlns = e.ns;
        el.cnode(createElement(e.name, attrs));
        break;
      }
      case "text":
        el.t(e.text);
        break;
      case "nest": {
        let cur = el;
        for (let i = 0; i < Math.min(e.depth, MAX_ELEMENTS - all.length); i++) cur = cur.c("x");
        break;
      }
      case "swap": {
        // Reorder: move one child to the front (out-of-order elements).
        const k = kids[e.pick % Math.max(1, kids.length)];
        if (k) {
          el.children.splice(el.children.indexOf(k), 1);
          el.children.unshift(k);
        }
        break;
      }
    }
  }
  return doc;
}

/**
 * Mutated stanzas as wire text: a golden stanza plus 0..8 edits, serialised.
 * Sometimes the text itself is cut or has bytes flipped (it may then not
 * parse, which the wire's XML parser would refuse before us).
 */
export function mutatedStanza(golden: readonly string[]): fc.Arbitrary<string> {
  const parsed = golden.map((x) => parse(x));
  const structured = fc
    .tuple(fc.nat({ max: parsed.length - 1 }), fc.array(xmlEdit, { maxLength: 8 }))
    .map(([i, edits]) => applyEdits(parsed[i]!, edits).toString());
  const textual = fc
    .tuple(structured, fc.nat(), fc.string({ minLength: 1, maxLength: 6 }))
    .map(([s, pos, ins]) => {
      const p = pos % (s.length + 1);
      return s.slice(0, p) + ins + s.slice(p + ins.length);
    });
  return fc.oneof({ weight: 8, arbitrary: structured }, { weight: 1, arbitrary: textual });
}

/** Parses wire text like the stream parser would; undefined when it is not one well-formed element. */
export function parseStanza(text: string): Element | undefined {
  try {
    const el = parse(text);
    return typeof el === "object" && el !== null ? el : undefined;
  } catch {
    return undefined;
  }
}
