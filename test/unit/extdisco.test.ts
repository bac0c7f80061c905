// XEP-0215 parsing (the XEP's example shapes, Prosody's) and the expiry-driven cache.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse, type Element } from "ltx";
import _iqCaller from "@xmpp/iq/caller.js";
import { ExternalServices, FAILURE_RETRY_MS, buildServicesQuery, parseServices, NS_EXTDISCO } from "../../src/xmpp/extdisco.js";
import { requestIq } from "../../src/xmpp/iq-caller.js";

const RESULT = `<iq type="result" id="x"><services xmlns="${NS_EXTDISCO}">
  <service host="stun.shakespeare.lit" port="9998" transport="udp" type="stun"/>
  <service expires="2026-11-21T18:00:00Z" host="turn.shakespeare.lit" password="pw1" port="9999" restricted="1" transport="udp" type="turn" username="1795300000:alice"/>
  <service host="turn.shakespeare.lit" port="443" transport="tcp" type="turns" username="u" password="p"/>
  <service host="x" port="0" type="turn"/>
  <service host="y" port="3478" type="carrier-pigeon"/>
</services></iq>`;

test("parses stun/turn/turns services and skips unusable entries", () => {
  const services = parseServices(parse(RESULT).getChild("services", NS_EXTDISCO));
  assert.equal(services.length, 3);
  assert.deepEqual(services[0], { type: "stun", host: "stun.shakespeare.lit", port: 9998, transport: "udp" });
  assert.deepEqual(services[1], {
    type: "turn", host: "turn.shakespeare.lit", port: 9999, transport: "udp",
    username: "1795300000:alice", password: "pw1", expires: Date.parse("2026-11-21T18:00:00Z"), restricted: true,
  });
  assert.equal(services[2]!.type, "turns");
  assert.equal(services[2]!.transport, "tcp");
});

test("the cache asks again shortly before the credentials expire", async () => {
  let now = Date.parse("2026-11-21T17:00:00Z");
  let queries = 0;
  const es = new ExternalServices(async () => {
    queries++;
    return parse(RESULT);
  }, () => now);
  await es.get();
  await es.get();
  assert.equal(queries, 1, "cached");
  now = Date.parse("2026-11-21T17:50:00Z"); // 10 min before expiry: still fine
  await es.get();
  assert.equal(queries, 1);
  now = Date.parse("2026-11-21T17:56:00Z"); // within the 5 min margin: refreshed
  await es.get();
  assert.equal(queries, 2);
});

test("concurrent callers share one query", async () => {
  let queries = 0;
  const es = new ExternalServices(async () => {
    queries++;
    await new Promise((r) => setTimeout(r, 10));
    return parse(RESULT);
  });
  await Promise.all([es.get(), es.get(), es.get()]);
  assert.equal(queries, 1);
});

// ------------------------------------------------------------ failures: clean errors, no unhandled rejection

/** An @xmpp/iq caller (the real one) on a stand-in entity whose send() resolves when we say. */
function iqCallerRig() {
  let route: ((ctx: { type: string; name: string; id: string; stanza: Element }, next: () => unknown) => unknown) | undefined;
  let releaseSend: () => void = () => undefined;
  const sent: Element[] = [];
  const entity = {
    send: (s: Element) => {
      sent.push(s);
      return new Promise<void>((r) => (releaseSend = r));
    },
  };
  const caller = _iqCaller({ middleware: { use: (fn: typeof route) => (route = fn) }, entity } as never) as unknown as { request(s: Element, t?: number): Promise<Element> };
  const replyError = (id: string, condition: string) =>
    route!({ type: "error", name: "iq", id, stanza: parse(`<iq type="error" id="${id}"><error type="cancel"><${condition} xmlns="urn:ietf:params:xml:ns:xmpp-stanzas"/></error></iq>`) }, () => undefined);
  return { caller, sent, replyError, releaseSend: () => releaseSend() };
}

/** Unhandled rejections seen while `fn` runs (and a few turns after). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const onUnhandled = (err: unknown) => seen.push(err);
  process.on("unhandledRejection", onUnhandled);
  try {
    await fn();
    await new Promise((r) => setTimeout(r, 20));
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
  return seen;
}

// With @xmpp/iq's request() alone this exact sequence is an unhandled
// rejection (the test runner then fails the test by itself).
test("an error answer that arrives before send() resolved is no unhandled rejection (requestIq)", async () => {
  const rig = iqCallerRig();
  let caught: unknown;
  const seen = await unhandledDuring(async () => {
    const p = requestIq(rig.caller, buildServicesQuery("localhost"), 1000).catch((err: unknown) => (caught = err));
    rig.replyError(rig.sent[0]!.attrs.id!, "service-unavailable");
    await new Promise((r) => setTimeout(r, 5));
    rig.releaseSend();
    await p;
  });
  assert.deepEqual(seen, []);
  assert.equal((caught as { condition?: string }).condition, "service-unavailable");
});

test("no answer: requestIq fails with a message naming the time limit", async () => {
  const rig = iqCallerRig();
  const p = requestIq(rig.caller, buildServicesQuery("localhost"), 30);
  rig.releaseSend();
  await assert.rejects(p, /no answer within 30 ms/);
});

test("a failed query is one clear error, remembered for a minute (no query per call)", async () => {
  let now = 1_000_000;
  let queries = 0;
  const rig = iqCallerRig();
  const es = new ExternalServices(async () => {
    queries++;
    const p = requestIq(rig.caller, buildServicesQuery("localhost"), 1000);
    rig.releaseSend();
    rig.replyError(rig.sent.at(-1)!.attrs.id!, "feature-not-implemented");
    return p;
  }, () => now);
  const seen = await unhandledDuring(async () => {
    await assert.rejects(es.get(), /^Error: XEP-0215 external services query failed: the server answered feature-not-implemented$/);
    await assert.rejects(es.get(), /feature-not-implemented/);
  });
  assert.deepEqual(seen, []);
  assert.equal(queries, 1, "the failure is remembered");
  now += FAILURE_RETRY_MS + 1;
  await assert.rejects(es.get(), /feature-not-implemented/);
  assert.equal(queries, 2, "asked again after FAILURE_RETRY_MS");
  es.invalidate();
  await assert.rejects(es.get());
  assert.equal(queries, 3, "invalidate() forgets the failure");
});

test("a timed-out query names the limit", async () => {
  const es = new ExternalServices(() => Promise.reject(Object.assign(new Error(""), { name: "TimeoutError" })).catch(() => {
    throw new Error("no answer within 5000 ms");
  }));
  await assert.rejects(es.get(), /XEP-0215 external services query failed: no answer within 5000 ms/);
});
