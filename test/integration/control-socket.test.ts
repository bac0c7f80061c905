// The control surface through the real socket of real daemons, against a real
// Prosody: socket security, framing errors, many clients, call policy (who may
// ring, busy, ring timeout), in-call commands (hold, mute, record, ...),
// roster and presence, reload (SIGHUP) and SIGTERM during a call.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import net from "node:net";
import { dirname, join } from "node:path";
import { parse, stringify } from "yaml";
import { JINGLED_BIN, type Daemon } from "../../scripts/lab/daemon.js";
import { startProcess } from "../../scripts/lab/process.js";
import { withLab } from "../helpers/with-lab.js";
import { connectControl, type AnyEvent } from "../../src/control/client.js";
import { main as jinglectl } from "../../src/cli/jinglectl.js";
import { formatEvent } from "../../src/cli/format.js";

/** Raw lines from a control socket, no help from client.ts. */
class RawSocket {
  readonly lines: Record<string, unknown>[] = [];
  #buf = "";
  constructor(readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (t: string) => {
      this.#buf += t;
      let nl;
      while ((nl = this.#buf.indexOf("\n")) >= 0) {
        this.lines.push(JSON.parse(this.#buf.slice(0, nl)) as Record<string, unknown>);
        this.#buf = this.#buf.slice(nl + 1);
      }
    });
    socket.on("error", () => undefined);
  }
  static open(path: string): Promise<RawSocket> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path, () => resolve(new RawSocket(s)));
      s.once("error", reject);
    });
  }
  async replies(n: number, timeoutMs = 5000): Promise<Record<string, unknown>[]> {
    const deadline = Date.now() + timeoutMs;
    const got = () => this.lines.filter((l) => "ok" in l);
    while (got().length < n) {
      if (Date.now() > deadline) throw new Error(`only ${got().length} of ${n} replies: ${JSON.stringify(this.lines)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return got();
  }
}

const isCall = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;
const after_ = (d: Daemon, mark: number) => (pred: (e: AnyEvent) => boolean) => (e: AnyEvent) => d.events.indexOf(e) >= mark && pred(e);

async function request<T = Record<string, unknown>>(d: Daemon, cmd: string, args?: Record<string, unknown>): Promise<T> {
  return (await d.control.request(cmd, args)) as T;
}

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  await assert.rejects(p, (err: Error & { code?: string }) => {
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

describe("control socket, policy and service behaviour with real daemons", { timeout: 120_000 }, () => {
  let dir: string;
  let alice: Daemon;
  let bob: Daemon;
  let carol: Daemon;
  const lab = withLab({
    name: "control",
    users: { alice: "alice-pw", bob: "bob-pw", carol: "carol-pw" },
    daemons: ({ dir }) => ({
      alice: {
        input: { type: "tone", frequency: 440 },
        // A stats event every second while a call is active.
        config: { control: { socket: join(dir, "alice", "run", "control.sock"), statsIntervalSec: 1 } },
      },
      // bob keeps the default policy (roster contacts only), one call at a time, a short ring timeout.
      bob: { config: { calls: { acceptFrom: "roster", maxCalls: 1, ringTimeoutSec: 2 } } },
      carol: {},
    }),
    parallel: true,
  });
  before(() => ({ dir, daemons: { alice, bob, carol } } = lab));

  test("socket permissions: directory 0700, socket 0600; a second daemon on the same socket exits with a clear message", async () => {
    assert.equal(statSync(alice.socketPath).mode & 0o777, 0o600);
    assert.equal(statSync(dirname(alice.socketPath)).mode & 0o777, 0o700);
    const second = await startProcess(process.execPath, [JINGLED_BIN, "--config", alice.configFile], { name: "second jingled" });
    assert.equal(await second.exited, 75);
    assert.match(second.output(), /another jingled is already listening on .*control\.sock/);
    assert.ok(existsSync(alice.socketPath), "the live socket was not stolen");
    assert.equal((await request<{ account: { state: string } }>(alice, "status")).account.state, "online");
  });

  test("malformed, oversized and partial lines get errors, unknown commands and call ids too; the connection goes on", async () => {
    const raw = await RawSocket.open(alice.socketPath);
    try {
      raw.socket.write("{not json\n");
      raw.socket.write(`{"id":2,"cmd":"status","pad":"${"x".repeat(70 * 1024)}"}\n`);
      // One request in three pieces.
      raw.socket.write('{"id":3,');
      await new Promise((r) => setTimeout(r, 30));
      raw.socket.write('"cmd":"ca');
      await new Promise((r) => setTimeout(r, 30));
      raw.socket.write('lls"}\n');
      raw.socket.write('{"id":4,"cmd":"dial"}\n');
      raw.socket.write('{"id":5,"cmd":"hangup","args":{"callId":"c999"}}\n');
      raw.socket.write('{"id":6,"cmd":"hold"}\n');
      raw.socket.write('{"id":7,"cmd":"dtmf","args":{"digits":"12x"}}\n');
      raw.socket.write('{"id":8,"cmd":"status"}\n');
      const r = await raw.replies(8);
      assert.equal(raw.lines[0]!.event, "hello", "hello comes first");
      assert.deepEqual(
        r.map((x) => [x.id, x.ok, (x.error as { code?: string } | undefined)?.code]),
        [
          [null, false, "bad-json"],
          [null, false, "line-too-long"],
          [3, true, undefined],
          [4, false, "unknown-command"],
          [5, false, "unknown-call"],
          [6, false, "unknown-call"],
          [7, false, "bad-argument"],
          [8, true, undefined],
        ],
      );
      assert.match((r[4]!.error as { message: string }).message, /no call with id c999/);
      assert.match((r[3]!.error as { message: string }).message, /known: .*hold.*/);
    } finally {
      raw.socket.destroy();
    }
  });

  test("policy: a non-contact is refused; roster add makes a contact; approve lets them see our presence; the roster shows who is online", async () => {
    // carol is not in bob's roster: her session-initiate is refused as if bob were not there.
    const mark = bob.events.length;
    await rejectsWith(request(carol, "call", { jid: bob.jid }), "peer-unavailable");
    const refused = await bob.waitForEvent(after_(bob, mark)((e) => e.event === "refused"), 5000, "refused");
    assert.equal(refused.reason, "not-allowed");
    assert.match(String(refused.peer), /^carol@/);
    assert.equal((await request<unknown[]>(bob, "calls")).length, 0);
    assert.ok(!bob.events.slice(mark).some((e) => e.event === "call"), "no call event for a refused caller");

    // The same for a XEP-0353 proposal to bob's bare JID: no answer at all, carol's call just rings on.
    const jmiMark = bob.events.length;
    const proposal = await request<{ callId: string }>(carol, "call", { jid: bob.jid.split("/")[0]! });
    const refusedJmi = await bob.waitForEvent(after_(bob, jmiMark)((e) => e.event === "refused"), 5000, "refused proposal");
    assert.equal(refusedJmi.reason, "not-allowed");
    assert.equal((await request<{ state: string }[]>(carol, "calls"))[0]!.state, "outgoing", "no reject, no ringing from bob");
    await request(carol, "hangup", { callId: proposal.callId });
    assert.ok(!bob.events.slice(jmiMark).some((e) => e.event === "call"));

    // bob adds alice: she becomes a contact (and alice is asked to share her presence).
    const aliceBare = alice.jid.split("/")[0]!;
    const bobBare = bob.jid.split("/")[0]!;
    const aMark = alice.events.length;
    assert.deepEqual(await request(bob, "roster", { action: "add", jid: aliceBare, name: "Alice" }), { jid: aliceBare });
    await bob.waitForEvent((e) => e.event === "roster" && e.jid === aliceBare && e.type === "changed", 5000, "roster push");
    const list = await request<{ items: { jid: string; name?: string; pendingOut?: boolean }[] }>(bob, "roster");
    assert.deepEqual(list.items.map((i) => [i.jid, i.name]), [[aliceBare, "Alice"]]);

    await alice.waitForEvent(after_(alice, aMark)((e) => e.event === "roster" && e.type === "request" && e.jid === bobBare), 5000, "subscription request");
    assert.deepEqual((await request<{ requests: string[] }>(alice, "roster")).requests, [bobBare]);
    await request(alice, "roster", { action: "approve", jid: bobBare });
    await bob.waitForEvent(
      (e) => e.event === "roster" && e.type === "changed" && (e.item as { subscription?: string }).subscription === "to",
      5000,
      "subscription approved",
    );
    assert.deepEqual((await request<{ requests: string[] }>(alice, "roster")).requests, []);
    // bob now sees alice's presence: the roster says which of her devices is online.
    type Listed = { items: { jid: string; online?: string[] }[] };
    const deadline = Date.now() + 5000;
    let online: string[] | undefined;
    while (Date.now() < deadline && !(online = (await request<Listed>(bob, "roster")).items.find((i) => i.jid === aliceBare)?.online)?.length) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(online, [alice.jid]);
    const listed: string[] = [];
    assert.equal(await jinglectl(["--socket", bob.socketPath, "roster"], { stdout: { write: (t: string) => listed.push(t) }, stderr: { write: () => true }, env: {} }), 0);
    assert.match(listed.join(""), new RegExp(`^${aliceBare.replace(/\./g, "\\.")} \\(Alice\\) subscription to, online \\(jingled\\)$`, "m"));

    // Now alice may ring bob.
    const bMark = bob.events.length;
    const { callId } = await request<{ callId: string }>(alice, "call", { jid: bob.jid });
    const incoming = await bob.waitForEvent(after_(bob, bMark)((e) => e.event === "call" && e.type === "incoming"), 5000, "incoming");
    await request(bob, "reject", { callId: incoming.callId });
    assert.equal((await alice.waitForEvent(isCall(callId, "ended"), 5000, "declined")).reason, "decline");
  });

  test("ring timeout: an unanswered call ends with reason timeout on both sides, in both directions", async () => {
    // bob's 2 s timer for an incoming call...
    let bMark = bob.events.length;
    const { callId } = await request<{ callId: string }>(alice, "call", { jid: bob.jid });
    const incoming = await bob.waitForEvent(after_(bob, bMark)((e) => e.event === "call" && e.type === "incoming"), 5000, "incoming");
    const endA = await alice.waitForEvent(isCall(callId, "ended"), 6000, "alice timeout");
    const endB = await bob.waitForEvent(isCall(incoming.callId, "ended"), 6000, "bob timeout");
    assert.equal(endA.reason, "timeout");
    assert.equal(endB.reason, "timeout");
    // ...and for an outgoing one (alice waits 60 s; bob gives up first).
    const aMark = alice.events.length;
    bMark = bob.events.length;
    const out = await request<{ callId: string }>(bob, "call", { jid: alice.jid });
    const inc = await alice.waitForEvent(after_(alice, aMark)((e) => e.event === "call" && e.type === "incoming"), 5000, "incoming at alice");
    assert.equal((await bob.waitForEvent(isCall(out.callId, "ended"), 6000, "bob gives up")).reason, "timeout");
    assert.equal((await alice.waitForEvent(isCall(inc.callId, "ended"), 6000, "alice told")).reason, "timeout");
  });

  test("in a call: two clients see the same events; busy over the limit; hold, mute, record, play, set-input/output, dtmf, stats", async () => {
    const watcher1 = await connectControl(alice.socketPath);
    const watcher2 = await connectControl(alice.socketPath);
    const seen: AnyEvent[][] = [[], []];
    watcher1.on("event", (e) => seen[0]!.push(e));
    watcher2.on("event", (e) => seen[1]!.push(e));
    try {
      const bMark = bob.events.length;
      const { callId } = await request<{ callId: string }>(alice, "call", { jid: bob.jid, codecs: ["pcmu"] });
      const incoming = await bob.waitForEvent(after_(bob, bMark)((e) => e.event === "call" && e.type === "incoming"), 5000, "incoming");
      const bobCall = incoming.callId as string;
      await request(bob, "answer", { callId: bobCall });
      await alice.waitForEvent(isCall(callId, "active"), 10000, "alice active");
      await bob.waitForEvent(isCall(bobCall, "active"), 10000, "bob active");
      // The media event says how the media is protected, and jinglectl shows it.
      const media = await alice.waitForEvent((e) => e.event === "media" && e.callId === callId, 5000, "media event");
      assert.equal(media.encryption, "dtls-srtp");
      assert.match(String(media.srtpProfile), /^SRTP_/);
      assert.match(formatEvent(media), /^media c\d+ PCMU, host 127\.0\.0\.1:\d+ <-> host 127\.0\.0\.1:\d+ \(direct\), DTLS-SRTP \(SRTP_\w+\)$/);

      // Busy: bob allows one call at once; a second call from his contact gets <busy/>.
      const second = await request<{ callId: string }>(alice, "call", { jid: bob.jid });
      assert.equal((await alice.waitForEvent(isCall(second.callId, "ended"), 5000, "busy")).reason, "busy");
      assert.equal((await bob.waitForEvent(after_(bob, bMark)((e) => e.event === "refused"), 5000, "refused busy")).reason, "busy");
      await rejectsWith(request(bob, "call", { jid: alice.jid }), "busy", /calls\.maxCalls/);

      // Hold: the peer is told, and no more RTP reaches it.
      assert.deepEqual(await request(alice, "hold", { callId }), { callId, state: "active", held: true, muted: false });
      await bob.waitForEvent((e) => isCall(bobCall, "held")(e) && e.by === "peer", 5000, "held by peer");
      const sent = async () => (await request<{ packetsReceived: number }>(bob, "stats")).packetsReceived;
      await new Promise((r) => setTimeout(r, 100));
      const s1 = await sent();
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await sent(), s1, "nothing is sent while held");
      assert.equal((await request<{ peerHeld?: boolean }[]>(bob, "calls"))[0]!.peerHeld, true);
      await request(alice, "resume");
      await bob.waitForEvent((e) => isCall(bobCall, "resumed")(e) && e.by === "peer", 5000, "resumed");
      await new Promise((r) => setTimeout(r, 200));
      assert.ok((await sent()) > s1 + 3, "sending again after resume");

      // Mute (call id omitted: the only call).
      assert.equal((await request<{ muted: boolean }>(bob, "mute")).muted, true);
      await alice.waitForEvent((e) => isCall(callId, "muted")(e) && e.by === "peer", 5000, "muted by peer");
      await request(bob, "unmute");
      await alice.waitForEvent((e) => isCall(callId, "unmuted")(e) && e.by === "peer", 5000, "unmuted by peer");

      // Record what bob hears (alice's tone) for a moment.
      const wav = join(dir, "bob", "rec-{callId}.wav");
      const { file } = await request<{ file: string }>(bob, "record", { action: "start", file: wav });
      assert.equal(file, join(dir, "bob", `rec-${bobCall}.wav`));
      await rejectsWith(request(bob, "record", { action: "start", file: wav }), "invalid-state", /already recording/);
      await new Promise((r) => setTimeout(r, 500));
      await request(bob, "record", { action: "stop" });
      const rec = await bob.waitForEvent((e) => e.event === "recording" && e.file === file, 5000, "recording finished");
      assert.equal(rec.type, "finished");
      const bytes = readFileSync(file);
      assert.equal(bytes.subarray(0, 4).toString(), "RIFF");
      assert.ok(bytes.length > 44 + 8000 * 2 * 0.3, `about half a second recorded (${bytes.length} bytes)`);

      // Switch bob's output to a file (jinglectl's file:PATH, as for set-input); bad specs are refused with the key named.
      const cliOut: string[] = [];
      const outFile = join(dir, "bob", "out-{callId}.wav");
      assert.equal(await jinglectl(["--socket", bob.socketPath, "set-output", `file:${outFile}`], { stdout: { write: (t: string) => cliOut.push(t) }, stderr: { write: () => true }, env: {} }), 0);
      assert.equal(cliOut.join(""), `call ${bobCall} output: file ${outFile}\n`);
      await rejectsWith(request(bob, "set-output", { sink: { type: "speaker" } }), "bad-argument", /sink\.type/);
      await rejectsWith(request(bob, "set-input", { source: { type: "file", path: "relative.wav" } }), "bad-argument", /absolute/);
      await rejectsWith(request(bob, "play", { file: join(dir, "missing.wav") }), "bad-argument", /missing\.wav does not exist/);

      // Play a short file into the call: a playback event once it has been played out.
      const beep = join(dir, "beep.wav");
      assert.equal(spawnSync("sox", ["-n", "-r", "8000", "-c", "1", "-b", "16", beep, "synth", "0.3", "sine", "500"]).status, 0);
      assert.deepEqual(await request(alice, "play", { file: beep }), { callId, file: beep });
      const played = await alice.waitForEvent((e) => e.event === "playback" && e.file === beep, 5000, "playback finished");
      assert.equal(played.type, "finished");
      const notWav = join(dir, "not.wav");
      writeFileSync(notWav, "this is not a WAV file");
      await rejectsWith(request(alice, "play", { file: notWav }), "bad-argument", /play: /);

      // Switch bob's input during the call.
      assert.equal((await request<{ callId: string }>(bob, "set-input", { source: { type: "tone", frequency: 300 } })).callId, bobCall);

      // DTMF goes out when the peer negotiated telephone-event; otherwise a clear not-supported, never internal.
      const dtmfMark = bob.events.length;
      const sentDtmf = await request(alice, "dtmf", { digits: "1#" }).then(
        () => true,
        (err: Error & { code?: string }) => {
          assert.equal(err.code, "not-supported", err.message);
          return false;
        },
      );
      if (sentDtmf) {
        const digits = async (): Promise<string> => {
          await bob.waitForEvent(after_(bob, dtmfMark)((e) => e.event === "dtmf" && e.digit === "#"), 5000, "dtmf #");
          return bob.events.slice(dtmfMark).filter((e) => e.event === "dtmf").map((e) => String(e.digit)).join("");
        };
        assert.equal(await digits(), "1#");
      }

      const tick = await alice.waitForEvent((e) => e.event === "stats" && e.callId === callId, 3000, "periodic stats event");
      assert.equal(typeof tick.packetsSent, "number");
      const stats = await request<{ callId: string; codec: string; packetsReceived: number }>(bob, "stats");
      assert.equal(stats.callId, bobCall);
      assert.equal(stats.codec, "PCMU");
      assert.ok(stats.packetsReceived > 20);

      await request(alice, "hangup", { callId });
      await bob.waitForEvent(isCall(bobCall, "ended"), 5000, "bob ended");
      await alice.waitForEvent(isCall(callId, "ended"), 5000, "alice ended");
      const switched = readFileSync(outFile.replace("{callId}", bobCall));
      assert.equal(switched.subarray(0, 4).toString(), "RIFF");
      assert.ok(switched.length > 44 + 8000 * 2 * 0.3, `the switched output was written (${switched.length} bytes)`);

      // Both extra clients saw exactly the same events, with the same seq numbers.
      await new Promise((r) => setTimeout(r, 50));
      const key = (e: AnyEvent) => `${e.seq} ${e.event} ${String(e.callId ?? "")} ${String(e.type ?? "")}`;
      assert.ok(seen[0]!.length >= 8, `events seen: ${seen[0]!.map(key).join(", ")}`);
      assert.deepEqual(seen[0]!.map(key), seen[1]!.map(key));
      const seqs = seen[0]!.map((e) => e.seq);
      assert.deepEqual(seqs, seqs.map((_, i) => seqs[0]! + i), "seq has no gaps");
      assert.ok(seen[0]!.some((e) => e.event === "call" && e.type === "held" && e.by === "local"));
    } finally {
      await watcher1.close();
      await watcher2.close();
    }
  });

  test("presence: status shows what was set; bad values are refused", async () => {
    assert.deepEqual(await request(carol, "presence", { show: "dnd", text: "in a meeting" }), { show: "dnd", text: "in a meeting" });
    const st = await request<{ account: { presence: unknown } }>(carol, "status");
    assert.deepEqual(st.account.presence, { show: "dnd", text: "in a meeting" });
    await rejectsWith(request(carol, "presence", { show: "busy" }), "bad-argument", /available, chat, away, xa, dnd/);
    await request(carol, "presence", { show: "available" });
  });

  test("jinglectl against the daemon: call --wait exits 2 when declined; --json errors are JSON; --json call prints the whole reply", async () => {
    const mark = bob.events.length;
    const out: string[] = [];
    const io = { stdout: { write: (t: string) => out.push(t) }, stderr: { write: () => true }, env: {} };
    const pending = jinglectl(["--socket", alice.socketPath, "call", bob.jid, "--wait"], io);
    const incoming = await bob.waitForEvent(after_(bob, mark)((e) => e.event === "call" && e.type === "incoming"), 5000, "incoming");
    await request(bob, "reject", { callId: incoming.callId });
    assert.equal(await pending, 2);
    assert.match(out.join(""), /ended with .*: decline/);
    const errs: string[] = [];
    assert.equal(await jinglectl(["--socket", alice.socketPath, "--json", "stats", "c999"], { ...io, stderr: { write: (t: string) => errs.push(t) } }), 1);
    assert.deepEqual(JSON.parse(errs.join("")), { ok: false, error: { code: "unknown-call", message: "no call with id c999" } });

    // --json call prints the daemon's whole reply: the call id, the Jingle sid and the JID called.
    const bMark = bob.events.length;
    out.length = 0;
    assert.equal(await jinglectl(["--socket", alice.socketPath, "--json", "call", bob.jid], io), 0);
    const reply = JSON.parse(out.join("")) as { callId: string; sid: string; peer: string };
    assert.deepEqual(Object.keys(reply).sort(), ["callId", "peer", "sid"]);
    assert.equal(reply.peer, bob.jid);
    const listedCall = (await request<{ id: string; sid: string }[]>(alice, "calls")).find((c) => c.id === reply.callId);
    assert.equal(listedCall?.sid, reply.sid);
    const inc = await bob.waitForEvent(after_(bob, bMark)((e) => e.event === "call" && e.type === "incoming"), 5000, "incoming");
    await request(bob, "reject", { callId: inc.callId });
    await alice.waitForEvent(isCall(reply.callId, "ended"), 5000, "declined");
  });

  test("reload: SIGHUP applies calls.* now, names restart-only keys; a bad file changes nothing", async () => {
    const cfg = parse(readFileSync(bob.configFile, "utf8")) as Record<string, Record<string, unknown>>;
    cfg.calls = { ...cfg.calls, maxCalls: 3, ringTimeoutSec: 2 };
    cfg.account = { ...cfg.account, resource: "elsewhere" };
    writeFileSync(bob.configFile, stringify(cfg));
    const mark = bob.events.length;
    process.kill(bob.process.pid, "SIGHUP");
    const ev = await bob.waitForEvent(after_(bob, mark)((e) => e.event === "reload"), 5000, "reload event");
    assert.deepEqual(ev.applied, ["calls.maxCalls"]);
    assert.deepEqual(ev.restartRequired, ["account.resource"]);

    writeFileSync(bob.configFile, stringify({ ...cfg, calls: { ...cfg.calls, maxCalls: "many" } }));
    await rejectsWith(request(bob, "reload"), "bad-argument", /calls\.maxCalls: found string "many"; expected number/);
    // An address this machine does not have: the reload is refused naming it, the running configuration stays.
    writeFileSync(bob.configFile, stringify({ ...cfg, ice: { ...(cfg.ice ?? {}), addresses: ["127.0.0.1", "192.0.2.77"] } }));
    await rejectsWith(request(bob, "reload"), "bad-argument", /ice\.addresses\.1: 192\.0\.2\.77 is not an address of this machine[^]*nothing was changed/);
    writeFileSync(bob.configFile, stringify(cfg));
    assert.deepEqual(await request(bob, "reload"), { applied: [], restartRequired: ["account.resource"] });

    // media.* applies to the next call: here the Opus implementation, which status reports.
    type Status = { media: { opusBackend: string } };
    assert.match((await request<Status>(bob, "status")).media.opusBackend, /^(native|wasm)$/);
    const media = (cfg.media ?? {}) as Record<string, unknown>;
    writeFileSync(bob.configFile, stringify({ ...cfg, media: { ...media, opus: { ...((media.opus ?? {}) as object), backend: "wasm" } } }));
    assert.deepEqual(await request(bob, "reload"), { applied: ["media.opus.backend"], restartRequired: ["account.resource"] });
    assert.equal((await request<Status>(bob, "status")).media.opusBackend, "wasm");
  });

  test("SIGTERM during a call ends it cleanly on the peer and exits 0; shutdown does the same", async () => {
    const mark = bob.events.length;
    const { callId } = await request<{ callId: string }>(alice, "call", { jid: bob.jid, codecs: ["pcmu"] });
    const incoming = await bob.waitForEvent(after_(bob, mark)((e) => e.event === "call" && e.type === "incoming"), 5000, "incoming");
    await request(bob, "answer", { callId: incoming.callId });
    await alice.waitForEvent(isCall(callId, "active"), 10000, "active");
    assert.equal(await bob.process.stop("SIGTERM", 8000), 0);
    const end = await alice.waitForEvent(isCall(callId, "ended"), 5000, "ended at alice");
    assert.equal(end.reason, "success", "a session-terminate, not a media timeout");
    assert.ok(!existsSync(bob.socketPath), "the socket is removed");

    const { stopping } = await request<{ stopping: boolean }>(carol, "shutdown");
    assert.equal(stopping, true);
    assert.equal(await carol.process.exited, 0);
  });
});
