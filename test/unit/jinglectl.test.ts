// jinglectl's main() against a real control server with fake handlers.
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CommandError } from "../../src/util/errors.js";
import { silentLogger } from "../../src/util/logger.js";
import { createControlServer, type ControlServer } from "../../src/control/server.js";
import { PROTOCOL_VERSION, parseCommandArgs, resolveCallId, type CallInfo, type Snapshot } from "../../src/control/protocol.js";
import { VERSION } from "../../src/version.js";
import { main, type MainIo } from "../../src/cli/jinglectl.js";
import { deleteRecording, listRecordings } from "../../src/app/voicemail-store.js";
import { encodeWav } from "../../src/media/wav.js";

class Capture {
  text = "";
  write(s: string): boolean {
    this.text += s;
    return true;
  }
  get lines(): string[] {
    return this.text.split("\n").filter((l) => l !== "");
  }
}

let dir: string;
let sockPath: string;
let server: ControlServer;
let calls: CallInfo[];
let statsResult: Record<string, unknown> = { codec: "opus", packetsSent: 250 };
/** More roster items the fake daemon lists. */
let rosterExtra: Record<string, unknown>[] = [];
/** The fake daemon's calls.voicemail.dir (undefined: voicemail off); listed and deleted by the real store. */
let voicemailDir: string | undefined;
const received: Array<{ cmd: string; args: Record<string, unknown> }> = [];

/** How each fake outgoing call goes, by callee. */
const scripts: Record<string, { reason: string; peer: string }> = {
  "bob@localhost": { reason: "success", peer: "bob@localhost/res" },
  "carol@localhost": { reason: "decline", peer: "carol@localhost/phone" },
};

const later = (ms: number, fn: () => void): void => void setTimeout(fn, ms);

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "jinglectl-"));
  sockPath = join(dir, "control.sock");
  calls = [];
  rosterExtra = [];
  voicemailDir = undefined;
  received.length = 0;
  let nextCall = 1;
  const snapshot = (): Snapshot => ({ account: { jid: "alice@localhost/jingled", state: "online" }, calls });
  server = createControlServer({
    path: sockPath,
    logger: silentLogger(),
    version: "0.1.0-test",
    snapshot,
    handlers: {
      status: (args) => {
        parseCommandArgs("status", args);
        return snapshot();
      },
      calls: () => calls,
      call: (raw) => {
        received.push({ cmd: "call", args: raw });
        const args = parseCommandArgs("call", raw);
        const id = `c${nextCall++}`;
        const jid = args.jid ?? args.jids![0]!;
        const script = scripts[jid];
        server.broadcast("call", { callId: id, type: "outgoing", peer: jid });
        if (script) {
          // Another call's events in between must not confuse --wait.
          later(5, () => server.broadcast("call", { callId: "other", type: "ended", peer: "x@y", reason: "gone" }));
          later(10, () => server.broadcast("call", { callId: id, type: "ringing", peer: script.peer }));
          if (script.reason === "success") {
            later(20, () => server.broadcast("call", { callId: id, type: "active", peer: script.peer, codec: "opus" }));
          }
          later(30, () =>
            server.broadcast("call", {
              callId: id,
              type: "ended",
              peer: script.peer,
              reason: script.reason,
              by: script.reason === "success" ? "local" : "peer",
              durationMs: script.reason === "success" ? 12_345 : 0,
              elapsedMs: script.reason === "success" ? 15_120 : 3_210,
            }),
          );
        }
        return { callId: id, sid: `sid-${id}`, peer: jid };
      },
      answer: (raw) => {
        const args = parseCommandArgs("answer", raw);
        return { callId: resolveCallId(args.callId, calls) };
      },
      reject: (raw) => {
        received.push({ cmd: "reject", args: raw });
        const args = parseCommandArgs("reject", raw);
        return { callId: resolveCallId(args.callId, calls) };
      },
      hangup: (raw) => {
        const args = parseCommandArgs("hangup", raw);
        return { callId: resolveCallId(args.callId, calls) };
      },
      ...Object.fromEntries(
        (["hold", "resume", "mute", "unmute", "dtmf", "play", "record", "stats", "set-input", "set-output", "presence", "roster"] as const).map((cmd) => [
          cmd,
          (raw: Record<string, unknown>) => {
            received.push({ cmd, args: raw });
            const args = parseCommandArgs(cmd, raw) as Record<string, unknown>;
            const callId = cmd === "presence" || cmd === "roster" ? undefined : resolveCallId(args.callId as string | undefined, calls);
            switch (cmd) {
              case "hold":
              case "resume":
              case "mute":
              case "unmute":
                return { callId, state: "active", held: cmd === "hold", muted: cmd === "mute" };
              case "dtmf":
                return { callId, digits: args.digits };
              case "play":
              case "record":
                return { callId, file: args.file ?? "/rec/c7.wav" };
              case "stats":
                return { callId, state: "active", ...statsResult };
              case "presence":
                return args;
              case "roster":
                return args.action === "list"
                  ? { items: [{ jid: "bob@localhost", name: "Bob", subscription: "both", groups: [] }, ...rosterExtra], requests: ["eve@localhost"] }
                  : { jid: args.jid };
              default:
                return { callId, state: "active", held: false, muted: false };
            }
          },
        ]),
      ),
      devices: () => ({ inputs: [{ spec: { type: "silence" }, description: "silence" }], outputs: [{ spec: { type: "null" }, description: "discard" }] }),
      voicemail: async (raw) => {
        received.push({ cmd: "voicemail", args: raw });
        const args = parseCommandArgs("voicemail", raw);
        if (args.action === "list") return voicemailDir ? { enabled: true, dir: voicemailDir, recordings: await listRecordings(voicemailDir) } : { enabled: false, reason: "calls.voicemail is off", recordings: [] };
        if (!voicemailDir || args.name === undefined) return { deleted: [] };
        await deleteRecording(voicemailDir, args.name);
        return { deleted: [args.name] };
      },
      reload: () => ({ applied: ["calls.maxCalls"], restartRequired: ["account.resource"] }),
      shutdown: () => ({ stopping: true }),
      echo: (args) => args,
      fail: () => {
        throw new CommandError("busy", "too many calls");
      },
    },
  });
  await server.listen();
});

afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function run(argv: string[], io: MainIo = {}): Promise<{ code: number; out: Capture; err: Capture }> {
  const out = new Capture();
  const err = new Capture();
  const code = await main(["--socket", sockPath, ...argv], { stdout: out, stderr: err, env: {}, ...io });
  return { code, out, err };
}

const activeCall: CallInfo = {
  id: "c7",
  peer: "bob@localhost/res",
  direction: "outgoing",
  state: "active",
  startedAt: "2025-01-01T12:00:00.000Z",
  answeredAt: "2025-01-01T12:00:02.000Z",
  codec: "opus",
};

// ---------------------------------------------------------------- help and usage

test("--help lists every command and the exit codes; <command> --help describes one", async () => {
  const { code, out, err } = await run(["--help"]);
  assert.equal(code, 0);
  assert.equal(err.text, "");
  for (const word of ["status", "calls", "call <jid>", "answer", "reject", "hangup", "events", "raw"]) {
    assert.ok(out.text.includes(word), word);
  }
  assert.match(out.text, /Exit codes:[\s\S]*64/);
  const one = await run(["call", "--help"]);
  assert.equal(one.code, 0);
  assert.match(one.out.text, /--wait/);
  assert.match(one.out.text, /exit 0 when it ended normally/);
  const viaHelp = await run(["help", "hangup"]);
  assert.equal(viaHelp.code, 0);
  assert.match(viaHelp.out.text, /callId may be left out/);
});

test("--version needs no daemon: jinglectl's version and its protocol", async () => {
  const { code, out } = await run(["--version", "--socket", "/nonexistent/socket"]);
  assert.equal(code, 0);
  assert.equal(out.text, `jinglectl ${VERSION} (control protocol ${PROTOCOL_VERSION})\n`);
});

test("usage errors exit 64 with a message on stderr", async () => {
  const cases: Array<[string[], RegExp]> = [
    [[], /Usage: jinglectl/],
    [["dial"], /unknown command "dial"/],
    [["call"], /usage: jinglectl call <jid>/],
    [["status", "extra"], /usage: jinglectl status/],
    [["status", "--codec", "opus"], /status does not take --codec/],
    [["call", "bob@localhost", "--codec", "g 722"], /--codec: "g 722" is not a codec name/],
    [["reject", "--reason", "maybe"], /--reason must be one of decline, busy/],
    [["raw", "echo", "{not json"], /not valid JSON/],
    [["raw", "echo", "[1]"], /must be a JSON object/],
    [["--bogus", "status"], /--bogus/],
  ];
  for (const [argv, message] of cases) {
    const { code, out, err } = await run(argv);
    assert.equal(code, 64, argv.join(" "));
    assert.match(err.text, message, argv.join(" "));
    assert.equal(out.text, "");
  }
});

test("no daemon: exit 3 naming the socket path", async () => {
  const missing = join(dir, "absent.sock");
  const out = new Capture();
  const err = new Capture();
  const code = await main(["status"], { stdout: out, stderr: err, env: { JINGLED_SOCKET: missing } });
  assert.equal(code, 3);
  assert.ok(err.text.includes(`cannot connect to jingled at ${missing}`));
  assert.match(err.text, /Is the daemon running\?/);
});

test("JINGLED_SOCKET selects the socket when --socket is absent", async () => {
  const out = new Capture();
  const code = await main(["calls"], { stdout: out, stderr: new Capture(), env: { JINGLED_SOCKET: sockPath } });
  assert.equal(code, 0);
  assert.equal(out.text, "no calls\n");
});

// ---------------------------------------------------------------- commands

test("status and calls: human-readable by default, the raw result with --json", async () => {
  let r = await run(["status"]);
  assert.equal(r.code, 0);
  assert.equal(r.out.text, "account alice@localhost/jingled online\nno calls\n");

  calls = [activeCall];
  r = await run(["status"]);
  assert.equal(r.out.text, "account alice@localhost/jingled online\ncall c7 active with bob@localhost/res (opus)\n");
  r = await run(["calls"]);
  assert.equal(r.out.text, "call c7 active with bob@localhost/res (opus)\n");

  r = await run(["--json", "status"]);
  assert.deepEqual(JSON.parse(r.out.text), { account: { jid: "alice@localhost/jingled", state: "online" }, calls: [activeCall] });
  r = await run(["calls", "--json"]);
  assert.deepEqual(JSON.parse(r.out.text), [activeCall]);
});

test("call without --wait prints the call id and passes codec preferences in order", async () => {
  let r = await run(["call", "dave@localhost", "--codec", "pcmu", "--codec", "opus"]);
  assert.equal(r.code, 0);
  assert.equal(r.out.text, "call c1 outgoing to dave@localhost\n");
  assert.deepEqual(received[0]!.args, { jid: "dave@localhost", codecs: ["pcmu", "opus"] });

  r = await run(["--json", "call", "dave@localhost", "--codec", "OPUS,pcmu"]);
  assert.deepEqual(JSON.parse(r.out.text), { callId: "c2", sid: "sid-c2", peer: "dave@localhost" }, "the whole reply");
  assert.deepEqual(received[1]!.args, { jid: "dave@localhost", codecs: ["opus", "pcmu"] });
});

test("call --wait follows the call and exits 0 when it ends with success", async () => {
  const r = await run(["call", "bob@localhost", "--wait"]);
  assert.equal(r.err.text, "");
  assert.equal(r.code, 0);
  assert.deepEqual(r.out.lines, [
    "call c1 outgoing to bob@localhost",
    "call c1 ringing with bob@localhost/res",
    "call c1 active with bob@localhost/res (opus)",
    "call c1 ended with bob@localhost/res: success after 12.3 s",
  ]);
});

test("call --wait exits 2 when the call ends otherwise (decline)", async () => {
  const r = await run(["call", "carol@localhost", "--wait"]);
  assert.equal(r.code, 2);
  // Never answered: whose doing, and how long after the call command it ended ("after 0.0 s" said nothing).
  assert.equal(r.out.lines.at(-1), "call c1 ended with carol@localhost/phone: decline by the peer, unanswered after 3.2 s");
});

test("call --wait --json prints the result, then that call's events as JSON lines", async () => {
  const r = await run(["--json", "call", "carol@localhost", "--wait"]);
  assert.equal(r.code, 2);
  const lines = r.out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines[0], { callId: "c1", sid: "sid-c1", peer: "carol@localhost" }, "the whole reply");
  assert.deepEqual(
    lines.slice(1).map((e) => [e.event, e.callId, e.type]),
    [
      ["call", "c1", "outgoing"],
      ["call", "c1", "ringing"],
      ["call", "c1", "ended"],
    ],
  );
  assert.equal(typeof lines[1]!.seq, "number");
});

test("call --wait exits 3 when the daemon goes away during the call", async () => {
  const pending = run(["call", "dave@localhost", "--wait"]); // dave's call never ends
  setTimeout(() => void server.close(), 50);
  const r = await pending;
  assert.equal(r.code, 3);
  assert.match(r.err.text, /lost connection to jingled/);
});

test("a command error exits 1 with 'error <code>: <message>' on stderr", async () => {
  let r = await run(["answer", "c9"]);
  assert.equal(r.code, 1);
  assert.equal(r.err.text, "error unknown-call: no call with id c9\n");
  assert.equal(r.out.text, "");

  calls = [activeCall, { ...activeCall, id: "c8" }];
  r = await run(["hangup"]);
  assert.equal(r.code, 1);
  assert.match(r.err.text, /^error ambiguous-call: /);

  r = await run(["raw", "fail"]);
  assert.equal(r.err.text, "error busy: too many calls\n");
  r = await run(["call", "not a jid"]);
  assert.equal(r.code, 1);
  assert.match(r.err.text, /^error bad-argument: call: "not a jid" is not a valid JID/);
});

test("--json: every failure is one JSON line on stderr with its code, stdout stays empty, exit codes unchanged", async () => {
  const errorOf = (text: string): { code: string; message: string } => {
    const lines = text.split("\n").filter(Boolean);
    assert.equal(lines.length, 1, `one line: ${text}`);
    const body = JSON.parse(lines[0]!) as { ok: boolean; error: { code: string; message: string } };
    assert.equal(body.ok, false);
    assert.deepEqual(Object.keys(body.error).sort(), ["code", "message"]);
    return body.error;
  };
  // The daemon refused: its own code and message.
  let r = await run(["--json", "answer", "c9"]);
  assert.equal(r.code, 1);
  assert.equal(r.out.text, "");
  assert.deepEqual(errorOf(r.err.text), { code: "unknown-call", message: "no call with id c9" });
  r = await run(["--json", "call", "not a jid"]);
  assert.equal(errorOf(r.err.text).code, "bad-argument");
  // Usage errors, found before or after the command line is read.
  for (const argv of [["--json", "dial"], ["--json", "--bogus"], ["--json", "raw", "echo", "{x"], ["dtmf", "1", "--duration", "5", "--json"]]) {
    r = await run(argv);
    assert.equal(r.code, 64, argv.join(" "));
    assert.equal(r.out.text, "");
    assert.equal(errorOf(r.err.text).code, "usage", argv.join(" "));
  }
  // No daemon.
  const err = new Capture();
  const out = new Capture();
  assert.equal(await main(["--json", "status"], { stdout: out, stderr: err, env: { JINGLED_SOCKET: join(dir, "absent.sock") } }), 3);
  const noDaemon = errorOf(err.text);
  assert.equal(noDaemon.code, "connect-failed");
  assert.match(noDaemon.message, /cannot connect to jingled at .*absent\.sock/);
  assert.equal(out.text, "");
  // The daemon goes away during call --wait.
  const pending = run(["--json", "call", "dave@localhost", "--wait"]);
  setTimeout(() => void server.close(), 50);
  r = await pending;
  assert.equal(r.code, 3);
  assert.equal(errorOf(r.err.text).code, "disconnected");
  assert.ok(r.out.lines.every((l) => !("error" in (JSON.parse(l) as object))), "stdout has results and events only");
});

test("answer, reject and hangup report the call they acted on", async () => {
  calls = [activeCall];
  assert.equal((await run(["answer"])).out.text, "answered call c7\n");
  assert.equal((await run(["hangup", "c7"])).out.text, "hung up call c7\n");
  const r = await run(["reject", "c7", "--reason", "busy"]);
  assert.equal(r.out.text, "rejected call c7\n");
  assert.deepEqual(received.at(-1), { cmd: "reject", args: { callId: "c7", reason: "busy" } });
  assert.deepEqual(JSON.parse((await run(["--json", "answer"])).out.text), { callId: "c7" });
});

test("raw sends any command with JSON args", async () => {
  let r = await run(["raw", "echo", '{"a":[1,"x"]}']);
  assert.equal(r.code, 0);
  assert.deepEqual(JSON.parse(r.out.text), { a: [1, "x"] });
  r = await run(["--json", "raw", "echo"]);
  assert.equal(r.out.text, "{}\n");
});

// ---------------------------------------------------------------- events

async function until(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

test("events follows the stream, one line per event, until stopped", async () => {
  calls = [activeCall];
  const stop = new AbortController();
  const out = new Capture();
  const pending = main(["--socket", sockPath, "events"], { stdout: out, stderr: new Capture(), signal: stop.signal });
  await until(() => out.text.includes("connected to jingled"));
  server.broadcast("account", { state: "reconnecting", reason: "connection reset" });
  server.broadcast("call", {
    callId: "c7",
    type: "ended",
    peer: "bob@localhost/res",
    reason: "success",
    text: "bye",
    durationMs: 62_000,
  });
  server.broadcast("media", {
    callId: "c7",
    codec: "opus",
    localCandidate: { type: "host", ip: "::1", port: 40000 },
    remoteCandidate: { type: "relay", ip: "127.0.0.1", port: 3478, protocol: "tcp" },
    pairType: "relayed",
    encryption: "dtls-srtp",
    srtpProfile: "SRTP_AEAD_AES_128_GCM",
  });
  server.broadcast("media", {
    callId: "c8",
    codec: "pcmu",
    localCandidate: { type: "host", ip: "127.0.0.1", port: 40002 },
    remoteCandidate: { type: "host", ip: "127.0.0.1", port: 40004 },
    pairType: "direct",
    encryption: "none",
  });
  // An event this client does not know (a newer daemon's): ignored.
  (server.broadcast as (event: string, fields: object) => void)("future-thing", { x: 1 });
  await until(() => out.lines.length >= 8);
  stop.abort();
  assert.equal(await pending, 0);
  assert.deepEqual(out.lines, [
    "connected to jingled 0.1.0-test (protocol 1)",
    "account alice@localhost/jingled online",
    "call c7 active with bob@localhost/res (opus)",
    "account reconnecting: connection reset",
    "call c7 ended with bob@localhost/res: success (bye) after 01:02",
    "media c7 opus, host [::1]:40000 <-> relay 127.0.0.1:3478/tcp (relayed), DTLS-SRTP (SRTP_AEAD_AES_128_GCM)",
    "media c8 pcmu, host 127.0.0.1:40002 <-> host 127.0.0.1:40004 (direct), plain RTP (not encrypted)",
    'future-thing {"x":1}',
  ]);
});

test("events --json prints hello then raw event lines; exits 3 when the daemon closes", async () => {
  const out = new Capture();
  const err = new Capture();
  const pending = main(["--socket", sockPath, "--json", "events"], { stdout: out, stderr: err });
  await until(() => out.lines.length === 1);
  server.broadcast("account", { state: "offline" });
  await until(() => out.lines.length === 2);
  await server.close();
  assert.equal(await pending, 3);
  const [hello, account] = out.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(hello!.event, "hello");
  assert.equal(hello!.protocol, 1);
  assert.deepEqual(hello!.snapshot, { account: { jid: "alice@localhost/jingled", state: "online" }, calls: [] });
  assert.equal(account!.event, "account");
  assert.equal(account!.seq, (hello!.seq as number) + 1);
  assert.match(err.text, /closed the connection/);
});

// ---------------------------------------------------------------- the in-call and account commands

test("every command has --help", async () => {
  for (const word of ["hold", "resume", "mute", "unmute", "dtmf", "play", "record", "stats", "set-input", "set-output", "devices", "presence", "roster", "voicemail", "reload", "shutdown"]) {
    const r = await run([word, "--help"]);
    assert.equal(r.code, 0, word);
    assert.match(r.out.text, new RegExp(`^Usage: jinglectl .*${word}`), word);
  }
});

test("hold, resume, mute, unmute, dtmf, stats: human and --json output", async () => {
  calls = [activeCall];
  assert.equal((await run(["hold"])).out.text, "call c7 held\n");
  assert.equal((await run(["resume", "c7"])).out.text, "call c7 resumed\n");
  assert.equal((await run(["mute"])).out.text, "call c7 muted\n");
  assert.deepEqual(JSON.parse((await run(["--json", "unmute"])).out.text), { callId: "c7", state: "active", held: false, muted: false });
  assert.equal((await run(["dtmf", "123#", "--duration", "120"])).out.text, "sent 123# to call c7\n");
  assert.deepEqual(received.at(-1), { cmd: "dtmf", args: { digits: "123#", durationMs: 120 } });
  assert.equal((await run(["stats"])).out.text, "call c7 active\n  codec: opus\n  packetsSent: 250\n");
  statsResult = { codec: "opus", mos: 4.12, fractionLost: 0.004, packetsLost: 3, packetsReceived: 809, jitterMs: 3.14, rttMs: 12.4, packetsSent: 820 };
  const lines = (await run(["stats"])).out.text.split("\n");
  assert.equal(lines[0], "call c7 active: MOS 4.12 (good), loss 0.4 % (3 of 812), jitter 3.1 ms, RTT 12 ms", "the quality at a glance");
  assert.ok(lines.includes("  packetsSent: 820"), "then every figure");
  statsResult = { codec: "opus", packetsSent: 250 };
  assert.equal((await run(["dtmf", "1", "--duration", "5"])).code, 64);
});

test("play, record and set-input/set-output send absolute paths and parsed specs", async () => {
  calls = [activeCall];
  let r = await run(["play", "greeting.wav"]);
  assert.equal(r.code, 0);
  assert.deepEqual(received.at(-1), { cmd: "play", args: { file: join(process.cwd(), "greeting.wav") } });
  r = await run(["record", "start", "/rec/{callId}.wav", "c7"]);
  assert.equal(r.out.text, "recording call c7 to /rec/{callId}.wav\n");
  assert.deepEqual(received.at(-1)!.args, { action: "start", file: "/rec/{callId}.wav", callId: "c7" });
  r = await run(["record", "stop"]);
  assert.equal(r.out.text, "recording of call c7 finished: /rec/c7.wav\n");
  assert.equal((await run(["record", "pause"])).code, 64);
  r = await run(["set-input", "file:/srv/music.wav", "--loop"]);
  assert.equal(r.out.text, "call c7 input: file /srv/music.wav true\n");
  assert.deepEqual(received.at(-1)!.args, { source: { type: "file", path: "/srv/music.wav", loop: true } });
  await run(["set-input", "tone:300"]);
  assert.deepEqual(received.at(-1)!.args, { source: { type: "tone", frequency: 300 } });
  await run(["set-output", "pulse:alsa_output.pci", "c7"]);
  assert.deepEqual(received.at(-1)!.args, { callId: "c7", sink: { type: "pulse", device: "alsa_output.pci" } });
  r = await run(["set-output", "file:rec/{callId}.wav"]);
  assert.equal(r.code, 0);
  assert.deepEqual(received.at(-1)!.args, { sink: { type: "file", path: join(process.cwd(), "rec", "{callId}.wav") } }, "file:PATH as set-input takes it, made absolute");
  assert.equal(r.out.text, `call c7 output: file ${join(process.cwd(), "rec", "{callId}.wav")}\n`);
  await run(["set-output", "pipe:out.raw"]);
  assert.deepEqual(received.at(-1)!.args, { sink: { type: "pipe", path: join(process.cwd(), "out.raw") } });
  await run(["set-output", '{"type":"null"}']);
  assert.deepEqual(received.at(-1)!.args, { sink: { type: "null" } });
  r = await run(["set-output", "null", "--loop"]);
  assert.equal(r.code, 64);
  assert.match(r.err.text, /--loop/);
});

test("--overwrite: record start and a file sink send overwrite: true; elsewhere it is a usage error", async () => {
  calls = [activeCall];
  assert.equal((await run(["record", "start", "/rec/a.wav", "--overwrite"])).code, 0);
  assert.deepEqual(received.at(-1)!.args, { action: "start", file: "/rec/a.wav", overwrite: true });
  await run(["record", "start", "/rec/a.wav"]);
  assert.deepEqual(received.at(-1)!.args, { action: "start", file: "/rec/a.wav" }, "no overwrite unless asked");
  assert.equal((await run(["set-output", "file:/rec/b.wav", "--overwrite"])).code, 0);
  assert.deepEqual(received.at(-1)!.args, { sink: { type: "file", path: "/rec/b.wav" }, overwrite: true });
  const before = received.length;
  let r = await run(["record", "stop", "--overwrite"]);
  assert.equal(r.code, 64);
  assert.match(r.err.text, /--overwrite is only for record start/);
  r = await run(["set-output", "null", "--overwrite"]);
  assert.equal(r.code, 64);
  assert.match(r.err.text, /--overwrite is only for a file sink/);
  assert.equal((await run(["play", "/a.wav", "--overwrite"])).code, 64);
  assert.equal(received.length, before, "nothing sent for a usage error");
});

test("devices, presence, roster, reload, shutdown", async () => {
  let r = await run(["devices"]);
  assert.equal(r.out.text, 'inputs (set-input):\n  {"type":"silence"}  silence\noutputs (set-output):\n  {"type":"null"}  discard\n');
  r = await run(["presence", "away", "out", "for", "lunch"]);
  assert.equal(r.out.text, "presence away: out for lunch\n");
  assert.deepEqual(received.at(-1), { cmd: "presence", args: { show: "away", text: "out for lunch" } });
  assert.equal((await run(["presence", "gone"])).code, 64);
  r = await run(["roster"]);
  assert.equal(r.out.text, "bob@localhost (Bob) subscription both\neve@localhost asks to see our presence (roster approve eve@localhost)\n", "an older daemon: no online field, nothing said");
  rosterExtra = [
    { jid: "carol@localhost", subscription: "both", groups: [], online: ["carol@localhost/phone", "carol@localhost/jingled"] },
    { jid: "dave@localhost", subscription: "to", groups: ["door"], online: [] },
    { jid: "eve@localhost", subscription: "from", groups: [], online: [] },
    { jid: "fred@localhost", subscription: "none", pendingOut: true, groups: [], online: [] },
  ];
  r = await run(["roster"]);
  assert.deepEqual(r.out.lines.slice(1, 5), [
    "carol@localhost subscription both, online (phone, jingled)",
    "dave@localhost subscription to, offline [door]",
    "eve@localhost subscription from, presence not shared (roster add eve@localhost asks for it)",
    "fred@localhost subscription none, asked for presence",
  ]);
  assert.deepEqual(JSON.parse((await run(["--json", "roster"])).out.text).items[1].online, ["carol@localhost/phone", "carol@localhost/jingled"]);
  r = await run(["roster", "add", "carol@localhost", "--name", "Carol"]);
  assert.equal(r.out.text, "carol@localhost added (presence requested)\n");
  assert.deepEqual(received.at(-1)!.args, { action: "add", jid: "carol@localhost", name: "Carol" });
  assert.equal((await run(["roster", "approve"])).code, 64);
  assert.equal((await run(["roster", "approve", "eve@localhost", "--name", "E"])).code, 64);
  r = await run(["reload"]);
  assert.equal(r.out.text, "configuration reloaded\n  now in force: calls.maxCalls\n  needs a restart: account.resource\n");
  assert.equal((await run(["shutdown"])).out.text, "jingled is stopping: every call ends\n");
});

test("voicemail: the list for people and --json, delete by name or age, usage errors", async () => {
  let r = await run(["voicemail"]);
  assert.equal(r.out.text, "voicemail is off (calls.voicemail is off): no recordings\n");
  voicemailDir = join(dir, "voicemail");
  await mkdir(voicemailDir);
  assert.equal((await run(["voicemail", "list"])).out.text, `no recordings in ${voicemailDir}\n`);
  const alice = "voicemail-2026-12-07T00-35-12-000Z-alice@example.org.wav";
  const bob = "voicemail-2026-12-06T10-00-00-000Z-bob@example.org.wav";
  await writeFile(join(voicemailDir, alice), encodeWav(new Int16Array(16000 * 14.2), 16000));
  await writeFile(join(voicemailDir, bob), encodeWav(new Int16Array(8000), 16000));
  r = await run(["voicemail"]);
  assert.deepEqual(r.out.lines, [
    `2026-12-07 00:35:12 UTC  alice@example.org  14.2 s  444 KiB  ${join(voicemailDir, alice)}`,
    `2026-12-06 10:00:00 UTC  bob@example.org  0.5 s  16 KiB  ${join(voicemailDir, bob)}`,
  ]);
  const json = JSON.parse((await run(["--json", "voicemail"])).out.text);
  assert.equal(json.enabled, true);
  assert.deepEqual(json.recordings[0], { name: alice, file: join(voicemailDir, alice), caller: "alice@example.org", at: "2026-12-07T00:35:12.000Z", durationMs: 14_200, size: 44 + 454_400 });
  r = await run(["voicemail", "delete", bob]);
  assert.equal(r.out.text, `deleted ${bob}\n`);
  assert.deepEqual(received.at(-1)!.args, { action: "delete", name: bob });
  assert.deepEqual(await readdir(voicemailDir), [alice]);
  r = await run(["voicemail", "delete", "../control.sock"]);
  assert.equal(r.code, 1);
  assert.match(r.err.text, /error bad-argument: voicemail: "\.\.\/control\.sock" is not a recording's file name/);
  r = await run(["voicemail", "delete", bob]);
  assert.equal(r.code, 1);
  assert.match(r.err.text, /error not-found: voicemail: no recording/);
  await run(["voicemail", "delete", "--older-than", "30"]);
  assert.deepEqual(received.at(-1)!.args, { action: "delete", olderThanDays: 30 });
  for (const argv of [["voicemail", "delete"], ["voicemail", "list", alice], ["voicemail", "delete", alice, "--older-than", "3"], ["voicemail", "purge"], ["voicemail", "delete", "--older-than", "0"], ["voicemail", "--older-than", "3"]]) {
    assert.equal((await run(argv)).code, 64, argv.join(" "));
  }
});

test("events: held by the peer, refused, dtmf, recording, roster, reload lines", async () => {
  const stop = new AbortController();
  const out = new Capture();
  const pending = main(["--socket", sockPath, "events"], { stdout: out, stderr: new Capture(), signal: stop.signal });
  await until(() => out.text.includes("connected to jingled"));
  server.broadcast("call", { callId: "c7", type: "held", by: "peer", peer: "bob@localhost/res" });
  server.broadcast("refused", { peer: "eve@localhost/x", reason: "not-allowed" });
  server.broadcast("dtmf", { callId: "c7", digit: "5", durationMs: 100 });
  server.broadcast("recording", { callId: "c7", file: "/rec/c7.wav", type: "finished" });
  server.broadcast("roster", { type: "request", jid: "eve@localhost" });
  server.broadcast("reload", { applied: [], restartRequired: [] });
  server.broadcast("stats", { callId: "c7", packetsSent: 500, packetsReceived: 498, packetsLost: 2, fractionLost: 0.004, jitterMs: 2.5, mos: 4.3 });
  await until(() => out.lines.length >= 9);
  stop.abort();
  assert.equal(await pending, 0);
  assert.deepEqual(out.lines.slice(2), [
    "call c7 held by the peer with bob@localhost/res",
    "refused a call from eve@localhost/x: not-allowed",
    "dtmf c7 5 (100 ms)",
    "recording c7 finished: /rec/c7.wav",
    "roster: eve@localhost asks to see our presence",
    "reload: nothing changed",
    "stats c7 sent 500 received 498 lost 2: MOS 4.30 (good), loss 0.4 % (2 of 500), jitter 2.5 ms",
  ]);
});
