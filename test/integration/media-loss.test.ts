// Two real daemons calling each other through a real Prosody while the
// network drops 5 % and then 15 % of the UDP packets at random: iptables
// statistic DROP in a network namespace this file creates (only `lo` up;
// the file re-runs itself inside it). The speech bob hears is measured
// against what alice played, with floors a silent concealment falls below
// (reordering, 40 ms jitter and duplicates between two real daemons are in
// test/integration/media-jitter.test.ts, through an impairing UDP relay:
// iptables cannot delay packets and tc netem is not available here). The
// loss both sides report must be near the injected rate. With the native Opus backend, bob recovers single lost frames from
// the in-band FEC of the next packet when that packet is already in his
// playout buffer (reported, not asserted: at a delay under one frame it is
// not; test/unit/opus-native.test.ts proves the recovery); at 15 % loss the
// scores of a receiver on opusscript (concealment only) and on the native
// backend (FEC) are reported side by side. Without root, `ip` or iptables the
// file skips with the reason.
//
// Rerun: node scripts/run-tests.mjs test/integration/media-loss.test.ts
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { inOwnNetns, nonLoopbackAddresses } from "../../scripts/lab/netns.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudioSegments, readMono16 as mono16 } from "../../scripts/lab/audio-compare.js";
import { frameQuality } from "../helpers/audio-quality.js";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";
import { nativeOpusProblem } from "../../src/media/codecs/index.js";

const FILE_LIMIT_MS = 150_000;

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 5000, encoding: "utf8" }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

async function iptablesAvailable(): Promise<string | undefined> {
  try {
    await run("iptables", ["-V"]);
    return undefined;
  } catch {
    return "iptables is not installed";
  }
}

if (await inOwnNetns({ prefix: "jingled-loss", what: "media under packet loss between two daemons", limitMs: FILE_LIMIT_MS, unavailable: iptablesAvailable })) {
  describe("media under random UDP loss (iptables statistic DROP in a namespace)", { timeout: FILE_LIMIT_MS - 10_000 }, () => {
    let dir: string;
    let prosody: ProsodyServer;
    let alice: Daemon;
    let bob: Daemon;
    let speech: string;
    const lab = withLab({
      name: "media-loss",
      users: { alice: "alice-pw", bob: "bob-pw" },
      setup: async ({ dir }) => {
        assert.deepEqual(nonLoopbackAddresses(), [], "the test namespace has only loopback");
        speech = join(dir, "speech.wav");
        await makeSpeechWav("Packets get lost on busy networks, and the call must still sound like speech. Concealment fills the holes.", speech);
      },
      daemons: () => ({ alice: { input: { type: "file", path: speech } }, bob: {} }),
    });

    before(() => {
      ({ dir, prosody, daemons: { alice, bob } } = lab);
      lab.cleanup(() => run("iptables", ["-F", "OUTPUT"]).catch(() => undefined));
    });

    const callEvent = (callId: string, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;

    type CallResult = {
      stats: { recording: string; fractionLost: number; packetsLost: number; packetsReceived: number; jitterBufferDelayMs: number; mos: number; codecBackend?: string; fecRecovered: number; framesConcealed: number };
      remote?: { fractionLost?: number; packetsLost?: number };
      level: number;
      corr: number;
      snrDb: number;
    };

    /** A call from alice to `callee` with `loss` UDP loss once it is active; what the callee heard. */
    async function callWithLoss(callee: Daemon, codec: string, loss: number): Promise<CallResult> {
      // The call is set up on a clean network, then the loss starts (ICE and DTLS are not the subject here).
      const mark = callee.events.length;
      const { callId } = (await alice.control.request("call", { jid: callee.jid, codecs: [codec] })) as { callId: string };
      const inc = await callee.waitForEvent((e) => e.event === "call" && e.type === "incoming" && callee.events.indexOf(e) >= mark, 10000, "incoming");
      await callee.control.request("answer", { callId: inc.callId });
      await alice.waitForEvent(callEvent(callId, "active"), 15000, "active");
      await run("iptables", ["-A", "OUTPUT", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", String(loss), "-j", "DROP"]);
      try {
        await new Promise((r) => setTimeout(r, 6500));
      } finally {
        await run("iptables", ["-F", "OUTPUT"]);
      }
      // RTCP reports come every ~5 s (the first sooner) over the same lossy network: the last one alice got
      // may predate every loss, or the one after it may have been dropped (seen once: alice learnt 0 of 13).
      // On the clean network the next one carries bob's count (bounded: about one more report interval).
      for (const until = Date.now() + 8000; Date.now() < until; await new Promise((r) => setTimeout(r, 250))) {
        const s = (await alice.control.request("stats", { callId })) as { remote?: { packetsLost?: number } };
        if ((s.remote?.packetsLost ?? 0) > 0) break;
      }
      await alice.control.request("hangup", { callId });
      const endB = await callee.waitForEvent(callEvent(inc.callId as string, "ended"), 10000, "callee ended");
      const endA = await alice.waitForEvent(callEvent(callId, "ended"), 10000, "alice ended");
      const stats = endB.stats as CallResult["stats"];
      const sa = endA.stats as { remote?: { fractionLost?: number; packetsLost?: number } };
      const ref = mono16(speech);
      const rec = mono16(stats.recording);
      const seg = compareAudioSegments(ref.pcm, ref.rate, rec.pcm, rec.rate);
      const q = frameQuality(ref.pcm, ref.rate, rec.pcm, rec.rate);
      return { stats, ...(sa.remote ? { remote: sa.remote } : {}), level: q.levelAgreement, corr: seg.correlation, snrDb: q.segmentalSnrDb };
    }

    /** bob's RFC 3550 loss near the injected rate; alice learnt of it through RTCP. */
    function assertLossReported(r: CallResult, loss: number): void {
      // About 330 packets: the drop count is binomial (σ ≈ 1.2 points at 5 %, 2 at 15 %), and the
      // loss window covers most of the call; bob's RFC 3550 figure must be within that.
      const sigma = Math.sqrt((loss * (1 - loss)) / 330);
      assert.ok(Math.abs(r.stats.fractionLost - loss) < 3 * sigma + 0.01, `bob's loss ${r.stats.fractionLost} vs ${loss}`);
      if (r.remote?.packetsLost !== undefined) assert.ok(r.remote.packetsLost > 0, "alice learnt of the loss through RTCP");
    }

    const describeResult = (r: CallResult) =>
      `level agreement ${r.level.toFixed(3)}, segment correlation ${r.corr.toFixed(3)}, segmental SNR ${r.snrDb.toFixed(1)} dB; ` +
      `measured loss ${(r.stats.fractionLost * 100).toFixed(1)} % (${r.stats.packetsLost} of ${r.stats.packetsLost + r.stats.packetsReceived}), ` +
      `${r.stats.framesConcealed} frames concealed, ${r.stats.fecRecovered} recovered by FEC (Opus backend ${r.stats.codecBackend ?? "-"}), ` +
      `playout delay ${r.stats.jitterBufferDelayMs} ms, MOS ${r.stats.mos}`;

    for (const [codec, loss, floors] of [
      // PCMU at 15 %: silent concealment scores about 0.82 here (test/unit/media-impairment), ours about 0.95.
      ["pcmu", 0.15, { level: 0.88, corr: 0.75 }],
      // Opus at 5 %: a sanity floor (at 5 % even silence in the gaps keeps most frames' level).
      ["opus", 0.05, { level: 0.85, corr: 0.75 }],
    ] as const) {
      test(`${codec}, ${loss * 100} % UDP loss: bob hears speech above the floor; both report the loss`, async (t) => {
        const r = await callWithLoss(bob, codec, loss);
        t.diagnostic(`${codec} at ${loss * 100} % loss: ${describeResult(r)}; alice learnt ${r.remote?.packetsLost ?? "-"} lost from RTCP`);
        assert.ok(r.level >= floors.level, `level agreement ${r.level.toFixed(3)} < ${floors.level}`);
        assert.ok(r.corr >= floors.corr, `segment correlation ${r.corr.toFixed(3)} < ${floors.corr}`);
        assertLossReported(r, loss);
        // The Opus decoder at bob is whatever media.opus.backend "auto" found; the native
        // one takes each single lost frame from the next packet's in-band FEC.
        if (codec === "opus") {
          assert.ok(r.stats.codecBackend === "native" || r.stats.codecBackend === "wasm", `codecBackend ${r.stats.codecBackend}`);
          // FEC needs the packet after a lost one in hand when the lost frame is due: at a playout
          // delay under a frame (a clean link) it is not, unless the delay was raised meanwhile
          // (seen at 5 %: 0 of 14, 11 of 19). So the count is reported, and bounded.
          if (r.stats.codecBackend === "native") assert.ok(r.stats.fecRecovered <= r.stats.packetsLost, `fecRecovered ${r.stats.fecRecovered}`);
          else assert.equal(r.stats.fecRecovered, 0, "opusscript cannot decode FEC");
        }
      });
    }

    // The same 15 % loss heard by a receiver that conceals only (opusscript) and by
    // one that recovers single losses from FEC (native libopus). Random loss
    // differs between the two calls, so the scores are reported, not compared.
    const nativeProblem = nativeOpusProblem();
    test("opus, 15 % UDP loss: concealment only (wasm) vs FEC from the next packet (native) at the receiver", { skip: nativeProblem ? `native Opus backend not built: ${nativeProblem}` : false }, async (t) => {
      const bobWasm = await startDaemon({
        prosody,
        username: "bob",
        password: "bob-pw",
        resource: "wasm",
        dir: join(dir, "bob-wasm"),
        config: { media: { codecs: ["opus", "pcmu"], input: { type: "silence" }, output: { type: "file", path: join(dir, "bob-wasm", "recordings", "{callId}.wav") }, opus: { backend: "wasm" } } },
      });
      try {
        const plc = await callWithLoss(bobWasm, "opus", 0.15);
        const fec = await callWithLoss(bob, "opus", 0.15);
        t.diagnostic(`opus at 15 % loss, before FEC (wasm, concealment only): ${describeResult(plc)}`);
        t.diagnostic(`opus at 15 % loss, after FEC (native): ${describeResult(fec)}`);
        assert.equal(plc.stats.codecBackend, "wasm");
        assert.equal(plc.stats.fecRecovered, 0);
        assert.equal(fec.stats.codecBackend, "native");
        // Frames rebuilt plus frames concealed cover the loss; how many were rebuilt depends on the
        // playout delay (see above: seen 28 and 34 of 45-50 here).
        assert.ok(fec.stats.fecRecovered <= fec.stats.packetsLost, `fecRecovered ${fec.stats.fecRecovered}`);
        assertLossReported(plc, 0.15);
        assertLossReported(fec, 0.15);
      } finally {
        await bobWasm.stop();
      }
    });
  });
}
