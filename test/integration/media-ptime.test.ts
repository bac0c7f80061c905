// 10 ms packets end to end between two real daemons through a real Prosody
// when the peer asks for them: bob is configured with media.ptimeMs 10, so
// his XEP-0167 answer carries ptime="10" on the payload type (RFC 4566 §6
// a=ptime). alice (default 20 ms, announcing nothing) must send 10 ms
// packets because bob asked; bob sends his own preference. Both run 10 ms
// media frames (one packet per 10 ms tick, RTP timestamps 10 ms apart), both
// report the ptime of what they send and of what they receive, and bob hears
// alice's speech as well as on a 20 ms call. A control call with 20 ms
// packets (carol, the default) runs beside for the counts.
//
// Rerun: node scripts/run-tests.mjs test/integration/media-ptime.test.ts
// (KEEP_TEST_DIR=1 keeps the daemon logs and recordings.)
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudioSegments, readMono16 as mono16 } from "../../scripts/lab/audio-compare.js";
import { frameQuality } from "../helpers/audio-quality.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";

const CALL_MS = 4000;

interface Stats {
  recording?: string;
  ptimeMs: number;
  remotePtimeMs?: number;
  frameMs: number;
  packetsSent: number;
  packetsReceived: number;
  framesConcealed: number;
  framesPlayed: number;
  jitterBufferDelayMs: number;
}

describe("10 ms ptime between two daemons", { timeout: 120_000 }, () => {
  let speech: string;
  let alice: Daemon;
  let bob: Daemon;
  let carol: Daemon;
  const lab = withLab({
    name: "media-ptime",
    users: { alice: "alice-pw", bob: "bob-pw", carol: "carol-pw" },
    setup: async ({ dir }) => {
      speech = join(dir, "speech.wav");
      await makeSpeechWav("Ten millisecond packets go out as soon as their audio is read, and they play as soon as they arrive.", speech);
    },
    daemons: ({ dir }) => ({
      alice: { input: { type: "file", path: speech } },
      bob: {
        autoAnswer: true,
        config: { media: { codecs: ["opus", "pcmu"], input: { type: "file", path: speech }, output: { type: "file", path: join(dir, "bob", "recordings", "{callId}.wav") }, ptimeMs: 10 } },
      },
      carol: { autoAnswer: true },
    }),
  });

  before(() => {
    ({ alice, bob, carol } = lab.daemons);
  });

  const callEvent = (callId: string, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;

  async function call(callee: Daemon, codec: string) {
    const mark = callee.events.length;
    const { callId } = (await alice.control.request("call", { jid: callee.jid, codecs: [codec] })) as { callId: string };
    await alice.waitForEvent(callEvent(callId, "active"), 15000, "active");
    await new Promise((r) => setTimeout(r, CALL_MS));
    await alice.control.request("hangup", { callId });
    const endA = await alice.waitForEvent(callEvent(callId, "ended"), 10000, "alice ended");
    const endB = await callee.waitForEvent((e) => e.event === "call" && e.type === "ended" && callee.events.indexOf(e) >= mark, 10000, "callee ended");
    const a = endA.stats as unknown as Stats;
    const b = endB.stats as unknown as Stats;
    const ref = mono16(speech);
    const rec = mono16(b.recording!);
    const seg = compareAudioSegments(ref.pcm, ref.rate, rec.pcm, rec.rate);
    const q = frameQuality(ref.pcm, ref.rate, rec.pcm, rec.rate);
    return { a, b, corr: seg.correlation, level: q.levelAgreement };
  }

  for (const codec of ["opus", "pcmu"]) {
    test(`${codec}: bob asks for 10 ms; both send and play 10 ms packets, and bob hears alice`, async (t) => {
      const r = await call(bob, codec);
      const c = await call(carol, codec);
      t.diagnostic(`${codec} 10 ms: alice sent ${r.a.packetsSent}, bob sent ${r.b.packetsSent}, bob concealed ${r.b.framesConcealed} of ${r.b.framesPlayed}, playout delay ${r.b.jitterBufferDelayMs} ms, corr ${r.corr.toFixed(3)}, level ${r.level.toFixed(3)}`);
      t.diagnostic(`${codec} 20 ms (carol): alice sent ${c.a.packetsSent}, concealed ${c.b.framesConcealed} of ${c.b.framesPlayed}, playout delay ${c.b.jitterBufferDelayMs} ms, corr ${c.corr.toFixed(3)}, level ${c.level.toFixed(3)}`);
      // alice announced nothing and sends 10 ms because bob's answer asked for it.
      assert.equal(r.a.ptimeMs, 10, "alice sends what bob asked for");
      assert.equal(r.a.frameMs, 10);
      assert.equal(r.b.ptimeMs, 10);
      assert.equal(r.b.frameMs, 10);
      assert.equal(r.b.remotePtimeMs, 10, "bob receives 10 ms packets");
      assert.equal(r.a.remotePtimeMs, 10, "alice receives 10 ms packets");
      // Twice the packets of the 20 ms call over the same time (both calls last CALL_MS after active).
      const ratio = r.a.packetsSent / c.a.packetsSent;
      assert.ok(ratio > 1.7 && ratio < 2.3, `10 ms call ${r.a.packetsSent} packets, 20 ms call ${c.a.packetsSent}`);
      assert.equal(c.a.ptimeMs, 20);
      assert.equal(c.b.remotePtimeMs, 20);
      // Frames played: 10 ms frames, about twice as many; hardly any concealed on loopback.
      assert.ok(r.b.framesPlayed > 1.7 * c.b.framesPlayed, `frames played ${r.b.framesPlayed} vs ${c.b.framesPlayed}`);
      // (A busy machine delays timers: a few frames come late, more of them at 10 ms.)
      assert.ok(r.b.framesConcealed / r.b.framesPlayed < 0.1, `concealed ${r.b.framesConcealed} of ${r.b.framesPlayed}`);
      // What bob heard: alice's speech, near what carol heard of the same file in 20 ms packets
      // (the recording covers only part of the file, so neither scores 1).
      assert.ok(r.corr >= 0.75 && r.corr >= c.corr - 0.1, `segment correlation ${r.corr.toFixed(3)} (20 ms: ${c.corr.toFixed(3)})`);
      assert.ok(r.level >= 0.6 && r.level >= c.level - 0.1, `level agreement ${r.level.toFixed(3)} (20 ms: ${c.level.toFixed(3)})`);
    });
  }
});
