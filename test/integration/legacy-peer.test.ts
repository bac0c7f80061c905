// A legacy-style peer (no DTLS fingerprint, no rtcp-mux — like Farstream-era
// clients) against a default jingled, both directions: the default daemon
// falls back to plain RTP/AVP without RTCP and the audio flows; a daemon
// whose policy requires DTLS refuses it with security-error.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudioSegments, readMono16 as mono16 } from "../../scripts/lab/audio-compare.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";

describe("legacy-style peer: DTLS off, no rtcp-mux", { timeout: 150_000 }, () => {
  let modern: Daemon;
  let legacy: Daemon;
  let strict: Daemon;
  const wav = { modern: "", legacy: "" };
  const lab = withLab({
    name: "legacy",
    users: { modern: "m-pw", legacy: "l-pw", strict: "s-pw" },
    setup: async ({ dir }) => {
      wav.modern = join(dir, "modern.wav");
      wav.legacy = join(dir, "legacy.wav");
      await makeSpeechWav("Plain old RTP still carries a voice from here.", wav.modern);
      await makeSpeechWav("And back from the legacy side it comes as well.", wav.legacy, { voice: "en+f3" });
    },
    daemons: ({ dir }) => ({
      modern: { input: { type: "file", path: wav.modern } },
      legacy: {
        input: { type: "file", path: wav.legacy },
        config: { media: { codecs: ["pcmu", "opus"], input: { type: "file", path: wav.legacy }, output: { type: "file", path: join(dir, "legacy", "recordings", "{callId}.wav") }, dtls: "off", rtcpMux: false } },
      },
      strict: { config: { media: { dtls: "require", output: { type: "null" } } } },
    }),
  });
  before(() => ({ daemons: { modern, legacy, strict } } = lab));

  const is = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;
  const incoming = (d: Daemon, mark: number) => (e: AnyEvent) => e.event === "call" && e.type === "incoming" && d.events.indexOf(e) >= mark;

  for (const [callerName, calleeName] of [["modern", "legacy"], ["legacy", "modern"]] as const) {
    test(`${callerName} calls ${calleeName}: plain RTP without RTCP, audio both ways`, async (t) => {
      const caller = callerName === "modern" ? modern : legacy;
      const callee = calleeName === "modern" ? modern : legacy;
      const mark = callee.events.length;
      const { callId } = (await caller.control.request("call", { jid: callee.jid })) as { callId: string };
      const inc = await callee.waitForEvent(incoming(callee, mark), 10000, "incoming");
      await callee.control.request("answer", { callId: inc.callId });
      const media = await caller.waitForEvent((e) => e.event === "media" && e.callId === callId, 15000, "media");
      assert.equal(media.encryption, "none", "no fingerprint from the legacy side: plain RTP/AVP");
      await new Promise((r) => setTimeout(r, 3500));
      await caller.control.request("hangup", { callId });
      const endCaller = await caller.waitForEvent(is(callId, "ended"), 10000, "caller ended");
      const endCallee = await callee.waitForEvent(is(inc.callId, "ended"), 10000, "callee ended");
      assert.equal(endCaller.reason, "success");
      for (const [end, said, who] of [
        [endCallee, callerName === "modern" ? wav.modern : wav.legacy, `${callerName} -> ${calleeName}`],
        [endCaller, callerName === "modern" ? wav.legacy : wav.modern, `${calleeName} -> ${callerName}`],
      ] as const) {
        const stats = end.stats as { recording: string; rtcpSent: number; codec: string; framesConcealed: number; merges: number; expands: number };
        assert.equal(stats.rtcpSent, 0, "no rtcp-mux: no RTCP on the single ICE component");
        const ref = mono16(said);
        const rec = mono16(stats.recording);
        const cmp = compareAudioSegments(ref.pcm, ref.rate, rec.pcm, rec.rate);
        t.diagnostic(
          `${who} (${stats.codec}): correlation ${cmp.correlation.toFixed(3)} (worst segment ${cmp.worst.toFixed(3)}), lag ${cmp.lagMs.toFixed(0)} ms, warp ${cmp.lagSpreadMs} ms; ` +
            `playout: ${stats.framesConcealed} frames concealed, ${stats.merges} merges, ${stats.expands} expands`,
        );
        // G.711 arrives sample-exact on loopback (1.000; an expand mid-word under load costs up to ~0.05). Opus:
        // the first call negotiates it (the caller's preference): 0.897 on the "legacy" voice; the "modern" voice
        // has one segment at 0.45 whatever happens, and measures 0.81-0.87 as the legacy side merges away the
        // 60-80 ms that piled up before its media started (the caller's plain RTP flows first). With 80 ms merged
        // away the first words sit 80 ms later than the rest; compareAudioSegments looks 250 ms around for the first
        // segment (it looked 60 ms and scored 0.679, worst segment 0.000, in 2 of 3 runs on a quiet machine).
        const floor = stats.codec.toLowerCase() === "opus" ? 0.75 : 0.9;
        assert.ok(cmp.correlation >= floor, `${who}: correlation ${cmp.correlation.toFixed(3)} < ${floor}`);
      }
    });
  }

  test("a daemon whose dtls policy is require refuses the legacy peer with security-error", async () => {
    const mark = strict.events.length;
    const { callId } = (await legacy.control.request("call", { jid: strict.jid })) as { callId: string };
    const end = await legacy.waitForEvent(is(callId, "ended"), 15000, "legacy ended");
    assert.equal(end.reason, "security-error");
    const refused = await strict.waitForEvent((e) => e.event === "call" && e.type === "ended" && strict.events.indexOf(e) >= mark, 10000, "strict ended");
    assert.equal(refused.reason, "security-error");
  });
});
