// npm run demo: a real call on this machine. A throwaway Prosody on 127.0.0.1,
// two accounts, two jingled daemons (the lab of scripts/lab/lab.ts, as the
// tests have it); alice calls bob with a spoken WAV as her microphone, bob
// answers (and speaks too), both record what they hear, alice hangs up after
// a few seconds, and a summary is printed. Everything started here is
// stopped here.
import { copyFileSync, mkdirSync } from "node:fs";
import { join, relative } from "node:path";
import { REPO_ROOT } from "./lab/daemon.js";
import { startLab, type Lab } from "./lab/lab.js";
import { makeSpeechWav } from "./lab/speech.js";
import { compareAudioSegments, readMono16 as mono } from "./lab/audio-compare.js";
import { codecIds } from "../src/media/codecs/index.js";

const codec = process.argv[2] ?? "opus";
const TALK_MS = 5000;

interface Stats {
  codec: string;
  packetsSent: number;
  bytesSent: number;
  packetsReceived: number;
  bytesReceived: number;
  packetsLost: number;
  framesConcealed: number;
  underruns: number;
  maxTickGapMs: number;
  recording: string;
}

async function main(): Promise<void> {
  const outDir = join(REPO_ROOT, ".run", "demo");
  mkdirSync(outDir, { recursive: true });
  const step = (s: string) => process.stdout.write(`• ${s}\n`);
  const said = { alice: "", bob: "" };
  let lab: Lab<"alice" | "bob"> | undefined;
  try {
    // Both with every codec, as installed daemons have by default; the call picks one.
    const codecs = codecIds();
    lab = await startLab({
      name: "demo",
      users: { alice: "alice-demo", bob: "bob-demo" },
      setup: async ({ dir }) => {
        said.alice = join(dir, "alice-says.wav");
        said.bob = join(dir, "bob-says.wav");
        await makeSpeechWav("Hello Bob, this is Alice calling through jingled. Can you hear me clearly?", said.alice);
        await makeSpeechWav("Hi Alice, Bob here. I hear you loud and clear.", said.bob, { voice: "en+f3" });
        step("spoken WAVs made with espeak-ng; starting a throwaway Prosody on 127.0.0.1");
      },
      daemons: ({ prosody }) => {
        step(`Prosody up on port ${prosody.port} (accounts alice@${prosody.domain}, bob@${prosody.domain})`);
        return {
          alice: { codecs, input: { type: "file", path: said.alice }, logLevel: "info" },
          bob: { codecs, input: { type: "file", path: said.bob }, logLevel: "info" },
        };
      },
    });
    const { alice, bob } = lab.daemons;
    const aliceWav = said.alice;
    const bobWav = said.bob;
    step(`daemons online: ${alice.jid} and ${bob.jid}`);

    const t0 = performance.now();
    const { callId } = (await alice.control.request("call", { jid: bob.jid, codecs: [codec] })) as { callId: string };
    step(`alice calls bob (${codec})`);
    const incoming = await bob.waitForEvent((e) => e.event === "call" && e.type === "incoming", 10000, "incoming call");
    step(`bob's daemon rings: incoming call from ${String(incoming.peer)}; bob answers`);
    await bob.control.request("answer", { callId: incoming.callId });
    const media = await alice.waitForEvent((e) => e.event === "media" && e.callId === callId, 15000, "media");
    const setupMs = performance.now() - t0;
    step(`call active after ${setupMs.toFixed(0)} ms; talking for ${TALK_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, TALK_MS));
    await alice.control.request("hangup", { callId });
    const endA = await alice.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "ended", 10000, "ended");
    const endB = await bob.waitForEvent((e) => e.event === "call" && e.callId === incoming.callId && e.type === "ended", 10000, "ended");
    const sa = endA.stats as Stats;
    const sb = endB.stats as Stats;
    const aliceHeard = join(outDir, "alice-heard.wav");
    const bobHeard = join(outDir, "bob-heard.wav");
    copyFileSync(sa.recording, aliceHeard);
    copyFileSync(sb.recording, bobHeard);
    copyFileSync(aliceWav, join(outDir, "alice-said.wav"));
    copyFileSync(bobWav, join(outDir, "bob-said.wav"));
    const toBob = compareAudioSegments(mono(aliceWav).pcm, mono(aliceWav).rate, mono(bobHeard).pcm, mono(bobHeard).rate);
    const toAlice = compareAudioSegments(mono(bobWav).pcm, mono(bobWav).rate, mono(aliceHeard).pcm, mono(aliceHeard).rate);
    const l = media.localCandidate as { type: string; ip: string; port: number };
    const r = media.remoteCandidate as { type: string; ip: string; port: number };
    const rel = (p: string) => relative(process.cwd(), p) || p;

    process.stdout.write(`
Call summary
  codec            ${String(media.codec)}
  encryption       ${String(media.encryption ?? "none")}${media.srtpProfile ? ` (${String(media.srtpProfile)})` : ""}
  candidate pair   ${l.type} ${l.ip}:${l.port}  <->  ${r.type} ${r.ip}:${r.port}
  setup            ${setupMs.toFixed(0)} ms (call command to media flowing)
  duration         ${(Number(endA.durationMs) / 1000).toFixed(1)} s, ended: ${String(endA.reason)} / ${String(endB.reason)}
  alice -> bob     ${sa.packetsSent} packets, ${sa.bytesSent} bytes sent; bob received ${sb.packetsReceived} (${sb.bytesReceived} bytes), lost ${sb.packetsLost}
  bob -> alice     ${sb.packetsSent} packets, ${sb.bytesSent} bytes sent; alice received ${sa.packetsReceived} (${sa.bytesReceived} bytes), lost ${sa.packetsLost}
  playout          alice: ${sa.underruns} underruns, ${sa.framesConcealed} frames concealed, longest clock gap ${sa.maxTickGapMs} ms; bob: ${sb.underruns} / ${sb.framesConcealed} / ${sb.maxTickGapMs} ms
  audio check      alice->bob correlation ${toBob.correlation.toFixed(3)}, bob->alice ${toAlice.correlation.toFixed(3)} (1.0 = identical; per 250 ms segment)
                   playout time-warp ${toBob.lagSpreadMs.toFixed(0)} / ${toAlice.lagSpreadMs.toFixed(0)} ms
  recordings       ${rel(bobHeard)} (what bob heard), ${rel(aliceHeard)} (what alice heard)
                   sources: ${rel(join(outDir, "alice-said.wav"))}, ${rel(join(outDir, "bob-said.wav"))}
`);
    if (endA.reason !== "success" || toBob.correlation < 0.8 || toAlice.correlation < 0.8) process.exitCode = 1;
  } finally {
    await lab?.stop().catch(() => undefined);
    step("stopped everything that was started");
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  process.exitCode = 1;
});
