// The boundary between a call and its media plane (src/app/media-plane/):
//
//   over a MessageChannel (the messages a media thread gets, cloned, in
//     order; a fake ICE agent and a clock the test ticks on the plane's side):
//     our credentials made by the call and given to the agent, candidates and
//     connectivity from the agent, the peer's RTP reaching the media, hold,
//     DTMF, statistics, the call forgotten by the plane at its end
//   an exception in one call's media ends that call with failed-application; the
//     other call on the same plane goes on
//   a real media thread (worker) that dies ends its calls with failed-application,
//     the daemon's other work goes on, and the next call gets a new thread
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageChannel } from "node:worker_threads";
import { Call, type CallDeps } from "../../src/app/call/call.js";
import { WorkerPlane, type MediaPlane } from "../../src/app/media-plane/media-plane.js";
import { PlaneHost } from "../../src/app/media-plane/plane-host.js";
import { PlaneLink } from "../../src/app/media-plane/plane-link.js";
import type { CallParts } from "../../src/app/media-plane/plane-parts.js";
import type { MainMessage, PlaneMessage } from "../../src/app/media-plane/plane-protocol.js";
import { RemoteCallMedia } from "../../src/app/media-plane/remote-call-media.js";
import type { Jingle, JingleContent } from "../../src/jingle/protocol/index.js";
import { findCodec, findCodecById } from "../../src/media/codecs/index.js";
import { MediaSession } from "../../src/media/media-session.js";
import { RtpPacketizer } from "../../src/rtp/rtp-packet.js";
import type { FrameClock } from "../../src/util/frame-clock.js";
import { createLogger } from "../../src/util/logger.js";
import { pino } from "pino";
import { FakeIceAgent, candidate } from "../fakes/fake-ice-agent.js";

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

/** Lets messages cross the channel and queued work run. */
async function settle(turns = 10): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

/** A plane whose calls live on a PlaneHost at the other end of a MessageChannel, as on a media thread. */
function channelPlane(parts: Partial<CallParts>) {
  const { port1, port2 } = new MessageChannel();
  const { clock, tick } = manualClock();
  const posted: PlaneMessage[] = [];
  const host = new PlaneHost({
    post: (m) => {
      posted.push(m);
      port1.postMessage(m);
    },
    logger,
    clock,
    parts,
    statsEveryMs: 0,
  });
  port1.on("message", (m: MainMessage) => host.handle(m));
  const link = new PlaneLink(port2);
  const plane: MediaPlane = {
    open: (open) => new RemoteCallMedia({ open, attach: () => link }),
    preload: async () => undefined,
    setLogLevel: () => undefined,
    describe: () => [],
    close: async () => {
      port1.close();
      port2.close();
    },
  };
  return { plane, host, tick, posted };
}

function deps(plane: MediaPlane, id: string, sent: Sent[]): CallDeps {
  return {
    id,
    sid: `sid-${id}`,
    peer: PEER,
    role: "initiator",
    self: SELF,
    codecs: [findCodecById("pcmu")!],
    input: { type: "silence" },
    output: { type: "null" },
    jitterFrames: 1,
    ice: { addresses: ["127.0.0.1"], connectTimeoutMs: 10_000, relayOnly: false, servers: async () => ({}) },
    ringTimeoutMs: 60_000,
    logger,
    send: async (j) => void sent.push(j),
    dtls: { policy: "off", certificate: undefined },
    rtcpMux: true,
    sendJmi: async () => undefined,
    plane,
  };
}

function answer(sid: string): Jingle {
  const content: JingleContent = {
    creator: "initiator",
    name: "audio",
    senders: "both",
    description: { media: "audio", payloadTypes: [PCMU], rtcpMux: true, headerExtensions: [] },
    transport: { ufrag: "peer1", pwd: "peer1-password-password", candidates: [candidate(40002)] },
  };
  return { action: "session-accept", sid, contents: [content], responder: PEER };
}

/** An outgoing call through `plane`, answered and connected: media flows. */
async function activeCall(plane: MediaPlane, agents: FakeIceAgent[], id: string) {
  const sent: Sent[] = [];
  const call = new Call(deps(plane, id, sent));
  const ended: string[] = [];
  call.on("ended", (info) => ended.push(`${info.reason}${info.text ? `: ${info.text}` : ""}`));
  await call.start();
  await settle();
  const agent = agents.at(-1)!;
  await call.remote(answer(`sid-${id}`));
  await settle();
  agent.connect();
  await settle();
  assert.equal(call.state, "active", `call ${id} active`);
  return { call, agent, sent, ended };
}

test("a call's media across the boundary: credentials, candidates, connectivity, RTP, hold, DTMF, figures, and the end", async () => {
  const agents: FakeIceAgent[] = [];
  const { plane, host, tick, posted } = channelPlane({ ice: (o) => (agents.push(new FakeIceAgent(o)), agents.at(-1)!) });
  try {
    const sent: Sent[] = [];
    const call = new Call(deps(plane, "c1", sent));
    await call.start();
    await settle();
    const agent = agents[0]!;
    const offered = sent[0]!.contents[0]!.transport!;
    assert.ok(offered.ufrag && offered.ufrag.length >= 8, "our ufrag, made before the agent answered");
    assert.deepEqual(agent.options.localCredentials, { ufrag: offered.ufrag, pwd: offered.pwd }, "the agent on the plane uses the credentials the offer carries");
    assert.equal(agent.gathered, 1);

    // A candidate found on the plane is trickled by the call.
    agent.found(candidate(40000));
    await settle();
    assert.deepEqual(sent.at(-1)!.contents[0]!.transport!.candidates.map((c) => c.port), [40000]);

    await call.remote(answer("sid-c1"));
    await settle();
    assert.deepEqual(agent.remoteParameters, [{ ufrag: "peer1", pwd: "peer1-password-password" }]);
    assert.deepEqual(agent.remoteCandidates.map((c) => c.port), [40002]);
    agent.connect();
    await settle();
    assert.equal(call.state, "active");

    // The peer's RTP stays on the plane; only figures come back.
    const peer = new RtpPacketizer({ payloadType: 0, clockRate: 8000 });
    agent.receive(peer.packetize(Buffer.alloc(160, 0xff), 160));
    agent.receive(peer.packetize(Buffer.alloc(160, 0xff), 160));
    assert.equal((await call.freshStats())!.packetsReceived, 2);
    tick(3);
    assert.equal(agent.sent.length, 3, "a packet per tick to the agent");

    await call.setHeld(true);
    await settle();
    tick(3);
    assert.equal(agent.sent.length, 3, "on hold nothing is sent");
    assert.equal(call.info().held, true);
    await call.setHeld(false);
    await settle();

    // DTMF needs telephone-event: not negotiated here, and the plane's error comes back as the call's.
    await assert.rejects(call.sendDtmf("1"), (err: Error & { code?: string }) => err.code === "not-supported");

    assert.ok(
      posted.every((m) => m.kind !== "event" || !JSON.stringify(m).includes('"data"')),
      "no datagram crosses the boundary",
    );
    await call.hangup();
    await settle();
    assert.equal(agent.closed, true);
    assert.equal(host.calls, 0, "the plane forgot the call");
    assert.ok(call.stats()!.framesPlayed >= 0, "the final figures stay with the call");
  } finally {
    await plane.close();
  }
});

test("an exception in one call's media ends that call with failed-application; the other call on the plane goes on", async () => {
  const agents: FakeIceAgent[] = [];
  let sessions = 0;
  const { plane, host, tick } = channelPlane({
    ice: (o) => (agents.push(new FakeIceAgent(o)), agents.at(-1)!),
    // The first call's media throws on its third tick (a bug in a codec, say).
    media: (o) => {
      const m = new MediaSession(o);
      if (++sessions === 1) o.clock.subscribe((i) => {
        if (i >= 3) throw new Error("codec exploded");
      });
      return m;
    },
  });
  try {
    const a = await activeCall(plane, agents, "a");
    const b = await activeCall(plane, agents, "b");
    tick(5);
    await settle();
    assert.equal(a.call.state, "ended");
    assert.deepEqual(a.ended, ["failed-application: media failed: codec exploded"]);
    assert.equal(a.sent.at(-1)!.action, "session-terminate");
    assert.equal(a.sent.at(-1)!.reason?.condition, "failed-application");
    const before = b.agent.sent.length;
    tick(5);
    assert.equal(b.call.state, "active");
    assert.equal(b.agent.sent.length, before + 5, "the other call still sends a packet per tick");
    assert.equal(host.calls, 1);
    await b.call.hangup();
  } finally {
    await plane.close();
  }
});

test("a media thread that dies ends its calls with failed-application; the next call gets a new thread", async () => {
  const plane = new WorkerPlane({ threads: 1, logger, log: { level: "silent", format: "json" } });
  const codecs = [findCodec("PCMU", 8000)!];
  /** Two calls through the plane's one thread, real ICE on 127.0.0.1, Jingle carried in memory. */
  async function pair(tag: string) {
    let b: Call | undefined;
    const ended: Record<string, string[]> = { a: [], b: [] };
    const mk = (role: "initiator" | "responder", from: "a" | "b"): CallDeps => ({
      id: `${tag}${from}`,
      sid: `sid-${tag}`,
      peer: from === "a" ? "bob@example.org/b" : "alice@example.org/a",
      role,
      self: from === "a" ? "alice@example.org/a" : "bob@example.org/b",
      codecs,
      input: { type: "tone", frequency: 440 },
      output: { type: "null" },
      jitterFrames: 1,
      ice: { addresses: ["127.0.0.1"], connectTimeoutMs: 10_000, relayOnly: false, servers: async () => ({}) },
      ringTimeoutMs: 30_000,
      logger,
      dtls: { policy: "off", certificate: undefined },
      rtcpMux: true,
      sendJmi: async () => undefined,
      plane,
      send: async (j) => {
        const full = { ...j, sid: `sid-${tag}` } as Jingle;
        setImmediate(() => {
          if (from === "a") {
            if (j.action === "session-initiate") {
              b = new Call(mk("responder", "b"));
              b.on("ended", (i) => ended.b!.push(i.reason ?? ""));
              void b.offer(full, true).catch(() => undefined);
            } else void b?.remote(full).catch(() => undefined);
          } else void a.remote(full).catch(() => undefined);
        });
      },
    });
    const a = new Call(mk("initiator", "a"));
    a.on("ended", (i) => ended.a!.push(i.reason ?? ""));
    await a.start();
    for (let i = 0; i < 250 && !(a.state === "active" && b?.state === "active" && ((await b.freshStats())?.packetsReceived ?? 0) > 5); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(a.state, "active");
    assert.equal(b?.state, "active");
    return { a, b: b!, ended };
  }
  try {
    const first = await pair("x");
    const [thread] = plane.describe();
    assert.equal(thread?.calls, 2, "both calls on the one thread");
    await plane.crashThread(0);
    for (let i = 0; i < 100 && (first.ended.a!.length === 0 || first.ended.b!.length === 0); i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(first.ended, { a: ["failed-application"], b: ["failed-application"] });

    const second = await pair("y");
    const now = plane.describe();
    assert.equal(now.length, 1);
    assert.notEqual(now[0]!.threadId, thread!.threadId, "a new thread");
    await second.a.hangup();
    for (let i = 0; i < 100 && (second.ended.b!.length === 0 || plane.describe()[0]!.calls > 0); i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(plane.describe()[0]!.calls, 0, "the thread forgot both calls");
  } finally {
    await plane.close();
  }
});

test("a new media thread takes a call to itself through its link before it is ready, counted as no call", async () => {
  const lines: { msg?: string; ms?: number; err?: string }[] = [];
  const capture = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line) as { msg?: string }) });
  const plane = new WorkerPlane({ threads: 1, logger: capture, log: { level: "silent", format: "json" } });
  const alive = setInterval(() => undefined, 1000); // an idle thread does not keep the process alive (a daemon has its sockets)
  try {
    await plane.preload();
    const msgs = lines.map((l) => l.msg);
    const warmed = msgs.indexOf("media path warmed up");
    assert.ok(warmed >= 0, `warm-up through the link: ${JSON.stringify(lines.filter((l) => l.msg?.includes("warm")))}`);
    assert.ok(warmed < msgs.indexOf("media thread ready"), "before the thread is ready");
    assert.deepEqual(
      plane.describe().map((t) => ({ calls: t.calls, ready: t.ready })),
      [{ calls: 0, ready: true }],
    );
  } finally {
    clearInterval(alive);
    await plane.close();
  }
});
