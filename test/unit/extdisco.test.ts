// XEP-0215 parsing (the XEP's example shapes, Prosody's) and the expiry-driven cache.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parse } from "ltx";
import { ExternalServices, parseServices, NS_EXTDISCO } from "../../src/xmpp/extdisco.js";

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
