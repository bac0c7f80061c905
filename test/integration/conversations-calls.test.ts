// Calls between a real jingled and peers that signal as Conversations does
// (test/helpers/conversations-peer.ts, from Conversations' own source),
// through a real Prosody, with real ICE, DTLS-SRTP and Opus on 127.0.0.1:
// the XEP-0353 edge cases of issue 18.
//
//   receipts: a proposal that asks for one gets it (and <ringing/>); calling
//     Conversations 2.12, which sends the receipt but no <ringing/>, rings;
//     its ring timeout arrives as a decline without reason
//   a retract after our proceed, and a session-initiate that never comes
//   glare (both propose at once) with the peer's id lower, then higher:
//     one call survives at both ends, with audio
//   the peer continues an answered call from another device: the old one is
//     finished with <migrated/>, the new one proceeded and active
//   a proposal with video: left to a device of the account that does video
//     (jingled rings nothing and sends nothing); with calls.videoProposals
//     audio-only it is answered with audio, which Conversations refuses with
//     security-error and a lenient peer takes
//   a Conversations device of our own account answers first: jingled stops
//     ringing (its proposal came as a received carbon)
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { ConversationsPeer, type PeerOptions, type PeerSession } from "../helpers/conversations-peer.js";
import type { AnyEvent } from "../../src/control/client.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The lowest and highest ids of base64url text (i;octet: "-" 0x2d ... "z" 0x7a). */
const LOW_ID = "-".repeat(22);
const HIGH_ID = "z".repeat(22);

describe("calls with peers that signal as Conversations does", { timeout: 300_000 }, () => {
  let prosody: ProsodyServer;
  let dir: string;
  let door: Daemon;
  const peers: ConversationsPeer[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-conv-"));
    prosody = await startProsody({ users: [{ username: "door", password: "d-pw" }, { username: "bob", password: "b-pw" }] });
    door = await startDaemon({ prosody, username: "door", password: "d-pw", dir: join(dir, "door"), input: { type: "tone", frequency: 660 }, output: { type: "null" } });
  });

  after(async () => {
    await Promise.all(peers.map((p) => p.stop().catch(() => undefined)));
    await door?.stop();
    await prosody?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  async function peer(o: Partial<PeerOptions> = {}): Promise<ConversationsPeer> {
    const p = await ConversationsPeer.start({ server: prosody, username: "bob", password: "b-pw", version: "2.18", ...o });
    peers.push(p);
    return p;
  }
  async function stop(...ps: ConversationsPeer[]): Promise<void> {
    await Promise.all(ps.map((p) => p.stop().catch(() => undefined)));
  }
  const doorBare = () => `door@${prosody.domain}`;
  const since = (mark: number, pred: (e: AnyEvent) => boolean) => (e: AnyEvent) => door.events.indexOf(e) >= mark && pred(e);
  const callEvent = (mark: number, type: string, callId?: unknown) => since(mark, (e) => e.event === "call" && e.type === type && (callId === undefined || e.callId === callId));
  const doorCalls = async () => (await door.control.request("calls")) as { id: string; sid: string; state: string; peer: string }[];
  const fromDoor = (p: ConversationsPeer, mark = 0) => p.seen.slice(mark).filter((e) => e.stanza.attrs.from === door.jid);
  /** No call left at door (each test starts clean). */
  async function idle(): Promise<void> {
    for (let i = 0; i < 100 && (await doorCalls()).length > 0; i++) await sleep(100);
    assert.deepEqual(await doorCalls(), []);
  }
  /** Audio reaches the peer's session (and door's packet count grows). */
  async function audioBothWays(p: ConversationsPeer, s: PeerSession, callId: string): Promise<void> {
    await p.until(() => s.rtpReceived.length > 25, "audio at the peer");
    const stats = async () => ((await door.control.request("stats", { callId })) as { packetsReceived: number }).packetsReceived;
    const before = await stats();
    await sleep(1000);
    assert.ok((await stats()) - before > 20, "door hears the peer");
  }

  test("a proposal that asks for a receipt gets one, and <ringing/>; the caller's retract stops the ringing", async () => {
    await idle();
    const bob = await peer();
    try {
      const mark = door.events.length;
      const sid = await bob.propose(doorBare());
      const ring = await door.waitForEvent(callEvent(mark, "incoming"), 10_000, "door rings");
      const receipt = await bob.waitSeen((e) => e.stanza.getChild("received", "urn:xmpp:receipts")?.attrs.id === `jm-propose-${sid}`, "door's receipt");
      assert.equal(receipt.stanza.attrs.from, door.jid);
      assert.equal(receipt.stanza.attrs.to, bob.jid);
      assert.equal((await bob.waitJmi("ringing", sid)).stanza.attrs.from, door.jid);
      await bob.retractProposal(sid);
      const ended = await door.waitForEvent(callEvent(mark, "ended", ring.callId), 10_000, "door stops ringing");
      assert.deepEqual([ended.reason, ended.by], ["cancel", "peer"]);
    } finally {
      await stop(bob);
    }
  });

  test("calling Conversations 2.12: its receipt rings (it sends no <ringing/>); its ring timeout arrives as a decline", async () => {
    await idle();
    const bob = await peer({ version: "2.12" });
    try {
      const mark = door.events.length;
      const { callId, sid } = (await door.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string; sid: string };
      await bob.waitSeen((e) => e.jmi?.action === "propose" && e.jmi.id === sid, "door's proposal");
      await door.waitForEvent(callEvent(mark, "ringing", callId), 10_000, "door hears ringing from the receipt alone");
      assert.equal(bob.seen.filter((e) => e.jmi?.action === "ringing").length, 0);
      await bob.ringTimeout(sid);
      const ended = await door.waitForEvent(callEvent(mark, "ended", callId), 10_000, "door's call ends");
      // Conversations rejects without a <reason/> whether its user declined or its 30 s ran out.
      assert.deepEqual([ended.reason, ended.by], ["decline", "peer"]);
    } finally {
      await stop(bob);
    }
  });

  test("a retract after our proceed ends the call at once (the caller hung up before its session-initiate)", async () => {
    await idle();
    const bob = await peer();
    try {
      bob.stallAfterProceed = true;
      const mark = door.events.length;
      const sid = await bob.propose(doorBare());
      const ring = await door.waitForEvent(callEvent(mark, "incoming"), 10_000, "door rings");
      await door.control.request("answer", { callId: ring.callId });
      await bob.until(() => bob.sessions.get(sid)?.state === "proceed", "door's proceed");
      await bob.hangup(sid);
      // Well before the 10 s a missing session-initiate is allowed, and the 60 s ring timeout.
      const ended = await door.waitForEvent(callEvent(mark, "ended", ring.callId), 4000, "the call ends at once");
      assert.deepEqual([ended.reason, ended.by], ["cancel", "peer"]);
      assert.match(String(ended.text), /after we answered/);
    } finally {
      await stop(bob);
    }
  });

  test("no session-initiate after our proceed: the call ends after 10 s with a reject to the caller", async () => {
    await idle();
    const bob = await peer();
    try {
      bob.stallAfterProceed = true;
      const mark = door.events.length;
      const sid = await bob.propose(doorBare());
      const ring = await door.waitForEvent(callEvent(mark, "incoming"), 10_000, "door rings");
      await door.control.request("answer", { callId: ring.callId });
      await bob.waitJmi("proceed", sid);
      const ended = await door.waitForEvent(callEvent(mark, "ended", ring.callId), 20_000, "the call ends");
      assert.deepEqual([ended.reason, ended.by], ["timeout", "local"]);
      assert.match(String(ended.text), /no session-initiate from bob@localhost\/Conversations\.\w+ within 10 s of our proceed/);
      assert.equal((await bob.waitJmi("reject", sid)).stanza.attrs.from, door.jid);
    } finally {
      await stop(bob);
    }
  });

  /** Both propose at once: bob sends its own the moment door's arrives, before it reads door's. */
  async function glare(bobId: string) {
    await idle();
    const bob = await peer();
    const mark = door.events.length;
    let bobSid: string | undefined;
    bob.beforeJmi = async (el) => {
      if (el.action === "propose" && bobSid === undefined) bobSid = await bob.propose(doorBare(), { id: bobId });
    };
    bob.onRing = (s) => void bob.accept(s.sid); // its user answers the call that rings
    const { callId: doorCallId, sid: doorSid } = (await door.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string; sid: string };
    await bob.until(() => bobSid !== undefined, "bob's crossing proposal");
    return { bob, mark, doorCallId, doorSid, bobSid: bobSid! };
  }

  async function oneCallSurvives(bob: ConversationsPeer, mark: number, sid: string): Promise<{ callId: string; session: PeerSession }> {
    const active = await door.waitForEvent(callEvent(mark, "active"), 15_000, "a call becomes active");
    await sleep(1000);
    const calls = await doorCalls();
    assert.deepEqual(calls.map((c) => [c.sid, c.state]), [[sid, "active"]], "door: exactly one call, the lower id's");
    const live = [...bob.sessions.values()].filter((s) => !s.terminated);
    assert.deepEqual(live.map((s) => [s.sid, s.state]), [[sid, "session-accepted"]], "bob: exactly one session, the lower id's");
    await audioBothWays(bob, live[0]!, String(active.callId));
    return { callId: String(active.callId), session: live[0]! };
  }

  test("glare, bob's id lower: door retracts its own with <tie-break/> and takes bob's; one call at both ends, with audio", async (t) => {
    const { bob, mark, doorCallId, doorSid, bobSid } = await glare(LOW_ID);
    try {
      assert.ok(bobSid < doorSid);
      const retract = await bob.waitJmi("retract", doorSid);
      assert.equal(retract.jmi!.tieBreak, true);
      assert.equal(retract.jmi!.reason?.condition, "expired");
      const ended = await door.waitForEvent(callEvent(mark, "ended", doorCallId), 10_000, "door's own proposal ends");
      assert.deepEqual([ended.reason, ended.by], ["expired", "local"]);
      const { callId } = await oneCallSurvives(bob, mark, bobSid);
      t.diagnostic(`door ${doorSid} retracted; bob's ${bobSid} is call ${callId}`);
      assert.equal(fromDoor(bob).filter((e) => e.jmi?.action === "reject" && e.jmi.id === bobSid).length, 0, "door does not reject bob's");
      await door.control.request("hangup", { callId });
    } finally {
      await stop(bob);
    }
  });

  test("glare, bob's id higher: door rejects bob's with <tie-break/>, bob retracts it and answers door's; one call at both ends, with audio", async (t) => {
    const { bob, mark, doorCallId, doorSid, bobSid } = await glare(HIGH_ID);
    try {
      assert.ok(bobSid > doorSid);
      const reject = await bob.waitJmi("reject", bobSid);
      assert.equal(reject.jmi!.tieBreak, true);
      assert.equal(reject.jmi!.reason?.condition, "expired");
      const { callId } = await oneCallSurvives(bob, mark, doorSid);
      assert.equal(callId, doorCallId, "door's own call goes on");
      assert.equal(door.events.slice(mark).filter((e) => e.event === "call" && e.type === "incoming").length, 0, "bob's proposal never rang at door");
      t.diagnostic(`bob's ${bobSid} rejected; door's ${doorSid} is call ${callId}`);
      await door.control.request("hangup", { callId });
    } finally {
      await stop(bob);
    }
  });

  test("the peer continues an answered call from another device: the old is finished with <migrated/>, the new one proceeded at once", async (t) => {
    await idle();
    const phone = await peer({ resource: "Conversations.phone" });
    const tablet = await peer({ resource: "Conversations.tablet" });
    try {
      const mark = door.events.length;
      const oldSid = await phone.propose(doorBare());
      const ring = await door.waitForEvent(callEvent(mark, "incoming"), 10_000, "door rings");
      await door.control.request("answer", { callId: ring.callId });
      await door.waitForEvent(callEvent(mark, "active", ring.callId), 15_000, "the call with the phone");
      const mark2 = door.events.length;
      const tabletMark = tablet.seen.length;
      const newSid = await tablet.propose(doorBare());
      const finish = await tablet.waitJmi("finish", oldSid, 10_000, tabletMark);
      assert.equal(finish.jmi!.migratedTo, newSid);
      assert.equal(finish.jmi!.reason?.condition, "expired");
      const ended = await door.waitForEvent(callEvent(mark2, "ended", ring.callId), 10_000, "the old call ends");
      assert.deepEqual([ended.reason, ended.by], ["expired", "peer"]);
      await phone.until(() => phone.sessions.get(oldSid)!.terminated, "the phone's session is terminated");
      assert.equal(phone.sessions.get(oldSid)!.reason, "success", "the phone's call ends as ended, not as a connectivity error");
      const proceed = await tablet.waitJmi("proceed", newSid, 10_000, tabletMark);
      assert.equal(proceed.stanza.attrs.from, door.jid);
      const active = await door.waitForEvent(callEvent(mark2, "active"), 15_000, "the call with the tablet");
      const calls = await doorCalls();
      assert.deepEqual(calls.map((c) => [c.sid, c.state, c.peer]), [[newSid, "active", tablet.jid]]);
      await audioBothWays(tablet, tablet.sessions.get(newSid)!, String(active.callId));
      t.diagnostic(`${oldSid} -> ${newSid}: finish (expired, <migrated/>), session-terminate (success) to the phone, proceed to the tablet; ${ended.text}`);
      await door.control.request("hangup", { callId: active.callId });
    } finally {
      await stop(phone, tablet);
    }
  });

  test("a proposal with video is left to the account's device that does video: jingled rings nothing and sends nothing", async () => {
    await idle();
    const bob = await peer();
    const doorPhone = await peer({ username: "door", password: "d-pw", resource: "Conversations.doorphone" });
    try {
      doorPhone.onRing = (s) => void doorPhone.accept(s.sid);
      const mark = door.events.length;
      const sid = await bob.propose(doorBare(), { media: ["audio", "video"] });
      const refused = await door.waitForEvent(since(mark, (e) => e.event === "refused"), 10_000, "door refuses");
      assert.deepEqual([refused.peer, refused.reason], [bob.jid, "unsupported-media"]);
      // The account's other device takes it: bob's session with it carries audio and video contents.
      await bob.until(() => bob.sessions.get(sid)?.state === "session-accepted", "bob's session with the door phone");
      assert.equal(bob.sessions.get(sid)!.with, doorPhone.jid);
      await bob.until(() => bob.sessions.get(sid)!.rtpReceived.length > 10, "audio from the door phone").catch((err: Error) => {
        throw new Error(`${err.message}: bob ${bob.sessions.get(sid)?.summary()}, door phone ${doorPhone.sessions.get(sid)?.summary()}`);
      });
      await sleep(500);
      // (A finish of an earlier test's call, to bob's bare JID, may still arrive: only this proposal's business counts.)
      const about = fromDoor(bob).filter((e) => e.jmi?.id === sid || e.stanza.getChild("received", "urn:xmpp:receipts")?.attrs.id === `jm-propose-${sid}`);
      assert.deepEqual(about.map((e) => e.stanza.toString()), [], "nothing from jingled: no receipt, ringing, proceed or reject");
      assert.equal(door.events.slice(mark).filter((e) => e.event === "call").length, 0, "no call at jingled");
      await bob.hangup(sid);
    } finally {
      await stop(bob, doorPhone);
    }
  });

  async function setVideoProposals(value: "ignore" | "audio-only"): Promise<void> {
    const cfg = parse(readFileSync(door.configFile, "utf8")) as { calls: Record<string, unknown> };
    cfg.calls.videoProposals = value;
    writeFileSync(door.configFile, stringify(cfg), { mode: 0o600 });
    const plan = (await door.control.request("reload")) as { applied: string[] };
    assert.ok(plan.applied.includes("calls.videoProposals"), JSON.stringify(plan));
  }

  test("calls.videoProposals audio-only: answered with audio alone, which Conversations ends with security-error and a lenient peer takes", async () => {
    await idle();
    await setVideoProposals("audio-only");
    const strict = await peer();
    try {
      const mark = door.events.length;
      const sid = await strict.propose(doorBare(), { media: ["audio", "video"] });
      const ring = await door.waitForEvent(callEvent(mark, "incoming"), 10_000, "door rings");
      await door.control.request("answer", { callId: ring.callId });
      const accept = await strict.waitJingle("session-accept", sid);
      assert.deepEqual(accept.jingle!.contents.map((c) => c.description?.media), ["audio"], "door answers the audio content alone");
      const ended = await door.waitForEvent(callEvent(mark, "ended", ring.callId), 10_000, "Conversations refuses the audio-only answer");
      assert.deepEqual([ended.reason, ended.by], ["security-error", "peer"]);
      await stop(strict);

      const lenient = await peer({ lenientMedia: true });
      const mark2 = door.events.length;
      const sid2 = await lenient.propose(doorBare(), { media: ["audio", "video"] });
      const ring2 = await door.waitForEvent(callEvent(mark2, "incoming"), 10_000, "door rings");
      await door.control.request("answer", { callId: ring2.callId });
      await door.waitForEvent(callEvent(mark2, "active", ring2.callId), 15_000, "an audio call");
      await audioBothWays(lenient, lenient.sessions.get(sid2)!, String(ring2.callId));
      await door.control.request("hangup", { callId: ring2.callId });
      await stop(lenient);
    } finally {
      await stop(strict);
      await setVideoProposals("ignore");
    }
  });

  test("a Conversations device of our own account answers first: jingled, which got the proposal as a carbon, stops ringing", async () => {
    await idle();
    const bob = await peer();
    // Higher priority than jingled's 0: the server delivers the bare-JID proposal to it alone, jingled gets a received carbon.
    const doorPhone = await peer({ username: "door", password: "d-pw", resource: "Conversations.doorphone", priority: 10 });
    try {
      let ringing: PeerSession | undefined;
      doorPhone.onRing = (s) => (ringing = s);
      const mark = door.events.length;
      const sid = await bob.propose(doorBare());
      const ring = await door.waitForEvent(callEvent(mark, "incoming"), 10_000, "jingled rings through the carbon");
      await doorPhone.until(() => ringing !== undefined, "the door phone rings");
      await doorPhone.accept(sid);
      const ended = await door.waitForEvent(callEvent(mark, "ended", ring.callId), 10_000, "jingled stops ringing");
      assert.equal(ended.text, "answered on another device");
      await bob.until(() => bob.sessions.get(sid)?.state === "session-accepted", "the call goes to the door phone");
      assert.equal(fromDoor(bob).filter((e) => (e.jmi?.action === "proceed" || e.jmi?.action === "reject") && e.jmi.id === sid).length, 0, "jingled neither proceeds nor rejects");
      await bob.hangup(sid);
    } finally {
      await stop(bob, doorPhone);
    }
  });
});
