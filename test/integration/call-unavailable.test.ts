// Calling someone who is not there fails at once (issue 17 item 3), through
// a real Prosody with real daemons: a contact whose presence we receive and
// who has no device online, an account that does not exist, a domain whose
// server cannot be found — each within about 2 s with peer-unavailable and a
// sentence — while a callee whose presence we do not receive (its devices may
// still get the proposal from offline storage) keeps ringing.
//
// The file runs in a network namespace of its own whose resolv.conf names
// 127.0.0.1, where nothing answers: Prosody's lookup of the unknown domain
// fails at once and never leaves the machine.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inOwnNetns } from "../../scripts/lab/netns.js";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { ControlRequestError, type AnyEvent } from "../../src/control/client.js";

const LIMIT_MS = 120_000;
/** "At once": the old daemon took the whole ring timeout (60 s); a loaded machine gets room. */
const PROMPT_MS = 2500;

const after_ = (d: Daemon, mark: number) => (pred: (e: AnyEvent) => boolean) => (e: AnyEvent) => d.events.indexOf(e) >= mark && pred(e);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function unavailable(d: Daemon, jid: string): Promise<{ message: string; ms: number }> {
  const t0 = performance.now();
  try {
    await d.control.request("call", { jid });
  } catch (err) {
    assert.ok(err instanceof ControlRequestError, String(err));
    assert.equal(err.code, "peer-unavailable", err.message);
    return { message: err.message, ms: performance.now() - t0 };
  }
  assert.fail(`call ${jid} succeeded`);
}

if (
  await inOwnNetns({
    prefix: "jingled-unavail",
    what: "calls to nobody fail at once (Prosody, own network namespace)",
    limitMs: LIMIT_MS,
    etc: { "resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n" },
  })
) {
  describe("calling someone who is not there, real Prosody", { timeout: LIMIT_MS - 10_000 }, () => {
    let prosody: ProsodyServer;
    let dir: string;
    let alice: Daemon;
    let bob: Daemon;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "jingled-unavail-"));
      prosody = await startProsody({
        users: [
          { username: "alice", password: "alice-pw" },
          { username: "bob", password: "bob-pw" },
          { username: "carol", password: "carol-pw" },
        ],
        // Offline storage: a proposal to an account with no device online waits for one (XEP-0353 §3.1 store hint).
        modules: ["offline"],
        // Server-to-server on (outgoing only: s2s_ports stays empty), so that an unknown domain is looked up.
        extraConfig: 'modules_disabled = { "s2s_auth_certs" }',
      });
      alice = await startDaemon({ prosody, username: "alice", password: "alice-pw", dir: join(dir, "alice"), config: { calls: { acceptFrom: "everyone", ringTimeoutSec: 30 } } });
      bob = await startDaemon({ prosody, username: "bob", password: "bob-pw", dir: join(dir, "bob") });
      // alice sees bob's presence: she asks, he approves.
      const bobBare = bob.jid.split("/")[0]!;
      const aliceBare = alice.jid.split("/")[0]!;
      await alice.control.request("roster", { action: "add", jid: bobBare });
      await bob.waitForEvent((e) => e.event === "roster" && e.type === "request" && e.jid === aliceBare, 5000, "subscription request");
      await bob.control.request("roster", { action: "approve", jid: aliceBare });
      await alice.waitForEvent((e) => e.event === "roster" && e.type === "changed" && (e.item as { subscription?: string }).subscription === "to", 5000, "approved");
    });

    after(async () => {
      await alice?.stop();
      await bob?.stop();
      await prosody?.stop();
      if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    test("a contact whose presence we see rings while a device is online, and fails at once when none is", async (t) => {
      const bobBare = bob.jid.split("/")[0]!;
      const mark = bob.events.length;
      const { callId } = (await alice.control.request("call", { jid: bobBare })) as { callId: string };
      const incoming = await bob.waitForEvent(after_(bob, mark)((e) => e.event === "call" && e.type === "incoming"), 5000, "bob rings");
      await bob.control.request("reject", { callId: incoming.callId });
      await alice.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "ended", 5000, "declined");

      await bob.stop();
      const deadline = Date.now() + 5000;
      type Listed = { items: { jid: string; online?: string[] }[] };
      while (Date.now() < deadline && ((await alice.control.request("roster")) as unknown as Listed).items.find((i) => i.jid === bobBare)?.online?.length) await sleep(50);
      const aMark = alice.events.length;
      const r = await unavailable(alice, bobBare);
      assert.equal(r.message, `${bobBare} has no online device`);
      t.diagnostic(`no online device: peer-unavailable after ${Math.round(r.ms)} ms`);
      assert.ok(r.ms < PROMPT_MS, `answered after ${Math.round(r.ms)} ms`);
      assert.deepEqual(alice.events.slice(aMark).filter((e) => e.event === "call"), [], "no call was made");
      assert.deepEqual(await alice.control.request("calls"), []);
    });

    test("an account that does not exist: peer-unavailable from the call command, the call ended with the reason", async (t) => {
      const mark = alice.events.length;
      const r = await unavailable(alice, `nobody@${prosody.domain}`);
      assert.equal(r.message, `nobody@${prosody.domain} cannot take calls: there is no such account, or no device of it can be reached (service-unavailable)`);
      assert.ok(r.ms < PROMPT_MS, `answered after ${Math.round(r.ms)} ms`);
      t.diagnostic(`no such account: peer-unavailable after ${Math.round(r.ms)} ms`);
      const ended = await alice.waitForEvent(after_(alice, mark)((e) => e.event === "call" && e.type === "ended"), 2000, "ended");
      assert.equal(ended.reason, "general-error");
      assert.equal(ended.text, r.message);
      assert.equal(ended.durationMs, 0);
      assert.ok(typeof ended.elapsedMs === "number" && ended.elapsedMs < PROMPT_MS, `elapsedMs ${String(ended.elapsedMs)}: counted from the call command`);
    });

    test("an unknown domain: the call ends within about 2 s, the reason says no server was found", async (t) => {
      const mark = alice.events.length;
      const t0 = performance.now();
      let commandError: string | undefined;
      try {
        await alice.control.request("call", { jid: "someone@unknown.invalid" });
      } catch (err) {
        // The lookup may fail before the call command has its answer: then the command fails.
        assert.ok(err instanceof ControlRequestError && err.code === "peer-unavailable", String(err));
        commandError = err.message;
      }
      const ended = await alice.waitForEvent(after_(alice, mark)((e) => e.event === "call" && e.type === "ended"), 5000, "ended");
      const ms = performance.now() - t0;
      t.diagnostic(`unknown domain: ended after ${Math.round(ms)} ms (${commandError ? "the call command failed" : "after the call command returned"})`);
      assert.match(String(ended.text), /^someone@unknown\.invalid cannot be reached: no server for unknown\.invalid was found \(remote-server-not-found: .+\)$/);
      if (commandError !== undefined) assert.equal(commandError, ended.text);
      assert.ok(ms < PROMPT_MS + 1000, `ended after ${Math.round(ms)} ms`);
      assert.ok((ended.elapsedMs as number) <= ms + 50, "elapsedMs counts from the call command");
    });

    test("a callee whose presence we do not see keeps ringing: its devices may get the proposal from offline storage", async () => {
      const mark = alice.events.length;
      const { callId } = (await alice.control.request("call", { jid: `carol@${prosody.domain}` })) as { callId: string };
      await sleep(3000);
      assert.deepEqual(
        alice.events.slice(mark).filter((e) => e.event === "call").map((e) => e.type),
        ["outgoing"],
        "still ringing after 3 s",
      );
      await alice.control.request("hangup", { callId });
      const ended = await alice.waitForEvent(after_(alice, mark)((e) => e.event === "call" && e.type === "ended"), 5000, "ended");
      assert.equal(ended.reason, "cancel");
      assert.ok((ended.elapsedMs as number) >= 3000, `elapsedMs ${String(ended.elapsedMs)}`);
    });
  });
}
