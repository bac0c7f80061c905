// Calls through real NATs (scripts/lab/nat-lab.ts): two LANs behind NAT
// routers (iptables MASQUERADE, "cone", or MASQUERADE --random-fully,
// "symmetric"), a public host, Prosody and coturn on the public segment; the
// daemons learn STUN/TURN from Prosody (XEP-0215). Each scenario reports the
// time from the call command to media and the selected pair, and checks the
// audio that arrived.
//
// The file re-runs itself in a fresh network namespace (the public segment);
// without root, `ip` or iptables it skips with the reason.
// Rerun: node scripts/run-tests.mjs test/integration/nat-traversal.test.ts
// (KEEP_TEST_DIR=1 keeps logs and recordings).
import { after, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inOwnNetns } from "../../scripts/lab/netns.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import {
  LAB, audioScore, callAndConnect, createNatLab, hangupBoth, natLabUnavailable, startLabDaemon, startLabServers,
  type CallResult, type NatLab, type LabServers,
} from "../../scripts/lab/nat-lab.js";

const FILE_LIMIT_MS = 170_000;
const TALK_MS = 3000;
const MIN_CORRELATION = 0.8;

if (await inOwnNetns({ prefix: "jingled-nat", what: "NAT traversal lab", limitMs: FILE_LIMIT_MS, unavailable: natLabUnavailable, skipPrefix: "NAT lab unavailable: " })) {
  describe("calls through NATs (namespace lab)", { timeout: FILE_LIMIT_MS - 10_000 }, () => {
    let dir: string;
    let lab: NatLab;
    let servers: LabServers;
    let alice: Daemon; // behind NAT a
    let bob: Daemon; // behind NAT b
    let carol: Daemon; // public host
    let speech: string;
    const summary: string[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "jingled-nat-"));
      speech = join(dir, "speech.wav");
      await makeSpeechWav("Through the network address translators and back again.", speech);
      lab = await createNatLab({ a: "cone", b: "cone" });
      servers = await startLabServers([
        { username: "alice", password: "a-pw" },
        { username: "bob", password: "b-pw" },
        { username: "carol", password: "c-pw" },
      ]);
      const input = { type: "file", path: speech };
      [alice, bob, carol] = await Promise.all([
        startLabDaemon(lab.a, servers, { username: "alice", password: "a-pw", dir: join(dir, "alice"), input }),
        startLabDaemon(lab.b, servers, { username: "bob", password: "b-pw", dir: join(dir, "bob"), input }),
        startLabDaemon(lab.p, servers, { username: "carol", password: "c-pw", dir: join(dir, "carol"), input }),
      ]);
    });

    after(async () => {
      if (process.env.KEEP_TEST_DIR && servers) {
        writeFileSync(join(dir, "coturn-stun.log"), servers.stun.logs());
        writeFileSync(join(dir, "coturn-turn.log"), servers.turn.logs());
      }
      await Promise.all([alice?.stop(), bob?.stop(), carol?.stop()]);
      await servers?.stop();
      await lab?.destroy();
      if (summary.length) process.stdout.write(`# NAT traversal summary\n${summary.map((l) => `#   ${l}`).join("\n")}\n`);
      if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    /** Calls, talks, hangs up; reports and returns the result with the callee's audio score. */
    async function scenario(t: TestContext, name: string, caller: Daemon, callee: Daemon): Promise<CallResult & { score: number }> {
      const r = await callAndConnect(caller, callee);
      await new Promise((res) => setTimeout(res, TALK_MS));
      const ended = await hangupBoth(caller, r.callerCallId, callee, r.calleeCallId);
      assert.equal(ended.reason, "success");
      const stats = ended.stats as { recording: string; packetsReceived: number };
      const score = audioScore(speech, stats.recording);
      const line = `${name}: connected in ${Math.round(r.connectMs)} ms, ${r.pairType}, caller ${r.pairText}, callee local ${r.calleeLocal.type}; audio ${score.toFixed(3)} (${stats.packetsReceived} packets)`;
      t.diagnostic(line);
      summary.push(line);
      return { ...r, score };
    }

    test("both behind cone NATs: a direct path (srflx/prflx), no relay", async (t) => {
      await lab.a.setNat("cone");
      await lab.b.setNat("cone");
      const r = await scenario(t, "cone <-> cone", alice, bob);
      assert.equal(r.pairType, "direct");
      assert.notEqual(r.local.type, "relay");
      assert.notEqual(r.remote.type, "relay");
      assert.ok(["srflx", "prflx"].includes(r.remote.type), `remote ${r.remote.type}`);
      assert.equal(r.remote.ip, LAB.wan.b, "media goes to bob's NAT");
      assert.ok(r.score >= MIN_CORRELATION, `audio correlation ${r.score.toFixed(3)}`);
    });

    test("both behind symmetric NATs: relayed through coturn", async (t) => {
      await lab.a.setNat("symmetric");
      await lab.b.setNat("symmetric");
      try {
        const r = await scenario(t, "symmetric <-> symmetric", alice, bob);
        assert.equal(r.pairType, "relayed");
        assert.ok(r.local.type === "relay" || r.remote.type === "relay");
        assert.ok(r.score >= MIN_CORRELATION, `audio correlation ${r.score.toFixed(3)}`);
      } finally {
        await lab.a.setNat("cone");
        await lab.b.setNat("cone");
      }
    });

    test("one side public, the other behind a symmetric NAT: direct (host <-> peer-reflexive)", async (t) => {
      await lab.b.setNat("symmetric");
      try {
        const r = await scenario(t, "public <-> symmetric", carol, bob);
        assert.equal(r.pairType, "direct");
        assert.equal(r.local.type, "host");
        assert.equal(r.local.ip, LAB.publicHost);
        assert.ok(r.score >= MIN_CORRELATION, `audio correlation ${r.score.toFixed(3)}`);
      } finally {
        await lab.b.setNat("cone");
      }
    });

    test("TURN configured but down: the direct path still connects, without waiting for TURN", async (t) => {
      // UDP to the TURN server vanishes, TCP is refused: the allocation fails only after seconds of UDP retransmissions.
      const port = String(servers.turn.port);
      const unblock = [
        await lab.blockServer(["-p", "udp", "--dport", port, "-j", "DROP"]),
        await lab.blockServer(["-p", "tcp", "--dport", port, "-j", "REJECT", "--reject-with", "tcp-reset"]),
      ];
      try {
        const r = await scenario(t, "cone <-> cone, TURN down", alice, bob);
        assert.equal(r.pairType, "direct");
        assert.ok(r.connectMs < 5000, `connected in ${Math.round(r.connectMs)} ms: checks must not wait for the TURN allocation`);
        assert.ok(r.score >= MIN_CORRELATION, `audio correlation ${r.score.toFixed(3)}`);
      } finally {
        for (const u of unblock) await u();
      }
    });

    test("UDP between the peers blocked: relayed", async (t) => {
      const unblock = [
        await lab.a.block(["-p", "udp", "-d", LAB.wan.b, "-j", "DROP"]),
        await lab.a.block(["-p", "udp", "-s", LAB.wan.b, "-j", "DROP"]),
      ];
      try {
        const r = await scenario(t, "cone <-> cone, UDP between them blocked", alice, bob);
        assert.equal(r.pairType, "relayed");
        assert.ok(r.score >= MIN_CORRELATION, `audio correlation ${r.score.toFixed(3)}`);
      } finally {
        for (const u of unblock) await u();
      }
    });

    test("all UDP blocked on one side: TURN over TCP", async (t) => {
      const unblock = await lab.a.block(["-p", "udp", "-j", "DROP"]);
      try {
        const r = await scenario(t, "UDP blocked at alice, TURN/TCP", alice, bob);
        assert.equal(r.pairType, "relayed");
        assert.equal(r.local.type, "relay");
        // TCP starts after 1.5 s without a UDP answer (src/ice/turn-allocate.ts), not after UDP's ~6 s of retries.
        assert.ok(r.connectMs < 5000, `connected in ${Math.round(r.connectMs)} ms`);
        assert.ok(r.score >= MIN_CORRELATION, `audio correlation ${r.score.toFixed(3)}`);
        assert.match(servers.turn.logs(), /TCP/i, "coturn saw a TCP client");
      } finally {
        await unblock();
      }
    });
  });
}
