// TURN through a real coturn: the daemons learn the TURN server and
// short-lived credentials from Prosody (XEP-0215, mod_external_services with
// a secret shared with coturn), are forced to relay candidates only, and the
// call still carries audio — through the relay.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProsody, type ProsodyServer } from "../helpers/prosody.js";
import { startCoturn, type Coturn } from "../helpers/coturn.js";
import { startDaemon, type Daemon } from "../helpers/daemon.js";
import { makeSpeechWav } from "../helpers/speech.js";
import { compareAudioSegments, readMono16 as mono16 } from "../helpers/audio-compare.js";
import type { AnyEvent } from "../../src/control/client.js";

describe("relay-only call through coturn with XEP-0215 credentials", { timeout: 120_000 }, () => {
  let coturn: Coturn;
  let prosody: ProsodyServer;
  let dir: string;
  let alice: Daemon;
  let bob: Daemon;
  let speech: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-turn-"));
    coturn = await startCoturn();
    prosody = await startProsody({
      users: [
        { username: "alice", password: "a-pw" },
        { username: "bob", password: "b-pw" },
      ],
      modules: ["external_services"],
      extraConfig: coturn.prosodyConfig(),
    });
    speech = join(dir, "alice-says.wav");
    await makeSpeechWav("Relayed audio still sounds like this sentence.", speech);
    const relayOnly = { ice: { addresses: ["127.0.0.1"], policy: "relay", connectTimeoutMs: 15000 } };
    alice = await startDaemon({ prosody, username: "alice", password: "a-pw", dir: join(dir, "alice"), input: { type: "file", path: speech }, config: relayOnly });
    bob = await startDaemon({ prosody, username: "bob", password: "b-pw", dir: join(dir, "bob"), config: relayOnly });
  });

  after(async () => {
    await Promise.all([alice?.stop(), bob?.stop()]);
    await prosody?.stop();
    await coturn?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  const is = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;

  test("the selected pair is relay on both sides, and the audio arrives", async (t) => {
    const mark = bob.events.length;
    const { callId } = (await alice.control.request("call", { jid: bob.jid, codecs: ["opus"] })) as { callId: string };
    const incoming = await bob.waitForEvent((e) => e.event === "call" && e.type === "incoming" && bob.events.indexOf(e) >= mark, 10000, "incoming");
    await bob.control.request("answer", { callId: incoming.callId });
    const media = await alice.waitForEvent((e) => e.event === "media" && e.callId === callId, 20000, "media at alice");
    const mediaB = await bob.waitForEvent((e) => e.event === "media" && e.callId === incoming.callId, 20000, "media at bob");
    const l = media.localCandidate as { type: string; port: number };
    const r = media.remoteCandidate as { type: string; port: number };
    t.diagnostic(`alice ${l.type}:${l.port} <-> ${r.type}:${r.port}; pairType ${String(media.pairType)}`);
    assert.equal(l.type, "relay");
    assert.equal(r.type, "relay");
    assert.equal((mediaB.localCandidate as { type: string }).type, "relay");
    assert.equal(media.pairType, "relayed");

    await new Promise((res) => setTimeout(res, 3500));
    await alice.control.request("hangup", { callId });
    const endB = await bob.waitForEvent(is(incoming.callId, "ended"), 10000, "bob ended");
    assert.equal(endB.reason, "success");
    const stats = endB.stats as { recording: string; packetsReceived: number };
    t.diagnostic(`bob stats ${JSON.stringify(endB.stats)}`);
    assert.ok(stats.packetsReceived > 100, `bob received ${stats.packetsReceived} packets through the relay`);
    const ref = mono16(speech);
    const rec = mono16(stats.recording);
    const cmp = compareAudioSegments(ref.pcm, ref.rate, rec.pcm, rec.rate);
    t.diagnostic(`relayed audio correlation ${cmp.correlation.toFixed(3)}`);
    assert.ok(cmp.correlation >= 0.85, `correlation ${cmp.correlation.toFixed(3)}`);
    // coturn really relayed: it logged allocations and channel/permission traffic.
    assert.match(coturn.logs(), /ALLOCATE/i);
  });
});
