// The media plane under signalling load (issue 15 item 1): two real daemons
// through a real Prosody carry 10 Opus calls (DTLS-SRTP, speech-like tone
// both ways) while, for 10 s, the callee takes
//   - 2,000 hostile stanzas from three XMPP accounts it does not know
//     (session-initiates, transport-infos for sessions that do not exist,
//     XEP-0353 proposals, malformed Jingle),
//   - 100 control clients asking `status` in a loop, and
//   - 3,000 datagrams a second of garbage at one call's media port.
// Every other call's audio must not notice: by both ends' call statistics,
// under 0.2 % of its frames concealed over the attack (what bob hears of
// alice, and what alice hears of bob: the attacked daemon's sending shows
// there) and no gap of 30 ms or more between its media clock's ticks
// (lateTicks) during the attack, this one judged when the callee's media
// threads run at real-time priority (media.priority). The machine is shared: what it does to
// every process alike shows in the media clock of alice's end of the same
// calls, which is not attacked (her concealment is not that control: it is
// bob's sending). The thresholds are judged when alice's clock kept time in
// the same window; when it did not, the machine stalled every process
// (other work on a small shared machine), no daemon could meet them, and
// the test reports the figures and skips the judgement instead of guessing
// (measured on 2 cores at load 5-11: the unattacked end had 23-627 clock
// gaps of 30 ms or more per window, the longest 120-460 ms, and up to 14 %
// of its frames concealed; docs/performance.md, "Media threads"). When the
// calls met them anyway, they are judged whatever the control did. What
// always holds: every call plays on through the attack and is still up after
// it, and the daemon still answers. Bounded: 2,000 stanzas, 100 clients, 3,000
// datagrams a second, 10 s of attack (at most 60 s while the server is slow
// to carry the stanzas); 35-90 s in all.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { availableParallelism, loadavg } from "node:os";
import { xml } from "@xmpp/xml";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { withLab } from "../helpers/with-lab.js";
import { audioContent, jingleIq, mediaThreadScheduling, procFigures, rawClient, sleep, until } from "../helpers/hostile.js";
import { connectControl, type AnyEvent, type ControlClient } from "../../src/control/client.js";
import { NS } from "../../src/jingle/protocol/index.js";
import type { XmppConnection } from "../../src/xmpp/connection.js";

const CALLS = 10;
const ATTACK_MS = 10_000;
const STANZAS = 2000;
/** The longest the attack runs while the stanzas are still on their way. */
const MAX_ATTACK_MS = 60_000;
/** Issue 15: concealment under 0.2 % of a call's frames, no clock gap of 30 ms or more. */
const MAX_CONCEALED = 0.002;
const CONTROL_CLIENTS = 100;
const DATAGRAMS_PER_SECOND = 3000;

type Stats = { framesPlayed: number; framesConcealed: number; maxTickGapMs: number; lateTicks: number; packetsReceived: number; packetsLost: number; packetsLate: number; expands: number; underruns: number };
const isCall = (type: string) => (e: AnyEvent) => e.event === "call" && e.type === type;

describe("media isolation: 10 Opus calls while the callee is attacked through XMPP, its control socket and one call's port", { timeout: 180_000 }, () => {
  let prosody: ProsodyServer;
  let alice: Daemon;
  let bob: Daemon;
  let attackers: XmppConnection[] = [];
  let udp: Socket;
  const common = { codecs: ["opus"], input: { type: "tone", frequency: 440 }, output: { type: "null" }, logLevel: "info", mediaThreads: "auto" as const };
  const lab = withLab({
    name: "isolation",
    users: { alice: "a-pw", bob: "b-pw", mallory: "m-pw", eve: "e-pw", trudy: "t-pw" },
    parallel: true,
    daemons: {
      alice: { ...common, config: { calls: { acceptFrom: "everyone", maxCalls: 16 } } },
      // bob rings for his roster only: the strangers' stanzas are refused, never answered.
      bob: { ...common, config: { calls: { acceptFrom: "roster", autoAnswer: "roster", maxCalls: 16 } } },
    },
  });

  before(async () => {
    ({ prosody, daemons: { alice, bob } } = lab);
    await bob.control.request("roster", { action: "add", jid: `alice@${prosody.domain}` });
    await until(async () => ((await bob.control.request("roster")) as { items: { jid: string }[] }).items.some((i) => i.jid.startsWith("alice@")), 10_000, "alice in bob's roster");
    attackers = await Promise.all([rawClient(prosody, "mallory", "m-pw", "x"), rawClient(prosody, "eve", "e-pw", "x"), rawClient(prosody, "trudy", "t-pw", "x")].map(async (c) => lab.adopt(await c)));
    udp = lab.adopt(createSocket("udp4"));
    await new Promise<void>((r) => udp.bind(0, "127.0.0.1", () => r()));
  });

  /** The i-th hostile stanza: kinds in turn, each from one of the three strangers. */
  function hostile(i: number) {
    const sid = `h${i}-${randomBytes(4).toString("hex")}`;
    switch (i % 4) {
      case 0:
        return jingleIq(bob.jid, { action: "session-initiate", sid, initiator: "x", contents: [audioContent()] });
      case 1:
        return jingleIq(bob.jid, { action: "transport-info", sid, contents: [audioContent()] });
      case 2:
        return xml("message", { to: `bob@${prosody.domain}`, type: "chat", id: sid }, xml("propose", { xmlns: NS.jingleMessage, id: sid }, xml("description", { xmlns: NS.rtp, media: "audio" })));
      default:
        return xml("iq", { type: "set", to: bob.jid, id: sid }, xml("jingle", { xmlns: NS.jingle, action: "session-initiate", sid }, xml("content", { name: "<&>" }, "x".repeat(2000))));
    }
  }

  test("every other call plays on through the attack; concealment and clock gaps judged against the issue's goals", async (t) => {
    // The calls, up in batches (a burst of DTLS handshakes is not what is measured here).
    const activeBefore = bob.events.filter(isCall("active")).length;
    for (let i = 0; i < CALLS; i += 5) {
      await Promise.all(Array.from({ length: 5 }, () => alice.control.request("call", { jid: bob.jid })));
      await until(() => bob.events.filter(isCall("active")).length >= activeBefore + i + 5, 20_000, "bob's calls active");
    }
    const media = bob.events.filter((e) => e.event === "media").slice(-CALLS);
    const target = media[0]!;
    const targetPort = (target.localCandidate as { port: number }).port;
    // Each of bob's calls and the same call at alice's end (by sid): alice is the control group.
    const sids = async (d: Daemon) => new Map(((await d.control.request("calls")) as { id: string; sid: string }[]).map((c) => [c.sid, c.id]));
    const [bobCalls, aliceCalls] = await Promise.all([sids(bob), sids(alice)]);
    const calls = [...bobCalls].map(([sid, id]) => ({ bob: id, alice: aliceCalls.get(sid)! }));
    assert.equal(calls.length, CALLS);
    await sleep(2000);
    const stats = (d: Daemon, which: "bob" | "alice") => Promise.all(calls.map(async (c) => (await d.control.request("stats", { callId: c[which] })) as unknown as Stats));
    const before0 = await Promise.all([stats(bob, "bob"), stats(alice, "alice")]);
    const p0 = procFigures(bob.process.pid);
    const t0 = performance.now();
    let running = true;

    // 100 control clients asking status, each as fast as it is answered.
    const clients: ControlClient[] = await Promise.all(Array.from({ length: CONTROL_CLIENTS }, () => connectControl(bob.socketPath)));
    let statusReplies = 0;
    const hammering = clients.map(async (c) => {
      while (running) {
        await c.request("status");
        statusReplies++;
      }
    });
    // 2,000 hostile stanzas, from three accounts at once, as fast as they go.
    let stanzas = 0;
    const signalling = Promise.all(
      attackers.map(async (a, k) => {
        for (let i = k; i < STANZAS && running; i += attackers.length) {
          await a.send(hostile(i));
          stanzas++;
        }
      }),
    );
    // 3,000 datagrams a second at one call's port, in 10 ms bursts.
    let datagrams = 0;
    const flooding = (async () => {
      while (running) {
        const due = Math.floor(((performance.now() - t0) * DATAGRAMS_PER_SECOND) / 1000);
        for (; datagrams < due; datagrams++) {
          const b = randomBytes(12 + (datagrams % 200));
          b[0] = [0x80, 0x16, 0x00, 0x01, 0x90][datagrams % 5]!;
          udp.send(b, targetPort, "127.0.0.1");
        }
        await sleep(10);
      }
    })();
    await Promise.all([sleep(ATTACK_MS), Promise.race([signalling, sleep(MAX_ATTACK_MS)])]);
    running = false;
    await Promise.all([...hammering, flooding, signalling]);
    const ms = performance.now() - t0;
    const after0 = await Promise.all([stats(bob, "bob"), stats(alice, "alice")]);
    const p1 = procFigures(bob.process.pid);
    const scheduling = { bob: mediaThreadScheduling(bob.process.pid), alice: mediaThreadScheduling(alice.process.pid) };
    await Promise.all(clients.map((c) => c.close()));

    t.diagnostic(`attack: ${stanzas} stanzas, ${statusReplies} status replies to ${CONTROL_CLIENTS} clients, ${datagrams} datagrams at port ${targetPort}, in ${Math.round(ms)} ms; bob's CPU ${p1.cpuMs - p0.cpuMs} ms; load average ${loadavg()[0].toFixed(1)} on ${availableParallelism()} CPUs; media threads: bob ${scheduling.bob.join(", ")}, alice ${scheduling.alice.join(", ")}`);
    assert.ok(statusReplies >= CONTROL_CLIENTS, "the control clients were answered");
    assert.ok(datagrams >= (DATAGRAMS_PER_SECOND * ATTACK_MS * 0.9) / 1000, "the flood ran at its rate");

    const window = (side: 0 | 1, i: number) => {
      const a = after0[side][i]!;
      const b = before0[side][i]!;
      return {
        played: a.framesPlayed - b.framesPlayed,
        concealed: a.framesConcealed - b.framesConcealed,
        late: a.lateTicks - b.lateTicks,
        longest: a.maxTickGapMs,
        // what the concealed frames were: packets lost on the way, packets that came after their turn, delay raised
        why: `${a.packetsLost - b.packetsLost} lost, ${a.packetsLate - b.packetsLate} came late, ${a.expands - b.expands} expands, ${a.underruns - b.underruns} underruns`,
      };
    };
    const meets = (w: { played: number; concealed: number; late: number }) => w.late === 0 && w.concealed < MAX_CONCEALED * w.played;
    const others = calls.map((c, i) => ({ ...c, i })).filter((c) => c.bob !== target.callId);
    for (const c of calls.map((x, i) => ({ ...x, i }))) {
      const b = window(0, c.i);
      const a = window(1, c.i);
      t.diagnostic(
        `${c.bob}${c.bob === target.callId ? " (flooded)" : ""}: bob ${b.played} played, ${b.concealed} concealed (${((100 * b.concealed) / b.played).toFixed(2)} %: ${b.why}), ${b.late} clock gaps >= 30 ms (longest in the call ${b.longest} ms); ` +
          `alice (control) ${a.concealed} concealed (${a.why}), ${a.late} clock gaps >= 30 ms (longest in the call ${a.longest} ms)`,
      );
    }

    // Always: the calls played on through the attack, are still up, and the daemon answers.
    for (const c of others) {
      const b = window(0, c.i);
      assert.ok(b.played >= (0.8 * ms) / 20, `call ${c.bob} played on (${b.played} frames in ${Math.round(ms)} ms)`);
    }
    const status = (await bob.control.request("status")) as { calls: { id: string; state: string }[] };
    assert.deepEqual(
      status.calls
        .filter((c) => c.state === "active")
        .map((c) => c.id)
        .sort(),
      calls.map((c) => c.bob).sort(),
      "every call, the flooded one too, is still active",
    );

    // The thresholds, when the machine let the unattacked end's clock keep time, or when the
    // calls met them anyway (then there is nothing to excuse: a stalled control must not hide a pass).
    // Alice's concealment is not part of that control: it is what bob sent her while attacked.
    const controlKeptTime = others.every((c) => window(1, c.i).late === 0);
    const callsMet = others.every((c) => meets(window(0, c.i)) && window(1, c.i).concealed < MAX_CONCEALED * window(1, c.i).played);
    if (stanzas < STANZAS || !(controlKeptTime || callsMet)) {
      const worst = Math.max(...others.map((c) => window(1, c.i).late));
      t.skip(
        stanzas < STANZAS
          ? `the server carried only ${stanzas} of ${STANZAS} stanzas in ${MAX_ATTACK_MS / 1000} s: thresholds not judged`
          : `the machine stalled the unattacked end's media clock too (up to ${worst} clock gaps >= 30 ms per call): thresholds not judged`,
      );
      return;
    }
    // Concealment is what the callers hear: asserted, both ways. What used to fail here (a todo until 2026-12-07): a
    // packet from a sender running 7-9 ms late was concealed and dropped, and the delay added after it
    // concealed a second frame; the playout buffer now waits a frame for it (#wait in playout-buffer.ts),
    // and in 20 runs on a quiet machine no other call concealed more than one frame either way.
    await t.test("the issue's threshold: < 0.2 % of frames concealed on every other call, both ways", () => {
      for (const c of others) {
        const b = window(0, c.i);
        const a = window(1, c.i);
        assert.ok(b.concealed < MAX_CONCEALED * b.played, `call ${c.bob}: bob concealed ${b.concealed} of ${b.played} frames during the attack (${b.why})`);
        assert.ok(a.concealed < MAX_CONCEALED * a.played, `call ${c.bob}: alice concealed ${a.concealed} of ${a.played} frames of bob's audio during the attack (${a.why})`);
      }
    });
    // Clock gaps, judged at the attacked end when its media threads run at real-time priority (media.priority:
    // realtime, the default, where the system allows it: as root here). A waking media thread then runs at once;
    // at nice -10 it waited for the running thread's slice, a 4 ms scheduler tick at a time, and bob's 20 ms
    // clock came 10-35 ms late in about half the runs while the attack kept both cores busy (0 of 11 runs at
    // real-time; docs/performance.md, "Media threads"). Without it the gaps are reported above, not judged.
    await t.test("the issue's threshold: no clock gap of 30 ms on any other call at the attacked end, its media threads at real-time priority", (tt) => {
      if (scheduling.bob.length === 0 || !scheduling.bob.every((x) => x.startsWith("fifo"))) {
        tt.skip(`bob's media threads run at ${scheduling.bob.join(", ") || "an unknown priority"}, not real-time: clock gaps reported, not judged`);
        return;
      }
      for (const c of others) {
        const b = window(0, c.i);
        assert.equal(b.late, 0, `call ${c.bob}: bob's media clock had ${b.late} gaps of 30 ms or more during the attack (longest in the call ${b.longest} ms; media threads ${scheduling.bob.join(", ")})`);
      }
    });
  });
});
