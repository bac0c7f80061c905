// A Call's logic (src/app/call/) with no socket: a fake ICE agent
// (test/fakes/fake-ice-agent.ts), Jingle and XEP-0353 messages recorded in
// memory, a media clock the test ticks, plain RTP (DTLS off), PCMU.
//
//   offer/answer both ways, with trickle before and after the acknowledgement
//   XEP-0353 phases for the caller and the callee
//   ICE restarts: the peer's, ours, crossing, a lost transport-info resent
//   hold and mute: what is sent and told, what is played
import { test } from "node:test";
import assert from "node:assert/strict";
import { Call, type CallDeps } from "../../src/app/call/call.js";
import { inProcessPlane } from "../../src/app/media-plane/in-process-plane.js";
import { JingleRefusal } from "../../src/app/call/signalling.js";
import type { IceCandidate, Jingle, JingleContent, JmiElement } from "../../src/jingle/protocol/index.js";
import { findCodecById } from "../../src/media/codecs/index.js";
import { RtpPacketizer } from "../../src/rtp/rtp-packet.js";
import { createLogger } from "../../src/util/logger.js";
import type { FrameClock } from "../../src/util/frame-clock.js";
import { FakeIceAgent, PAIR, candidate } from "../fakes/fake-ice-agent.js";

const logger = createLogger({ level: "silent" });
const SELF = "alice@example.org/jingled";
const PEER = "bob@example.org/phone";
const PCMU = { id: 0, name: "PCMU", clockrate: 8000, channels: 1, parameters: [] };

type Sent = Omit<Jingle, "sid">;

function manualClock(): { clock: FrameClock; tick: (n?: number) => void } {
  const subs = new Set<(i: number) => void>();
  let frame = 0;
  return {
    clock: {
      subscribe(fn) {
        subs.add(fn);
        return () => void subs.delete(fn);
      },
    },
    tick(n = 1) {
      for (let i = 0; i < n; i++) {
        frame++;
        for (const fn of [...subs]) fn(frame);
      }
    },
  };
}

/** Lets queued work (the call's serial queue, promise callbacks) run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

function setup(o: { role: "initiator" | "responder"; peer?: string; ack?: (j: Sent) => Promise<void> | void; initiateTimeoutMs?: number }) {
  const { clock, tick } = manualClock();
  const sent: Sent[] = [];
  const jmi: { to: string; el: JmiElement }[] = [];
  const agents: FakeIceAgent[] = [];
  const deps: CallDeps = {
    id: "c1",
    sid: "sid-1",
    peer: o.peer ?? PEER,
    role: o.role,
    self: SELF,
    codecs: [findCodecById("pcmu")!],
    input: { type: "silence" },
    output: { type: "null" },
    jitterFrames: 1,
    ice: { addresses: ["127.0.0.1"], connectTimeoutMs: 10_000, relayOnly: false, servers: async () => ({}) },
    ringTimeoutMs: 60_000,
    ...(o.initiateTimeoutMs !== undefined ? { initiateTimeoutMs: o.initiateTimeoutMs } : {}),
    logger,
    send: async (j) => {
      sent.push(j);
      await o.ack?.(j);
    },
    dtls: { policy: "off", certificate: undefined },
    rtcpMux: true,
    sendJmi: async (to, el) => void jmi.push({ to, el }),
    plane: inProcessPlane({
      clock,
      logger,
      parts: {
        ice: (opts) => {
          const a = new FakeIceAgent(opts);
          agents.push(a);
          return a;
        },
      },
    }),
  };
  const call = new Call(deps);
  const events: { kind: string; info: unknown }[] = [];
  call.on("media", (info) => events.push({ kind: "media", info }));
  call.on("ice", (info) => events.push({ kind: "ice", info }));
  call.on("control", (type, by) => events.push({ kind: "control", info: { type, by } }));
  call.on("ended", (info) => events.push({ kind: "ended", info }));
  return { call, sent, jmi, agent: () => agents[0]!, agents, tick, events };
}

function content(o: { ufrag?: string; pwd?: string; candidates?: IceCandidate[]; description?: boolean; creator?: "initiator" | "responder" }): JingleContent {
  return {
    creator: o.creator ?? "initiator",
    name: "audio",
    senders: "both",
    ...(o.description === false ? {} : { description: { media: "audio", payloadTypes: [PCMU], rtcpMux: true, headerExtensions: [] } }),
    transport: { ...(o.ufrag ? { ufrag: o.ufrag, pwd: o.pwd ?? `${o.ufrag}-password-password` } : {}), candidates: o.candidates ?? [] },
  };
}

const remote = (action: Jingle["action"], c: JingleContent[], extra: Partial<Jingle> = {}): Jingle => ({ action, sid: "sid-1", contents: c, ...extra });

function rtp(packetizer: RtpPacketizer): Buffer {
  return packetizer.packetize(Buffer.alloc(160, 0xff), 160);
}

/** An outgoing call, answered and connected: media flows. */
async function activeOutgoingCall() {
  const t = setup({ role: "initiator" });
  await t.call.start();
  await t.call.remote(remote("session-accept", [content({ ufrag: "peer1", candidates: [candidate(40002)] })], { responder: PEER }));
  t.agent().connect();
  await settle();
  assert.equal(t.call.state, "active");
  return t;
}

test("outgoing: the offer, our candidates trickled once the initiate is acknowledged, the answer, then media", async () => {
  let ack!: () => void;
  const acked = new Promise<void>((r) => (ack = r));
  const t = setup({ role: "initiator", ack: (j) => (j.action === "session-initiate" ? acked : undefined) });
  const starting = t.call.start();
  await settle();
  assert.equal(t.call.phase, "session");
  const initiate = t.sent[0]!;
  assert.equal(initiate.action, "session-initiate");
  assert.equal(initiate.initiator, SELF);
  const offered = initiate.contents[0]!;
  assert.deepEqual(
    offered.description!.payloadTypes.map((p) => `${p.name}/${p.clockrate} ${p.id}`),
    ["PCMU/8000 0", "telephone-event/8000 101"],
  );
  assert.equal(offered.description!.rtcpMux, true);
  assert.equal(offered.transport!.ufrag, "ufr1");
  assert.equal(offered.transport!.fingerprint, undefined, "no fingerprint with dtls off");
  assert.equal(t.agent().options.controlling, true);
  assert.equal(t.agent().gathered, 1);

  t.agent().found(candidate(40000));
  await settle();
  assert.equal(t.sent.length, 1, "no transport-info before the initiate is acknowledged");
  ack();
  await starting;
  await settle();
  assert.deepEqual(t.sent.map((j) => j.action), ["session-initiate", "transport-info"]);
  assert.deepEqual(t.sent[1]!.contents[0]!.transport!.candidates.map((c) => c.port), [40000]);
  t.agent().found(candidate(40001));
  await settle();
  assert.deepEqual(t.sent[2]!.contents[0]!.transport!.candidates.map((c) => c.port), [40001]);

  await t.call.remote(remote("session-accept", [content({ ufrag: "peer1", candidates: [candidate(40002)] })], { responder: PEER }));
  assert.equal(t.call.state, "connecting");
  assert.deepEqual(t.agent().remoteParameters.map((p) => p.ufrag), ["peer1"]);
  assert.deepEqual(t.agent().remoteCandidates.map((c) => c.port), [40002]);

  t.agent().connect();
  await settle();
  assert.equal(t.call.state, "active");
  assert.deepEqual(t.events.filter((e) => e.kind === "media").map((e) => e.info), [{ codec: "PCMU", pair: PAIR, encryption: "none" }]);
  assert.equal(t.call.info().codec, "PCMU");
  assert.deepEqual(t.call.info().localCandidate, PAIR.local);

  t.tick(3);
  assert.ok(t.agent().sent.length >= 3, `the media session sends through the agent (${t.agent().sent.length})`);
  assert.equal(t.agent().sent[0]![0]! >> 6, 2, "RTP version 2");

  await t.call.hangup();
  assert.equal(t.sent.at(-1)!.action, "session-terminate");
  assert.equal(t.sent.at(-1)!.reason?.condition, "success");
  assert.ok(t.agent().closed);
});

test("incoming: it rings, and on answer takes the candidates that came before it; trickles after the accept", async () => {
  const t = setup({ role: "responder" });
  await t.call.offer(remote("session-initiate", [content({ ufrag: "peerA", candidates: [candidate(40010)] })], { initiator: PEER }), false);
  assert.equal(t.call.state, "incoming");
  assert.deepEqual(t.sent.map((j) => `${j.action} ${j.info?.type ?? ""}`), ["session-info ringing"]);
  assert.equal(t.agents.length, 0, "no ICE agent before the answer");
  // XEP-0176: the peer trickles before we accept.
  await t.call.remote(remote("transport-info", [content({ description: false, candidates: [candidate(40011), candidate(40012)] })]));
  await t.call.answer();
  const agent = t.agent();
  assert.equal(agent.options.controlling, false);
  assert.deepEqual(agent.remoteParameters.map((p) => p.ufrag), ["peerA"]);
  assert.deepEqual(agent.remoteCandidates.map((c) => c.port), [40010, 40011, 40012]);
  const accept = t.sent.at(-1)!;
  assert.equal(accept.action, "session-accept");
  assert.equal(accept.responder, SELF);
  assert.deepEqual(accept.contents[0]!.description!.payloadTypes.map((p) => p.id), [0]);
  assert.equal(accept.contents[0]!.transport!.ufrag, "ufr1");
  assert.equal(t.call.state, "connecting");
  agent.found(candidate(40020));
  await settle();
  assert.equal(t.sent.at(-1)!.action, "transport-info");
  agent.connect();
  await settle();
  assert.equal(t.call.state, "active");
  await t.call.hangup();
});

test("incoming: an offer without a codec in common is terminated with failed-application", async () => {
  const t = setup({ role: "responder" });
  const g722Only = content({ ufrag: "peerA" });
  g722Only.description!.payloadTypes = [{ id: 9, name: "G722", clockrate: 8000, channels: 1, parameters: [] }];
  await t.call.offer(remote("session-initiate", [g722Only], { initiator: PEER }), false);
  assert.equal(t.call.state, "ended");
  assert.equal(t.sent.at(-1)!.action, "session-terminate");
  assert.equal(t.sent.at(-1)!.reason?.condition, "failed-application");
});

test("XEP-0353 caller: propose to the bare JID, ringing, proceed, the session goes to that device, finish at the end", async () => {
  const t = setup({ role: "initiator", peer: "bob@example.org" });
  await t.call.propose();
  assert.equal(t.call.phase, "proposed");
  assert.deepEqual(t.jmi.map((m) => `${m.el.action} ${m.to}`), ["propose bob@example.org"]);
  assert.equal(t.sent.length, 0);
  await t.call.jmiReceived({ action: "ringing", id: "sid-1" }, "eve@example.org/x");
  assert.equal(t.call.state, "outgoing", "ringing from another account is ignored");
  await t.call.jmiReceived({ action: "ringing", id: "sid-1" }, PEER);
  assert.equal(t.call.state, "ringing");
  await t.call.proceeded(PEER);
  assert.equal(t.call.phase, "session");
  assert.equal(t.call.peer, PEER);
  assert.deepEqual(t.sent.map((j) => j.action), ["session-initiate"]);
  await t.call.hangup();
  assert.equal(t.sent.at(-1)!.action, "session-terminate");
  assert.equal(t.sent.at(-1)!.reason?.condition, "cancel", "not answered: cancelled");
  assert.deepEqual(t.jmi.at(-1), { to: "bob@example.org", el: { action: "finish", id: "sid-1", reason: { condition: "cancel" } } });
});

test("XEP-0353 caller: hanging up before any device proceeds retracts the proposal, no Jingle", async () => {
  const t = setup({ role: "initiator", peer: "bob@example.org" });
  await t.call.propose();
  await t.call.hangup();
  assert.equal(t.call.state, "ended");
  assert.deepEqual(t.jmi.at(-1), { to: "bob@example.org", el: { action: "retract", id: "sid-1", reason: { condition: "cancel" } } });
  assert.equal(t.sent.length, 0);
});

test("XEP-0353 callee: ringing, proceed on answer, then the session-initiate is accepted at once", async () => {
  const t = setup({ role: "responder" });
  await t.call.proposed(false);
  assert.equal(t.call.phase, "proposed");
  assert.deepEqual(t.jmi.map((m) => `${m.el.action} ${m.to}`), [`ringing ${PEER}`]);
  await t.call.answer();
  assert.equal(t.call.phase, "proceeded");
  assert.equal(t.call.state, "connecting");
  assert.deepEqual(t.jmi.map((m) => m.el.action), ["ringing", "proceed"]);
  await t.call.offer(remote("session-initiate", [content({ ufrag: "peerA" })], { initiator: PEER }), false);
  assert.equal(t.call.phase, "session");
  assert.deepEqual(t.sent.map((j) => j.action), ["session-accept"], "accepted without ringing again");
  await t.call.hangup();
  assert.deepEqual(t.jmi.at(-1)!.el.action, "finish");
});

test("XEP-0353 callee: the caller's retract ends a ringing proposal; an answer elsewhere too", async () => {
  const a = setup({ role: "responder" });
  await a.call.proposed(false);
  await a.call.jmiReceived({ action: "retract", id: "sid-1" }, PEER);
  assert.equal(a.call.state, "ended");
  assert.equal(a.call.info().reason, "cancel");
  const b = setup({ role: "responder" });
  await b.call.proposed(false);
  await b.call.handledElsewhere("proceed");
  assert.equal(b.call.state, "ended");
  assert.deepEqual(b.jmi.map((m) => m.el.action), ["ringing"], "nothing sent: another device of ours answered");
});

test("XEP-0353 callee: a retract after our proceed ends the call at once (the caller hung up first)", async () => {
  const t = setup({ role: "responder" });
  await t.call.proposed(true);
  assert.equal(t.call.phase, "proceeded");
  await t.call.jmiReceived({ action: "retract", id: "sid-1" }, "bob@example.org/tablet");
  assert.equal(t.call.state, "connecting", "a retract from another device of the caller is not this device's");
  await t.call.jmiReceived({ action: "retract", id: "sid-1" }, PEER);
  assert.equal(t.call.state, "ended");
  const ended = t.events.find((e) => e.kind === "ended")!.info as { reason: string; by: string; text: string };
  assert.deepEqual([ended.reason, ended.by, ended.text], ["cancel", "peer", "the caller cancelled after we answered"]);
  assert.deepEqual(t.jmi.map((m) => m.el.action), ["ringing", "proceed"], "nothing more is sent: the caller is gone");
});

test("XEP-0353 callee: no session-initiate soon after our proceed ends the call with a reject, not after the ring timeout", async () => {
  const t = setup({ role: "responder", initiateTimeoutMs: 50 });
  await t.call.proposed(true);
  await new Promise((r) => setTimeout(r, 120));
  await settle();
  assert.equal(t.call.state, "ended");
  const ended = t.events.find((e) => e.kind === "ended")!.info as { reason: string; by: string; text: string };
  assert.deepEqual([ended.reason, ended.by], ["timeout", "local"]);
  assert.match(ended.text, /no session-initiate from bob@example.org\/phone within 0.05 s of our proceed/);
  assert.deepEqual(t.jmi.at(-1), { to: PEER, el: { action: "reject", id: "sid-1", reason: { condition: "timeout", text: ended.text } } });
  // In time, the session-initiate stops the timer.
  const u = setup({ role: "responder", initiateTimeoutMs: 80 });
  await u.call.proposed(true);
  await u.call.offer(remote("session-initiate", [content({ ufrag: "peerA" })], { initiator: PEER }), false);
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(u.call.state, "connecting");
  await u.call.hangup();
});

test("XEP-0353 caller: the callee's device that proceeded rejects before the session is answered: ended at once", async () => {
  const t = setup({ role: "initiator", peer: "bob@example.org" });
  await t.call.propose();
  await t.call.proceeded(PEER);
  await t.call.jmiReceived({ action: "reject", id: "sid-1" }, "bob@example.org/tablet");
  assert.equal(t.call.state, "outgoing", "another device's reject after the proceed is not the session's");
  // Conversations sends its reject without a reason.
  await t.call.jmiReceived({ action: "reject", id: "sid-1" }, PEER);
  assert.equal(t.call.state, "ended");
  const ended = t.events.find((e) => e.kind === "ended")!.info as { reason: string; by: string };
  assert.deepEqual([ended.reason, ended.by], ["decline", "peer"]);
});

test("XEP-0353 §4: our proposal gives way with <tie-break/>; a migrated session is finished with <migrated/> before its terminate", async () => {
  const t = setup({ role: "initiator", peer: "bob@example.org" });
  await t.call.propose();
  await t.call.giveWay();
  assert.deepEqual(t.jmi.at(-1), { to: "bob@example.org", el: { action: "retract", id: "sid-1", reason: { condition: "expired", text: "Tie-Break" }, tieBreak: true } });
  assert.equal((t.events.find((e) => e.kind === "ended")!.info as { by: string }).by, "local");

  const u = setup({ role: "responder" });
  await u.call.proposed(true);
  await u.call.offer(remote("session-initiate", [content({ ufrag: "peerA" })], { initiator: PEER }), false);
  assert.equal(u.call.answered, true);
  const sentBefore = u.sent.length;
  await u.call.migrate("sid-2", "continues as c2");
  assert.deepEqual(u.jmi.at(-1), { to: "bob@example.org", el: { action: "finish", id: "sid-1", reason: { condition: "expired", text: "continues as c2" }, migratedTo: "sid-2" } });
  assert.deepEqual(u.sent.slice(sentBefore).map((j) => `${j.action} ${j.reason?.condition}`), ["session-terminate success"]);
  const ended = u.events.find((e) => e.kind === "ended")!.info as { reason: string; by: string };
  assert.deepEqual([ended.reason, ended.by], ["expired", "peer"]);
});

test("ICE restart by the peer: a new generation; our answer is our new credentials with candidates; the old generation's late candidates dropped", async () => {
  const t = await activeOutgoingCall();
  const agent = t.agent();
  const sentBefore = t.sent.length;
  await t.call.remote(remote("transport-info", [content({ description: false, ufrag: "peer2" })]));
  assert.equal(agent.restarts.length, 1);
  assert.equal(agent.generation, 2);
  assert.equal(t.sent.length, sentBefore, "no answer without a candidate: new credentials alone would read as a new offer");
  assert.deepEqual(agent.remoteParameters.at(-1)!.ufrag, "peer2");
  assert.deepEqual(t.events.filter((e) => e.kind === "ice").map((e) => e.info), [{ type: "restarting", by: "peer", reason: "the peer restarted ICE" }]);

  agent.found(candidate(41000, 1));
  await settle();
  const answer = t.sent.at(-1)!;
  assert.equal(answer.action, "transport-info");
  assert.equal(answer.contents[0]!.transport!.ufrag, "ufr2");
  assert.deepEqual(answer.contents[0]!.transport!.candidates.map((c) => c.port), [41000], "the answer: credentials and candidates together");
  agent.found(candidate(41001, 1));
  await settle();
  assert.deepEqual(t.sent.at(-1)!.contents[0]!.transport!.candidates.map((c) => c.port), [41001], "later candidates trickle");

  const before = agent.remoteCandidates.length;
  await t.call.remote(remote("transport-info", [content({ description: false, ufrag: "peer1", candidates: [candidate(40003)] })]));
  assert.equal(agent.remoteCandidates.length, before, "a late candidate of the old generation is dropped");
  await t.call.remote(remote("transport-info", [content({ description: false, ufrag: "peer2", candidates: [candidate(40004, 1)] })]));
  assert.deepEqual(agent.remoteCandidates.slice(before).map((c) => c.port), [40004]);
  assert.equal(agent.restarts.length, 1, "the peer's candidates of the new generation start nothing");

  agent.connect({ ...PAIR, local: { type: "host", ip: "127.0.0.1", port: 41000 } });
  await settle();
  const ice = t.events.filter((e) => e.kind === "ice").map((e) => (e.info as { type: string }).type);
  assert.deepEqual(ice, ["restarting", "restarted"]);
  assert.equal(t.events.filter((e) => e.kind === "media").length, 1, "media goes on: no second start");
  assert.equal(t.call.info().localCandidate?.port, 41000);
  await t.call.hangup();
});

test("ICE restart from our side: the offer alone, our candidates after its acknowledgement, the peer's answer with candidates; one at a time", async () => {
  let ackOffer!: () => void;
  const offerAcked = new Promise<void>((r) => (ackOffer = r));
  let holding = false;
  const t = setup({ role: "initiator", ack: (j) => (holding && j.action === "transport-info" && j.contents[0]!.transport!.candidates.length === 0 ? offerAcked : undefined) });
  await t.call.start();
  await t.call.remote(remote("session-accept", [content({ ufrag: "peer1", candidates: [candidate(40002)] })], { responder: PEER }));
  t.agent().connect();
  await settle();
  const agent = t.agent();
  holding = true;
  const restarting = t.call.restartIce("test");
  await settle();
  assert.equal(agent.restarts.length, 1);
  const offer = t.sent.at(-1)!;
  assert.deepEqual([offer.action, offer.contents[0]!.transport!.ufrag, offer.contents[0]!.transport!.candidates.length], ["transport-info", "ufr2", 0]);
  assert.deepEqual(t.events.filter((e) => e.kind === "ice").map((e) => e.info), [{ type: "restarting", by: "local", reason: "test" }]);
  agent.found(candidate(41000, 1));
  await settle();
  assert.equal(t.sent.at(-1), offer, "no candidate before the peer took our offer (it would read as an answer)");
  ackOffer();
  await restarting;
  await settle();
  assert.deepEqual(t.sent.at(-1)!.contents[0]!.transport!.candidates.map((c) => c.port), [41000], "held candidates go after the acknowledgement");
  await t.call.restartIce("again");
  assert.equal(agent.restarts.length, 1, "no second restart while ours waits for its answer");
  // The peer's answer: its new credentials with its candidates.
  await t.call.remote(remote("transport-info", [content({ description: false, ufrag: "peer2", candidates: [candidate(40005, 1)] })]));
  assert.equal(agent.restarts.length, 1);
  assert.equal(agent.remoteParameters.at(-1)!.ufrag, "peer2");
  assert.equal(agent.remoteCandidates.at(-1)!.port, 40005);
  await t.call.hangup();
});

test("crossing ICE restarts, we initiated the session: the peer's offer is refused with tie-break, ours stands", async () => {
  let ackOffer!: () => void;
  const offerAcked = new Promise<void>((r) => (ackOffer = r));
  let holding = false;
  const t = setup({ role: "initiator", ack: (j) => (holding && j.action === "transport-info" ? offerAcked : undefined) });
  await t.call.start();
  await t.call.remote(remote("session-accept", [content({ ufrag: "peer1", candidates: [candidate(40002)] })], { responder: PEER }));
  t.agent().connect();
  await settle();
  const agent = t.agent();
  holding = true;
  const restarting = t.call.restartIce("test");
  await settle();
  // The peer's offer, sent before it saw ours: it arrives before its acknowledgement of ours.
  const theirs = remote("transport-info", [content({ description: false, ufrag: "peer2" })]);
  assert.equal(t.call.refusal(theirs), "tie-break");
  // Its acknowledgement of ours (it dropped its own and took ours), then its answer.
  ackOffer();
  await restarting;
  assert.equal(t.call.refusal(remote("transport-info", [content({ description: false, ufrag: "peer3", candidates: [candidate(40006, 1)] })])), undefined);
  await t.call.remote(remote("transport-info", [content({ description: false, ufrag: "peer3", candidates: [candidate(40006, 1)] })]));
  assert.equal(agent.restarts.length, 1, "one new generation");
  assert.equal(agent.remoteParameters.at(-1)!.ufrag, "peer3");
  assert.deepEqual(t.events.filter((e) => e.kind === "ice").map((e) => (e.info as { by?: string }).by), ["local"]);
  await t.call.hangup();
});

test("crossing ICE restarts, the peer initiated the session: our offer gives way, its offer is answered from our fresh generation", async () => {
  let refuse!: () => void;
  const refused = new Promise<void>((r) => (refuse = r));
  const t = setup({
    role: "responder",
    ack: async (j) => {
      // The initiator refuses our restart offer with tie-break (it keeps its own), after it sent its own offer.
      if (j.action === "transport-info" && j.contents[0]!.transport!.candidates.length === 0 && t.agents[0]!.generation === 2) {
        await refused;
        throw new JingleRefusal("conflict (tie-break)", "conflict", "tie-break");
      }
    },
  });
  await t.call.offer(remote("session-initiate", [content({ ufrag: "peerA", candidates: [candidate(40010)] })], { initiator: PEER }), true);
  const agent = t.agent();
  agent.connect();
  await settle();
  const restarting = t.call.restartIce("test");
  await settle();
  agent.found(candidate(41000, 1));
  // The initiator's offer arrives first (acknowledged at once: the responder never refuses), its error for ours after.
  const theirs = remote("transport-info", [content({ description: false, ufrag: "peerB" })]);
  assert.equal(t.call.refusal(theirs), undefined, "the responder never refuses");
  const processing = t.call.remote(theirs);
  refuse();
  await Promise.all([restarting, processing]);
  await settle();
  assert.equal(agent.restarts.length, 1, "no second generation: ours is fresh and the peer never took it");
  assert.equal(agent.remoteParameters.at(-1)!.ufrag, "peerB");
  const answer = t.sent.filter((j) => j.action === "transport-info").at(-1)!;
  assert.equal(answer.contents[0]!.transport!.ufrag, "ufr2");
  assert.deepEqual(answer.contents[0]!.transport!.candidates.map((c) => c.port), [41000], "the answer carries the candidates held for our offer");
  agent.connect();
  await settle();
  assert.deepEqual(t.events.filter((e) => e.kind === "ice").map((e) => (e.info as { type: string }).type), ["restarting", "restarted"]);
  await t.call.hangup();
});

test("a restart's transport-info that was not acknowledged is resent: the offer as an offer, then the held candidates", async () => {
  let lose = 0;
  const t = setup({
    role: "initiator",
    ack: (j) => {
      if (j.action === "transport-info" && lose > 0) {
        lose--;
        throw new Error("service-unavailable");
      }
    },
  });
  await t.call.start();
  await t.call.remote(remote("session-accept", [content({ ufrag: "peer1" })], { responder: PEER }));
  t.agent().connect();
  await settle();
  lose = 1; // the restart's credentials
  await t.call.restartIce("test");
  t.agent().found(candidate(41000, 1));
  await settle();
  const sentBefore = t.sent.length;
  await new Promise((r) => setTimeout(r, 700)); // the first resend comes after 500 ms
  await settle();
  const resent = t.sent.slice(sentBefore);
  assert.deepEqual(
    resent.map((j) => `${j.contents[0]!.transport!.ufrag} [${j.contents[0]!.transport!.candidates.map((c) => c.port).join(",")}]`),
    ["ufr2 []", "ufr2 [41000]"],
    "the offer again (no candidate), then, acknowledged, the candidate",
  );
  await t.call.hangup();
});

test("hold and mute: the peer is told; on hold nothing is sent and nothing the peer sends is played", async () => {
  const t = await activeOutgoingCall();
  const agent = t.agent();
  const peer = new RtpPacketizer({ payloadType: 0, clockRate: 8000 });
  const received = () => t.call.stats()!.packetsReceived;
  agent.receive(rtp(peer));
  agent.receive(rtp(peer));
  assert.equal(received(), 2, "RTP from the agent reaches the media session");

  await t.call.setHeld(true);
  assert.deepEqual(t.sent.at(-1)!.info, { type: "hold" });
  assert.equal(t.call.info().held, true);
  agent.receive(rtp(peer));
  assert.equal(received(), 2, "on hold: not played, not counted");
  const sentBefore = agent.sent.length;
  t.tick(5);
  assert.equal(agent.sent.length, sentBefore, "on hold: nothing sent");

  await t.call.setHeld(false);
  assert.deepEqual(t.sent.at(-1)!.info, { type: "unhold" });
  agent.receive(rtp(peer));
  assert.equal(received(), 3);
  t.tick(2);
  assert.ok(agent.sent.length > sentBefore, "sending again");

  await t.call.setMuted(true);
  assert.deepEqual(t.sent.at(-1)!.info, { type: "mute", creator: "initiator", name: "audio" });
  assert.equal(t.call.info().muted, true);
  await t.call.remote(remote("session-info", [], { info: { type: "hold" } }));
  assert.equal(t.call.info().peerHeld, true);
  assert.deepEqual(
    t.events.filter((e) => e.kind === "control").map((e) => e.info),
    [
      { type: "held", by: "local" },
      { type: "resumed", by: "local" },
      { type: "muted", by: "local" },
      { type: "held", by: "peer" },
    ],
  );
  await t.call.hangup();
});

test("hold: we stop listening at once and sending once the peer acknowledged; resume restarts both at once; the peer's hold stops both", async () => {
  let release: (() => void) | undefined;
  const t = setup({ role: "initiator", ack: (j) => (j.info?.type === "hold" ? new Promise<void>((r) => (release = r)) : undefined) });
  await t.call.start();
  await t.call.remote(remote("session-accept", [content({ ufrag: "peer1", candidates: [candidate(40002)] })], { responder: PEER }));
  t.agent().connect();
  await settle();
  const agent = t.agent();
  const peer = new RtpPacketizer({ payloadType: 0, clockRate: 8000 });
  const received = () => t.call.stats()!.packetsReceived;
  const rtpSent = () => agent.sent.filter((d) => d[1]! < 192 || d[1]! > 223).length;
  agent.receive(rtp(peer));

  const holding = t.call.setHeld(true);
  await settle();
  assert.deepEqual(t.sent.at(-1)!.info, { type: "hold" }, "told, not yet acknowledged");
  agent.receive(rtp(peer));
  assert.equal(received(), 1, "we stopped listening at once");
  let sent = rtpSent();
  t.tick(3);
  assert.ok(rtpSent() > sent, "the peer still hears us until it acknowledges");
  release!();
  await holding;
  sent = rtpSent();
  const counted = t.call.stats()!.packetsSent;
  t.tick(5);
  assert.equal(rtpSent(), sent, "nothing sent once acknowledged");
  assert.equal(t.call.stats()!.packetsSent, counted, "nor counted");

  await t.call.setHeld(false);
  agent.receive(rtp(peer));
  assert.equal(received(), 2);
  assert.equal(t.call.stats()!.packetsLost, 0, "what the peer sent while we held is not loss");
  t.tick(2);
  assert.ok(rtpSent() > sent, "sending again");

  // The peer holds: both ways stop at once, and start again at its unhold.
  await t.call.remote(remote("session-info", [], { info: { type: "hold" } }));
  sent = rtpSent();
  t.tick(5);
  agent.receive(rtp(peer));
  assert.equal(rtpSent(), sent, "nothing sent while the peer holds");
  assert.equal(received(), 2, "nothing taken while the peer holds");
  await t.call.remote(remote("session-info", [], { info: { type: "unhold" } }));
  t.tick(2);
  agent.receive(rtp(peer));
  assert.ok(rtpSent() > sent);
  assert.equal(received(), 3);
  assert.equal(t.call.stats()!.packetsLost, 0);
  await t.call.hangup();
});

test("hold needs an answered call; mute before there is a session tells nobody", async () => {
  const t = setup({ role: "initiator", peer: "bob@example.org" });
  await t.call.propose();
  await assert.rejects(t.call.setHeld(true), /hold: .*must be answered first/);
  await t.call.setMuted(true);
  assert.equal(t.sent.length, 0);
  assert.deepEqual(t.jmi.map((m) => m.el.action), ["propose"]);
  assert.equal(t.call.info().muted, true);
  await t.call.hangup();
});
