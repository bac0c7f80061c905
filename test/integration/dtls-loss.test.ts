// Encrypted call setup under random UDP loss (issue #20), in the loopback
// lab of scripts/lab/dtls-loss-lab.ts: Prosody, two jingled daemons and a
// headless Chromium in a network namespace this file creates (only `lo`),
// iptables dropping 5 % or 15 % of all UDP; XMPP (TCP) untouched. Every
// setup must reach active at both ends: jingled's `active` (DTLS done, peer
// verified) and Chromium's RTCPeerConnection "connected". A few setups per
// case here; the full 50 per case, with Chromium <-> Chromium as the
// reference: npm run bench:dtls-loss (results in docs/performance.md). ICE
// restarts and the TURN path under loss: dtls-loss-nat.test.ts. Without
// root, iptables or Chromium the file skips with the reason.
//
// Rerun: node scripts/run-tests.mjs test/integration/dtls-loss.test.ts
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inOwnNetns, nonLoopbackAddresses } from "../../scripts/lab/netns.js";
import { browserPeerUnavailable } from "../../scripts/lab/browser-peer.js";
import { natLabUnavailable } from "../../scripts/lab/nat-lab.js";
import {
  browserCallsJingled, daemonCall, formatSummary, jingledCallsBrowser, setLoopbackUdpLoss, startLoopbackLossLab, summarize, type LoopbackLossLab, type SetupSample,
} from "../../scripts/lab/dtls-loss-lab.js";

const FILE_LIMIT_MS = 110_000;
const SETUPS = 3;
const SETUP_TIMEOUT_MS = 20_000;

if (await inOwnNetns({ prefix: "jingled-dloss", what: "DTLS call setup under UDP loss", limitMs: FILE_LIMIT_MS, unavailable: async () => (await natLabUnavailable()) ?? browserPeerUnavailable() })) {
  describe("DTLS-SRTP call setup under random UDP loss (loopback lab)", { timeout: FILE_LIMIT_MS - 10_000 }, () => {
    let dir: string;
    let lab: LoopbackLossLab;
    const summary: string[] = [];

    before(async () => {
      assert.deepEqual(nonLoopbackAddresses(), [], "the test namespace has only loopback");
      dir = mkdtempSync(join(tmpdir(), "jingled-dtls-loss-"));
      lab = await startLoopbackLossLab(dir, 1);
    });

    after(async () => {
      await setLoopbackUdpLoss(0);
      await lab?.stop();
      if (summary.length) process.stdout.write(`# DTLS setup under loss\n${summary.map((l) => `#   ${l}`).join("\n")}\n`);
      if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    async function runCase(name: string, loss: number, one: () => Promise<SetupSample>): Promise<void> {
      await setLoopbackUdpLoss(loss);
      const samples: SetupSample[] = [];
      try {
        for (let i = 0; i < SETUPS; i++) samples.push(await one());
      } finally {
        await setLoopbackUdpLoss(0);
      }
      const s = summarize(`${name} @ ${loss * 100} % loss`, samples);
      summary.push(formatSummary(s));
      assert.equal(s.ok, s.total, formatSummary(s));
    }

    for (const loss of [0.05, 0.15]) {
      test(`jingled calls jingled at ${loss * 100} % UDP loss: every setup reaches active at both ends (each call runs both DTLS roles)`, () =>
        runCase("jingled -> jingled", loss, () => daemonCall(lab.alice, lab.bob, SETUP_TIMEOUT_MS)));
    }
    test("jingled (DTLS server) calls Chromium at 15 % UDP loss: every setup connects at both ends", () =>
      runCase("jingled -> chromium", 0.15, () => jingledCallsBrowser(lab.alice, lab.browsers[0]!.peer, lab.browsers[0]!.jid, SETUP_TIMEOUT_MS)));
    test("Chromium calls jingled (DTLS client) at 15 % UDP loss: every setup connects at both ends", () =>
      runCase("chromium -> jingled", 0.15, () => browserCallsJingled(lab.browsers[0]!.peer, lab.alice, SETUP_TIMEOUT_MS)));
  });
}
