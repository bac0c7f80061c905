// The log is an audit trail (issue 17 item 4): three real daemons through a
// real Prosody, at log level info, JSON lines as a service writes them. Each
// daemon starts with one line saying what it runs; each call says who called
// whom, who answered (a control client, the peer, the auto-answer policy),
// who ended it, why and how long, once; and the noise once seen is gone:
// "control socket listening" twice, "no external services" on every call,
// warnings after a call ended, "jingle-message for no known call" on hangup.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import type { AnyEvent } from "../../src/control/client.js";

interface LogLine {
  level: number;
  msg: string;
  call?: string;
  [key: string]: unknown;
}

const INFO = 30;
const WARN = 40;
const isCall = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The daemon's log lines so far (its stdout and stderr, kept by test/helpers/process.ts). */
function logOf(d: Daemon): LogLine[] {
  return d.process
    .output()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as LogLine);
}

/** The info lines about one call, by message. */
function audit(d: Daemon, callId: string): Map<string, LogLine[]> {
  const out = new Map<string, LogLine[]>();
  for (const l of logOf(d)) if (l.call === callId && l.level >= INFO) out.set(l.msg, [...(out.get(l.msg) ?? []), l]);
  return out;
}

/** The one line with this message about the call (there must be exactly one). */
function one(lines: Map<string, LogLine[]>, msg: string): LogLine {
  const found = lines.get(msg) ?? [];
  assert.equal(found.length, 1, `exactly one "${msg}" line, found ${found.length}: ${JSON.stringify([...lines.keys()])}`);
  return found[0]!;
}

describe("the log as an audit trail, three real daemons", { timeout: 120_000 }, () => {
  let prosody: ProsodyServer;
  let dir: string;
  let alice: Daemon;
  let bob: Daemon;
  let carol: Daemon;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-audit-"));
    prosody = await startProsody({
      users: [
        { username: "alice", password: "alice-pw" },
        { username: "bob", password: "bob-pw" },
        { username: "carol", password: "carol-pw" },
      ],
    });
    const common = { prosody, logLevel: "info", input: { type: "tone", frequency: 440 }, output: { type: "null" } };
    alice = await startDaemon({ ...common, username: "alice", password: "alice-pw", dir: join(dir, "alice") });
    bob = await startDaemon({ ...common, username: "bob", password: "bob-pw", dir: join(dir, "bob") });
    carol = await startDaemon({ ...common, username: "carol", password: "carol-pw", dir: join(dir, "carol"), autoAnswer: true });
  });

  after(async () => {
    await alice?.stop();
    await bob?.stop();
    await carol?.stop();
    await prosody?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  test("calls: who called whom, who answered, who hung up, why and how long; the noise is gone", async () => {
    const bobBare = bob.jid.split("/")[0]!;

    // 1. alice calls bob's bare JID (XEP-0353); bob answers from a client; alice hangs up after a second.
    const c1 = ((await alice.control.request("call", { jid: bobBare })) as { callId: string }).callId;
    const b1 = (await bob.waitForEvent((e) => e.event === "call" && e.type === "incoming", 10_000, "incoming")).callId as string;
    await bob.control.request("answer", { callId: b1 });
    await alice.waitForEvent(isCall(c1, "active"), 10_000, "active");
    await bob.waitForEvent(isCall(b1, "active"), 10_000, "bob active");
    await sleep(1000);
    await alice.control.request("hangup", { callId: c1 });
    await bob.waitForEvent(isCall(b1, "ended"), 5000, "bob ended");

    // 2. alice calls bob's full JID; bob answers and hangs up himself.
    const bMark = bob.events.length;
    const c2 = ((await alice.control.request("call", { jid: bob.jid })) as { callId: string }).callId;
    const b2 = (await bob.waitForEvent((e) => bob.events.indexOf(e) >= bMark && e.event === "call" && e.type === "incoming", 10_000, "incoming 2")).callId as string;
    await bob.control.request("answer", { callId: b2 });
    await bob.waitForEvent(isCall(b2, "active"), 10_000, "active 2");
    await bob.control.request("hangup", { callId: b2 });
    await alice.waitForEvent(isCall(c2, "ended"), 5000, "alice ended 2");

    // 3. alice calls carol, whose policy answers; alice hangs up.
    const c3 = ((await alice.control.request("call", { jid: carol.jid })) as { callId: string }).callId;
    await alice.waitForEvent(isCall(c3, "active"), 10_000, "active 3");
    const k3 = (await carol.waitForEvent((e) => e.event === "call" && e.type === "incoming", 5000, "carol incoming")).callId as string;
    await alice.control.request("hangup", { callId: c3 });
    await carol.waitForEvent(isCall(k3, "ended"), 5000, "carol ended");
    await sleep(1500); // late stanzas (finish, trickle) and timers land

    for (const d of [alice, bob, carol]) {
      const log = logOf(d);
      const who = d.jid;
      // One start-up line: version, config file, Opus backend, ICE host addresses, control socket.
      const started = log.filter((l) => /control socket listening/.test(l.msg));
      assert.equal(started.length, 1, `${who}: one start-up line: ${JSON.stringify(started)}`);
      assert.equal(started[0]!.msg, "jingled started, control socket listening");
      assert.match(String(started[0]!.version), /^\d+\.\d+\.\d+/);
      assert.equal(started[0]!.config, d.configFile);
      assert.ok(started[0]!.opusBackend === "native" || started[0]!.opusBackend === "wasm");
      assert.deepEqual(started[0]!.iceAddresses, ["127.0.0.1"]);
      assert.equal(started[0]!.socket, d.socketPath);
      // The noise once seen.
      assert.ok(log.filter((l) => /no external services/.test(l.msg) && l.level >= INFO).length <= 1, `${who}: "no external services" at most once`);
      assert.deepEqual(log.filter((l) => /no known call/.test(l.msg) && l.level >= INFO), [], `${who}: no "jingle-message for no known call" at info`);
      assert.deepEqual(log.filter((l) => l.level >= WARN), [], `${who}: no warning in ordinary calls (none after a call ended)`);
    }

    // Call 1, alice's side: placed by a client, answered by the peer's device, hung up by the client, with its durations.
    const a1 = audit(alice, c1);
    assert.deepEqual(pick(one(a1, "outgoing call"), "to", "by"), { to: bobBare, by: "socket client 1" });
    assert.deepEqual(pick(one(a1, "call answered"), "peer", "by"), { peer: bob.jid, by: "peer" });
    assert.deepEqual(pick(one(a1, "call active"), "codec", "encryption"), { codec: "opus", encryption: "dtls-srtp" });
    const end1 = one(a1, "call ended");
    assert.deepEqual(pick(end1, "peer", "reason", "by"), { peer: bob.jid, reason: "success", by: "socket client 1" });
    assert.ok((end1.durationMs as number) >= 900 && (end1.elapsedMs as number) >= (end1.durationMs as number), JSON.stringify(end1));
    // bob's side: an incoming call from alice's device, answered by his client, ended by the peer.
    const bl1 = audit(bob, b1);
    assert.deepEqual(pick(one(bl1, "incoming call"), "from"), { from: alice.jid });
    assert.deepEqual(pick(one(bl1, "call answered"), "by"), { by: "socket client 1" });
    assert.deepEqual(pick(one(bl1, "call ended"), "reason", "by"), { reason: "success", by: "peer" });

    // Call 2: bob hung up; alice's log says the peer did.
    assert.deepEqual(pick(one(audit(bob, b2), "call ended"), "reason", "by"), { reason: "success", by: "socket client 1" });
    assert.deepEqual(pick(one(audit(alice, c2), "call ended"), "reason", "by"), { reason: "success", by: "peer" });

    // Call 3: carol's policy answered.
    const k = audit(carol, k3);
    assert.deepEqual(pick(one(k, "call answered"), "by"), { by: "auto-answer policy" });
    assert.deepEqual(pick(one(k, "call ended"), "by"), { by: "peer" });
  });
});

function pick(l: LogLine, ...keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((k) => [k, l[k]]));
}
