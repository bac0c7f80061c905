// SCRAM channel binding (src/xmpp/channel-binding.ts, scram.ts, the real
// account connection): the attack it exists for, performed against the real
// code. A man in the middle holds a certificate the client trusts (here: the
// very certificate of the server, as a stolen key or a rogue CA would give),
// terminates the client's TLS and relays the bytes over a TLS connection of
// its own to the real server. The "real server" is a scripted one that checks
// SCRAM as RFC 5802 §6 requires of a server that can bind channels.
//
//   relayed -PLUS login                -> the server sees the binding of another TLS connection: refused
//   -PLUS struck from the mechanisms,
//     XEP-0440 list left               -> the client refuses: nothing is sent
//   -PLUS and the XEP-0440 list struck -> the client says "y" (it could bind): the server refuses the downgrade
//
// Without channel binding each of these logins goes through the man in the middle.
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { pino } from "pino";
import { XmppConnection } from "../../src/xmpp/connection.js";
import { chooseMechanism, endPointHash } from "../../src/xmpp/channel-binding.js";
import { FEATURES, scramServer, startFakeXmppServer, type FakeConnection, type FakeXmppServer, type ScramServerResult } from "../fakes/fake-xmpp-server.js";

const CB_FEATURE = (...types: string[]) => `<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>${types.map((t) => `<channel-binding type='${t}'/>`).join("")}</sasl-channel-binding>`;
const PASSWORD = "alice-pw";

test("chooseMechanism table: -PLUS first and never a downgrade from it (RFC 5802 §6, XEP-0440)", () => {
  const all = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"];
  const tls13 = { available: ["tls-exporter", "tls-unique", "tls-server-end-point"] as const, secure: true };
  const tls12 = { available: ["tls-unique", "tls-server-end-point"] as const, secure: true };
  const cases: { name: string; in: Parameters<typeof chooseMechanism>[0]; out: unknown }[] = [
    { name: "TLS 1.3, no XEP-0440: tls-unique (what servers without the list take, ejabberd 23.01)", in: { ...tls13, available: [...tls13.available], mechanisms: all, serverTypes: undefined }, out: { mechanism: "SCRAM-SHA-256-PLUS", flag: "p", type: "tls-unique" } },
    { name: "TLS 1.2, no XEP-0440: tls-unique (RFC 5802 default)", in: { ...tls12, available: [...tls12.available], mechanisms: ["SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"], serverTypes: undefined }, out: { mechanism: "SCRAM-SHA-1-PLUS", flag: "p", type: "tls-unique" } },
    { name: "XEP-0440 lists only tls-server-end-point", in: { ...tls13, available: [...tls13.available], mechanisms: all, serverTypes: ["tls-server-end-point"] }, out: { mechanism: "SCRAM-SHA-256-PLUS", flag: "p", type: "tls-server-end-point" } },
    { name: "XEP-0440 lists both: tls-exporter preferred", in: { ...tls13, available: [...tls13.available], mechanisms: all, serverTypes: ["tls-server-end-point", "tls-exporter"] }, out: { mechanism: "SCRAM-SHA-256-PLUS", flag: "p", type: "tls-exporter" } },
    { name: "no -PLUS, nothing announced, over TLS: 'y'", in: { ...tls13, available: [...tls13.available], mechanisms: ["SCRAM-SHA-1", "PLAIN"], serverTypes: undefined }, out: { mechanism: "SCRAM-SHA-1", flag: "y" } },
    { name: "no -PLUS, plaintext allowed: 'n'", in: { available: [], secure: false, mechanisms: ["SCRAM-SHA-1"], serverTypes: undefined }, out: { mechanism: "SCRAM-SHA-1", flag: "n" } },
    { name: "XEP-0440 lists a type nobody can use here, no -PLUS: 'y'", in: { ...tls12, available: [...tls12.available], mechanisms: ["SCRAM-SHA-1"], serverTypes: ["tls-exporter"] }, out: { mechanism: "SCRAM-SHA-1", flag: "y" } },
  ];
  for (const c of cases) assert.deepEqual(chooseMechanism(c.in), c.out, c.name);
  const refusals: { name: string; in: Parameters<typeof chooseMechanism>[0]; re: RegExp }[] = [
    { name: "-PLUS offered, only tls-exporter, on TLS 1.2", in: { ...tls12, available: [...tls12.available], mechanisms: all, serverTypes: ["tls-exporter"] }, re: /offers SCRAM-SHA-256-PLUS with channel binding tls-exporter.*refusing/ },
    { name: "XEP-0440 announced, -PLUS struck", in: { ...tls13, available: [...tls13.available], mechanisms: ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"], serverTypes: ["tls-exporter"] }, re: /announces channel binding \(tls-exporter, XEP-0440\) but offers no SCRAM-\*-PLUS/ },
  ];
  for (const r of refusals) assert.throws(() => chooseMechanism(r.in), (err: Error & { code?: string }) => err.code === "channel-binding" && r.re.test(err.message), r.name);
});

describe("tls-server-end-point: the certificate's signature hash (RFC 5929 §4.1)", () => {
  let dir: string;
  before(() => void (dir = mkdtempSync(join(tmpdir(), "jingled-cb-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const der = (args: string[]) => {
    const file = join(dir, "c.pem");
    execFileSync("openssl", ["req", "-x509", "-nodes", "-keyout", join(dir, "k.pem"), "-out", file, "-days", "1", "-subj", "/CN=x", ...args], { stdio: "pipe" });
    return new X509Certificate(readFileSync(file)).raw;
  };
  for (const [what, args, hash] of [
    ["ECDSA P-256 with SHA-256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-sha256"], "sha256"],
    ["ECDSA P-384 with SHA-384", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1", "-sha384"], "sha384"],
    ["RSA with SHA-512", ["-newkey", "rsa:1024", "-sha512"], "sha512"],
    ["RSA with SHA-1 (becomes SHA-256)", ["-newkey", "rsa:1024", "-sha1"], "sha256"],
    ["Ed25519 (undefined by RFC 5929)", ["-newkey", "ed25519"], undefined],
  ] as const) {
    test(what, () => assert.equal(endPointHash(der([...args])), hash));
  }
});

describe("a man in the middle with a trusted certificate relays the login", { timeout: 60_000 }, () => {
  let real: FakeXmppServer | undefined;
  let mitm: net.Server | undefined;
  let conn: XmppConnection | undefined;
  const relayed: net.Socket[] = [];

  afterEach(async () => {
    await conn?.stop();
    for (const s of relayed.splice(0)) s.destroy();
    await new Promise((r) => (mitm ? mitm.close(r) : r(undefined)));
    await real?.stop();
    conn = real = mitm = undefined;
  });

  /** The real server: Direct TLS, SCRAM with channel binding, then <bind/> for whoever gets through. */
  async function startReal(features: string, cbTypes: string[]): Promise<{ server: FakeXmppServer; results: ScramServerResult[] }> {
    const results: ScramServerResult[] = [];
    const server = await startFakeXmppServer(
      async (c: FakeConnection) => {
        await c.openStream(features);
        const r = await scramServer(c, { password: PASSWORD, final: "success-data", cbTypes });
        results.push(r);
        if (r.refused) return;
        await c.openStream(FEATURES.bind);
        await c.bind("alice@localhost/test");
        // Close when asked (RFC 6120 §4.4), so that stop() does not wait for a timeout.
        await c.expect(/<\/stream:stream>/, 30_000);
        c.send("</stream:stream>");
        c.close();
      },
      { directTls: true },
    );
    real = server;
    return { server, results };
  }

  /** Terminates the client's TLS with the server's own certificate and relays to the server over TLS of its own; `rewrite` edits what the server says. */
  async function startMitm(server: FakeXmppServer, rewrite: (text: string) => string = (t) => t): Promise<string> {
    mitm = tls.createServer({ key: server.key, cert: server.cert, ALPNProtocols: ["xmpp-client"] }, (client) => {
      const upstream = tls.connect({ host: "127.0.0.1", port: server.port, servername: "localhost", ca: [server.cert.toString()], ALPNProtocols: ["xmpp-client"] });
      relayed.push(client, upstream);
      client.on("data", (d) => upstream.write(d));
      upstream.on("data", (d: Buffer) => client.write(rewrite(d.toString("utf8"))));
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        a.on("error", () => b.destroy());
        a.on("close", () => b.destroy());
      }
    });
    await new Promise<void>((r) => mitm!.listen(0, "127.0.0.1", r));
    return `xmpps://127.0.0.1:${(mitm.address() as net.AddressInfo).port}`;
  }

  function client(service: string, caFile: string): XmppConnection {
    conn = new XmppConnection({
      jid: "alice@localhost",
      password: PASSWORD,
      resource: "test",
      service,
      allowPlaintext: false,
      caFile,
      priority: 0,
      features: [],
      logger: pino({ level: "silent" }),
    });
    return conn;
  }

  const PLUS_FEATURES = FEATURES.mechanisms("SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN") + CB_FEATURE("tls-exporter", "tls-server-end-point");

  test("control: straight to the server, SCRAM-SHA-256-PLUS with tls-exporter logs in (the binding the server computes matches)", async () => {
    const { server, results } = await startReal(PLUS_FEATURES, ["tls-exporter", "tls-server-end-point"]);
    const c = client(server.service, server.caFile);
    await c.start();
    assert.equal(c.state, "online");
    assert.deepEqual(results, [{ mechanism: "SCRAM-SHA-256-PLUS", gs2Header: "p=tls-exporter,," }]);
  });

  test("no XEP-0440 list on TLS 1.3: tls-unique from the client's Finished, as the server computes it (ejabberd 23.01's way)", async () => {
    const { server, results } = await startReal(FEATURES.mechanisms("SCRAM-SHA-1-PLUS", "SCRAM-SHA-1"), ["tls-unique"]);
    const c = client(server.service, server.caFile);
    await c.start();
    assert.deepEqual(results, [{ mechanism: "SCRAM-SHA-1-PLUS", gs2Header: "p=tls-unique,," }]);
    assert.equal(server.connections[0]!.tlsSocket!.getProtocol(), "TLSv1.3");
  });

  test("control: a server announcing only tls-server-end-point gets it, and it matches the server's certificate", async () => {
    const features = FEATURES.mechanisms("SCRAM-SHA-1-PLUS", "SCRAM-SHA-1") + CB_FEATURE("tls-server-end-point");
    const { server, results } = await startReal(features, ["tls-server-end-point"]);
    const c = client(server.service, server.caFile);
    await c.start();
    assert.deepEqual(results, [{ mechanism: "SCRAM-SHA-1-PLUS", gs2Header: "p=tls-server-end-point,," }]);
  });

  test("the relayed -PLUS login: the server sees another TLS connection's binding and refuses it; the client never comes online", async () => {
    const { server, results } = await startReal(PLUS_FEATURES, ["tls-exporter", "tls-server-end-point"]);
    const c = client(await startMitm(server), server.caFile);
    await assert.rejects(c.start(), /refused the password|not-authorized/);
    assert.equal(c.state, "offline");
    assert.equal(results.length, 1);
    assert.equal(results[0]!.gs2Header, "p=tls-exporter,,");
    assert.equal(results[0]!.refused, "channel binding mismatch (tls-exporter)");
  });

  test("-PLUS struck from the mechanisms, the XEP-0440 list left: the client refuses and sends no <auth/>", async () => {
    const { server, results } = await startReal(PLUS_FEATURES, ["tls-exporter", "tls-server-end-point"]);
    const strip = (t: string) => t.replace(/<mechanism>SCRAM-SHA-(?:1|256)-PLUS<\/mechanism>/g, "");
    const c = client(await startMitm(server, strip), server.caFile);
    await assert.rejects(c.start(), (err: Error & { code?: string }) => {
      assert.equal(err.code, "channel-binding");
      assert.match(err.message, /announces channel binding .* but offers no SCRAM-\*-PLUS mechanism: the list was altered on the way/);
      return true;
    });
    assert.deepEqual(results, []);
    assert.doesNotMatch(server.connections[0]?.received ?? "", /<auth /);
  });

  test("-PLUS and the XEP-0440 list both struck: the client says 'y' (it can bind) and the server, which can, refuses the downgrade", async () => {
    const { server, results } = await startReal(PLUS_FEATURES, ["tls-exporter", "tls-server-end-point"]);
    const strip = (t: string) => t.replace(/<mechanism>SCRAM-SHA-(?:1|256)-PLUS<\/mechanism>/g, "").replace(/<sasl-channel-binding[\s\S]*?<\/sasl-channel-binding>/, "");
    const c = client(await startMitm(server, strip), server.caFile);
    await assert.rejects(c.start(), /refused the password|not-authorized/);
    assert.equal(results.length, 1);
    assert.equal(results[0]!.mechanism, "SCRAM-SHA-256");
    assert.equal(results[0]!.gs2Header, "y,,");
    assert.match(results[0]!.refused ?? "", /downgrade/);
  });

  test("a server without channel binding (no -PLUS, no XEP-0440, as Prosody 0.12 on TLS 1.3) still takes 'y'", async () => {
    const { server, results } = await startReal(FEATURES.mechanisms("SCRAM-SHA-1", "PLAIN"), []);
    const c = client(server.service, server.caFile);
    await c.start();
    assert.deepEqual(results, [{ mechanism: "SCRAM-SHA-1", gs2Header: "y,," }]);
  });
});
