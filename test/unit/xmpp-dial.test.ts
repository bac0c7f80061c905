// dial.ts against local TLS and TCP servers: what Direct TLS sends (SNI and
// ALPN, XEP-0368 §3) and checks (the certificate against the JID's domain,
// not the host dialled), and moving on from a target that refuses.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { dial } from "../../src/xmpp/dial.js";
import { freePort } from "../../scripts/lab/ports.js";

let dir: string;
const certs: Record<string, { key: Buffer; cert: Buffer }> = {};

before(() => {
  dir = mkdtempSync(join(tmpdir(), "jingled-dial-"));
  for (const name of ["example.org", "xmpp.example.org"]) {
    const key = join(dir, `${name}.key`);
    const cert = join(dir, `${name}.crt`);
    execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", `/CN=${name}`, "-addext", `subjectAltName=DNS:${name}`], { stdio: "pipe" });
    certs[name] = { key: readFileSync(key), cert: readFileSync(cert) };
  }
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** A Direct TLS server presenting `name`'s certificate; records what each client asked for. */
async function tlsServer(name: string): Promise<{ port: number; seen: { servername?: string | false; alpn?: string | false | null }[]; close(): Promise<void> }> {
  const seen: { servername?: string | false; alpn?: string | false | null }[] = [];
  const server = tls.createServer({ ...certs[name]!, ALPNProtocols: ["xmpp-client"] }, (s) => {
    seen.push({ servername: (s as tls.TLSSocket & { servername?: string | false }).servername, alpn: s.alpnProtocol });
    s.on("error", () => undefined);
  });
  server.on("tlsClientError", () => undefined);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { port: (server.address() as net.AddressInfo).port, seen, close: () => new Promise((r) => server.close(() => r())) };
}

const ca = () => [certs["example.org"]!.cert.toString(), certs["xmpp.example.org"]!.cert.toString()];

test("Direct TLS: SNI is the JID's domain and ALPN xmpp-client, whatever host is dialled; the certificate must name the domain", async () => {
  const srv = await tlsServer("example.org");
  try {
    const d = await dial([{ host: "localhost", port: srv.port, directTls: true }], { domain: "example.org", ca: ca() });
    assert.ok(d.socket instanceof tls.TLSSocket && d.socket.authorized);
    assert.equal(d.socket.alpnProtocol, "xmpp-client");
    // The server side's callback may come a moment after the client's handshake.
    for (let i = 0; i < 100 && srv.seen.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    d.socket.destroy();
    assert.deepEqual(srv.seen, [{ servername: "example.org", alpn: "xmpp-client" }]);
  } finally {
    await srv.close();
  }
});

test("Direct TLS: a certificate for the host dialled (the SRV target) but not the domain is refused: tls-failed", async () => {
  const srv = await tlsServer("xmpp.example.org");
  try {
    await assert.rejects(dial([{ host: "localhost", port: srv.port, directTls: true }], { domain: "example.org", ca: ca() }), (err: Error & { code?: string }) => {
      assert.equal(err.code, "tls-failed");
      assert.match(err.message, /^TLS with example\.org failed: xmpps:\/\/localhost:\d+: TLS: .*example\.org/);
      return true;
    });
  } finally {
    await srv.close();
  }
});

test("a refused target is skipped for the next; nothing answering at all: unreachable, every attempt named", async () => {
  const closed = await freePort("tcp", "127.0.0.1");
  const open = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => open.listen(0, "127.0.0.1", r));
  const port = (open.address() as net.AddressInfo).port;
  try {
    const failed: string[] = [];
    const d = await dial(
      [
        { host: "127.0.0.1", port: closed, directTls: false },
        { host: "127.0.0.1", port, directTls: false },
      ],
      { domain: "example.org", onFailure: (e) => failed.push(`${e.host}:${e.port}`) },
    );
    assert.equal(d.endpoint.port, port);
    assert.equal(d.address, "127.0.0.1");
    assert.deepEqual(failed, [`127.0.0.1:${closed}`]);
    d.socket.destroy();
    await assert.rejects(dial([{ host: "127.0.0.1", port: closed, directTls: false }], { domain: "example.org" }), (err: Error & { code?: string }) => {
      assert.equal(err.code, "unreachable");
      assert.equal(err.message, `cannot reach the XMPP service of example.org: xmpp://127.0.0.1:${closed}: connection refused`);
      return true;
    });
  } finally {
    await new Promise((r) => open.close(r));
  }
});
