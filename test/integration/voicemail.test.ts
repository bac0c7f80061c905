// Voicemail delivered to chat, between two real daemons through a real
// Prosody with its real HTTP upload service (mod_http_file_share over
// HTTPS): nobody answers the door, the voicemail does; the caller's words
// are recorded until it hangs up or presses #, uploaded (XEP-0363), and the
// family account gets who called and the link (XEP-0066). The file is
// downloaded from that link and compared with what the caller played.
// Without an upload service the file is kept and the message says so.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { get } from "node:https";
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { withLab } from "../helpers/with-lab.js";
import { bandEnergyShare } from "../helpers/audio-band.js";
import { observeChat, type ChatObserver } from "../helpers/chat-observer.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudioSegments, readMono16 } from "../../scripts/lab/audio-compare.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { ControlRequestError, type AnyEvent } from "../../src/control/client.js";
import type { VoicemailListResult } from "../../src/control/protocol.js";
import { main as jinglectl } from "../../src/cli/jinglectl.js";
import { parseWav } from "../../src/media/wav.js";

const isCall = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;
const voicemail = (type: string, after = 0) => (e: AnyEvent) => e.event === "voicemail" && e.type === type && (e.seq as number) > after;

function download(url: string, ca: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    get(url, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => (res.statusCode === 200 ? resolve(Buffer.concat(chunks)) : reject(new Error(`GET ${url}: HTTP ${res.statusCode}`))));
    }).on("error", reject);
  });
}

function doorConfig(dir: string): Record<string, unknown> {
  return {
    calls: {
      acceptFrom: "everyone",
      autoAnswer: false,
      voicemail: { enabled: true, afterSec: 1, maxSec: 30, greetingText: "Nobody is home. Please leave a message.", notify: ["family@localhost"], dir: join(dir, "voicemail") },
    },
  };
}

/** Alice calls the door, which nobody answers; resolves once the voicemail records, with both call ids. */
async function reachVoicemail(alice: Daemon, door: Daemon, target: string): Promise<{ a: string; d: string; mark: number }> {
  const mark = (door.events.at(-1)?.seq as number | undefined) ?? 0;
  const a = ((await alice.control.request("call", { jid: target })) as { callId: string }).callId;
  const incoming = await door.waitForEvent((e) => e.event === "call" && e.type === "incoming" && (e.seq as number) > mark, 15_000, "door rings");
  const d = incoming.callId as string;
  await door.waitForEvent(voicemail("answered", mark), 15_000, "the voicemail answers");
  await alice.waitForEvent(isCall(a, "active"), 15_000, "alice's call active");
  await door.waitForEvent(voicemail("recording", mark), 30_000, "the greeting played, recording");
  return { a, d, mark };
}

describe("voicemail with an upload service", { timeout: 180_000 }, () => {
  const lab = withLab({
    name: "voicemail",
    users: { door: "door-pw", porch: "porch-pw", alice: "alice-pw", family: "family-pw" },
    prosody: { httpFileShare: true },
    daemons: (l) => ({
      // The door's microphone (a 1 kHz tone here) must not reach a caller the voicemail answered.
      door: { input: { type: "tone", frequency: 1000 }, config: doorConfig(join(l.dir, "door")) },
      // The porch forwards its calls to the family's account (a chat client that never answers a call), for 2 s.
      porch: { config: { calls: { ...(doorConfig(join(l.dir, "porch")).calls as object), forward: { to: ["family@localhost"], ringSec: 2 } } } },
      alice: { output: { type: "file", path: join(l.dir, "alice-hears-{callId}.wav") } },
    }),
  });
  let family: ChatObserver;
  let speech: string;

  before(async () => {
    family = lab.adopt(await observeChat({ jid: "family@localhost", password: "family-pw", port: lab.prosody.port, caFile: lab.prosody.caFile }));
    speech = join(lab.dir, "speech.wav");
    await makeSpeechWav("This is Alice. I left the parcel by the garage, call me back please.", speech);
  });

  test("the caller hangs up: the recording is uploaded, the family gets who called and the link, and the file holds what was said", async (t) => {
    const { door, alice } = lab.daemons;
    const { a, mark } = await reachVoicemail(alice, door, door.jid);
    await alice.control.request("play", { callId: a, file: speech });
    await alice.waitForEvent((e) => e.event === "playback" && e.callId === a && e.type === "finished", 30_000, "alice's message played");
    await new Promise((r) => setTimeout(r, 600)); // the last words reach the door
    await alice.control.request("hangup", { callId: a });

    const delivered = await door.waitForEvent(voicemail("delivered", mark), 30_000, "voicemail delivered");
    t.diagnostic(`delivered: ${JSON.stringify(delivered)}`);
    const url = delivered.url as string;
    assert.match(url, new RegExp(`^https://127\\.0\\.0\\.1:${lab.prosody.httpsPort}/file_share/`), "uploaded to the server's own service, over HTTPS");
    assert.equal(delivered.peer, "alice@localhost");

    const text = await family.waitFor((m) => m.body.startsWith("Voicemail from alice@localhost"), 10_000, "who called");
    assert.match(text.body, /^Voicemail from alice@localhost at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, \d+ s\.$/);
    assert.equal(text.oobUrl, undefined);
    const link = await family.waitFor((m) => m.oobUrl !== undefined, 10_000, "the link");
    assert.equal(link.body, url, "the body is the URL, as Conversations expects");
    assert.equal(link.oobUrl, url);
    assert.match(link.from, /^door@localhost\//);

    // The file kept here: 0600 in a 0700 directory.
    const file = delivered.file as string;
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(join(lab.dir, "door", "voicemail")).mode & 0o777, 0o700);

    // What the link serves is the recording, and the recording is what Alice said.
    const body = await download(link.body, readFileSync(lab.prosody.caFile, "utf8")); // the URL as the chat message gives it
    assert.deepEqual(body, readFileSync(file));
    const wav = parseWav(body);
    assert.equal(wav.format.sampleRate, 16000);
    const seconds = Number(/(\d+) s\.$/.exec(text.body)![1]);
    assert.ok(Math.abs(seconds * 1000 - (delivered.durationMs as number)) <= 1000, `message says ${seconds} s, recording ${delivered.durationMs} ms`);
    const ref = readMono16(speech);
    const rec = readMono16(file);
    const seg = compareAudioSegments(ref.pcm, ref.rate, rec.pcm, rec.rate);
    t.diagnostic(`recording vs. what alice played: segment correlation ${seg.correlation.toFixed(3)}, lag ${seg.lagMs.toFixed(0)} ms, ${seg.segments} segments, ${seg.uncovered} uncovered`);
    assert.ok(seg.correlation >= 0.6, `segment correlation ${seg.correlation.toFixed(3)}`);
    assert.equal(seg.uncovered, 0, "the whole message was recorded");

    // Alice heard the greeting, not the door's microphone.
    const heard = readMono16(join(lab.dir, `alice-hears-${a}.wav`));
    const tone = bandEnergyShare(heard.pcm, heard.rate, 950, 1050, 4000);
    t.diagnostic(`what alice heard: ${(heard.pcm.length / heard.rate).toFixed(1)} s, ${(tone * 100).toFixed(1)} % of it in the door microphone's 1 kHz band`);
    assert.ok(heard.pcm.length > heard.rate, "alice heard the greeting");
    assert.ok(tone < 0.05, `the door's microphone reached the caller: ${(tone * 100).toFixed(1)} % of what alice heard is its 1 kHz tone`);
  });

  test("a forwarded call nobody in the ring group answered goes to the voicemail", async () => {
    const { porch, alice } = lab.daemons;
    const mark = (porch.events.at(-1)?.seq as number | undefined) ?? 0;
    const a = ((await alice.control.request("call", { jid: porch.jid })) as { callId: string }).callId;
    const incoming = await porch.waitForEvent((e) => e.event === "call" && e.type === "incoming" && (e.seq as number) > mark, 15_000, "porch rings");
    const groupEnded = await porch.waitForEvent(
      (e) => e.event === "call" && e.type === "ended" && e.callId !== incoming.callId && /^nobody answered/.test(e.text as string) && (e.seq as number) > mark,
      15_000,
      "the ring group gives up",
    );
    const answered = await porch.waitForEvent(voicemail("answered", mark), 15_000, "the voicemail answers");
    assert.equal(answered.callId, incoming.callId, "the voicemail took the forwarded call itself");
    assert.ok((groupEnded.seq as number) < (answered.seq as number), "only once the group found nobody");
    await alice.waitForEvent(isCall(a, "active"), 15_000, "alice's call active");
    await porch.waitForEvent(voicemail("recording", mark), 30_000, "the greeting played, recording");
    await alice.control.request("play", { callId: a, file: speech });
    await alice.waitForEvent((e) => e.event === "playback" && e.callId === a && e.type === "finished", 30_000, "alice's message played");
    await alice.control.request("hangup", { callId: a });
    const delivered = await porch.waitForEvent(voicemail("delivered", mark), 30_000, "voicemail delivered");
    assert.equal(delivered.peer, "alice@localhost");
    const link = await family.waitFor((m) => m.oobUrl === delivered.url, 10_000, "the link");
    assert.match(link.from, /^porch@localhost\//);
  });

  test("# ends the recording: the voicemail hangs up and delivers (a XEP-0353 call to the bare JID)", async () => {
    const { door, alice } = lab.daemons;
    const { a, mark } = await reachVoicemail(alice, door, "door@localhost");
    await new Promise((r) => setTimeout(r, 1000));
    await alice.control.request("dtmf", { callId: a, digits: "#" });
    const ended = await alice.waitForEvent(isCall(a, "ended"), 15_000, "the voicemail hangs up");
    assert.equal(ended.by, "peer");
    assert.equal(ended.reason, "success");
    const delivered = await door.waitForEvent(voicemail("delivered", mark), 30_000, "voicemail delivered");
    assert.ok((delivered.durationMs as number) >= 500 && (delivered.durationMs as number) < 10_000, `duration ${delivered.durationMs} ms`);
    await family.waitFor((m) => m.oobUrl === delivered.url, 10_000, "the second link");
  });

  test("a caller who hangs up while it rings, or during the greeting, leaves a missed call in chat", async () => {
    const { door, alice } = lab.daemons;
    const missed = () => family.messages.filter((m) => m.body.startsWith("Missed call from alice@localhost")).length;
    const before = missed();
    // While it rings (the voicemail answers after 1 s).
    let mark = (door.events.at(-1)?.seq as number | undefined) ?? 0;
    const a1 = ((await alice.control.request("call", { jid: door.jid })) as { callId: string }).callId;
    await door.waitForEvent((e) => e.event === "call" && e.type === "incoming" && (e.seq as number) > mark, 15_000, "door rings");
    await alice.control.request("hangup", { callId: a1 });
    await door.waitForEvent(voicemail("missed", mark), 10_000, "missed while ringing");
    await family.waitFor(() => missed() === before + 1, 10_000, "the first missed call");
    // During the greeting.
    mark = (door.events.at(-1)?.seq as number | undefined) ?? 0;
    const a2 = ((await alice.control.request("call", { jid: door.jid })) as { callId: string }).callId;
    await door.waitForEvent(voicemail("answered", mark), 15_000, "the voicemail answers");
    await alice.waitForEvent(isCall(a2, "active"), 15_000, "active");
    await alice.control.request("hangup", { callId: a2 });
    await door.waitForEvent(voicemail("missed", mark), 10_000, "missed during the greeting");
    await family.waitFor(() => missed() === before + 2, 10_000, "the second missed call");
    const m = family.messages.filter((x) => x.body.startsWith("Missed call")).at(-1)!;
    assert.match(m.body, /^Missed call from alice@localhost at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: no message was left\.$/);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(door.events.filter((e) => (e.seq as number) > mark && e.event === "voicemail" && (e.type === "delivered" || e.type === "kept" || e.type === "recording")).length, 0, "nothing recorded");
  });
  test("the voicemail command lists the message left, jinglectl names it, delete removes it, a traversal name is refused", async (t) => {
    const { door, alice } = lab.daemons;
    const { a, mark } = await reachVoicemail(alice, door, door.jid);
    await new Promise((r) => setTimeout(r, 1500));
    await alice.control.request("hangup", { callId: a });
    const delivered = await door.waitForEvent(voicemail("delivered", mark), 30_000, "voicemail delivered");
    const file = delivered.file as string;
    const dir = join(lab.dir, "door", "voicemail");

    // The list: newest first, so the message just left comes first.
    const list = (await door.control.request("voicemail", {})) as VoicemailListResult;
    assert.equal(list.enabled, true);
    assert.equal(list.dir, dir);
    const rec = list.recordings[0]!;
    t.diagnostic(`listed ${JSON.stringify(rec)}; delivered durationMs ${delivered.durationMs}`);
    assert.equal(rec.file, file);
    assert.equal(join(dir, rec.name), file);
    assert.equal(rec.caller, "alice@localhost");
    assert.equal(rec.size, statSync(file).size);
    assert.ok(Math.abs(rec.durationMs! - (delivered.durationMs as number)) <= 20, `listed ${rec.durationMs} ms, delivered ${delivered.durationMs} ms`);
    assert.ok(Date.now() - Date.parse(rec.at) < 120_000, `at ${rec.at}`);
    assert.ok(list.recordings.every((r) => !r.name.startsWith(".")), "no working files listed");

    // jinglectl names it.
    const out: string[] = [];
    const io = { stdout: { write: (x: string) => out.push(x) }, stderr: { write: (x: string) => out.push(x) }, env: {} };
    assert.equal(await jinglectl(["--socket", door.socketPath, "voicemail"], io), 0);
    const line = out.join("").split("\n")[0]!;
    assert.ok(line.endsWith(`  ${file}`), line);
    assert.match(line, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC  alice@localhost  \d+\.\d s  \d+ KiB  /);

    // A traversal name is refused and the file system stays as it was.
    const canary = join(lab.dir, "door", "canary.wav");
    writeFileSync(canary, readFileSync(file));
    const before = readdirSync(dir).sort();
    for (const name of ["../canary.wav", canary, `../voicemail/${rec.name}`, ".beep.wav"]) {
      await assert.rejects(door.control.request("voicemail", { action: "delete", name }), (e: unknown) => e instanceof ControlRequestError && e.code === "bad-argument", name);
    }
    assert.ok(existsSync(canary), "the file outside the directory is still there");
    assert.deepEqual(readdirSync(dir).sort(), before, "nothing in the directory changed");

    // Delete (through jinglectl): the file is gone, and so is the list entry.
    out.length = 0;
    assert.equal(await jinglectl(["--socket", door.socketPath, "voicemail", "delete", rec.name], io), 0);
    assert.equal(out.join(""), `deleted ${rec.name}\n`);
    assert.equal(existsSync(file), false);
    const after = (await door.control.request("voicemail", { action: "list" })) as VoicemailListResult;
    assert.ok(!after.recordings.some((r) => r.name === rec.name), "no longer listed");
    assert.equal(after.recordings.length, list.recordings.length - 1);
    await assert.rejects(door.control.request("voicemail", { action: "delete", name: rec.name }), (e: unknown) => e instanceof ControlRequestError && e.code === "not-found");
  });
});

describe("voicemail without an upload service", { timeout: 120_000 }, () => {
  const lab = withLab({
    name: "voicemail-kept",
    users: { door: "door-pw", gate: "gate-pw", alice: "alice-pw", family: "family-pw" },
    setup: async (l) => {
      await makeSpeechWav("You have reached the gate.", join(l.dir, "gate-greeting.wav"));
    },
    daemons: (l) => {
      const gate = doorConfig(join(l.dir, "gate")) as { calls: { voicemail: Record<string, unknown> } };
      // A greeting file of its own, and messages of 2 s at most.
      delete gate.calls.voicemail.greetingText;
      Object.assign(gate.calls.voicemail, { greetingFile: join(l.dir, "gate-greeting.wav"), maxSec: 2 });
      return { door: { config: doorConfig(join(l.dir, "door")) }, gate: { config: gate }, alice: {} };
    },
  });

  test("the file is kept and the message says so", async () => {
    const { door, alice } = lab.daemons;
    const family = lab.adopt(await observeChat({ jid: "family@localhost", password: "family-pw", port: lab.prosody.port, caFile: lab.prosody.caFile }));
    const { a, mark } = await reachVoicemail(alice, door, door.jid);
    await new Promise((r) => setTimeout(r, 1500));
    await alice.control.request("hangup", { callId: a });
    const kept = await door.waitForEvent(voicemail("kept", mark), 30_000, "voicemail kept");
    assert.match(kept.reason as string, /localhost has no upload service \(XEP-0363\)/);
    const file = kept.file as string;
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const msg = await family.waitFor((m) => m.body.startsWith("Voicemail from alice@localhost"), 10_000, "the message");
    assert.ok(msg.body.includes("Not uploaded: localhost has no upload service (XEP-0363)."), msg.body);
    assert.ok(msg.body.includes(`kept on the daemon as ${file}`), msg.body);
    assert.equal(msg.oobUrl, undefined);
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(family.messages.filter((m) => m.oobUrl !== undefined).length, 0, "no link without an upload");
  });

  test("maxSec ends the recording: the voicemail hangs up after it (the greeting from a file)", async () => {
    const { gate, alice } = lab.daemons;
    const { a, mark } = await reachVoicemail(alice, gate, gate.jid);
    const ended = await alice.waitForEvent(isCall(a, "ended"), 15_000, "the voicemail hangs up at maxSec");
    assert.equal(ended.by, "peer");
    const kept = await gate.waitForEvent(voicemail("kept", mark), 30_000, "voicemail kept");
    const ms = kept.durationMs as number;
    assert.ok(ms >= 1500 && ms <= 3000, `recorded ${ms} ms with maxSec 2`);
    const played = gate.events.find((e) => e.event === "playback" && (e.seq as number) > mark);
    assert.equal(played?.file, join(lab.dir, "gate-greeting.wav"));
    assert.equal(played?.type, "finished");
  });
});
