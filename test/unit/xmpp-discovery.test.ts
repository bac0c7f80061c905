// DNS SRV discovery rules (src/xmpp/discovery.ts) with a resolver that
// answers from a table: RFC 6120 §3.2, XEP-0368, RFC 2782 ordering.
// test/integration/xmpp-discovery.test.ts runs the same code against a real
// DNS server and a real Prosody.
import { test } from "node:test";
import assert from "node:assert/strict";
import { discover, endpointUri, orderSrv, parseService, type SrvRecord, type SrvResolver } from "../../src/xmpp/discovery.js";

function resolver(table: Record<string, SrvRecord[] | string>): SrvResolver & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    async resolveSrv(name) {
      asked.push(name);
      const v = table[name];
      if (v === undefined) throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: "ENOTFOUND" });
      if (typeof v === "string") throw Object.assign(new Error(`querySrv ${v} ${name}`), { code: v });
      return v;
    },
  };
}

const srv = (name: string, port: number, priority = 10, weight = 0): SrvRecord => ({ name, port, priority, weight });
const uris = (d: { endpoints: Parameters<typeof endpointUri>[0][] }) => d.endpoints.map(endpointUri);

test("both SRV names are asked; Direct TLS and STARTTLS records are one list by priority (XEP-0368 §3)", async () => {
  const r = resolver({
    "_xmpps-client._tcp.example.org": [srv("tls.example.org", 443, 20), srv("tls2.example.org", 5223, 5)],
    "_xmpp-client._tcp.example.org": [srv("xmpp.example.org", 5222, 10)],
  });
  const d = await discover("example.org", { resolver: r });
  assert.deepEqual(r.asked.sort(), ["_xmpp-client._tcp.example.org", "_xmpps-client._tcp.example.org"]);
  assert.equal(d.source, "srv");
  assert.deepEqual(uris(d), ["xmpps://tls2.example.org:5223", "xmpp://xmpp.example.org:5222", "xmpps://tls.example.org:443"]);
});

test("no record at all: the domain itself on 5222 (RFC 6120 §3.2.2)", async () => {
  const d = await discover("example.org", { resolver: resolver({}) });
  assert.equal(d.source, "fallback");
  assert.deepEqual(uris(d), ["xmpp://example.org:5222"]);
});

test('a "." target: no XMPP service, and no fallback to the domain (RFC 2782, RFC 6120 §3.2.1)', async () => {
  await assert.rejects(discover("example.org", { resolver: resolver({ "_xmpp-client._tcp.example.org": [srv("", 0, 0)] }) }), (err: Error & { code?: string }) => {
    assert.equal(err.code, "no-service");
    assert.match(err.message, /^example\.org has no XMPP service: its DNS SRV record \(_xmpp-client\) name the target "\."/);
    return true;
  });
  await assert.rejects(
    discover("example.org", { resolver: resolver({ "_xmpp-client._tcp.example.org": [srv(".", 0)], "_xmpps-client._tcp.example.org": [srv("", 0)] }) }),
    /no XMPP service: its DNS SRV records \(_xmpps-client, _xmpp-client\)/,
  );
});

test('_xmpps-client "." declines Direct TLS only: the STARTTLS records are used (XEP-0368 §5)', async () => {
  const d = await discover("example.org", {
    resolver: resolver({ "_xmpps-client._tcp.example.org": [srv("", 0)], "_xmpp-client._tcp.example.org": [srv("xmpp.example.org", 5269)] }),
  });
  assert.deepEqual(uris(d), ["xmpp://xmpp.example.org:5269"]);
});

test("a failed lookup (not NXDOMAIN/NODATA) counts as no record and is reported", async () => {
  const d = await discover("example.org", { resolver: resolver({ "_xmpps-client._tcp.example.org": "ESERVFAIL", "_xmpp-client._tcp.example.org": [srv("x.example.org", 5222)] }) });
  assert.deepEqual(uris(d), ["xmpp://x.example.org:5222"]);
  assert.deepEqual(d.dnsErrors, ["_xmpps-client._tcp.example.org: ESERVFAIL"]);
  const both = await discover("example.org", { resolver: resolver({ "_xmpps-client._tcp.example.org": "ETIMEOUT", "_xmpp-client._tcp.example.org": "ESERVFAIL" }) });
  assert.equal(both.source, "fallback");
  assert.equal(both.dnsErrors.length, 2);
});

test("RFC 2782 weights: within a priority each record is picked in proportion to its weight; priorities never mix", () => {
  const records = [srv("a", 1, 10, 60), srv("b", 1, 10, 30), srv("c", 1, 10, 10), srv("z", 1, 20, 100), srv("zero", 1, 10, 0)];
  // A seeded generator: the counts below are deterministic.
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const first = new Map<string, number>();
  const N = 20_000;
  for (let i = 0; i < N; i++) {
    const order = orderSrv(records, random).map((r) => r.name);
    assert.equal(order.at(-1), "z", "priority 20 always after priority 10");
    assert.equal(order.length, 5);
    first.set(order[0]!, (first.get(order[0]!) ?? 0) + 1);
  }
  const share = (n: string) => (first.get(n) ?? 0) / N;
  // Weights 60:30:10 of 100 (the weight-0 record wins only on a draw of 0: 1 in 101).
  assert.ok(Math.abs(share("a") - 0.6) < 0.02, `a first ${share("a")}`);
  assert.ok(Math.abs(share("b") - 0.3) < 0.02, `b first ${share("b")}`);
  assert.ok(Math.abs(share("c") - 0.1) < 0.02, `c first ${share("c")}`);
  assert.ok(share("zero") < 0.02, `zero first ${share("zero")}`);
});

test("orderSrv table: fixed draws give the RFC 2782 running-sum choice", () => {
  const rs = [srv("w0", 1, 1, 0), srv("w1", 1, 1, 1), srv("w3", 1, 1, 3)];
  // Running sums in order w0 (0), w1 (1), w3 (4); a draw of floor(r * 5).
  for (const [r, firstPick] of [
    [0, "w0"],
    [0.2, "w1"], // 1
    [0.4, "w3"], // 2
    [0.99, "w3"], // 4
  ] as const) {
    assert.equal(orderSrv(rs, () => r)[0]!.name, firstPick, `draw ${r}`);
  }
});

test("account.server: xmpp:// is STARTTLS (5222), xmpps:// Direct TLS (5223); IPv6 in brackets; anything else refused", () => {
  assert.deepEqual(parseService("xmpp://xmpp.example.org"), { host: "xmpp.example.org", port: 5222, directTls: false });
  assert.deepEqual(parseService("xmpps://xmpp.example.org"), { host: "xmpp.example.org", port: 5223, directTls: true });
  assert.deepEqual(parseService("xmpps://[2001:db8::1]:443"), { host: "2001:db8::1", port: 443, directTls: true });
  assert.deepEqual(parseService("xmpp://127.0.0.1:5299"), { host: "127.0.0.1", port: 5299, directTls: false });
  for (const bad of ["https://x", "xmpp://", "xmpp://a:b", "xmpp://a:70000", "xmpp://a/b"]) assert.throws(() => parseService(bad), /account\.server/, bad);
  assert.equal(endpointUri({ host: "2001:db8::1", port: 5223, directTls: true }), "xmpps://[2001:db8::1]:5223");
});
