// The peer disappears mid-call (its process killed: no session-terminate,
// no goodbye): its server announces it unavailable, and the call ends at
// once with reason "gone" — not after the ICE consent timeout (30 s of
// silence, then a session-terminate nobody answers). Two real daemons
// through a real Prosody, contacts of each other (the unavailable presence
// reaches presence subscribers, RFC 6121 §4.5.2).
//
// Prosody keeps a stream-management session that dropped without closing
// its stream for resumption (XEP-0198) before it declares the user gone:
// smacks_hibernation_time, 600 s by default. The test sets it to 1 s; what
// is measured is how fast the daemon acts once the presence comes. The same
// on ejabberd (mod_stream_mgmt resume_timeout, 300 s by default, 1 s here).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import { ejabberdUnavailable, startEjabberd, type EjabberdServer } from "../../scripts/lab/ejabberd.js";
import { startDaemon, type Daemon, type XmppTestServer } from "../../scripts/lab/daemon.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";

const isCall = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;

/** Two daemons on `server` that are each other's contacts (subscription both). */
async function contacts(server: XmppTestServer, dir: string, daemons: Daemon[], a: string, b: string): Promise<[Daemon, Daemon]> {
  const common = { server, input: { type: "tone", frequency: 440 }, output: { type: "null" }, codecs: ["pcmu"] };
  const [x, y] = await Promise.all([a, b].map((u) => startDaemon({ ...common, username: u, password: `${u}-pw`, dir: join(dir, u) })));
  daemons.push(x!, y!);
  for (const [from, to, toName] of [[x!, y!, b], [y!, x!, a]] as const) {
    const fromName = from === x ? a : b;
    await from.control.request("roster", { action: "add", jid: `${toName}@${server.domain}` });
    await to.waitForEvent((e) => e.event === "roster" && e.type === "request" && e.jid === `${fromName}@${server.domain}`, 10_000, "subscription request");
    await to.control.request("roster", { action: "approve", jid: `${fromName}@${server.domain}` });
  }
  await new Promise((r) => setTimeout(r, 500)); // presence exchanged
  return [x!, y!];
}

describe("the peer goes offline during a call", { timeout: 180_000 }, () => {
  let prosody: ProsodyServer;
  let dir: string;
  const daemons: Daemon[] = [];
  const lab = withLab({
    name: "peer-gone",
    users: Object.fromEntries(["alice", "bob", "carol", "dave"].map((u) => [u, `${u}-pw`])),
    prosody: { extraConfig: "smacks_hibernation_time = 1" },
  });
  before(() => {
    ({ prosody, dir } = lab);
    lab.cleanup(() => Promise.all(daemons.map((d) => d.stop().catch(() => undefined))));
  });

  const pair = (a: string, b: string) => contacts(prosody, dir, daemons, a, b);

  test("an active call ends with reason gone when the peer's process is killed", async (t) => {
    const [alice, bob] = await pair("alice", "bob");
    const mark = bob.events.length;
    const { callId } = (await alice.control.request("call", { jid: bob.jid })) as { callId: string };
    const inc = await bob.waitForEvent((e) => e.event === "call" && e.type === "incoming" && bob.events.indexOf(e) >= mark, 10_000, "bob rings");
    await bob.control.request("answer", { callId: inc.callId });
    await alice.waitForEvent(isCall(callId, "active"), 10_000, "alice active");

    const killedAt = performance.now();
    process.kill(bob.process.pid!, "SIGKILL");
    const ended = await alice.waitForEvent(isCall(callId, "ended"), 20_000, "alice's call ended");
    const ms = performance.now() - killedAt;
    t.diagnostic(`call ended ${ms.toFixed(0)} ms after the peer was killed (Prosody's hibernation time 1 s included): ${JSON.stringify({ reason: ended.reason, text: ended.text })}`);
    assert.equal(ended.reason, "gone");
    assert.equal(ended.text, "the peer went offline");
    // Without the presence the call would go on for the 30 s consent timeout.
    assert.ok(ms < 15_000, `ended after ${ms.toFixed(0)} ms`);
    const calls = (await alice.control.request("calls")) as unknown[];
    assert.deepEqual(calls, [], "nothing left of the call");
  });

  test("a call still ringing ends with reason gone when the caller's process is killed", async () => {
    const [carol, dave] = await pair("carol", "dave");
    const mark = dave.events.length;
    await carol.control.request("call", { jid: dave.jid });
    const inc = await dave.waitForEvent((e) => e.event === "call" && e.type === "incoming" && dave.events.indexOf(e) >= mark, 10_000, "dave rings");
    process.kill(carol.process.pid!, "SIGKILL");
    const ended = await dave.waitForEvent(isCall(inc.callId, "ended"), 20_000, "dave's call ended");
    assert.equal(ended.reason, "gone");
  });
});

describe("the peer goes offline during a call: ejabberd", { skip: ejabberdUnavailable(), timeout: 120_000 }, () => {
  let ej: EjabberdServer;
  let dir: string;
  const daemons: Daemon[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-peer-gone-ej-"));
    ej = await startEjabberd({
      users: ["erin", "frank"].map((u) => ({ username: u, password: `${u}-pw` })),
      modules: { mod_stream_mgmt: { resume_timeout: 1 } },
    });
  });

  after(async () => {
    await Promise.all(daemons.map((d) => d.stop().catch(() => undefined)));
    await ej?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  test("an active call ends with reason gone when the peer's process is killed (ejabberd announces it unavailable)", async (t) => {
    const [erin, frank] = await contacts(ej, dir, daemons, "erin", "frank");
    const mark = frank.events.length;
    const { callId } = (await erin.control.request("call", { jid: frank.jid })) as { callId: string };
    const inc = await frank.waitForEvent((e) => e.event === "call" && e.type === "incoming" && frank.events.indexOf(e) >= mark, 10_000, "frank rings");
    await frank.control.request("answer", { callId: inc.callId });
    await erin.waitForEvent(isCall(callId, "active"), 10_000, "erin active");

    const killedAt = performance.now();
    process.kill(frank.process.pid!, "SIGKILL");
    const ended = await erin.waitForEvent(isCall(callId, "ended"), 20_000, "erin's call ended");
    t.diagnostic(`call ended ${(performance.now() - killedAt).toFixed(0)} ms after the peer was killed (ejabberd's resume_timeout 1 s included)`);
    assert.equal(ended.reason, "gone");
    assert.equal(ended.text, "the peer went offline");
    assert.deepEqual(await erin.control.request("calls"), [], "nothing left of the call");
  });
});
