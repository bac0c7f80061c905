// Finding the server as a client with only a JID does (RFC 6120 §3.2,
// XEP-0368, RFC 8305), against a real DNS server and a real Prosody:
//
//   dnsmasq serves SRV/A/AAAA records for test domains; Prosody listens only
//   on ports no client would guess (STARTTLS and Direct TLS), with one
//   VirtualHost per case; real daemons (bin/jingled.js) are configured with
//   account.jid and a password only (no account.server).
//
// The file re-runs itself in a network namespace of its own whose
// /etc/resolv.conf names the dnsmasq (ip netns exec bind-mounts it), so the
// daemons resolve through it exactly as they would through any resolver.
// Inside: 127.0.0.1 (Prosody, the SRV targets), 127.0.0.3 (a forwarder on
// the default port 5222, where a domain without records leads), 2001:db8::1
// (Prosody over IPv6) and 2001:db8:dead::1 (an IPv6 path whose packets are
// dropped, for Happy Eyeballs).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { inOwnNetns } from "../../scripts/lab/netns.js";
import { dnsmasqUnavailable, startDnsmasq, type Dnsmasq } from "../../scripts/lab/dnsmasq.js";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { JINGLED_BIN, JINGLED_NODE_FLAGS, daemonConfig, startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { freePort } from "../../scripts/lab/ports.js";
import { startProcess } from "../../scripts/lab/process.js";

const LIMIT_MS = 150_000;
const PASSWORD = "door-pw";
const DEAD_V6 = "2001:db8:dead::1";

if (
  await inOwnNetns({
    prefix: "jingled-dns",
    what: "XMPP server discovery through DNS SRV (dnsmasq, Prosody)",
    limitMs: LIMIT_MS,
    unavailable: dnsmasqUnavailable,
    etc: { "resolv.conf": "nameserver 127.0.0.1\noptions timeout:2 attempts:2\n" },
  })
) {
  describe("DNS SRV discovery, Direct TLS and Happy Eyeballs against dnsmasq and Prosody", { timeout: LIMIT_MS - 10_000 }, () => {
    let prosody: ProsodyServer;
    let dns: Dnsmasq;
    let dir: string;
    let forwarder: net.Server;
    let forwarded = 0;
    const forwardedSockets = new Set<net.Socket>();
    const daemons: Daemon[] = [];
    /** Every certificate Prosody uses, in one file: the daemons trust them all (a wrong name must fail on the name, not on trust). */
    let caBundle: string;

    before(async () => {
      const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { stdio: "pipe", timeout: 10_000 });
      // glibc returns A records (AI_ADDRCONFIG) only when an IPv4 address other than 127.0.0.1 exists, AAAA only with a non-loopback IPv6 one.
      sh("ip", ["addr", "add", "127.0.0.3/8", "dev", "lo"]);
      sh("ip", ["-6", "addr", "add", "2001:db8::1/128", "dev", "lo"]);
      // The dead IPv6 path: routed, but every packet dropped (a connect to it would hang for minutes).
      sh("ip", ["-6", "route", "add", "2001:db8:dead::/64", "dev", "lo"]);
      sh("ip6tables", ["-A", "OUTPUT", "-d", DEAD_V6, "-j", "DROP"]);

      dir = mkdtempSync(join(tmpdir(), "jingled-discovery-"));
      const sharing = ["directtls.test", "failover.test", "fallback.test", "he.test", "v6.test", "explicit.test"];
      prosody = await startProsody({
        domain: "starttls.test",
        directTls: true,
        extraInterfaces: ["2001:db8::1"],
        // wrongcert.test's certificate names other.test only.
        extraHosts: [...sharing.map((domain) => ({ domain })), { domain: "wrongcert.test", certNames: ["other.test"] }],
      });
      await Promise.all(["starttls.test", ...sharing, "wrongcert.test"].map((host) => prosody.registerUser("door", PASSWORD, host)));
      caBundle = join(dir, "ca-bundle.pem");
      writeFileSync(caBundle, [...new Set(Object.values(prosody.certFiles))].map((f) => readFileSync(f, "utf8")).join("\n"));

      // Where a domain without SRV records leads: DOMAIN:5222, here 127.0.0.3:5222, forwarded to Prosody.
      forwarder = net.createServer((c) => {
        forwarded++;
        forwardedSockets.add(c);
        c.on("close", () => forwardedSockets.delete(c));
        const up = net.connect(prosody.port, "127.0.0.1");
        c.pipe(up).pipe(c);
        c.on("error", () => up.destroy());
        up.on("error", () => c.destroy());
      });
      await new Promise<void>((resolve) => forwarder.listen(5222, "127.0.0.3", resolve));

      const P = prosody.port;
      const P_TLS = prosody.directTlsPort!;
      const P_DOWN = await freePort("tcp", "127.0.0.1");
      dns = await startDnsmasq({
        localDomains: ["test"],
        srv: [
          // STARTTLS via SRV; Direct TLS declined with ".": the STARTTLS records count, no fallback (XEP-0368 §5).
          { name: "_xmpps-client._tcp.starttls.test" },
          { name: "_xmpp-client._tcp.starttls.test", target: "xmpp.starttls.test", port: P, priority: 10 },
          // Direct TLS preferred by priority; its target's name is not on the certificate (only directtls.test is).
          { name: "_xmpps-client._tcp.directtls.test", target: "tls.directtls.test", port: P_TLS, priority: 5 },
          { name: "_xmpp-client._tcp.directtls.test", target: "xmpp.directtls.test", port: P, priority: 10 },
          // The first target refuses connections.
          { name: "_xmpp-client._tcp.failover.test", target: "down.failover.test", port: P_DOWN, priority: 10 },
          { name: "_xmpp-client._tcp.failover.test", target: "xmpp.failover.test", port: P, priority: 20 },
          // No XMPP service at all.
          { name: "_xmpp-client._tcp.dot.test" },
          // A target with a dead IPv6 address (tried first) and a working IPv4 one.
          { name: "_xmpp-client._tcp.he.test", target: "xmpp.he.test", port: P, priority: 10 },
          // IPv6 only.
          { name: "_xmpp-client._tcp.v6.test", target: "xmpp.v6.test", port: P, priority: 10 },
          // The server's certificate is for another name.
          { name: "_xmpps-client._tcp.wrongcert.test", target: "xmpp.wrongcert.test", port: P_TLS, priority: 5 },
          { name: "_xmpp-client._tcp.wrongcert.test", target: "xmpp.wrongcert.test", port: P, priority: 10 },
        ],
        hosts: [
          { name: "xmpp.starttls.test", addresses: ["127.0.0.1"] },
          { name: "tls.directtls.test", addresses: ["127.0.0.1"] },
          { name: "xmpp.directtls.test", addresses: ["127.0.0.1"] },
          { name: "down.failover.test", addresses: ["127.0.0.1"] },
          { name: "xmpp.failover.test", addresses: ["127.0.0.1"] },
          { name: "fallback.test", addresses: ["127.0.0.3"] },
          { name: "dot.test", addresses: ["127.0.0.3"] },
          { name: "xmpp.he.test", addresses: [DEAD_V6, "127.0.0.1"] },
          { name: "xmpp.v6.test", addresses: ["2001:db8::1"] },
          { name: "xmpp.wrongcert.test", addresses: ["127.0.0.1"] },
          { name: "xmpp.explicit.test", addresses: ["127.0.0.1"] },
        ],
      });
    });

    after(async () => {
      await Promise.all(daemons.map((d) => d.stop().catch(() => undefined)));
      for (const c of forwardedSockets) c.destroy();
      await new Promise((r) => (forwarder ? forwarder.close(() => r(undefined)) : r(undefined)));
      await dns?.stop();
      await prosody?.stop();
      if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    /** A daemon configured as a user with an ordinary account would: the JID and a password (plus the test CA). */
    function accountOnly(domain: string, server?: string) {
      return {
        server: prosody,
        username: "door",
        password: PASSWORD,
        dir: join(dir, `${domain}${server ? "-explicit" : ""}`),
        config: {
          account: { jid: `door@${domain}`, password: PASSWORD, resource: "jingled", ...(server ? { server } : {}) },
          tls: { caFile: caBundle },
        },
      };
    }

    async function online(domain: string, server?: string): Promise<{ daemon: Daemon; via: string }> {
      const daemon = await startDaemon(accountOnly(domain, server));
      daemons.push(daemon);
      const status = (await daemon.control.request("status")) as { account: { state: string; jid: string; server?: string } };
      assert.equal(status.account.state, "online");
      assert.equal(status.account.jid, `door@${domain}/jingled`);
      return { daemon, via: status.account.server ?? "" };
    }

    /** Runs a daemon that cannot log in: its exit code and stderr. */
    async function failing(domain: string): Promise<{ code: number | null; stderr: string; log: string }> {
      const o = accountOnly(domain);
      const cfg = daemonConfig(o);
      const configFile = join(o.dir, "jingled.yaml");
      execFileSync("mkdir", ["-p", o.dir]);
      writeFileSync(configFile, stringify(cfg), { mode: 0o600 });
      const proc = await startProcess(process.execPath, [...JINGLED_NODE_FLAGS, JINGLED_BIN, "--config", configFile], { name: `jingled ${domain}` });
      const timer = setTimeout(() => void proc.stop("SIGKILL"), 40_000);
      const code = await proc.exited;
      clearTimeout(timer);
      const out = proc.output();
      return { code, stderr: out.split("\n").filter((l) => l.startsWith("jingled: ")).join("\n"), log: out };
    }

    test("STARTTLS through _xmpp-client SRV (Direct TLS declined with '.'), on a port no client would guess", async () => {
      const { via } = await online("starttls.test");
      assert.equal(via, `xmpp://xmpp.starttls.test:${prosody.port} (127.0.0.1)`);
      assert.ok(dns.queries().some((q) => q.startsWith("query[SRV] _xmpps-client._tcp.starttls.test")), "both SRV names asked");
    });

    test("Direct TLS through _xmpps-client SRV: TLS from the first byte, SNI and certificate for the JID's domain, not the SRV target", async () => {
      const { daemon, via } = await online("directtls.test");
      assert.match(daemon.process.output(), /"directTls":true,"msg":"connected"/);
      assert.equal(via, `xmpps://tls.directtls.test:${prosody.directTlsPort} (127.0.0.1)`);
      // The certificate names directtls.test (and the other test domains), never tls.directtls.test.
      const cert = execFileSync("openssl", ["x509", "-noout", "-ext", "subjectAltName", "-in", prosody.certFiles["directtls.test"]!], { encoding: "utf8" });
      assert.match(cert, /DNS:directtls\.test/);
      assert.doesNotMatch(cert, /tls\.directtls\.test/);
      // Prosody picks the certificate by SNI among its hosts' (its Direct TLS port has no single one): only SNI directtls.test gets this one.
    });

    test("account.server xmpps://HOST:PORT: Direct TLS to that host, the certificate still checked against the JID's domain", async () => {
      const { via } = await online("explicit.test", `xmpps://xmpp.explicit.test:${prosody.directTlsPort}`);
      assert.equal(via, `xmpps://xmpp.explicit.test:${prosody.directTlsPort} (127.0.0.1)`);
    });

    test("the first SRV target refuses connections: the next target by priority", async () => {
      const { daemon, via } = await online("failover.test");
      assert.equal(via, `xmpp://xmpp.failover.test:${prosody.port} (127.0.0.1)`);
      assert.match(daemon.process.output(), /"endpoint":"xmpp:\/\/down\.failover\.test:\d+","err":"connect ECONNREFUSED [^"]*","msg":"cannot connect; trying the next"/);
    });

    test("no SRV records: the domain itself on port 5222 (RFC 6120 §3.2.2)", async () => {
      const before = forwarded;
      const { via } = await online("fallback.test");
      assert.equal(via, "xmpp://fallback.test:5222 (127.0.0.3)");
      assert.ok(forwarded > before, "the connection went through DOMAIN:5222");
    });

    test("a dead IPv6 address first: Happy Eyeballs tries it, then IPv4 within a quarter second, not a TCP timeout", async (t) => {
      const dropped = () => Number(/^\s*(\d+)\s+\d+\s+DROP/m.exec(execFileSync("ip6tables", ["-L", "OUTPUT", "-v", "-n", "-x"], { encoding: "utf8" }))?.[1] ?? 0);
      const before = dropped();
      const t0 = performance.now();
      const { via } = await online("he.test");
      const ms = performance.now() - t0;
      assert.equal(via, `xmpp://xmpp.he.test:${prosody.port} (127.0.0.1)`);
      assert.ok(dropped() > before, "a SYN to the IPv6 address was sent (and dropped): IPv6 was tried first");
      // Without Happy Eyeballs the first attempt alone waits for TCP's timeout (minutes; the daemon's own limit is 10 s per target).
      t.diagnostic(`he.test: online after ${ms.toFixed(0)} ms (daemon start included)`);
    });

    test("an IPv6-only target: connected over IPv6", async () => {
      const { via } = await online("v6.test");
      assert.equal(via, `xmpp://xmpp.v6.test:${prosody.port} (2001:db8::1)`);
    });

    test("a '.' target: 'no XMPP service', exit 69, and no fallback to the domain's address", async () => {
      const before = forwarded;
      const r = await failing("dot.test");
      assert.equal(r.code, 69, r.log);
      assert.match(r.stderr, /^jingled: dot\.test has no XMPP service: its DNS SRV record \(_xmpp-client\) name the target "\."/);
      assert.equal(forwarded, before, "nothing connected to dot.test:5222");
    });

    test("a certificate for the wrong name: refused on Direct TLS and on STARTTLS, exit 76, no login attempted", async () => {
      const r = await failing("wrongcert.test");
      assert.equal(r.code, 76, r.log);
      assert.match(r.stderr, /^jingled: TLS with wrongcert\.test failed: .*(altnames|other\.test)/);
      // Both endpoints were tried and refused on the name.
      assert.match(r.log, new RegExp(`xmpps://xmpp\\.wrongcert\\.test:${prosody.directTlsPort}[\\s\\S]*(altnames|other\\.test)`));
      assert.doesNotMatch(prosody.logs(), /Authenticated as door@wrongcert\.test|<auth[^>]*>.*door@wrongcert/);
    });
  });
}
