// Two real daemons calling each other through a real Prosody while their
// media crosses a network that delays packets by 0–40 ms at random (so they
// really arrive out of order), holds some back further, duplicates a few and,
// in two of the scenarios, loses 5 % or 15 %. iptables cannot delay packets
// and tc netem is not available here, so the bad network is a relay in this
// process (scripts/lab/impair-relay.ts) in front of a real coturn:
//
//   alice ──TURN──► impairing relay ──► coturn ──UDP──► bob (or carol)
//         ◄──────── (impaired too) ◄───        ◄──────
//
// alice has ice.policy "relay" and her TURN server is the relay's port, so
// every packet of her call crosses it both ways. Only relayed RTP/RTCP is
// impaired; TURN control, ICE checks and the DTLS handshake pass untouched,
// so call set-up is as on a clean network. The impairment starts 300 ms
// after media flows: playout starts on a clean link, and the buffer must
// grow to the jitter. All of it is on 127.0.0.1; one run takes about 45 s.
//
// What bob records is measured against what alice played, with floors
// measured to be ones a jitter buffer unable to absorb the jitter mostly
// fails: carol gets the same network with the playout delay capped at 20 ms
// (media.jitterMaxMs, its minimum); her packets come late, and she must hear
// the speech worse than bob did. The statistics must describe the network: bob's loss figure near the loss the relay really applied, the
// RFC 3550 jitter near what uniform 0–40 ms delay gives, the playout delay
// grown to cover the jitter and still far from its 300 ms bound.
//
// Rerun: node scripts/run-tests.mjs test/integration/media-jitter.test.ts
// (KEEP_TEST_DIR=1 keeps the daemon logs and recordings.)
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { join } from "node:path";
import { startCoturn, type Coturn } from "../../scripts/lab/coturn.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { startImpairRelay, type DirectionCounters, type Impairment, type ImpairRelay } from "../../scripts/lab/impair-relay.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudioSegments, readMono16 as mono16 } from "../../scripts/lab/audio-compare.js";
import { frameQuality } from "../helpers/audio-quality.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";

const CALL_MS = 5500;
const ONSET_MS = 300;

/** TURN REST credentials (draft-uberti-behave-turn-rest) for coturn's --use-auth-secret. */
function turnCredentials(secret: string, user: string): { username: string; password: string } {
  const username = `${Math.floor(Date.now() / 1000) + 3600}:${user}`;
  return { username, password: createHmac("sha1", secret).update(username).digest("base64") };
}

interface ReceiverStats {
  recording: string;
  codec: string;
  packetsReceived: number;
  packetsLost: number;
  fractionLost: number;
  packetsLate: number;
  packetsReordered: number;
  packetsDuplicate: number;
  packetsDiscarded: number;
  jitterMs: number;
  jitterBufferDelayMs: number;
  jitterBufferTargetMs: number;
  expands: number;
  merges: number;
  concealedMs: number;
  framesPlayed: number;
  mos: number;
}

describe("media through an impairing relay: jitter, reordering, duplication, loss", { timeout: 80_000 }, () => {
  let coturn: Coturn;
  let relay: ImpairRelay;
  let alice: Daemon;
  let bob: Daemon;
  let carol: Daemon;
  let speech: string;
  const lab = withLab({
    name: "media-jitter",
    users: { alice: "alice-pw", bob: "bob-pw", carol: "carol-pw" },
    setup: async ({ dir, adopt }) => {
      speech = join(dir, "speech.wav");
      [coturn] = await Promise.all([
        startCoturn().then(adopt),
        makeSpeechWav("Packets arrive late and out of order on a busy network. The buffer waits for them, and the words stay clear.", speech),
      ]);
      // Impairment is set per scenario; until then the relay only forwards.
      relay = adopt(await startImpairRelay({ target: { host: coturn.host, port: coturn.port }, seed: 4, maxClients: 8 }));
    },
    daemons: ({ dir }) => {
      const cred = turnCredentials(coturn.secret, "alice");
      const viaRelay = {
        ice: {
          addresses: ["127.0.0.1"],
          policy: "relay",
          turn: [{ uri: `turn:127.0.0.1:${relay.port}?transport=udp`, ...cred }],
          connectTimeoutMs: 15000,
        },
      };
      const receiver = (name: string, extra: Record<string, unknown> = {}) => ({
        media: { codecs: ["opus", "pcmu"], input: { type: "silence" }, output: { type: "file", path: join(dir, name, "recordings", "{callId}.wav") }, ...extra },
      });
      return {
        alice: { input: { type: "file", path: speech }, config: viaRelay },
        bob: { config: receiver("bob") },
        // The broken variant: a playout delay that may not exceed one frame.
        carol: { config: receiver("carol", { jitterMaxMs: 20 }) },
      };
    },
    parallel: true,
  });
  before(() => ({ daemons: { alice, bob, carol } } = lab));

  const callEvent = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;

  /** One call from alice to `to` with `imp` on both directions of alice's media; what `to` heard and counted. */
  async function call(to: Daemon, codec: string, imp: Impairment) {
    const before = { ...relay.counters.up };
    const mark = to.events.length;
    const { callId } = (await alice.control.request("call", { jid: to.jid, codecs: [codec] })) as { callId: string };
    let end: AnyEvent;
    try {
      const inc = await to.waitForEvent((e) => e.event === "call" && e.type === "incoming" && to.events.indexOf(e) >= mark, 10000, "incoming");
      await to.control.request("answer", { callId: inc.callId });
      const media = await alice.waitForEvent((e) => e.event === "media" && e.callId === callId, 20000, "media at alice");
      assert.equal((media.localCandidate as { type: string }).type, "relay", "alice's media goes through the relay");
      // The network turns bad once playout has started on a clean link: the buffer must grow to the jitter.
      await to.waitForEvent((e) => e.event === "media" && e.callId === inc.callId, 5000, "media at the receiver");
      await new Promise((r) => setTimeout(r, ONSET_MS));
      relay.setImpairment("up", imp);
      relay.setImpairment("down", imp);
      await new Promise((r) => setTimeout(r, CALL_MS));
      await alice.control.request("hangup", { callId });
      end = await to.waitForEvent(callEvent(inc.callId, "ended"), 10000, "receiver ended");
      await alice.waitForEvent(callEvent(callId, "ended"), 10000, "alice ended");
      await new Promise((r) => setTimeout(r, 150)); // the last delayed packets leave the relay
    } finally {
      // A failed scenario leaves neither a call nor a bad network to the next one.
      relay.setImpairment("up", {});
      relay.setImpairment("down", {});
      await alice.control.request("hangup", { callId }).catch(() => undefined);
    }
    const up = Object.fromEntries(Object.entries(relay.counters.up).map(([k, v]) => [k, k === "maxDelayMs" ? v : v - before[k as keyof DirectionCounters]])) as unknown as DirectionCounters;
    const s = end.stats as ReceiverStats;
    const ref = mono16(speech);
    const rec = mono16(s.recording);
    const q = frameQuality(ref.pcm, ref.rate, rec.pcm, rec.rate);
    const seg = compareAudioSegments(ref.pcm, ref.rate, rec.pcm, rec.rate);
    const injectedLoss = up.dropped / up.impairable;
    const summary =
      `level ${q.levelAgreement.toFixed(3)}, segSNR ${q.segmentalSnrDb.toFixed(1)} dB, block corr ${q.blockCorrelation.toFixed(3)}, segment corr ${seg.correlation.toFixed(3)}; ` +
      `relay up: ${up.impairable} media packets, dropped ${up.dropped} (${(injectedLoss * 100).toFixed(1)} %), dup ${up.duplicated}, held back ${up.heldBack}, out of order ${up.outOfOrder}, mean delay ${(up.delaySumMs / Math.max(1, up.forwarded)).toFixed(1)} ms; ` +
      `receiver: lost ${s.packetsLost} (${(s.fractionLost * 100).toFixed(1)} %), late ${s.packetsLate}, reordered ${s.packetsReordered}, dup ${s.packetsDuplicate}, discarded ${s.packetsDiscarded}, ` +
      `jitter ${s.jitterMs} ms, playout delay ${s.jitterBufferDelayMs} ms (target ${s.jitterBufferTargetMs}), expands ${s.expands}, merges ${s.merges}, concealed ${s.concealedMs} ms, MOS ${s.mos}`;
    return { q, seg, s, up, injectedLoss, summary };
  }

  // 0–40 ms of extra delay, uniform: adjacent packets (20 ms apart) swap about one time in eight.
  // On top, 3 % are held back 30 ms more and 1 % are sent twice.
  const JITTER: Impairment = { jitterMs: 40, reorder: 0.03, reorderMs: 30, duplicate: 0.01 };

  // Floors, from 14 runs of this file on the shared 2-core machine (other
  // test runs alongside; once two copies of this file at once; once with a
  // CPU-bound process besides). "bob" is the daemon as shipped; "carol" the
  // same with media.jitterMaxMs 20, a buffer that cannot grow past its
  // clean-link delay: 12–90 % of her packets come late and are concealed.
  //   Opus, jitter:  bob   level 0.877–0.919, segment corr 0.863–0.894
  //                  carol level 0.140–0.893, segment corr 0.183–0.830
  //   PCMU, jitter:  bob   level 0.915–0.937, segment corr 0.910–0.993, segSNR 28.7–32.2 dB
  //                  carol level 0.360–0.899, segment corr 0.524–0.899, segSNR 0.8–21.4 dB
  //   Opus, jitter + 5 % loss:  bob level 0.846–0.911, segment corr 0.840–0.894
  //   PCMU, jitter + 15 % loss: bob level 0.860–0.901, segment corr 0.845–0.932, segSNR 20.3–25.6 dB
  //     (later, in full CI runs: level 0.879, segSNR 18.0 dB)
  // The jitter floors rejected 26 of carol's 30 recordings. The four that
  // passed (Opus 0.893 / 0.830 with 12 % late and 0.870 / 0.829 with 21 %;
  // PCMU 0.881 / 0.876 / 20.5 dB with 31 % late and 0.899 / 0.899 / 21.4 dB
  // with 24 %) were among her lowest late shares (the rejected ones had
  // 30–90 %) and all came in the later runs: concealment hides
  // lateness well, so the floors alone cannot tell such a run from bob's.
  // What always told: her late share (above the 5 % bob must stay under) and
  // her segment correlation below bob's in the same run.
  // Loss floors against a concealment that plays silence: the daemon has no
  // switch for that, so it was measured on the in-process pair
  // (test/fakes/media-pair.ts, virtual clock, this sentence, the same
  // impairment, seeds 3/5/7): PCMU 15 % silent level 0.809–0.851, segSNR
  // 16.9–19.2 dB, ours 0.936–0.950, 24.2–27.7 dB. Real daemons score ours
  // about 0.06 and 2 dB lower than that simulation, so silent concealment
  // here would land near 0.77 and 16 dB: below the 0.83 level floor, which
  // is the one that rejects it. The segmental SNR floor (15 dB) only catches
  // garbled audio: ours measured 18.0 dB once (a full CI run, level 0.879),
  // so it cannot sit between ours and silence's. Segment
  // correlation hardly sees concealment (0.86 silent vs 0.88 ours); it
  // guards against garbled or misplaced audio. At 5 % loss silence keeps most
  // frames' level (Opus silent 0.896–0.927 vs ours 0.932–0.944 simulated), so
  // that floor is a sanity floor; test/unit/media-impairment.test.ts rejects
  // silent concealment on a clean time line.
  const FLOORS = {
    opus: { jitter: { level: 0.83, corr: 0.8 }, loss: { level: 0.8, corr: 0.8 } },
    pcmu: { jitter: { level: 0.85, corr: 0.85, snrDb: 18 }, loss: { level: 0.83, corr: 0.78, snrDb: 15 } },
  } as const;

  /** bob's scores on the jitter-only network, per codec, for carol's comparison. */
  const bobHeard = new Map<string, { corr: number }>();

  function checkStats(r: Awaited<ReturnType<typeof call>>): void {
    const s = r.s;
    assert.ok(r.up.outOfOrder > 15, `the relay really reordered (${r.up.outOfOrder})`);
    assert.ok(s.packetsReordered > 10, `the receiver saw the reordering (${s.packetsReordered})`);
    // RFC 3550 jitter of uniform 0..40 ms delay is E|D1 - D2| = 13.3 ms, a little more with the held-back packets (seen: 11–21 ms).
    assert.ok(s.jitterMs >= 8 && s.jitterMs <= 30, `jitter ${s.jitterMs} ms`);
    // Every copy the relay sent twice is caught (by SRTP's replay check) and counted; nothing else is.
    if (r.up.duplicated >= 2) assert.ok(s.packetsDuplicate >= 1, `duplicates counted (${s.packetsDuplicate} of ${r.up.duplicated})`);
    assert.ok(s.packetsDuplicate <= r.up.duplicated, `no more duplicates (${s.packetsDuplicate}) than the relay made (${r.up.duplicated})`);
  }

  /** The playout delay grew from its clean-link start (3..23 ms) to cover the jitter, and stays far from the 300 ms bound. */
  function checkBuffer(s: ReceiverStats): void {
    assert.ok(s.expands >= 1, `the delay was raised (${s.expands} expands)`);
    // Seen 38–79 ms (128 ms once, on a loaded machine, where the relay's timers add jitter of their own).
    assert.ok(s.jitterBufferDelayMs >= 30 && s.jitterBufferDelayMs <= 200, `playout delay ${s.jitterBufferDelayMs} ms`);
    // The target is the delay above the median packet's that the jitter calls for: ~3 ms on a clean link, 21–89 ms here.
    assert.ok(s.jitterBufferTargetMs >= 15 && s.jitterBufferTargetMs <= 200, `target ${s.jitterBufferTargetMs} ms`);
    assert.ok(s.packetsLate / s.packetsReceived < 0.05, `late ${s.packetsLate} of ${s.packetsReceived}`);
  }

  for (const codec of ["opus", "pcmu"] as const) {
    const floor: { level: number; corr: number; snrDb?: number } = FLOORS[codec].jitter;
    test(`${codec}, 40 ms jitter + reordering + duplicates, no loss: bob hears it above the floor; stats describe the network`, async (t) => {
      const r = await call(bob, codec, JITTER);
      t.diagnostic(`bob, ${codec}, jitter: ${r.summary}`);
      bobHeard.set(codec, { corr: r.seg.correlation });
      assert.equal(r.up.dropped, 0);
      assert.ok(r.q.levelAgreement >= floor.level, `level agreement ${r.q.levelAgreement.toFixed(3)} < ${floor.level}`);
      assert.ok(r.seg.correlation >= floor.corr, `segment correlation ${r.seg.correlation.toFixed(3)} < ${floor.corr}`);
      if (floor.snrDb !== undefined) assert.ok(r.q.segmentalSnrDb >= floor.snrDb, `segmental SNR ${r.q.segmentalSnrDb.toFixed(1)} dB < ${floor.snrDb}`);
      assert.ok(r.s.fractionLost < 0.01, `no loss injected, bob reports ${r.s.fractionLost}`);
      checkStats(r);
      checkBuffer(r.s);
    });

    test(`${codec}, the same network with the playout delay capped at one frame (carol): her packets come late, she hears it worse than bob`, async (t) => {
      const r = await call(carol, codec, JITTER);
      const rejected = r.q.levelAgreement < floor.level || r.seg.correlation < floor.corr || (floor.snrDb !== undefined && r.q.segmentalSnrDb < floor.snrDb);
      t.diagnostic(`carol (jitterMaxMs 20), ${codec}, jitter: ${r.summary}; ${rejected ? "below the floors" : "NOT below the floors"}`);
      checkStats(r);
      assert.ok(r.s.packetsLate / r.s.packetsReceived > 0.05, `late ${r.s.packetsLate} of ${r.s.packetsReceived}`);
      const b = bobHeard.get(codec);
      if (b) assert.ok(r.seg.correlation < b.corr, `carol's segment correlation ${r.seg.correlation.toFixed(3)} is not below bob's ${b.corr.toFixed(3)}`);
    });
  }

  for (const [codec, loss] of [
    ["opus", 0.05],
    ["pcmu", 0.15],
  ] as const) {
    const floor: { level: number; corr: number; snrDb?: number } = FLOORS[codec].loss;
    test(`${codec}, 40 ms jitter + reordering + ${loss * 100} % loss: bob hears it above the floor; loss reported as the relay dropped`, async (t) => {
      const r = await call(bob, codec, { ...JITTER, loss });
      t.diagnostic(`bob, ${codec}, jitter + ${loss * 100} % loss: ${r.summary}`);
      // About 280 media packets while impaired: the binomial spread is 1.3 points at 5 %, 2.1 at 15 %.
      assert.ok(Math.abs(r.injectedLoss - loss) < 0.06, `the relay dropped ${r.injectedLoss}`);
      assert.ok(r.q.levelAgreement >= floor.level, `level agreement ${r.q.levelAgreement.toFixed(3)} < ${floor.level}`);
      assert.ok(r.seg.correlation >= floor.corr, `segment correlation ${r.seg.correlation.toFixed(3)} < ${floor.corr}`);
      if (floor.snrDb !== undefined) assert.ok(r.q.segmentalSnrDb >= floor.snrDb, `segmental SNR ${r.q.segmentalSnrDb.toFixed(1)} dB < ${floor.snrDb}`);
      // Bob's RFC 3550 figure against what the relay really dropped (RTCP included there, a few packets).
      assert.ok(Math.abs(r.s.fractionLost - r.injectedLoss) < 0.02, `bob's loss ${r.s.fractionLost} vs the relay's ${r.injectedLoss}`);
      checkStats(r);
      checkBuffer(r.s);
    });
  }
});
