// Files named by a control client (play, record, set-input, set-output) and
// by the configuration (media.output), against two real daemons in a call
// through a real Prosody: a path in /proc is refused at once and the daemon
// goes on answering (it once spun for minutes in a recursive mkdir), an
// existing file is never touched unless overwrite is given, recordings are
// 0600, a file where a directory belongs is named as such, and the
// configured output makes its directories and never replaces a recording.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import type { AnyEvent } from "../../src/control/client.js";
import { ControlRequestError } from "../../src/control/client.js";
import { main as jinglectl } from "../../src/cli/jinglectl.js";

const isCall = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;

async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ControlRequestError, String(err));
    assert.equal(err.code, "bad-argument", err.message);
    assert.match(err.message, message);
    return true;
  });
}

describe("client and configured file paths, real daemons", { timeout: 120_000 }, () => {
  let prosody: ProsodyServer;
  let dir: string;
  let alice: Daemon;
  let bob: Daemon;
  let bobCall: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-client-paths-"));
    prosody = await startProsody({
      users: [
        { username: "alice", password: "alice-pw" },
        { username: "bob", password: "bob-pw" },
      ],
    });
    // alice's output directories do not exist yet; bob's first name is taken already.
    mkdirSync(join(dir, "bob", "rec"), { recursive: true });
    writeFileSync(join(dir, "bob", "rec", "c1.wav"), "yesterday's recording");
    alice = await startDaemon({ prosody, username: "alice", password: "alice-pw", dir: join(dir, "alice"), codecs: ["pcmu"], input: { type: "tone", frequency: 440 }, output: { type: "file", path: join(dir, "alice", "rec", "{peer}", "deep", "{callId}.wav") } });
    bob = await startDaemon({ prosody, username: "bob", password: "bob-pw", dir: join(dir, "bob"), codecs: ["pcmu"], output: { type: "file", path: join(dir, "bob", "rec", "{callId}.wav") } });
    const { callId } = (await alice.control.request("call", { jid: bob.jid })) as { callId: string };
    const incoming = await bob.waitForEvent((e) => e.event === "call" && e.type === "incoming", 10_000, "incoming");
    bobCall = incoming.callId as string;
    await bob.control.request("answer", { callId: bobCall });
    await alice.waitForEvent(isCall(callId, "active"), 10_000, "alice active");
    await bob.waitForEvent(isCall(bobCall, "active"), 10_000, "bob active");
  });

  after(async () => {
    await alice?.stop();
    await bob?.stop();
    await prosody?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  test("record start /proc/nope/x.wav: bad-argument at once, and the daemon goes on answering", async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: { write: (t: string) => out.push(t) }, stderr: { write: (t: string) => err.push(t) }, env: {} };
    const t0 = performance.now();
    assert.equal(await jinglectl(["--socket", bob.socketPath, "record", "start", "/proc/nope/x.wav"], io), 1);
    const ms = performance.now() - t0;
    assert.equal(err.join(""), "error bad-argument: record: /proc/nope/x.wav is in /proc, the kernel's own file system, not a place for audio files\n");
    // "At once": the old daemon never answered this at all; the bound is generous for a loaded machine.
    assert.ok(ms < 5000, `answered after ${Math.round(ms)} ms`);
    const status = (await bob.control.request("status")) as { calls: { state: string }[] };
    assert.equal(status.calls[0]!.state, "active", "status answers and the call goes on");
    await refused(bob.control.request("record", { action: "start", file: "/sys/kernel/x.wav" }), /is in \/sys/);
    await refused(bob.control.request("play", { file: "/proc/self/environ" }), /^play: \/proc\/self\/environ is in \/proc/);
    await refused(bob.control.request("set-input", { source: { type: "file", path: "/proc/self/mem" } }), /^set-input: \/proc\/self\/mem is in \/proc/);
    await refused(bob.control.request("set-output", { sink: { type: "file", path: "/proc/nope/x.wav" } }), /^set-output: \/proc\/nope\/x\.wav is in \/proc/);
    assert.ok(!existsSync("/proc/nope"));
  });

  test("a path under a file: 'X is a file, not a directory'; a missing directory is named, not made", async () => {
    const greeting = join(dir, "greeting.wav");
    writeFileSync(greeting, "RIFF");
    await refused(bob.control.request("record", { action: "start", file: join(greeting, "x.wav") }), new RegExp(`^record: ${greeting.replace(/\./g, "\\.")} is a file, not a directory$`));
    await refused(bob.control.request("record", { action: "start", file: join(dir, "nowhere", "x.wav") }), new RegExp(`^record: the directory ${join(dir, "nowhere")} does not exist$`));
    assert.ok(!existsSync(join(dir, "nowhere")), "no directory is made for a client");
    await refused(bob.control.request("play", { file: join(dir, "missing.wav") }), /missing\.wav does not exist$/);
    await refused(bob.control.request("play", { file: dir }), /is a directory, not a file$/);
  });

  test("an existing file is untouched without overwrite and replaced with it; recordings are 0600", async () => {
    const keep = join(dir, "keep.wav");
    writeFileSync(keep, "the greeting", { mode: 0o644 });
    await refused(bob.control.request("record", { action: "start", file: keep }), /keep\.wav already exists; it is replaced only when asked \(overwrite: true\)$/);
    await refused(bob.control.request("set-output", { sink: { type: "file", path: keep } }), /keep\.wav already exists/);
    assert.equal(readFileSync(keep, "utf8"), "the greeting");

    // With overwrite: replaced by a real recording (alice's tone), the file's mode kept.
    assert.deepEqual(await bob.control.request("record", { action: "start", file: keep, overwrite: true }), { callId: bobCall, file: keep });
    await new Promise((r) => setTimeout(r, 400));
    await bob.control.request("record", { action: "stop" });
    await bob.waitForEvent((e) => e.event === "recording" && e.file === keep, 5000, "recording finished");
    const replaced = readFileSync(keep);
    assert.equal(replaced.subarray(0, 4).toString(), "RIFF");
    assert.ok(replaced.length > 44 + 8000 * 2 * 0.2, `a recording replaced the greeting (${replaced.length} bytes)`);

    // A new recording: created 0600 whatever the umask.
    const fresh = join(dir, "rec-{callId}.wav");
    const { file } = (await bob.control.request("record", { action: "start", file: fresh })) as { file: string };
    assert.equal(file, join(dir, `rec-${bobCall}.wav`));
    assert.equal(statSync(file).mode & 0o777, 0o600);
    await bob.control.request("record", { action: "stop" });
    await bob.waitForEvent((e) => e.event === "recording" && e.file === file, 5000, "recording finished");

    // set-output to a new file: 0600 too; to the same name again only with overwrite.
    const out = join(dir, "out.wav");
    await bob.control.request("set-output", { sink: { type: "file", path: out } });
    assert.equal(statSync(out).mode & 0o777, 0o600);
    await refused(bob.control.request("set-output", { sink: { type: "file", path: out } }), /out\.wav already exists/);
    await bob.control.request("set-output", { sink: { type: "file", path: out }, overwrite: true });
  });

  test("the configured output: its directories are made, a taken name becomes NAME-2, files are 0600", async () => {
    // alice: rec/{peer}/deep/ did not exist.
    const aliceStats = (await alice.control.request("stats")) as { recording?: string };
    const peerDir = bob.jid.replace(/[^A-Za-z0-9@._-]/g, "_");
    assert.equal(aliceStats.recording, join(dir, "alice", "rec", peerDir, "deep", "c1.wav"));
    assert.equal(statSync(aliceStats.recording!).mode & 0o777, 0o600);
    assert.equal(statSync(join(dir, "alice", "rec", peerDir)).mode & 0o777, 0o700);
    // bob: rec/c1.wav was there before the call; it is kept, the call records to c1-2.wav.
    assert.equal(readFileSync(join(dir, "bob", "rec", "c1.wav"), "utf8"), "yesterday's recording");
    assert.equal(statSync(join(dir, "bob", "rec", "c1-2.wav")).mode & 0o777, 0o600);
  });
});
