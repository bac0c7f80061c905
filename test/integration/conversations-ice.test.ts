// ICE restarts between a real jingled and a peer that restarts ICE the way
// Conversations does (test/helpers/conversations-peer.ts), through a real
// Prosody, with real ICE, DTLS-SRTP and Opus on 127.0.0.1. The peer reads a
// transport-info with new credentials and no candidate as a restart offer
// and one with candidates as an answer, and ends the call when it gets an
// answer it did not ask for: an answer of the wrong shape shows as a second
// restart or a failed call here.
//
//   the peer restarts, the peer being the initiator / the responder
//   the path dies (a UdpCable cut between the two): jingled restarts, and
//     the peer restarts at the same moment (glare), jingled being the
//     responder / the initiator
//   the path dies and only jingled restarts: the peer answers it
//
// Each case ends in one new ICE generation at both ends and audio both ways
// on it (RTP counted at the peer, jingled's packetsReceived).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { ConversationsPeer, type PeerSession } from "../helpers/conversations-peer.js";
import { UdpCable } from "../helpers/udp-cable.js";
import type { AnyEvent } from "../../src/control/client.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("ICE restarts with a peer that restarts as Conversations does", { timeout: 240_000 }, () => {
  let prosody: ProsodyServer;
  let dir: string;
  let door: Daemon;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-conv-ice-"));
    prosody = await startProsody({ users: [{ username: "door", password: "d-pw" }, { username: "bob", password: "b-pw" }] });
    door = await startDaemon({ prosody, username: "door", password: "d-pw", dir: join(dir, "door"), input: { type: "tone", frequency: 660 }, output: { type: "null" } });
  });

  after(async () => {
    await door?.stop();
    await prosody?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  type Call = { peer: ConversationsPeer; cable: UdpCable; session: PeerSession; callId: string; mark: number };

  /** A call with media between door and a fresh peer; `peerCalls`: the peer is the initiator. */
  async function call(peerCalls: boolean): Promise<Call> {
    const cable = new UdpCable();
    const peer = await ConversationsPeer.start({ server: prosody, username: "bob", password: "b-pw", version: "2.18", cable });
    const mark = door.events.length;
    let sid: string;
    let callId: string;
    if (peerCalls) {
      sid = await peer.propose(`door@${prosody.domain}`);
      const incoming = await door.waitForEvent((e) => e.event === "call" && e.type === "incoming" && door.events.indexOf(e) >= mark, 10_000, "door rings");
      callId = String(incoming.callId);
      await door.control.request("answer", { callId });
    } else {
      peer.onRing = (s) => void peer.accept(s.sid);
      const r = (await door.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string; sid: string };
      callId = r.callId;
      sid = r.sid;
    }
    await door.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "active", 15_000, "door active");
    await peer.until(() => peer.sessions.get(sid)?.connectedGenerations.length === 1, "the peer's ICE connected");
    const session = peer.sessions.get(sid)!;
    await peer.until(() => session.rtpReceived.length > 10, "audio at the peer");
    return { peer, cable, session, callId, mark: door.events.length };
  }

  async function end(c: Call): Promise<void> {
    await door.control.request("hangup", { callId: c.callId }).catch(() => undefined);
    await c.peer.stop();
    c.cable.close();
  }

  const iceEvents = (c: Call) => door.events.slice(c.mark).filter((e) => e.event === "ice" && e.callId === c.callId);
  const packetsReceived = async (callId: string) => ((await door.control.request("stats", { callId })) as { packetsReceived: number }).packetsReceived;

  /** One new generation at both ends, no second restart, audio both ways on the new pair. */
  async function converged(c: Call, expectBy: "local" | "peer", what: string): Promise<string> {
    const restarted = await door.waitForEvent((e) => e.event === "ice" && e.callId === c.callId && e.type === "restarted" && door.events.indexOf(e) >= c.mark, 40_000, `${what}: door's new pair`);
    await c.peer.until(() => c.session.connectedGenerations.length >= 2, `${what}: the peer's new generation`, 20_000);
    const at = performance.now();
    const before = await packetsReceived(c.callId);
    await sleep(2500); // a restart that loops would begin again in here
    const after = await packetsReceived(c.callId);
    const events = iceEvents(c).map((e) => `${String(e.type)}${e.by ? `(${String(e.by)})` : ""}`);
    const restarting = iceEvents(c).filter((e) => e.type === "restarting");
    assert.equal(restarting.length, 1, `${what}: one restart at door, not ${events.join(" ")}`);
    assert.equal(restarting[0]!.by, expectBy, `${what}: ${events.join(" ")}`);
    assert.equal(iceEvents(c).filter((e) => e.type === "restarted").length, 1, `${what}: ${events.join(" ")}`);
    assert.deepEqual(c.session.connectedGenerations, [1, 2], `${what}: the peer connected once more, on its second generation`);
    assert.equal(c.session.terminated, false, `${what}: the peer ended the call (${c.session.reason})`);
    const heard = c.session.rtpSince(at);
    assert.ok(heard > 50, `${what}: the peer hears door on the new pair (${heard} packets in 2.5 s)`);
    assert.ok(after - before > 50, `${what}: door hears the peer on the new pair (${after - before} packets in 2.5 s)`);
    const calls = (await door.control.request("calls")) as { state: string }[];
    assert.deepEqual(calls.map((x) => x.state), ["active"]);
    return `${events.join(" ")}; pair ${JSON.stringify((restarted as AnyEvent & { pair?: unknown }).pair)}; audio after: peer ${heard}, door ${after - before} packets / 2.5 s; the peer saw ${JSON.stringify(c.session.restartsSeen)}`;
  }

  test("the peer restarts ICE, the peer being the initiator: door answers with credentials and candidates together", async (t) => {
    const c = await call(true);
    try {
      await c.peer.restartIce(c.session.sid);
      t.diagnostic(await converged(c, "peer", "peer-initiated, peer initiator"));
      assert.deepEqual(c.session.restartsSeen.map((r) => r.answered), ["applied-answer"], "the peer read door's transport-info as its answer");
      assert.deepEqual(c.session.ownRestarts, ["result"]);
    } finally {
      await end(c);
    }
  });

  test("the peer restarts ICE, the peer being the responder", async (t) => {
    const c = await call(false);
    try {
      await c.peer.restartIce(c.session.sid);
      t.diagnostic(await converged(c, "peer", "peer-initiated, peer responder"));
      assert.deepEqual(c.session.restartsSeen.map((r) => r.answered), ["applied-answer"]);
      assert.deepEqual(c.session.ownRestarts, ["result"]);
    } finally {
      await end(c);
    }
  });

  test("the path dies and only door restarts (door initiated the call): the peer answers, one new generation", async (t) => {
    const c = await call(false);
    try {
      c.cable.cut();
      t.diagnostic(await converged(c, "local", "door-initiated"));
      assert.deepEqual(c.session.restartsSeen.map((r) => r.answered), ["result"], "the peer took door's transport-info as an offer");
    } finally {
      await end(c);
    }
  });

  /** The peer restarts too the moment door's restart offer reaches it, before it reads it: both offers cross. */
  function crossOnDoorsOffer(c: Call): void {
    c.peer.beforeJingle = (j) => {
      const t = j.contents[0]?.transport;
      if (j.action === "transport-info" && t?.ufrag && t.ufrag !== c.session.remoteUfrag && t.candidates.length === 0 && !c.session.restartPending) {
        void c.peer.restartIce(c.session.sid);
      }
    };
  }

  test("crossing restarts, the peer initiated the call: the peer refuses door's with tie-break, door answers the peer's", async (t) => {
    const c = await call(true);
    try {
      crossOnDoorsOffer(c);
      c.cable.cut();
      t.diagnostic(await converged(c, "local", "glare, peer initiator"));
      assert.deepEqual(c.session.restartsSeen.map((r) => r.answered), ["tie-break", "applied-answer"], "door's offer refused, door's answer to the peer's applied");
      assert.deepEqual(c.session.ownRestarts, ["result"], "door took the peer's offer");
    } finally {
      await end(c);
    }
  });

  test("crossing restarts, door initiated the call: door refuses the peer's with tie-break, the peer answers door's", async (t) => {
    const c = await call(false);
    try {
      crossOnDoorsOffer(c);
      c.cable.cut();
      t.diagnostic(await converged(c, "local", "glare, door initiator"));
      assert.deepEqual(c.session.restartsSeen.map((r) => r.answered), ["result"], "the peer dropped its own and answered door's");
      assert.deepEqual(c.session.ownRestarts, ["tie-break"], "door refused the peer's offer");
    } finally {
      await end(c);
    }
  });
});
