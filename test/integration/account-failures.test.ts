// What a person sees when the account cannot be online, with real daemons
// (bin/jingled.js) and a real Prosody:
//
// - two daemons on one JID and resource: each login kicks the other off
//   (RFC 6120 §7.7.2.2, Prosody's conflict_resolve "kick_old"); they used to
//   do that every ~2 s forever. Now the second <conflict/> stops one of them,
//   which says why in status and an account event;
// - a wrong password and a server that is not up: different messages and
//   exit codes (77 and 69), the systemd unit restarts only the second;
// - while reconnecting, status shows the last error and the next try.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import { JINGLED_BIN, JINGLED_NODE_FLAGS, daemonConfig, startDaemon, type Daemon, type DaemonOptions } from "../../scripts/lab/daemon.js";
import { startTcpCutProxy } from "../../scripts/lab/tcp-cut-proxy.js";
import { freePort } from "../../scripts/lab/ports.js";
import { startProcess } from "../../scripts/lab/process.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("account failures are explained, not looped", { timeout: 120_000 }, () => {
  let prosody: ProsodyServer;
  let dir: string;
  const daemons: Daemon[] = [];
  const lab = withLab({ name: "account-failures", users: { door: "door-pw", gate: "gate-pw" } });
  before(() => {
    ({ prosody, dir } = lab);
    lab.cleanup(() => Promise.all(daemons.map((d) => d.stop().catch(() => undefined))));
  });

  /** Runs a daemon that is expected to exit: its code and the lines it wrote to stderr for people. */
  async function runToExit(o: DaemonOptions): Promise<{ code: number | null; said: string; log: string }> {
    mkdirSync(o.dir, { recursive: true });
    const configFile = join(o.dir, "jingled.yaml");
    writeFileSync(configFile, stringify(daemonConfig(o)), { mode: 0o600 });
    const proc = await startProcess(process.execPath, [...JINGLED_NODE_FLAGS, JINGLED_BIN, "--config", configFile], { name: `jingled ${o.username}` });
    const timer = setTimeout(() => void proc.stop("SIGKILL"), 40_000);
    const code = await proc.exited;
    clearTimeout(timer);
    const log = proc.output();
    return { code, said: log.split("\n").filter((l) => l.startsWith("jingled: ")).join("\n"), log };
  }

  const accountEvents = (d: Daemon) => d.events.filter((e) => e.event === "account");

  test("two daemons on one JID and resource: after a repeat one stops reconnecting and says why; the other stays online", async (t) => {
    const common = { server: prosody, username: "door", password: "door-pw", resource: "jingled" };
    const first = await startDaemon({ ...common, dir: join(dir, "first") });
    daemons.push(first);
    const second = await startDaemon({ ...common, dir: join(dir, "second") });
    daemons.push(second);
    const t0 = performance.now();
    // Each login kicks the other off; about 2 s between retries. The second conflict ends it.
    let gaveUp: { d: Daemon; e: AnyEvent } | undefined;
    for (let i = 0; i < 300 && !gaveUp; i++) {
      for (const d of [first, second]) {
        const e = d.events.find((x) => x.event === "account" && x.state === "offline");
        if (e && !gaveUp) gaveUp = { d, e };
      }
      if (!gaveUp) await sleep(100);
    }
    assert.ok(gaveUp, `neither daemon stopped reconnecting within 30 s: ${JSON.stringify([accountEvents(first), accountEvents(second)])}`);
    t.diagnostic(`one daemon gave up ${(performance.now() - t0).toFixed(0)} ms after the second started`);
    const stayed = gaveUp.d === first ? second : first;
    const jid = `door@${prosody.domain}/jingled`;
    assert.match(String(gaveUp.e.reason), new RegExp(`^another client took ${jid.replace(/[.]/g, "\\.")} .*set account\\.resource`));
    const status = (await gaveUp.d.control.request("status")) as { account: { state: string; reason?: string; retryAt?: string } };
    assert.equal(status.account.state, "offline");
    assert.match(status.account.reason ?? "", /another client took .*set account\.resource/);
    assert.equal(status.account.retryAt, undefined, "no next try");
    // The first conflict was retried once, with the reason in a reconnecting event.
    assert.ok(
      accountEvents(gaveUp.d).some((e) => e.state === "reconnecting" && /another client took .*<conflict\/>/.test(String(e.reason))),
      JSON.stringify(accountEvents(gaveUp.d)),
    );
    // And then it is quiet: the other stays online, nobody reconnects any more.
    for (let i = 0; i < 150 && (await stayed.control.request("status") as { account: { state: string } }).account.state !== "online"; i++) await sleep(100);
    const settle = [accountEvents(first).length, accountEvents(second).length];
    await sleep(6000);
    assert.deepEqual([accountEvents(first).length, accountEvents(second).length], settle, "no more account events: the loop has stopped");
    const other = (await stayed.control.request("status")) as { account: { state: string } };
    assert.equal(other.account.state, "online");
    const conflicts = (prosody.logs().match(/Resource conflict|conflict/gi) ?? []).length;
    t.diagnostic(`account events: first ${settle[0]}, second ${settle[1]}; conflict lines in Prosody's log: ${conflicts}`);
  });

  test("a wrong password: exit 77 and a message saying the server refused the password", async () => {
    const r = await runToExit({ server: prosody, username: "gate", password: "not-the-password", dir: join(dir, "wrong-password") });
    assert.equal(r.code, 77, r.log);
    assert.match(r.said, /^jingled: the server refused the password for gate@localhost \(not-authorized/);
  });

  test("a server that is not up: exit 69 and a message naming where it tried", async () => {
    const port = await freePort("tcp", "127.0.0.1");
    const r = await runToExit({ server: prosody, xmppPort: port, username: "gate", password: "gate-pw", dir: join(dir, "no-server") });
    assert.equal(r.code, 69, r.log);
    assert.equal(r.said, `jingled: cannot reach the XMPP service of localhost: xmpp://127.0.0.1:${port}: connection refused`);
  });

  test("while reconnecting, status shows the last error and the time of the next try", async () => {
    const proxy = await startTcpCutProxy({ host: "127.0.0.1", port: prosody.port });
    const d = await startDaemon({ server: prosody, xmppPort: proxy.port, username: "gate", password: "gate-pw", dir: join(dir, "reconnecting") });
    daemons.push(d);
    const mark = d.events.length;
    await proxy.stop(); // the connection drops and nothing listens there any more
    const refused = await d.waitForEvent(
      (e: AnyEvent) => d.events.indexOf(e) >= mark && e.event === "account" && e.state === "reconnecting" && /connection refused/.test(String(e.reason)),
      20_000,
      "a refused reconnect",
    );
    assert.equal(typeof refused.retryAt, "string");
    const status = (await d.control.request("status")) as { account: { state: string; reason?: string; retryAt?: string } };
    assert.equal(status.account.state, "reconnecting");
    assert.equal(status.account.reason, `cannot reach the XMPP service of localhost: xmpp://127.0.0.1:${proxy.port}: connection refused`);
    const next = Date.parse(status.account.retryAt ?? "");
    assert.ok(next > Date.now() - 1000 && next < Date.now() + 61_000, `next try at ${status.account.retryAt}`);
  });
});
