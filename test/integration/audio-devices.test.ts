// Real audio devices without a sound card: a PulseAudio server started by the
// test with null sinks only. Alice's daemon captures from the monitor of the
// "mic" sink (the test plays speech into it with paplay); bob's daemon plays
// into the "spk" sink, whose monitor the test records with parec. What comes
// out must match what went in. The same call carries DTMF both ways (RFC 4733
// through the control socket's dtmf command) and its statistics are checked
// for plausibility. Then ALSA (arecord/aplay through ALSA's pulse plugin),
// a FIFO pipe, and devices that fail: a clear deviceError, never a crash, and
// the call goes on with silence or ends with failed-application as configured.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudioSegments, readMono16 as mono16 } from "../../scripts/lab/audio-compare.js";
import { frameQuality } from "../helpers/audio-quality.js";
import { pulseAvailable, startPulse, type PulseServer } from "../../scripts/lab/pulse.js";
import { startProcess } from "../../scripts/lab/process.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";
import { createSource } from "../../src/media/sources/index.js";
import { createSink } from "../../src/media/sinks/index.js";
import type { JingledError } from "../../src/util/errors.js";
import { startDeviceProcess } from "../../src/media/device-process.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const missing = pulseAvailable() ? undefined : "pulseaudio/pulseaudio-utils not installed (scripts/bootstrap.sh installs them as root)";

describe("audio devices: PulseAudio null sinks, ALSA, pipes; DTMF both ways; device failures", { skip: missing, timeout: 120_000 }, () => {
  let dir: string;
  let prosody: ProsodyServer;
  let pa: PulseServer;
  let alice: Daemon;
  let bob: Daemon;
  let speech: string;

  const callEvent = (callId: string, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;
  const incoming = (d: Daemon, mark: number) => (e: AnyEvent) => e.event === "call" && e.type === "incoming" && d.events.indexOf(e) >= mark;

  async function connect(from: Daemon, to: Daemon, codec: string): Promise<{ a: string; b: string }> {
    const mark = to.events.length;
    const { callId } = (await from.control.request("call", { jid: to.jid, codecs: [codec] })) as { callId: string };
    const inc = await to.waitForEvent(incoming(to, mark), 10000, "incoming call");
    await to.control.request("answer", { callId: inc.callId });
    await from.waitForEvent(callEvent(callId, "active"), 10000, "active");
    await to.waitForEvent(callEvent(inc.callId as string, "active"), 10000, "active (callee)");
    return { a: callId, b: inc.callId as string };
  }

  const lab = withLab({
    name: "audio-devices",
    users: { alice: "alice-pw", bob: "bob-pw", carol: "carol-pw" },
    setup: async ({ dir, adopt, cleanup }) => {
      cleanup(() => delete process.env.PULSE_SERVER);
      pa = adopt(await startPulse({ sinks: ["mic", "spk"] }));
      // The daemons' parec/pacat/arecord/aplay find the test server through the environment.
      process.env.PULSE_SERVER = pa.server;
      speech = join(dir, "speech.wav");
      await makeSpeechWav("Testing the sound server: one, two, three, four, five.", speech);
    },
    daemons: () => {
      const media = (input: Record<string, unknown>, output: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
        codecs: ["opus", "pcmu"],
        input,
        output,
        ...extra,
      });
      return {
        alice: { config: { media: media({ type: "pulse", device: "mic.monitor" }, { type: "null" }) } },
        bob: { config: { media: media({ type: "silence" }, { type: "pulse", device: "spk" }) } },
      };
    },
  });
  before(() => ({ dir, prosody, daemons: { alice, bob } } = lab));

  test("speech into alice's pulse source comes out of bob's pulse sink; DTMF both ways; stats plausible", async (t) => {
    const recFile = join(dir, "spk.raw");
    const ids = await connect(alice, bob, "opus");
    // Recording from here: how long the call took to set up (a busy machine, the media thread
    // still loading) is no part of the lag the comparison must find.
    const rec = spawn("parec", [`--server=${pa.server}`, "--device=spk.monitor", "--raw", "--format=s16le", "--rate=48000", "--channels=1", `--file-format=raw`, recFile], { stdio: "ignore" });
    try {
      // The null sink starts bob's pacat stream at its next wake-up, up to 2 s after the stream
      // appears (an idle null sink renders in 2 s blocks); until then bob's sink drops what it
      // is given rather than queue it as delay (outputDroppedMs, checked below).
      await sleep(2300);
      // Into the "mic" sink: what alice's parec records from its monitor.
      execFileSync("paplay", [`--server=${pa.server}`, "--device=mic", speech], { timeout: 20000 });
      await sleep(500);

      // DTMF both ways while the call runs.
      const markA = alice.events.length;
      const markB = bob.events.length;
      await alice.control.request("dtmf", { callId: ids.a, digits: "123#" });
      await bob.control.request("dtmf", { callId: ids.b, digits: "*9", durationMs: 160 });
      await sleep(300);
      const digitsAtBob = bob.events.slice(markB).filter((e) => e.event === "dtmf").map((e) => e.digit);
      const atAlice = alice.events.slice(markA).filter((e) => e.event === "dtmf");
      assert.deepEqual(digitsAtBob, ["1", "2", "3", "#"]);
      assert.deepEqual(atAlice.map((e) => e.digit), ["*", "9"]);
      assert.deepEqual(atAlice.map((e) => e.durationMs), [160, 160]);

      const stats = (await bob.control.request("stats", { callId: ids.b })) as Record<string, unknown> & { packetsReceived: number };
      t.diagnostic(`bob's stats: ${JSON.stringify(stats)}`);
      assert.ok(stats.packetsReceived > 100);
      assert.equal(stats.packetsLost, 0);
      assert.ok((stats.jitterMs as number) < 20, "loopback jitter is small");
      assert.ok((stats.jitterBufferDelayMs as number) <= 60, `playout delay ${stats.jitterBufferDelayMs}`);
      assert.ok((stats.mos as number) > 4, `MOS ${stats.mos}`);
      assert.equal(stats.dtmfReceived, 4);
      // What bob's sink held back while pacat waited for the null sink: dropped, not queued as delay.
      assert.ok(stats.outputDroppedMs !== undefined && (stats.outputDroppedMs as number) <= 2100, `output dropped ${stats.outputDroppedMs} ms`);

      await alice.control.request("hangup", { callId: ids.a });
      const ended = await alice.waitForEvent(callEvent(ids.a, "ended"), 10000, "ended");
      const final = ended.stats as { rttMs?: number; rtcpSent: number; rtcpReceived: number } | undefined;
      if (final?.rtcpReceived) assert.ok(final.rttMs === undefined || final.rttMs < 50, `RTT on loopback ${final.rttMs}`);
    } finally {
      rec.kill("SIGTERM");
      await new Promise((r) => rec.once("exit", r));
    }
    const raw = readFileSync(recFile);
    const out = new Int16Array(raw.buffer, raw.byteOffset, Math.floor(raw.length / 2));
    const ref = mono16(speech);
    const seg = compareAudioSegments(ref.pcm, ref.rate, out, 48000);
    const q = frameQuality(ref.pcm, ref.rate, out, 48000);
    t.diagnostic(`through pulse, opus and pulse again: segment correlation ${seg.correlation.toFixed(3)}, level agreement ${q.levelAgreement.toFixed(3)}, lag ${seg.lagMs.toFixed(0)} ms`);
    // About 0.95 on an idle machine. The floors are lower because media runs on the daemons'
    // event loops: on a machine busy with other work, stalls of 50-100 ms cost audio at the
    // capture FIFO and in the playout buffer (judged by test/unit/media-impairment instead).
    assert.ok(seg.correlation >= 0.6, `segment correlation ${seg.correlation.toFixed(3)}`);
    assert.ok(q.levelAgreement >= 0.7, `level agreement ${q.levelAgreement.toFixed(3)}`);
  });

  test("ALSA through the pulse plugin: arecord and aplay move audio; a missing ALSA device is a clear error, not a crash", async () => {
    // aplay into "spk" (ALSA device "pulse" = the default sink), recorded from its monitor by arecord.
    const tone = Int16Array.from({ length: 8000 }, (_, i) => Math.round(8000 * Math.sin((2 * Math.PI * 440 * i) / 8000)));
    await execFileAsync("pactl", [`--server=${pa.server}`, "set-default-sink", "spk"]);
    await execFileAsync("pactl", [`--server=${pa.server}`, "set-default-source", "spk.monitor"]);
    const src = createSource({ type: "alsa", device: "pulse" }, 8000) as ReturnType<typeof createSource> & { buffered?: number };
    const errors: string[] = [];
    src.onError = (e: JingledError) => errors.push(e.message);
    const sink = createSink({ type: "alsa", device: "pulse" }, 8000);
    sink.onError = (e: JingledError) => errors.push(e.message);
    // Like the media tick: 20 ms of tone out and 20 ms read in, for up to 5 s
    // (the pulse plugin's capture takes a second or two to deliver its first period).
    let peak = 0;
    for (let i = 0; i < 250 && peak < 2000; i++) {
      sink.write(tone.subarray((i % 50) * 160, (i % 50) * 160 + 160));
      for (const v of src.read(160)) peak = Math.max(peak, Math.abs(v));
      await sleep(20);
    }
    src.close();
    await sink.close();
    assert.deepEqual(errors, []);
    assert.ok(peak > 2000, `the tone went around through ALSA: peak ${peak}`);

    const bad = createSource({ type: "alsa", device: "no-such-device" }, 8000);
    const err = await new Promise<string>((resolve) => (bad.onError = (e) => resolve(e.message)));
    bad.close();
    assert.match(err, /ALSA source no-such-device: arecord/);
    const badSink = createSink({ type: "alsa", device: "no-such-device" }, 8000);
    const sinkErr = await new Promise<string>((resolve) => (badSink.onError = (e) => resolve(e.message)));
    badSink.write(new Int16Array(160)); // writing to a failed sink is harmless
    await badSink.close();
    assert.match(sinkErr, /ALSA sink no-such-device: aplay exited/);
  });

  test("a helper that is not installed is a clear error (ENOENT), not an unhandled 'error' event", async () => {
    const err = await new Promise<string>((resolve) => {
      startDeviceProcess("PulseAudio source test", "jingled-no-such-helper", [], (e) => resolve(e.message));
    });
    assert.match(err, /PulseAudio source test: jingled-no-such-helper is not installed/);
  });

  test("a FIFO pipe: raw s16le in, converted from 16 kHz stereo; the writer closing ends the source", async () => {
    const fifo = join(dir, "in.fifo");
    execFileSync("mkfifo", [fifo]);
    const src = createSource({ type: "pipe", path: fifo, rate: 16000, channels: 2 }, 8000);
    let ended = false;
    src.onEnded = () => (ended = true);
    // 0.5 s of a 16 kHz stereo tone, written by another process.
    const frames = 8000;
    const buf = Buffer.alloc(frames * 4);
    for (let i = 0; i < frames; i++) {
      const v = Math.round(6000 * Math.sin((2 * Math.PI * 300 * i) / 16000));
      buf.writeInt16LE(v, i * 4);
      buf.writeInt16LE(v, i * 4 + 2);
    }
    writeFileSync(join(dir, "tone.raw"), buf);
    const writer = await startProcess("sh", ["-c", `cat ${join(dir, "tone.raw")} > ${fifo}`], { name: "fifo writer" });
    await writer.exited;
    await sleep(100);
    let samples = 0;
    let peak = 0;
    for (let i = 0; i < 40 && !src.ended; i++) {
      const f = src.read(160);
      for (const v of f) peak = Math.max(peak, Math.abs(v));
      samples += 160;
    }
    src.close();
    assert.ok(ended, "ended after the writer closed");
    assert.ok(peak > 5000 && peak < 6500, `peak ${peak}`);
    // All 0.5 s arrived before the first read: the source keeps the newest 300 ms (bounded delay).
    assert.ok(samples >= 2400 && samples <= 2720, `samples read ${samples}`);
  });

  test("a failing device mid-call: onDeviceError end -> the call ends with failed-application and the daemon lives on", async () => {
    const carol = await startDaemon({
      prosody, username: "carol", password: "carol-pw", dir: join(dir, "carol"),
      config: { media: { codecs: ["pcmu"], input: { type: "alsa", device: "no-such-device" }, output: { type: "null" }, onDeviceError: "end" } },
    });
    try {
      const mark = bob.events.length;
      const { callId } = (await carol.control.request("call", { jid: bob.jid, codecs: ["pcmu"] })) as { callId: string };
      const inc = await bob.waitForEvent(incoming(bob, mark), 10000, "incoming call");
      await bob.control.request("answer", { callId: inc.callId });
      // arecord fails at once: the call ends as soon as carol's media is set up.
      const ended = await carol.waitForEvent(callEvent(callId, "ended"), 10000, "carol's call ended");
      // failed-application, not media-error: Conversations reads media-error as a lost connection (docs/interop.md).
      assert.equal(ended.reason, "failed-application");
      await bob.waitForEvent(callEvent(inc.callId as string, "ended"), 10000, "bob saw the end");
      assert.ok(carol.process.running(), "the daemon did not crash");
      assert.match(carol.process.output(), /audio device failed.*|"err":"ALSA source no-such-device: arecord/);
      const status = (await carol.control.request("status")) as { account: { state: string } };
      assert.equal(status.account.state, "online");
    } finally {
      await carol.stop();
    }
  });
});

function execFileAsync(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFileSync(cmd, args, { timeout: 5000 });
    resolve();
    void reject;
  });
}
