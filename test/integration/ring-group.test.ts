// Ring groups between real daemons through a real Prosody: one call to
// several JIDs, the first to answer wins and the others are retracted
// (XEP-0353 proposals to bare JIDs) or cancelled (sessions to full JIDs) at
// once; sequential ringing; nobody answering; the caller hanging up while
// the group rings; and a door daemon forwarding an incoming call to a ring
// group with the audio bridged both ways (calls.forward).
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { withLab } from "../helpers/with-lab.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudioSegments, readMono16 } from "../../scripts/lab/audio-compare.js";
import type { AnyEvent } from "../../src/control/client.js";
import { main as jinglectl } from "../../src/cli/jinglectl.js";
import { haveMosquitto, startMosquitto, type Mosquitto } from "../../scripts/lab/mosquitto.js";
import { mqttObserver, type Observer } from "../helpers/mqtt-observer.js";

type Named = "alice" | "bob" | "carol" | "dave" | "door";

const bare = (d: Daemon) => d.jid.split("/")[0]!;
const isCall = (callId: string, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;
const isGroup = (callId: string, type: string, peer?: string) => (e: AnyEvent) =>
  e.event === "group" && e.callId === callId && e.type === type && (peer === undefined || (typeof e.peer === "string" && e.peer.startsWith(peer)));

/** The next incoming call on `d` from `from` after event number `mark`: its call id. */
async function incoming(d: Daemon, from: Daemon, mark: number, what: string): Promise<string> {
  const e = await d.waitForEvent(
    (e) => e.event === "call" && e.type === "incoming" && typeof e.peer === "string" && e.peer.startsWith(bare(from)) && d.events.indexOf(e) >= mark,
    20_000,
    what,
  );
  return e.callId as string;
}

async function noCalls(...daemons: Daemon[]): Promise<void> {
  for (const d of daemons) {
    // An ended call leaves the list once its end is announced: give the last events a moment.
    for (let i = 0; ; i++) {
      const calls = (await d.control.request("calls")) as { id: string; state: string }[];
      const status = (await d.control.request("status")) as { calls: unknown[] };
      if (calls.length === 0 && status.calls.length === 0) break;
      if (i >= 50) assert.fail(`${d.jid} still has calls: ${JSON.stringify(calls)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe("ring groups: real daemons through Prosody", { timeout: 300_000 }, () => {
  let alice: Daemon, bob: Daemon, carol: Daemon, dave: Daemon, door: Daemon;
  const speech = { alice: "", bob: "" };
  let broker: Mosquitto | undefined;
  let app: Observer | undefined;
  const lab = withLab<Named>({
    name: "ring-group",
    users: { alice: "alice-pw", bob: "bob-pw", carol: "carol-pw", dave: "dave-pw", door: "door-pw" },
    setup: async ({ dir, adopt, cleanup }) => {
      // alice also takes commands over MQTT when a broker can run here (the same command table).
      if (haveMosquitto()) {
        broker = adopt(await startMosquitto());
        const observer = (app = await mqttObserver(broker.url));
        cleanup(() => observer.close().catch(() => undefined));
        await observer.client.subscribeAsync(["jingled/alice/#", "app/replies/#"], { qos: 1 });
      }
      speech.alice = join(dir, "alice-says.wav");
      speech.bob = join(dir, "bob-says.wav");
      await makeSpeechWav("The quick brown fox jumps over the lazy dog near the river bank.", speech.alice);
      await makeSpeechWav("Seven silver swans swim slowly southward under a bright blue sky.", speech.bob, { voice: "en+f3" });
    },
    parallel: true,
    daemons: (l) => ({
      alice: broker ? { config: { mqtt: { enabled: true, url: broker.url, topicPrefix: "jingled/alice", commands: ["call", "hangup", "calls"] } } } : {},
      // bob's device speaks PCMU only: the door bridges 48 kHz Opus and 8 kHz PCMU.
      bob: { codecs: ["pcmu"] },
      carol: {},
      dave: {},
      // The door station: every incoming call rings bob and carol, the audio bridged to whoever answers.
      door: {
        config: {
          calls: { autoAnswer: false, acceptFrom: "everyone", maxCalls: 6, forward: { to: [`bob@${l.prosody.domain}`, `carol@${l.prosody.domain}`], strategy: "simultaneous", ringSec: 8 } },
        },
      },
    }),
  });
  before(() => ({ alice, bob, carol, dave, door } = lab.daemons));

  test("bad ring groups are refused with bad-argument, and no call is made", async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ jids: [] }, /non-empty array/],
      [{ jids: [bare(bob), bare(bob)] }, /twice/],
      [{ jids: [bare(bob)], strategy: "round-robin" }, /simultaneous, sequential/],
      [{ jids: Array.from({ length: 9 }, (_, i) => `u${i}@${bare(bob).split("@")[1]}`) }, /at most 8/],
    ];
    for (const [args, message] of cases) {
      await assert.rejects(alice.control.request("call", args), (err: Error & { code?: string }) => {
        assert.equal(err.code, "bad-argument");
        assert.match(err.message, message);
        return true;
      });
    }
    await noCalls(alice);
  });

  test("jinglectl and MQTT place ring groups through the same command table", async (t) => {
    // jinglectl: several JIDs are a ring group; --wait follows it to its end (nobody answers: exit 2).
    const out: string[] = [];
    const io = { stdout: { write: (x: string) => out.push(x) }, stderr: { write: (x: string) => out.push(x) }, env: {} };
    const marks = { bob: bob.events.length, carol: carol.events.length };
    assert.equal(await jinglectl(["--socket", alice.socketPath, "call", bare(bob), bare(carol), "--strategy", "sequential", "--ring-sec", "2", "--wait"], io), 2);
    const text = out.join("");
    assert.match(text, new RegExp(`^call (c\\d+) outgoing to ring group ${bare(bob)}, ${bare(carol)}$`, "m"));
    assert.match(text, new RegExp(`^group c\\d+ dropped ${bare(bob)}: timeout`, "m"));
    assert.match(text, new RegExp(`^group c\\d+ dropped ${bare(carol)}: timeout`, "m"));
    assert.match(text, /ended .*: timeout/);
    await incoming(bob, alice, marks.bob, "bob rang");
    await incoming(carol, alice, marks.carol, "then carol");
    out.length = 0;
    assert.equal(await jinglectl(["--socket", alice.socketPath, "call", bare(bob), bare(bob)], io), 1);
    assert.match(out.join(""), /is in "jids" twice/);
    await noCalls(alice, bob, carol);

    if (!app) return t.skip("mosquitto is not installed: the MQTT half is not run");
    await app.next((m) => m.topic === "jingled/alice/status" && m.text === "online", "alice's bridge online");
    const request = async (id: string, cmd: string, args: object) => {
      await app!.client.publishAsync("jingled/alice/command", JSON.stringify({ id, cmd, args }), { qos: 1 });
      const m = await app!.next((x) => x.topic === "jingled/alice/reply" && x.text.includes(`"id":"${id}"`), `reply ${id}`);
      return JSON.parse(m.text) as { ok: boolean; result?: { callId: string; targets: string[] }; error?: { code: string; message: string } };
    };
    const bad = await request("m1", "call", { jids: [bare(bob)], strategy: "everyone" });
    assert.equal(bad.error?.code, "bad-argument");
    const mark = bob.events.length;
    const placed = await request("m2", "call", { jids: [bare(bob), bare(carol)] });
    assert.equal(placed.ok, true, JSON.stringify(placed));
    assert.deepEqual(placed.result?.targets, [bare(bob), bare(carol)]);
    await incoming(bob, alice, mark, "bob rings (MQTT)");
    await app.next((m) => m.topic === "jingled/alice/event/group" && m.text.includes(`"type":"ringing"`) && m.text.includes(placed.result!.callId), "group ringing on MQTT");
    assert.equal((await request("m3", "hangup", { callId: placed.result!.callId })).ok, true);
    await noCalls(alice, bob, carol);
  });

  test("simultaneous: three callees ring, carol answers, the others are retracted/cancelled at once; alice sees one call id", async () => {
    const marks = { alice: alice.events.length, bob: bob.events.length, carol: carol.events.length, dave: dave.events.length };
    // bob and carol by bare JID (XEP-0353 proposals), dave by full JID (a Jingle session at once).
    const reply = (await alice.control.request("call", { jids: [bare(bob), bare(carol), dave.jid], strategy: "simultaneous" })) as { callId: string; targets: string[] };
    const { callId } = reply;
    assert.deepEqual(reply.targets, [bare(bob), bare(carol), dave.jid]);
    const [bobCall, carolCall, daveCall] = await Promise.all([incoming(bob, alice, marks.bob, "bob rings"), incoming(carol, alice, marks.carol, "carol rings"), incoming(dave, alice, marks.dave, "dave rings")]);
    for (const d of [bob, carol, dave]) await alice.waitForEvent(isGroup(callId, "ringing", bare(d)), 10_000, `group ringing ${bare(d)}`);
    const listed = (await alice.control.request("calls")) as { id: string; state: string; group?: { ringing: string[] } }[];
    assert.deepEqual(
      listed.map((c) => c.id),
      [callId],
      "alice sees one call",
    );
    assert.equal(listed[0]!.group?.ringing.length, 3);

    await carol.control.request("answer", { callId: carolCall });
    const answered = await alice.waitForEvent(isGroup(callId, "answered"), 10_000, "group answered");
    assert.equal(answered.peer, carol.jid, "the device that answered");
    await alice.waitForEvent(isCall(callId, "active"), 15_000, "alice active");
    await carol.waitForEvent(isCall(carolCall, "active"), 15_000, "carol active");
    // The others: bob's proposal retracted, dave's session terminated, both with cancel, long before any ring timeout.
    const bobEnd = await bob.waitForEvent(isCall(bobCall, "ended"), 10_000, "bob's call retracted");
    const daveEnd = await dave.waitForEvent(isCall(daveCall, "ended"), 10_000, "dave's call cancelled");
    assert.equal(bobEnd.reason, "cancel");
    assert.equal(daveEnd.reason, "cancel");
    assert.equal(bobEnd.by, "peer");
    // bob's came as a XEP-0353 retract (what a retract without text says), dave's as a session-terminate.
    assert.equal(bobEnd.text, "the caller cancelled");
    assert.equal(daveEnd.text, undefined);
    assert.ok((bobEnd.elapsedMs as number) < 30_000 && (daveEnd.elapsedMs as number) < 30_000);

    // Every call event alice got since the call command is about the one call id.
    const aliceCallEvents = alice.events.slice(marks.alice).filter((e) => e.event === "call" || e.event === "media" || e.event === "group");
    assert.ok(aliceCallEvents.length > 0);
    assert.deepEqual([...new Set(aliceCallEvents.map((e) => e.callId))], [callId]);
    const info = ((await alice.control.request("calls")) as { id: string; peer: string; state: string; group?: { answeredBy?: string } }[])[0]!;
    assert.equal(info.id, callId);
    assert.equal(info.state, "active");
    assert.equal(info.peer, carol.jid);
    assert.equal(info.group?.answeredBy, carol.jid);

    // Commands by the group's id reach the answered call.
    await alice.control.request("hangup", { callId });
    assert.equal((await alice.waitForEvent(isCall(callId, "ended"), 10_000, "alice ended")).reason, "success");
    assert.equal((await carol.waitForEvent(isCall(carolCall, "ended"), 10_000, "carol ended")).reason, "success");
    await noCalls(alice, bob, carol, dave);
  });

  test("sequential: bob does not answer within ringSec, carol rings next and answers", async () => {
    const marks = { bob: bob.events.length, carol: carol.events.length };
    const { callId } = (await alice.control.request("call", { jids: [bare(bob), bare(carol)], strategy: "sequential", ringSec: 3 })) as { callId: string };
    const bobCall = await incoming(bob, alice, marks.bob, "bob rings first");
    assert.equal(carol.events.slice(marks.carol).some((e) => e.event === "call" && e.type === "incoming"), false, "carol does not ring yet");
    const bobEnd = await bob.waitForEvent(isCall(bobCall, "ended"), 15_000, "bob stops ringing");
    assert.equal(bobEnd.reason, "timeout");
    const dropped = await alice.waitForEvent(isGroup(callId, "dropped", bare(bob)), 10_000, "bob dropped");
    assert.equal(dropped.reason, "timeout");
    const carolCall = await incoming(carol, alice, marks.carol, "carol rings second");
    await carol.control.request("answer", { callId: carolCall });
    await alice.waitForEvent(isGroup(callId, "answered", bare(carol)), 10_000, "carol answered");
    await alice.waitForEvent(isCall(callId, "active"), 15_000, "alice active");
    await alice.control.request("hangup", { callId });
    await carol.waitForEvent(isCall(carolCall, "ended"), 10_000, "carol ended");
    await noCalls(alice, bob, carol);
  });

  test("nobody answers: the call ends with reason timeout, naming each callee", async () => {
    const marks = { bob: bob.events.length, carol: carol.events.length };
    const { callId } = (await alice.control.request("call", { jids: [bare(bob), carol.jid], ringSec: 3 })) as { callId: string };
    const [bobCall, carolCall] = await Promise.all([incoming(bob, alice, marks.bob, "bob rings"), incoming(carol, alice, marks.carol, "carol rings")]);
    const end = await alice.waitForEvent(isCall(callId, "ended"), 20_000, "alice's group ends");
    assert.equal(end.reason, "timeout");
    assert.match(String(end.text), new RegExp(`nobody answered: .*${bare(bob)} timeout`));
    assert.match(String(end.text), new RegExp(`${carol.jid.replace(/[/.]/g, "\\$&")} timeout`));
    assert.equal((await bob.waitForEvent(isCall(bobCall, "ended"), 10_000, "bob ended")).reason, "timeout");
    assert.equal((await carol.waitForEvent(isCall(carolCall, "ended"), 10_000, "carol ended")).reason, "timeout");
    await noCalls(alice, bob, carol);
  });

  test("alice hangs up while the group rings: every leg is cancelled, no session is left anywhere", async () => {
    const marks = { bob: bob.events.length, carol: carol.events.length, dave: dave.events.length };
    const { callId } = (await alice.control.request("call", { jids: [bare(bob), bare(carol), dave.jid] })) as { callId: string };
    const calls = await Promise.all([incoming(bob, alice, marks.bob, "bob rings"), incoming(carol, alice, marks.carol, "carol rings"), incoming(dave, alice, marks.dave, "dave rings")]);
    await alice.control.request("hangup", { callId });
    const end = await alice.waitForEvent(isCall(callId, "ended"), 10_000, "alice's group ends");
    assert.equal(end.reason, "cancel");
    for (const [d, id] of [
      [bob, calls[0]],
      [carol, calls[1]],
      [dave, calls[2]],
    ] as const) {
      assert.equal((await d.waitForEvent(isCall(id, "ended"), 10_000, `${bare(d)} cancelled`)).reason, "cancel");
    }
    await noCalls(alice, bob, carol, dave);
  });

  test("the door forwards alice's call to bob and carol; bob answers; speech crosses the bridge both ways", async (t) => {
    const marks = { bob: bob.events.length, carol: carol.events.length, door: door.events.length };
    const { callId } = (await alice.control.request("call", { jid: door.jid })) as { callId: string };
    const doorIncoming = await incoming(door, alice, marks.door, "the door rings");
    const bobCall = await incoming(bob, door, marks.bob, "bob rings for the door");
    const carolCall = await incoming(carol, door, marks.carol, "carol rings for the door");
    const ringing = (await door.control.request("calls")) as { id: string; direction: string; group?: { bridgedWith?: string; ringing: string[] } }[];
    const group = ringing.find((c) => c.group)!;
    assert.equal(group.group?.bridgedWith, doorIncoming);
    assert.equal(ringing.find((c) => c.id === doorIncoming)?.direction, "incoming");

    await bob.control.request("answer", { callId: bobCall });
    assert.equal((await carol.waitForEvent(isCall(carolCall, "ended"), 10_000, "carol's call cancelled")).reason, "cancel");
    await alice.waitForEvent(isCall(callId, "active"), 15_000, "alice's call to the door is answered");
    await bob.waitForEvent(isCall(bobCall, "active"), 15_000, "bob active");
    const bridged = await door.waitForEvent(isGroup(group.id, "bridged"), 15_000, "bridged");
    assert.equal(bridged.bridgedWith, doorIncoming);
    const doorCalls = (await door.control.request("calls")) as { id: string; codec?: string }[];
    assert.deepEqual(
      doorCalls.map((c) => [c.id, c.codec]).sort(),
      [
        [doorIncoming, "opus"],
        [group.id, "PCMU"],
      ].sort(),
      "the bridge joins an Opus call and a PCMU call",
    );

    // Each says something; each recording must hold what the other said, through the door.
    await Promise.all([alice.control.request("play", { callId, file: speech.alice }), bob.control.request("play", { callId: bobCall, file: speech.bob })]);
    await alice.waitForEvent((e) => e.event === "playback" && e.callId === callId && e.type === "finished", 20_000, "alice said it");
    await bob.waitForEvent((e) => e.event === "playback" && e.callId === bobCall && e.type === "finished", 20_000, "bob said it");
    await new Promise((r) => setTimeout(r, 1500));
    await alice.control.request("hangup", { callId });
    const aliceEnd = await alice.waitForEvent(isCall(callId, "ended"), 10_000, "alice ended");
    const bobEnd = await bob.waitForEvent(isCall(bobCall, "ended"), 10_000, "bob ended: the door hung up his side");
    assert.equal(bobEnd.reason, "success");
    await noCalls(alice, bob, carol, door);

    const recordings = { alice: (aliceEnd.stats as { recording: string }).recording, bob: (bobEnd.stats as { recording: string }).recording };
    for (const [said, heard, who] of [
      [speech.alice, recordings.bob, "alice -> door -> bob"],
      [speech.bob, recordings.alice, "bob -> door -> alice"],
    ] as const) {
      const ref = readMono16(said);
      const rec = readMono16(heard);
      const cmp = compareAudioSegments(ref.pcm, ref.rate, rec.pcm, rec.rate, { maxLagMs: 20_000 });
      t.diagnostic(`${who}: correlation ${cmp.correlation.toFixed(3)} (worst segment ${cmp.worst.toFixed(3)}, ${cmp.segments} segments, ${cmp.uncovered} uncovered), lag ${cmp.lagMs.toFixed(0)} ms`);
      assert.ok(cmp.correlation >= 0.8, `${who}: correlation ${cmp.correlation.toFixed(3)} < 0.8`);
      assert.equal(cmp.uncovered, 0, `${who}: the whole utterance arrived`);
    }
  });

  test("a forwarded caller hangs up while the group rings: both legs are cancelled, nothing is left on the door", async () => {
    const marks = { bob: bob.events.length, carol: carol.events.length, door: door.events.length };
    const { callId } = (await alice.control.request("call", { jid: door.jid })) as { callId: string };
    await incoming(door, alice, marks.door, "the door rings");
    const bobCall = await incoming(bob, door, marks.bob, "bob rings for the door");
    const carolCall = await incoming(carol, door, marks.carol, "carol rings for the door");
    await alice.control.request("hangup", { callId });
    assert.equal((await bob.waitForEvent(isCall(bobCall, "ended"), 10_000, "bob cancelled")).reason, "cancel");
    assert.equal((await carol.waitForEvent(isCall(carolCall, "ended"), 10_000, "carol cancelled")).reason, "cancel");
    await noCalls(alice, bob, carol, door);
  });

  test("nobody answers a forwarded proposal: the caller's call ends with the group's reason, timeout", async () => {
    const marks = { bob: bob.events.length, carol: carol.events.length, door: door.events.length };
    // To the door's bare JID: a XEP-0353 proposal, which the door rejects when its group gives up.
    const { callId } = (await alice.control.request("call", { jid: bare(door) })) as { callId: string };
    await incoming(door, alice, marks.door, "the door rings");
    const bobCall = await incoming(bob, door, marks.bob, "bob rings for the door");
    const carolCall = await incoming(carol, door, marks.carol, "carol rings for the door");
    const end = await alice.waitForEvent(isCall(callId, "ended"), 30_000, "alice's call ends unanswered");
    assert.equal(end.reason, "timeout");
    assert.equal((await bob.waitForEvent(isCall(bobCall, "ended"), 10_000, "bob stops ringing")).reason, "timeout");
    assert.equal((await carol.waitForEvent(isCall(carolCall, "ended"), 10_000, "carol stops ringing")).reason, "timeout");
    await noCalls(alice, bob, carol, door);
  });

  test("answered on the door itself while the group rings: the group stops, the call goes on as an ordinary one", async () => {
    const marks = { bob: bob.events.length, carol: carol.events.length, door: door.events.length };
    const { callId } = (await alice.control.request("call", { jid: door.jid })) as { callId: string };
    const doorCall = await incoming(door, alice, marks.door, "the door rings");
    const bobCall = await incoming(bob, door, marks.bob, "bob rings for the door");
    const carolCall = await incoming(carol, door, marks.carol, "carol rings for the door");
    await door.control.request("answer", { callId: doorCall });
    assert.equal((await bob.waitForEvent(isCall(bobCall, "ended"), 10_000, "bob cancelled")).reason, "cancel");
    assert.equal((await carol.waitForEvent(isCall(carolCall, "ended"), 10_000, "carol cancelled")).reason, "cancel");
    await alice.waitForEvent(isCall(callId, "active"), 15_000, "alice talks to the door");
    const calls = (await door.control.request("calls")) as { id: string; state: string }[];
    assert.deepEqual(calls.map((c) => [c.id, c.state]), [[doorCall, "active"]]);
    await alice.control.request("hangup", { callId });
    await door.waitForEvent(isCall(doorCall, "ended"), 10_000, "door ended");
    await noCalls(alice, bob, carol, door);
  });
});
