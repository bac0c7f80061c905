// XEP-0353 elements both ways, with the shapes of the XEP's examples and of
// Conversations/Dino (reason in the Jingle namespace, tie-break).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "ltx";
import { buildJmi, buildJmiMessage, findJmi, parseJmi, JingleParseError } from "../../src/jingle/protocol/index.js";

const NS = "urn:xmpp:jingle-message:0";

const cases: { name: string; xml: string; json: ReturnType<typeof parseJmi> }[] = [
  {
    name: "propose (audio)",
    xml: `<propose xmlns="${NS}" id="ca3cf894-5325-482f-a412-a6e9f832298d"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio"/></propose>`,
    json: { action: "propose", id: "ca3cf894-5325-482f-a412-a6e9f832298d", media: ["audio"] },
  },
  { name: "ringing", xml: `<ringing xmlns="${NS}" id="a73sjjvkla37jfea"/>`, json: { action: "ringing", id: "a73sjjvkla37jfea" } },
  { name: "proceed", xml: `<proceed xmlns="${NS}" id="a73sjjvkla37jfea"/>`, json: { action: "proceed", id: "a73sjjvkla37jfea" } },
  {
    name: "reject busy",
    xml: `<reject xmlns="${NS}" id="a73sjjvkla37jfea"><reason xmlns="urn:xmpp:jingle:1"><busy/><text>Busy</text></reason></reject>`,
    json: { action: "reject", id: "a73sjjvkla37jfea", reason: { condition: "busy", text: "Busy" } },
  },
  {
    name: "retract cancel",
    xml: `<retract xmlns="${NS}" id="a73sjjvkla37jfea"><reason xmlns="urn:xmpp:jingle:1"><cancel/><text>Retracted</text></reason></retract>`,
    json: { action: "retract", id: "a73sjjvkla37jfea", reason: { condition: "cancel", text: "Retracted" } },
  },
  {
    name: "reject with tie-break",
    xml: `<reject xmlns="${NS}" id="x1"><reason xmlns="urn:xmpp:jingle:1"><expired/></reason><tie-break/></reject>`,
    json: { action: "reject", id: "x1", reason: { condition: "expired" }, tieBreak: true },
  },
  {
    name: "finish of a migrated session (XEP-0353 §4.2)",
    xml: `<finish xmlns="${NS}" id="ca3cf894"><reason xmlns="urn:xmpp:jingle:1"><expired/><text>Session migrated</text></reason><migrated to="989a46a6"/></finish>`,
    json: { action: "finish", id: "ca3cf894", reason: { condition: "expired", text: "Session migrated" }, migratedTo: "989a46a6" },
  },
  { name: "accept (old namespace, Conversations to its own bare JID)", xml: `<accept xmlns="${NS}" id="x2"/>`, json: { action: "accept", id: "x2" } },
  {
    name: "finish success",
    xml: `<finish xmlns="${NS}" id="a73sjjvkla37jfea"><reason xmlns="urn:xmpp:jingle:1"><success/><text>Success</text></reason></finish>`,
    json: { action: "finish", id: "a73sjjvkla37jfea", reason: { condition: "success", text: "Success" } },
  },
];

for (const c of cases) {
  test(`JMI ${c.name}: parse and build`, () => {
    assert.deepEqual(parseJmi(parse(c.xml)), c.json);
    // Built, then parsed again (ltx serialises namespaces of children as plain xmlns= like Prosody does).
    assert.deepEqual(parseJmi(parse(buildJmi(c.json).toString())), c.json);
  });
}

test("a propose message asks for a receipt and storage and finds its JMI child again", () => {
  const msg = buildJmiMessage("bob@example.org", { action: "propose", id: "s1", media: ["audio"] }, "m1");
  const back = parse(msg.toString());
  assert.equal(back.attrs.type, "chat");
  assert.equal(back.attrs.to, "bob@example.org");
  assert.equal(back.attrs.id, "jm-propose-s1", "a receipt for it names the session");
  assert.ok(back.getChild("request", "urn:xmpp:receipts"));
  assert.ok(back.getChild("store", "urn:xmpp:hints"));
  assert.deepEqual(parseJmi(findJmi(back)!), { action: "propose", id: "s1", media: ["audio"] });
});

test("malformed JMI: no id, unknown element, oversized attribute", () => {
  assert.throws(() => parseJmi(parse(`<proceed xmlns="${NS}"/>`)), JingleParseError);
  assert.throws(() => parseJmi(parse(`<accept-all xmlns="${NS}" id="1"/>`)), JingleParseError);
  assert.throws(() => parseJmi(parse(`<proceed xmlns="${NS}" id="${"x".repeat(5000)}"/>`)), JingleParseError);
  assert.equal(findJmi(parse(`<message><body>hi</body></message>`)), undefined);
});
