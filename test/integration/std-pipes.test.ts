// The daemon's own standard input and output as a call's audio ({type: pipe,
// path: "-"}) while the call's media runs on a media thread (media.threads,
// default auto): a worker thread's process.stdin is empty and its
// process.stdout goes through the main thread, so the media reads and writes
// descriptors 0 and 1 itself (src/media/std-streams.ts). Bob's stdin is a
// pipe the test writes a raw tone into at the pace of real time, his stdout
// a file; alice sends a tone and records what she hears.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { JINGLED_BIN, JINGLED_NODE_FLAGS, daemonConfig, startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { readMono16 } from "../../scripts/lab/audio-compare.js";
import { connectControl, type ControlClient } from "../../src/control/client.js";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const RATE = 8000;

/** RMS of s16le samples. */
function rms(pcm: Int16Array): number {
  let sum = 0;
  for (const s of pcm) sum += s * s;
  return Math.sqrt(sum / Math.max(1, pcm.length));
}

describe("pipe '-' on a media thread: the daemon's stdin and stdout carry the call", { timeout: 60_000 }, () => {
  let dir: string;
  let prosody: ProsodyServer;
  let alice: Daemon;
  let bob: ChildProcess | undefined;
  let bobControl: ControlClient | undefined;
  let feeding: NodeJS.Timeout | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-std-pipes-"));
    prosody = await startProsody({ users: [{ username: "alice", password: "a-pw" }, { username: "bob", password: "b-pw" }] });
    alice = await startDaemon({ prosody, username: "alice", password: "a-pw", dir: join(dir, "alice"), codecs: ["pcmu"], input: { type: "tone", frequency: 440 }, output: { type: "file", path: join(dir, "alice", "heard.wav") }, logLevel: "info" });
  });

  after(async () => {
    clearInterval(feeding);
    await bobControl?.close();
    if (bob?.pid !== undefined && bob.exitCode === null) {
      bob.kill("SIGTERM");
      await new Promise((r) => bob!.once("exit", r));
    }
    await alice?.stop();
    await prosody?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  test("a tone on bob's stdin reaches alice; alice's tone comes out of bob's stdout", async () => {
    const bobDir = join(dir, "bob");
    mkdirSync(bobDir, { recursive: true });
    // A 1 kHz tone, raw s16le mono at 8 kHz: 20 ms of it every 20 ms on bob's stdin.
    const frame = Buffer.alloc((RATE / 50) * 2);
    for (let i = 0; i < RATE / 50; i++) frame.writeInt16LE(Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / RATE)), i * 2);
    const cfg = daemonConfig({ prosody, username: "bob", password: "b-pw", dir: bobDir, autoAnswer: true, codecs: ["pcmu"], logLevel: "info", mediaThreads: "auto", input: { type: "pipe", path: "-", rate: RATE }, output: { type: "pipe", path: "-", rate: RATE } });
    writeFileSync(join(bobDir, "jingled.yaml"), stringify(cfg), { mode: 0o600 });
    const fds = [openSync(join(bobDir, "out.raw"), "w"), openSync(join(bobDir, "jingled.log"), "w")];
    bob = spawn(process.execPath, [...JINGLED_NODE_FLAGS, JINGLED_BIN, "--config", join(bobDir, "jingled.yaml")], { stdio: ["pipe", ...fds] });
    for (const fd of fds) closeSync(fd);
    bob.stdin!.on("error", () => undefined);
    feeding = setInterval(() => bob!.stdin!.write(frame), 20);
    const socket = (cfg.control as { socket: string }).socket;
    for (let i = 0; i < 100 && !bobControl; i++) {
      await sleep(100);
      bobControl = await connectControl(socket).catch(() => undefined);
    }
    assert.ok(bobControl, "bob's control socket");
    for (let i = 0; i < 100 && ((await bobControl.request("status")) as { account: { state: string } }).account.state !== "online"; i++) await sleep(100);

    const { callId } = (await alice.control.request("call", { jid: `bob@${prosody.domain}/jingled` })) as { callId: string };
    await alice.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "active", 15_000, "alice active");
    await sleep(3000);
    const status = (await bobControl.request("status")) as { calls: { stats?: { codecBackend?: string } }[] };
    assert.equal(status.calls.length, 1);
    clearInterval(feeding);
    await alice.control.request("hangup", { callId });
    await alice.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "ended", 10_000, "alice ended");

    const out = readFileSync(join(bobDir, "out.raw"));
    const heardByBob = new Int16Array(out.buffer, out.byteOffset, out.length >> 1);
    assert.ok(out.length >= RATE * 2 * 2, `bob's stdout got ${out.length} bytes: at least 2 s of audio`);
    assert.ok(rms(heardByBob.subarray(RATE)) > 1000, `alice's tone on bob's stdout (RMS ${rms(heardByBob.subarray(RATE)).toFixed(0)})`);
    const heardByAlice = readMono16(join(dir, "alice", "heard.wav")).pcm;
    assert.ok(rms(heardByAlice.subarray(heardByAlice.length >> 2)) > 1000, `bob's stdin tone reached alice (RMS ${rms(heardByAlice.subarray(heardByAlice.length >> 2)).toFixed(0)})`);
    assert.ok(statSync(join(bobDir, "jingled.log")).size > 0);
    const log = readFileSync(join(bobDir, "jingled.log"), "utf8");
    assert.match(log, /"thread":\d+/, "bob's call ran on a media thread (its log lines name the thread)");
  });
});
