// Faults during an active call, in the NAT lab (scripts/lab/nat-lab.ts):
// alice behind cone NAT a, bob behind cone NAT b, both sending a looped
// sentence. Each test reports what it measured (gaps, timeouts, losses).
//
//   10 % loss on the media path (iptables statistic in NAT a) -> the call stays up
//   XMPP server restart -> media keeps flowing, both reconnect, clean hang-up
//   bob's LAN re-addressed -> ICE restart (transport-info, new ufrag/pwd), audio resumes
//   keepalive: a muted DTX call with the routers' UDP binding timeouts cut to
//     10 s survives (40 s; JINGLED_LONG_TESTS=1: the full 2 minutes)
//   bob's link cut -> consent expires, alice ends with connectivity-error, sockets freed
//
// The file re-runs itself in a fresh network namespace; without root, `ip` or
// iptables it skips with the reason.
// Rerun: node scripts/run-tests.mjs test/integration/nat-faults.test.ts
import { after, afterEach, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
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

const LONG = process.env.JINGLED_LONG_TESTS === "1";
const KEEPALIVE_MS = LONG ? 120_000 : 40_000;
// Every test has its own limit, so that one that hangs fails with its own
// message; the file's limit (runSelfInNetns) is their sum plus set-up and
// tear-down, so it is never what ends a run.
const LIMITS = { loss: 45_000, xmppRestart: 60_000, readdress: 75_000, keepalive: KEEPALIVE_MS + 45_000, vanish: 75_000 };
const FILE_LIMIT_MS = Object.values(LIMITS).reduce((a, b) => a + b, 0) + 60_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

if (await inOwnNetns({ prefix: "jingled-natf", what: "NAT lab faults", limitMs: FILE_LIMIT_MS, unavailable: natLabUnavailable, skipPrefix: "NAT lab unavailable: " })) {
  describe("faults during a call (namespace lab)", { timeout: FILE_LIMIT_MS - 20_000 }, () => {
    let dir: string;
    let lab: NatLab;
    let servers: LabServers;
    let alice: Daemon;
    let bob: Daemon;
    const summary: string[] = [];
    const report = (line: string) => summary.push(line);

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "jingled-natf-"));
      const speech = join(dir, "speech.wav");
      await makeSpeechWav("One two three four five six seven eight nine ten.", speech);
      lab = await createNatLab({ a: "cone", b: "cone" });
      servers = await startLabServers([
        { username: "alice", password: "a-pw" },
        { username: "bob", password: "b-pw" },
        { username: "dave", password: "d-pw" },
        { username: "erin", password: "e-pw" },
      ]);
      const input = { type: "file", path: speech, loop: true };
      [alice, bob] = await Promise.all([
        startLabDaemon(lab.a, servers, { username: "alice", password: "a-pw", dir: join(dir, "alice"), input }),
        startLabDaemon(lab.b, servers, { username: "bob", password: "b-pw", dir: join(dir, "bob"), input }),
      ]);
    });

    after(async () => {
      await Promise.all([alice?.stop(), bob?.stop()]);
      await servers?.stop();
      await lab?.destroy();
      if (summary.length) process.stdout.write(`# NAT faults summary\n${summary.map((l) => `#   ${l}`).join("\n")}\n`);
      if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    const after_ = (d: Daemon, mark: number) => (e: AnyEvent) => d.events.indexOf(e) >= mark;

    /** Hangs up whatever call a failed test left behind, so that the next test starts clean. */
    const hangupAll = async (...daemons: Daemon[]) => {
      for (const d of daemons) {
        const calls = ((await d.control.request("calls").catch(() => [])) as { callId: string }[]) ?? [];
        for (const c of calls) await d.control.request("hangup", { callId: c.callId }).catch(() => undefined);
      }
    };

    afterEach(() => hangupAll(alice, bob));

    test("10% packet loss on the media path: the call stays up", { timeout: LIMITS.loss }, async (t) => {
      const call = await callAndConnect(alice, bob);
      await lab.a.setLoss(0.1);
      try {
        await sleep(8000);
        const [sa, sb] = await Promise.all([callStats(alice, call.callerCallId), callStats(bob, call.calleeCallId)]);
        assert.equal((await alice.control.request("stats", { callId: call.callerCallId }) as { state: string }).state, "active");
        const line = `10% loss: after 8 s alice lost ${sa?.packetsLost}/${sa?.packetsReceived} (concealed ${sa?.concealedMs} ms), bob lost ${sb?.packetsLost}/${sb?.packetsReceived}; no ICE event: ${!alice.events.some((e) => e.event === "ice")}`;
        t.diagnostic(line);
        report(line);
        assert.ok((sa?.packetsLost ?? 0) > 0, "the loss was applied");
      } finally {
        await lab.a.setLoss(0);
      }
      const ended = await hangupBoth(alice, call.callerCallId, bob, call.calleeCallId);
      assert.equal(ended.reason, "success");
    });

    test("XMPP server restart: media keeps flowing, both reconnect, the call hangs up cleanly", { timeout: LIMITS.xmppRestart }, async (t) => {
      const call = await callAndConnect(alice, bob);
      await sleep(1000);
      const markA = alice.events.length;
      const markB = bob.events.length;
      const watch = watchPackets(alice, call.callerCallId);
      const { downMs } = await servers.restartProsody();
      await Promise.all([
        alice.waitForEvent((e) => e.event === "account" && e.state === "online" && after_(alice, markA)(e), 30_000, "alice online again"),
        bob.waitForEvent((e) => e.event === "account" && e.state === "online" && after_(bob, markB)(e), 30_000, "bob online again"),
      ]);
      const reconnectMs = (Date.parse(String(alice.events.slice(markA).find((e) => e.event === "account" && e.state === "online")!.time)) - Date.parse(String(alice.events[markA]!.time)));
      await sleep(1000);
      const gap = await watch.stop();
      const line = `XMPP restart: server down ${Math.round(downMs)} ms, alice online again ~${reconnectMs} ms after the drop; longest media gap at alice ${Math.round(gap.longestGapMs)} ms`;
      t.diagnostic(line);
      report(line);
      assert.ok(gap.longestGapMs < 1000, `media gap ${Math.round(gap.longestGapMs)} ms`);
      const ended = await hangupBoth(alice, call.callerCallId, bob, call.calleeCallId, 20_000);
      assert.equal(ended.reason, "success");
    });

    // Bob's daemon notices its address change within a second, drops its XMPP
    // connection (the old TCP path is dead) and resumes the stream (XEP-0198),
    // then restarts ICE. This was flaky before resumption worked: the
    // connection was re-made as a new session, Prosody closed it again over a
    // stanza-counter mismatch, and alice's answer to the restart bounced.
    test("bob's LAN is re-addressed: ICE restart, audio resumes", { timeout: LIMITS.readdress }, async (t) => {
      const call = await callAndConnect(alice, bob);
      try {
        await sleep(1000);
        const markA = alice.events.length;
        const markB = bob.events.length;
        const watch = watchPackets(alice, call.callerCallId);
        const t0 = performance.now();
        const oldIp = lab.b.ip;
        await lab.b.readdress(`${LAB.lan.b}.3`);
        // The restart, or the end of the call (connectTimeoutMs is 20 s): whichever comes first.
        const outcome = await alice.waitForEvent(
          (e) => after_(alice, markA)(e) && ((e.event === "ice" && e.type === "restarted") || (e.event === "call" && e.type === "ended" && e.callId === call.callerCallId)),
          35_000,
          "ICE restarted (or the call ended) at alice",
        );
        const restartMs = performance.now() - t0;
        const ended = outcome.event === "call";
        const lost = ended ? await watch.stop() : undefined;
        assert.ok(!ended, `the call ended instead of restarting ICE: ${String(outcome.reason)} (${String(outcome.text)}) after ${Math.round(restartMs)} ms; alice's ICE events ${JSON.stringify(alice.events.slice(markA).filter((e) => e.event === "ice" || e.event === "account"))}; bob's ${JSON.stringify(bob.events.slice(markB).filter((e) => e.event === "ice" || e.event === "account"))}; media gap ${Math.round(lost?.longestGapMs ?? 0)} ms`);
        await bob.waitForEvent((e) => e.event === "ice" && e.type === "restarted" && after_(bob, markB)(e), 10_000, "ICE restarted at bob");
        await sleep(2000);
        const gap = await watch.stop();
        const restartingB = bob.events.slice(markB).find((e) => e.event === "ice" && e.type === "restarting");
        const xmppB = bob.events.slice(markB).filter((e) => e.event === "account").map((e) => String(e.state)).join(" -> ");
        // Bob's XMPP stream was resumed (XEP-0198), not replaced by a new session.
        const resumed = readFileSync(join(dir, "bob", "jingled.log"), "utf8").split("\n").filter((l) => l.includes('"stream resumed"')).length;
        const line = `re-address ${oldIp} -> ${lab.b.ip}: ICE restarted by ${restartingB?.by === "local" ? "bob" : "alice"} (${String(restartingB?.reason)}), new pair at alice ${JSON.stringify(outcome.pair)} after ${Math.round(restartMs)} ms; longest media gap at alice ${Math.round(gap.longestGapMs)} ms; bob's account ${xmppB || "(no change)"}, streams resumed ${resumed}`;
        t.diagnostic(line);
        report(line);
        assert.equal((await alice.control.request("stats", { callId: call.callerCallId }) as { state: string }).state, "active");
        assert.ok(gap.longestGapMs < 10_000, `media gap ${Math.round(gap.longestGapMs)} ms`);
        assert.ok(resumed >= 1, "bob's XMPP stream was resumed after the address change");
        const before = (await callStats(alice, call.callerCallId))!.packetsReceived;
        await sleep(1000);
        const afterCount = (await callStats(alice, call.callerCallId))!.packetsReceived;
        assert.ok(afterCount - before > 30, `audio flows again (${afterCount - before} packets in 1 s)`);
        const ended_ = await hangupBoth(alice, call.callerCallId, bob, call.calleeCallId, 20_000);
        assert.equal(ended_.reason, "success");
      } finally {
        await hangupAll(alice, bob);
      }
    });

    test(`keepalive: a muted DTX call survives ${KEEPALIVE_MS / 1000} s with 10 s UDP binding timeouts`, { timeout: LIMITS.keepalive }, async (t) => {
      const cut = (await lab.a.setUdpTimeouts(10)) && (await lab.b.setUdpTimeouts(10));
      if (!cut) t.diagnostic("conntrack timeouts could not be changed in the routers' namespaces: the default (30 s / 120 s) applies");
      const dtx = { media: { codecs: ["opus"], input: { type: "silence" }, output: { type: "null" }, opus: { dtx: true } } };
      const [dave, erin] = await Promise.all([
        startLabDaemon(lab.a, servers, { username: "dave", password: "d-pw", dir: join(dir, "dave"), config: { ...dtx, media: { ...dtx.media, input: { type: "tone", frequency: 440 } } } }),
        startLabDaemon(lab.b, servers, { username: "erin", password: "e-pw", dir: join(dir, "erin"), config: dtx }),
      ]);
      try {
        const call = await callAndConnect(dave, erin);
        await dave.control.request("mute", { callId: call.callerCallId });
        const mutedAt = (await callStats(erin, call.calleeCallId))!.packetsReceived;
        await sleep(KEEPALIVE_MS);
        const duringMute = (await callStats(erin, call.calleeCallId))!.packetsReceived - mutedAt;
        const iceEvents = [...dave.events, ...erin.events].filter((e) => e.event === "ice");
        const before = (await callStats(erin, call.calleeCallId))!.packetsReceived;
        await dave.control.request("unmute", { callId: call.callerCallId });
        await sleep(1500);
        const afterUnmute = (await callStats(erin, call.calleeCallId))!.packetsReceived - before;
        const line = `keepalive: ${KEEPALIVE_MS / 1000} s muted with UDP timeouts ${cut ? "10 s" : "default"}: ${duringMute} RTP packets crossed meanwhile, ICE events ${iceEvents.length}, ${afterUnmute} packets in 1.5 s after unmute`;
        t.diagnostic(line);
        report(line);
        assert.equal(iceEvents.length, 0, `no disconnection: ${JSON.stringify(iceEvents)}`);
        assert.ok(afterUnmute > 40, `audio flows after unmute (${afterUnmute} packets)`);
        const ended = await hangupBoth(dave, call.callerCallId, erin, call.calleeCallId);
        assert.equal(ended.reason, "success");
      } finally {
        await Promise.all([dave.stop(), erin.stop()]);
        await lab.a.setUdpTimeouts(30);
        await lab.b.setUdpTimeouts(120);
      }
    });

    test("bob vanishes (link cut): consent expires, alice ends with connectivity-error, resources freed", { timeout: LIMITS.vanish }, async (t) => {
      const call = await callAndConnect(alice, bob);
      await sleep(1000);
      const mark = alice.events.length;
      const t0 = performance.now();
      await lab.b.cutLink();
      const ended = await alice.waitForEvent((e) => e.event === "call" && e.type === "ended" && e.callId === call.callerCallId && after_(alice, mark)(e), 45_000, "alice's call ended");
      const endMs = performance.now() - t0;
      const disconnected = alice.events.slice(mark).find((e) => e.event === "ice" && e.type === "disconnected");
      const calls = (await alice.control.request("calls")) as unknown[];
      const sockets = await lab.a.udpSockets();
      const line = `bob vanished: alice ${disconnected ? `saw the pair go silent after ${Math.round(Date.parse(String(disconnected.time)) - (Date.now() - (performance.now() - t0)))} ms, ` : ""}ended after ${Math.round(endMs)} ms with ${String(ended.reason)} (${String(ended.text)}); calls left ${calls.length}, UDP sockets left in alice's namespace ${sockets.length}`;
      t.diagnostic(line);
      report(line);
      assert.equal(ended.reason, "connectivity-error");
      assert.ok(endMs < 40_000, `ended after ${Math.round(endMs)} ms`);
      assert.equal(calls.length, 0);
      assert.deepEqual(sockets, [], "every UDP socket of the call is closed");
    });
  });
}
