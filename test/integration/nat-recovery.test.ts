// Recovery of a running call in the NAT lab (scripts/lab/nat-lab.ts):
//
//   a symmetric NAT forgets its UDP mappings mid-call (conntrack -D -p udp in
//     the router: a router that times them out or restarts its NAT): the next
//     packet leaves from a new random port; ICE notices and restarts, audio
//     comes back at both ends
//   crossing ICE restarts (glare): both daemons restart ICE while neither can
//     hear the other over XMPP, so each sends its new ufrag/pwd before it sees
//     the peer's; the initiator refuses the responder's with tie-break, the
//     responder answers the initiator's from its own new generation, and the
//     call converges on one new generation (src/app/call/ice-restart.ts)
//
// Each test reports the gaps it measured. The file re-runs itself in a fresh
// network namespace; without root, `ip`, iptables or conntrack it skips.
// Rerun: node scripts/run-tests.mjs test/integration/nat-recovery.test.ts
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inOwnNetns } from "../../scripts/lab/netns.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import type { AnyEvent } from "../../src/control/client.js";
import {
  LAB, callAndConnect, callStats, createNatLab, hangupBoth, natLabUnavailable, startLabDaemon, startLabServers, watchPackets,
  type NatLab, type LabServers,
} from "../../scripts/lab/nat-lab.js";

const LIMITS = { flush: 90_000, glare: 90_000 };
const FILE_LIMIT_MS = LIMITS.flush + LIMITS.glare + 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (await inOwnNetns({ prefix: "jingled-natr", what: "NAT lab recovery", limitMs: FILE_LIMIT_MS, unavailable: natLabUnavailable, skipPrefix: "NAT lab unavailable: " })) {
  describe("recovery during a call (namespace lab)", { timeout: FILE_LIMIT_MS - 20_000 }, () => {
    let dir: string;
    let lab: NatLab;
    let servers: LabServers;
    let alice: Daemon; // behind NAT a
    let bob: Daemon; // behind NAT b
    let carol: Daemon; // public host
    const summary: string[] = [];
    const report = (line: string) => summary.push(line);

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "jingled-natr-"));
      const speech = join(dir, "speech.wav");
      await makeSpeechWav("One two three four five six seven eight nine ten.", speech);
      lab = await createNatLab({ a: "cone", b: "cone" });
      servers = await startLabServers([
        { username: "alice", password: "a-pw" },
        { username: "bob", password: "b-pw" },
        { username: "carol", password: "c-pw" },
      ]);
      const input = { type: "file", path: speech, loop: true };
      [alice, bob, carol] = await Promise.all([
        startLabDaemon(lab.a, servers, { username: "alice", password: "a-pw", dir: join(dir, "alice"), input }),
        startLabDaemon(lab.b, servers, { username: "bob", password: "b-pw", dir: join(dir, "bob"), input }),
        startLabDaemon(lab.p, servers, { username: "carol", password: "c-pw", dir: join(dir, "carol"), input }),
      ]);
    });

    after(async () => {
      await Promise.all([alice?.stop(), bob?.stop(), carol?.stop()]);
      await servers?.stop();
      await lab?.destroy();
      if (summary.length) process.stdout.write(`# NAT recovery summary\n${summary.map((l) => `#   ${l}`).join("\n")}\n`);
      if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    afterEach(async () => {
      for (const d of [alice, bob, carol]) {
        const calls = ((await d.control.request("calls").catch(() => [])) as { callId: string }[]) ?? [];
        for (const c of calls) await d.control.request("hangup", { callId: c.callId }).catch(() => undefined);
      }
    });

    const since = (d: Daemon, mark: number) => d.events.slice(mark);
    const iceLog = (d: Daemon, mark: number) =>
      since(d, mark)
        .filter((e) => e.event === "ice" || e.event === "account")
        .map((e) => (e.event === "ice" ? `${String(e.type)}${e.by ? `(${String(e.by)})` : ""}` : `account:${String(e.state)}`))
        .join(" ");

    /** Resolves once `d` has received `count` more packets within `ms`, else rejects naming what it saw. */
    async function audioFlows(d: Daemon, callId: string, what: string, ms = 1000, count = 30): Promise<number> {
      const a = (await callStats(d, callId))?.packetsReceived ?? 0;
      await sleep(ms);
      const b = (await callStats(d, callId))?.packetsReceived ?? 0;
      assert.ok(b - a >= count, `${what}: ${b - a} packets in ${ms} ms`);
      return b - a;
    }

    /** Waits until `d` receives audio again after a stall, or the call ends; returns when. */
    async function waitForAudioBack(d: Daemon, callId: string, timeoutMs: number): Promise<void> {
      const deadline = performance.now() + timeoutMs;
      let last = (await callStats(d, callId))?.packetsReceived ?? 0;
      let rising = 0;
      while (performance.now() < deadline) {
        await sleep(200);
        const s = await callStats(d, callId);
        if (!s) throw new Error("the call ended while waiting for audio to come back");
        rising = s.packetsReceived > last ? rising + 1 : 0;
        last = s.packetsReceived;
        if (rising >= 5) return; // a second of steady packets
      }
      throw new Error(`no steady audio within ${timeoutMs} ms`);
    }

    test("a symmetric NAT forgets its UDP mappings mid-call: ICE recovers, audio resumes", { timeout: LIMITS.flush }, async (t) => {
      await lab.b.setNat("symmetric");
      try {
        // bob (behind the symmetric NAT) calls carol (public): host <-> peer-reflexive, direct.
        const call = await callAndConnect(bob, carol);
        t.diagnostic(`before: bob ${call.pairText}`);
        await sleep(1000);
        const [markB, markC] = [bob.events.length, carol.events.length];
        const watchB = watchPackets(bob, call.callerCallId);
        const watchC = watchPackets(carol, call.calleeCallId);
        const t0 = performance.now();
        let backMs: number;
        let gb: Awaited<ReturnType<typeof watchB.stop>>;
        let gc: Awaited<ReturnType<typeof watchC.stop>>;
        try {
          const flushed = await lab.b.flushUdpMappings();
          t.diagnostic(`${flushed} UDP mappings flushed`);
          assert.ok(flushed >= 1, `the router had UDP mappings to forget (${flushed})`);
          // Audio stops at bob (carol's packets go to the forgotten port) and must come back at both ends.
          await sleep(2000);
          await Promise.all([waitForAudioBack(bob, call.callerCallId, 40_000), waitForAudioBack(carol, call.calleeCallId, 40_000)]).catch((err: unknown) => {
            throw new Error(`${(err as Error).message}; bob's events: ${iceLog(bob, markB) || "none"}; carol's: ${iceLog(carol, markC) || "none"}`);
          });
          backMs = performance.now() - t0;
          await sleep(1000);
        } finally {
          [gb, gc] = await Promise.all([watchB.stop(), watchC.stop()]);
        }
        const restarted = since(bob, markB).find((e) => e.event === "ice" && e.type === "restarted");
        const line = `UDP mappings of symmetric NAT b flushed: audio back at both ends after ${Math.round(backMs)} ms; longest gap at bob ${Math.round(gb.longestGapMs)} ms, at carol ${Math.round(gc.longestGapMs)} ms; bob: ${iceLog(bob, markB) || "(no ICE event)"}; carol: ${iceLog(carol, markC) || "(no ICE event)"}${restarted ? `; new pair at bob ${JSON.stringify(restarted.pair)}` : ""}`;
        t.diagnostic(line);
        report(line);
        assert.equal((await bob.control.request("stats", { callId: call.callerCallId }) as { state: string }).state, "active");
        await audioFlows(bob, call.callerCallId, "bob hears carol");
        await audioFlows(carol, call.calleeCallId, "carol hears bob");
        assert.ok(gb.longestGapMs < 20_000 && gc.longestGapMs < 20_000, `gaps ${Math.round(gb.longestGapMs)} / ${Math.round(gc.longestGapMs)} ms`);
        const ended = await hangupBoth(bob, call.callerCallId, carol, call.calleeCallId, 20_000);
        assert.equal(ended.reason, "success");
      } finally {
        await lab.b.setNat("cone");
      }
    });

    test("crossing ICE restarts (both sides at once) converge", { timeout: LIMITS.glare }, async (t) => {
      const call = await callAndConnect(alice, bob);
      await sleep(1000);
      const [markA, markB] = [alice.events.length, bob.events.length];
      const port = String(servers.prosody.port);
      // Neither daemon hears the other over XMPP (TCP held, not reset: the streams survive) ...
      const unblockXmpp = [
        ...(await Promise.all([lab.a, lab.b].map((side) => side.block(["-p", "tcp", "--dport", port, "-j", "DROP"])))),
        ...(await Promise.all([lab.a, lab.b].map((side) => side.block(["-p", "tcp", "--sport", port, "-j", "DROP"])))),
      ];
      // ... and the media path goes silent: both notice and restart ICE on their own.
      const unblockMedia = [
        await lab.a.block(["-p", "udp", "-d", LAB.wan.b, "-j", "DROP"]),
        await lab.a.block(["-p", "udp", "-s", LAB.wan.b, "-j", "DROP"]),
      ];
      const watch = watchPackets(alice, call.callerCallId);
      const t0 = performance.now();
      let restartingA: AnyEvent;
      let restartingB: AnyEvent;
      let stopped = false;
      const stopWatch = async () => {
        stopped = true;
        return watch.stop();
      };
      t.after(async () => {
        if (!stopped) await watch.stop();
      });
      try {
        [restartingA, restartingB] = await Promise.all([
          alice.waitForEvent((e) => e.event === "ice" && e.type === "restarting" && alice.events.indexOf(e) >= markA, 20_000, "alice restarting ICE"),
          bob.waitForEvent((e) => e.event === "ice" && e.type === "restarting" && bob.events.indexOf(e) >= markB, 20_000, "bob restarting ICE"),
        ]);
      } finally {
        for (const u of [...unblockMedia, ...unblockXmpp]) await u();
      }
      const bothAt = performance.now() - t0;
      // True glare: each began its own restart before it saw the other's.
      assert.equal(restartingA.by, "local", `alice's restart: ${JSON.stringify(restartingA)}`);
      assert.equal(restartingB.by, "local", `bob's restart: ${JSON.stringify(restartingB)}`);
      const outcome = (d: Daemon, mark: number, callId: string) =>
        d.waitForEvent((e) => d.events.indexOf(e) >= mark && ((e.event === "ice" && e.type === "restarted") || (e.event === "call" && e.type === "ended" && e.callId === callId)), 40_000, "ICE restarted (or the call ended)");
      const [oa, ob] = await Promise.all([outcome(alice, markA, call.callerCallId), outcome(bob, markB, call.calleeCallId)]);
      assert.ok(oa.event === "ice" && ob.event === "ice", `the crossing restarts did not converge: alice ${iceLog(alice, markA)} ${oa.event === "call" ? String(oa.text) : ""}; bob ${iceLog(bob, markB)} ${ob.event === "call" ? String(ob.text) : ""}`);
      const convergedMs = performance.now() - t0;
      await sleep(1500);
      const gap = await stopWatch();
      const line = `glare: both restarted ICE on their own (${Math.round(bothAt)} ms after the path went silent), converged ${Math.round(convergedMs - bothAt)} ms after XMPP came back; alice ${iceLog(alice, markA)}; bob ${iceLog(bob, markB)}; new pair at alice ${JSON.stringify(oa.pair)}; longest media gap at alice ${Math.round(gap.longestGapMs)} ms`;
      t.diagnostic(line);
      report(line);
      await audioFlows(alice, call.callerCallId, "alice hears bob");
      await audioFlows(bob, call.calleeCallId, "bob hears alice");
      const ended = await hangupBoth(alice, call.callerCallId, bob, call.calleeCallId, 20_000);
      assert.equal(ended.reason, "success");
    });
  });
}
