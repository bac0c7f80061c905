// Encrypted calls under 15 % random UDP loss in the NAT lab (scripts/lab/
// dtls-loss-lab.ts over scripts/lab/nat-lab.ts: two cone NATs, STUN and
// TURN from Prosody; the loss is in router a's FORWARD chain, so every
// datagram between alice and bob or the relay crosses one lossy hop):
//
//   - through the TURN relay (direct UDP between the NATs blocked): every
//     setup reaches active at both ends
//   - an ICE restart of a running call (alice's LAN is re-addressed, as
//     after a new DHCP lease) completes at both ends and media flows again
//
// A few of each here; 50 per case: npm run bench:dtls-loss. The file
// re-runs itself in a fresh namespace; without root, iptables or conntrack
// it skips with the reason.
//
// Rerun: node scripts/run-tests.mjs test/integration/dtls-loss-nat.test.ts
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inOwnNetns } from "../../scripts/lab/netns.js";
import { natLabUnavailable } from "../../scripts/lab/nat-lab.js";
import { daemonCall, formatSummary, relayOnly, restartOnce, startNatLossLab, summarize, type NatLossLab, type SetupSample } from "../../scripts/lab/dtls-loss-lab.js";

const FILE_LIMIT_MS = 120_000;
const SETUPS = 3;
const LOSS = 0.15;

if (await inOwnNetns({ prefix: "jingled-dlossn", what: "DTLS calls under UDP loss through TURN and across ICE restarts", limitMs: FILE_LIMIT_MS, unavailable: natLabUnavailable, skipPrefix: "NAT lab unavailable: " })) {
  describe("DTLS-SRTP calls under 15 % UDP loss (NAT lab)", { timeout: FILE_LIMIT_MS - 10_000 }, () => {
    let dir: string;
    let nl: NatLossLab;
    const summary: string[] = [];

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "jingled-dtls-loss-nat-"));
      nl = await startNatLossLab(dir);
    });

    after(async () => {
      await nl?.lab.a.setLoss(0);
      await nl?.stop();
      if (summary.length) process.stdout.write(`# DTLS calls under loss (NAT lab)\n${summary.map((l) => `#   ${l}`).join("\n")}\n`);
      if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    async function runCase(name: string, one: () => Promise<SetupSample>): Promise<void> {
      await nl.lab.a.setLoss(LOSS);
      const samples: SetupSample[] = [];
      try {
        for (let i = 0; i < SETUPS; i++) samples.push(await one());
      } finally {
        await nl.lab.a.setLoss(0);
      }
      const s = summarize(`${name} @ ${LOSS * 100} % loss`, samples);
      summary.push(formatSummary(s));
      assert.equal(s.ok, s.total, formatSummary(s));
    }

    test("through the TURN relay at 15 % UDP loss: every setup reaches active at both ends", async () => {
      const unblock = await relayOnly(nl.lab);
      try {
        await runCase("turn relay", async () => {
          const mark = nl.alice.events.length;
          const s = await daemonCall(nl.alice, nl.bob, 20_000);
          const media = nl.alice.events.slice(mark).find((e) => e.event === "media");
          if (s.ok) assert.equal(media?.pairType, "relayed", "the call went through coturn");
          return s;
        });
      } finally {
        await unblock();
      }
    });

    test("an ICE restart at 15 % UDP loss completes at both ends and media flows again", async () => {
      const counters = { setupFailures: 0 };
      await runCase("ice restart", () => restartOnce(nl, 20_000, counters));
      assert.equal(counters.setupFailures, 0, "every call set up before its restart");
    });
  });
}
