// The echo and quality probe with a real WebRTC caller: headless Chromium
// running the StanzaJS client of the browser tests (scripts/lab/browser-client.ts)
// calls the echo daemon through a real Prosody (websocket for the browser).
// The browser records what it hears and its own microphone, on one clock:
// the lag between the two is the echo's delay as the caller lives it
// (envelope cross-correlation). The report that
// arrives in chat carries the far side's figures from Chromium's RTCP.
//
// Everything runs in a network namespace of its own with only `lo` up
// (as test/integration/browser-interop.test.ts); without root, `ip` or
// /usr/bin/chromium the file skips with the reason.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { inOwnNetns, nonLoopbackAddresses } from "../../scripts/lab/netns.js";
import { browserPeerUnavailable, startBrowserPeer, type BrowserPeer, type PeerState } from "../../scripts/lab/browser-peer.js";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { onExitCleanup } from "../../scripts/lab/process.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { readMono16 } from "../../scripts/lab/audio-compare.js";
import { Resampler } from "../../src/media/resampler.js";
import { writeWavFile } from "../../src/media/wav.js";
import { observeChat, type ChatObserver } from "../helpers/chat-observer.js";

const FILE_LIMIT_MS = 150_000;
/** The microphone loops this long: one phrase, then silence (longer than the echo's delay and the search window). */
const MIC_PERIOD_S = 8;

/** The RMS envelope of `pcm` (10 ms windows at 8 kHz, every 1 ms): speech's syllables, without the waveform details the codec changes. */
function envelope(pcm: Int16Array, rate: number): Float64Array {
  const x = Resampler.resampleAll(pcm, rate, 8000);
  const W = 80;
  const env = new Float64Array(Math.max(0, Math.floor((x.length - W) / 8)));
  for (let i = 0; i < env.length; i++) {
    let e = 0;
    for (let j = 0; j < W; j++) e += x[i * 8 + j]! * x[i * 8 + j]!;
    env[i] = Math.sqrt(e / W);
  }
  return env;
}

/**
 * The lag (ms) in [minMs, maxMs] at which `heard` best matches `said` (both
 * captured on one clock): the echo's delay as the caller lives it.
 * Normalised cross-correlation of the envelopes; runnerUp: the best match
 * more than 200 ms away from it.
 */
function echoLag(said: Int16Array, heard: Int16Array, rate: number, minMs: number, maxMs: number): { lagMs: number; correlation: number; runnerUp: number } {
  const a = envelope(said, rate);
  const b = envelope(heard, rate);
  const byLag: number[] = [];
  let best = { lagMs: 0, correlation: -1 };
  for (let lag = minMs; lag <= maxMs && lag < b.length; lag++) {
    const n = Math.min(a.length, b.length - lag);
    let ma = 0;
    let mb = 0;
    for (let i = 0; i < n; i++) {
      ma += a[i]!;
      mb += b[i + lag]!;
    }
    ma /= n;
    mb /= n;
    let ab = 0;
    let aa = 0;
    let bb = 0;
    for (let i = 0; i < n; i++) {
      const x = a[i]! - ma;
      const y = b[i + lag]! - mb;
      ab += x * y;
      aa += x * x;
      bb += y * y;
    }
    const c = aa > 0 && bb > 0 ? ab / Math.sqrt(aa * bb) : 0;
    byLag[lag] = c;
    if (c > best.correlation) best = { lagMs: lag, correlation: c };
  }
  let runnerUp = -1;
  for (let lag = minMs; lag < byLag.length; lag++) if (Math.abs(lag - best.lagMs) > 200 && byLag[lag]! > runnerUp) runnerUp = byLag[lag]!;
  return { ...best, runnerUp };
}

if (await inOwnNetns({ prefix: "jingled-echo-browser", what: "echo service with Chromium (StanzaJS)", limitMs: FILE_LIMIT_MS, unavailable: browserPeerUnavailable })) {
  describe("echo service with a Chromium caller", { timeout: FILE_LIMIT_MS - 10_000 }, () => {
    let dir: string;
    let prosody: ProsodyServer;
    let echo: Daemon;
    let peer: BrowserPeer;
    let observer: ChatObserver;

    before(async () => {
      assert.deepEqual(nonLoopbackAddresses(), [], "the test namespace has only loopback");
      dir = mkdtempSync(join(tmpdir(), "jingled-echo-browser-"));
      if (!process.env.KEEP_TEST_DIR) onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
      prosody = await startProsody({ modules: ["websocket"], users: [{ username: "echo", password: "echo-pw" }, { username: "carol", password: "carol-pw" }] });
      // The phrase, then silence up to MIC_PERIOD_S: Chromium's fake microphone loops it.
      const phrase = join(dir, "phrase.wav");
      await makeSpeechWav("Seven silver swans swim south.", phrase, { sampleRate: 48000, channels: 1 });
      const p = readMono16(phrase);
      const mic = new Int16Array(48000 * MIC_PERIOD_S);
      mic.set(p.pcm.subarray(0, Math.min(p.pcm.length, mic.length)));
      const micWav = join(dir, "mic.wav");
      writeWavFile(micWav, mic, 48000);
      [echo, peer] = await Promise.all([
        startDaemon({ prosody, username: "echo", password: "echo-pw", dir: join(dir, "echo"), config: { calls: { acceptFrom: "everyone", echo: true } } }),
        startBrowserPeer({ fakeMicWav: micWav }),
      ]);
      await peer.connect({ jid: prosody.jid("carol"), password: "carol-pw", wsUrl: prosody.websocketUrl! });
      observer = await observeChat({ jid: "carol@localhost", password: "carol-pw", port: prosody.port, caFile: prosody.caFile });
    });

    after(async () => {
      await observer?.stop().catch(() => undefined);
      await peer?.close();
      await echo?.stop();
      await prosody?.stop();
      if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    test("Chromium hears itself 1.5 s later and gets the report, with its own RTCP figures", async (t) => {
      const sid = await peer.call(echo.jid);
      await peer.waitFor(
        (s: PeerState) => {
          const x = s.sessions.find((y) => y.sid === sid);
          if (x?.state === "ended" || x?.pcConnectionState === "failed") throw new Error(`browser session ${sid} ended: ${x.endReason ?? "?"}`);
          return x?.pcConnectionState === "connected" ? x : undefined;
        },
        20_000,
        "the browser's call connected",
      );
      const started = await echo.waitForEvent((e) => e.event === "echo" && e.type === "started", 10_000, "echo started");
      assert.equal(started.delayMs, 1500);
      await peer.startRecording({ withLocal: true });
      // More than one microphone period, and RTCP (every 5 s) both ways.
      await new Promise((r) => setTimeout(r, (MIC_PERIOD_S + 3) * 1000));
      const heard = await peer.stopRecording();
      await peer.hangup(sid);
      if (process.env.KEEP_TEST_DIR) writeWavFile(join(dir, "browser-hears.wav"), heard.pcm, heard.sampleRate);
      if (process.env.KEEP_TEST_DIR && heard.local) writeWavFile(join(dir, "browser-says.wav"), heard.local, heard.sampleRate);

      assert.ok(heard.local, "the microphone was recorded");
      const lag = echoLag(heard.local, heard.pcm, heard.sampleRate, 500, 4000);
      t.diagnostic(`Chromium hears itself ${lag.lagMs} ms later (envelope correlation ${lag.correlation.toFixed(3)}; best elsewhere ${lag.runnerUp.toFixed(3)})`);
      assert.ok(lag.correlation >= 0.6, `envelope correlation ${lag.correlation.toFixed(3)}`);
      assert.ok(lag.correlation - lag.runnerUp >= 0.15, `a clear peak: ${lag.correlation.toFixed(3)} against ${lag.runnerUp.toFixed(3)} elsewhere`);
      // 1500 ms of delay line, plus both directions' network and playout delay (loopback: tens of ms; Chromium's own buffers).
      assert.ok(lag.lagMs >= 1450 && lag.lagMs <= 2300, `lag ${lag.lagMs} ms`);

      const report = await observer.waitFor((m) => m.body.startsWith("Call quality report"), 15_000, "the report");
      t.diagnostic(report.body);
      const lines = report.body.split("\n");
      assert.match(lines[1]!, /^Path: host\/udp <-> host\/udp \(direct\)$/);
      assert.match(lines[2]!, /^RTT: \d+ ms$/);
      assert.match(lines[3]!, /^You -> echo: loss \d+(\.\d)? %, jitter \d+(\.\d)? ms, MOS [1-4]\.\d\d, concealed \d+ ms, \d+ packets$/);
      assert.match(lines[4]!, /^Echo -> you: loss \d+(\.\d)? %, jitter \d+(\.\d)? ms, MOS [1-4]\.\d\d, \d+ packets \(your RTCP reports\)$/, "Chromium's receiver reports");
      assert.equal(lines[5], "Codec: opus");
      assert.match(lines[6]!, /^Encryption: DTLS-SRTP SRTP_\w+$/);
    });
  });
}
