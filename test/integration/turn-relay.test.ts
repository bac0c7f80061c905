// TURN through a real coturn: the daemons learn the TURN server and
// short-lived credentials from Prosody (XEP-0215, mod_external_services with
// a secret shared with coturn), are forced to relay candidates only, and the
// call still carries audio — through the relay. Then the ICE agent alone:
// relay candidates from several TURN servers, and TURN over TCP when UDP to
// the server is dropped.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { startCoturn, type Coturn } from "../../scripts/lab/coturn.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudioSegments, readMono16 as mono16 } from "../../scripts/lab/audio-compare.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";
import { createSocket, type Socket } from "node:dgram";
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { IceAgent, type TurnServer } from "../../src/ice/ice-agent.js";
import { TCP_AFTER_MS, allocateRelay } from "../../src/ice/turn-allocate.js";
import { deleteAllocation } from "../../src/ice/werift-internals.js";
import type { IceCandidate } from "../../src/jingle/protocol/index.js";
import { silentLogger } from "../../src/util/logger.js";

describe("relay-only call through coturn with XEP-0215 credentials", { timeout: 120_000 }, () => {
  let coturn: Coturn;
  let alice: Daemon;
  let bob: Daemon;
  let speech: string;
  const relayOnly = { ice: { addresses: ["127.0.0.1"], policy: "relay", connectTimeoutMs: 15000 } };
  const lab = withLab({
    name: "turn",
    users: { alice: "a-pw", bob: "b-pw" },
    setup: async ({ dir, adopt }) => {
      coturn = adopt(await startCoturn());
      speech = join(dir, "alice-says.wav");
      await makeSpeechWav("Relayed audio still sounds like this sentence.", speech);
    },
    prosody: () => ({ modules: ["external_services"], extraConfig: coturn.prosodyConfig() }),
    daemons: () => ({ alice: { input: { type: "file", path: speech }, config: relayOnly }, bob: { config: relayOnly } }),
  });
  before(() => ({ daemons: { alice, bob } } = lab));

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

// ------------------------------------------------------------ several TURN servers, TCP fallback
//
// The ICE agent itself (src/ice) against real coturns on 127.0.0.1: a relay
// candidate from every TURN server given, allocated in parallel; a server
// whose UDP is silently dropped is reached over TCP after TCP_AFTER_MS, not
// after the ~6 s of UDP retransmissions.

describe("TURN: every server, TCP without waiting for UDP to give up", { timeout: 90_000 }, () => {
  const servers: Coturn[] = [];
  let sink: Socket | undefined;

  after(async () => {
    sink?.close();
    await Promise.all(servers.map((s) => s.stop()));
  });

  const turnOf = (c: Coturn, transport: TurnServer["transport"] = "udp"): TurnServer => ({ host: c.host, port: c.port, transport, ...c.credentials("alice") });

  /** Relay candidates an agent gathers, with the time each came after gather() began. */
  async function relaysOf(a: IceAgent): Promise<{ candidate: IceCandidate; ms: number }[]> {
    const out: { candidate: IceCandidate; ms: number }[] = [];
    const t0 = performance.now();
    a.on("candidate", (c) => {
      if (c.type === "relay") out.push({ candidate: c, ms: performance.now() - t0 });
    });
    await a.gather();
    return out;
  }

  test("one relay candidate from each TURN server, gathered in parallel; a refused one costs nothing", async (t) => {
    const [one, two] = await Promise.all([startCoturn(), startCoturn()]);
    servers.push(one!, two!);
    const bad: TurnServer = { ...turnOf(one!), password: "wrong" };
    const a = new IceAgent({ controlling: true, addresses: ["127.0.0.1"], relayOnly: true, connectTimeoutMs: 10_000, logger: silentLogger(), turn: [turnOf(one!), bad, turnOf(two!)] });
    const b = new IceAgent({ controlling: false, addresses: ["127.0.0.1"], relayOnly: true, connectTimeoutMs: 10_000, logger: silentLogger(), turn: [turnOf(two!)] });
    try {
      const relays = await relaysOf(a);
      t.diagnostic(`relay candidates: ${relays.map((r) => `${r.candidate.ip}:${r.candidate.port} after ${Math.round(r.ms)} ms`).join(", ")}`);
      assert.equal(relays.length, 2, "one relay candidate per working TURN server");
      // Each coturn relays from its own port range (see coturn.ts): one candidate in each.
      const inRange = (c: Coturn, port: number) => Math.abs(port - (40000 + (c.port % 2000) * 10)) < 10;
      assert.ok(relays.some((r) => inRange(one!, r.candidate.port)) && relays.some((r) => inRange(two!, r.candidate.port)), "a relay on each server");
      const byPort = new Map(relays.map((r) => [r.candidate.port, r.candidate.priority]));
      const first = [...byPort.entries()].find(([p]) => inRange(one!, p))![1];
      const second = [...byPort.entries()].find(([p]) => inRange(two!, p))![1];
      assert.ok(first > second, "the first configured server's relay is preferred");
      // Both agents relay-only: they connect through one of the relays.
      a.on("candidate", (c) => void b.addRemoteCandidate(c));
      b.on("candidate", (c) => void a.addRemoteCandidate(c));
      for (const r of relays) await b.addRemoteCandidate(r.candidate);
      const connected = Promise.all([new Promise((r) => a.once("connected", r)), new Promise((r) => b.once("connected", r))]);
      a.setRemoteParameters(b.localParameters.ufrag, b.localParameters.pwd);
      b.setRemoteParameters(a.localParameters.ufrag, a.localParameters.pwd);
      await b.gather();
      await connected;
      assert.equal(a.selectedPair()!.local.type, "relay");
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("UDP to the TURN server dropped: the TCP allocation starts after 1.5 s and wins", async (t) => {
    const tcpOnly = await startCoturn({ udp: false });
    servers.push(tcpOnly);
    // Something on the UDP port that swallows every request, as a firewall that drops UDP looks.
    sink = createSocket("udp4");
    await new Promise<void>((r) => sink!.bind(tcpOnly.port, "127.0.0.1", () => r()));
    let swallowed = 0;
    sink.on("message", () => swallowed++);
    const t0 = performance.now();
    const got = await allocateRelay(turnOf(tcpOnly), { logger: silentLogger(), udpAddress: "127.0.0.1" });
    const ms = performance.now() - t0;
    t.diagnostic(`allocation via ${got?.via} after ${Math.round(ms)} ms (${swallowed} UDP requests swallowed); werift alone would wait ~6 s for UDP first`);
    assert.ok(got, "an allocation was made");
    try {
      assert.equal(got.via, "tcp");
      assert.ok(swallowed >= 1, "UDP was tried first");
      assert.ok(ms >= TCP_AFTER_MS - 50, `TCP started only after UDP had ${TCP_AFTER_MS} ms (${Math.round(ms)} ms)`);
      assert.ok(ms < TCP_AFTER_MS + 2000, `TCP allocation after ${Math.round(ms)} ms`);
    } finally {
      await deleteAllocation(got.protocol.turn as never);
    }
    // And through the agent: its relay candidate comes as quickly.
    const a = new IceAgent({ controlling: true, addresses: ["127.0.0.1"], relayOnly: true, connectTimeoutMs: 10_000, logger: silentLogger(), turn: [turnOf(tcpOnly)] });
    try {
      const relays = await relaysOf(a);
      assert.equal(relays.length, 1);
      assert.ok(relays[0]!.ms < TCP_AFTER_MS + 2000, `relay candidate after ${Math.round(relays[0]!.ms)} ms`);
    } finally {
      await a.close();
    }
  });

  test("a TURN server that answers over UDP is used over UDP (no TCP attempt races it)", async () => {
    const c = await startCoturn();
    servers.push(c);
    // The premise: it answers over UDP now. A coturn just started on a loaded machine can log its UDP
    // listener a second or more before it answers (a full-suite run saw the allocation go to TCP at 1.5 s).
    await answersStunOverUdp(c.port, 10_000);
    const got = await allocateRelay(turnOf(c), { logger: silentLogger(), udpAddress: "127.0.0.1" });
    assert.ok(got);
    try {
      assert.equal(got.via, "udp");
      assert.ok(got.ms < TCP_AFTER_MS, `${got.ms} ms`);
    } finally {
      await deleteAllocation(got.protocol.turn as never);
    }
  });

  test("an allocation is refreshed before its lifetime ends; once deleted, nothing of it is left running", async (t) => {
    // coturn grants at most 3 s: the refresh must come at 2.5 s (5/6 of it).
    const c = await startCoturn({ extraArgs: ["--max-allocate-lifetime=3"] });
    servers.push(c);
    const got = await allocateRelay(turnOf(c), { logger: silentLogger(), udpAddress: "127.0.0.1" });
    assert.ok(got);
    const t0 = performance.now();
    try {
      const turn = got.protocol.turn as unknown as { requestWithRetry: (m: { messageMethod: number }, a: unknown) => Promise<[{ getAttributeValue(n: string): unknown }, unknown]> };
      const refreshes: { ms: number; lifetime: number }[] = [];
      const original = turn.requestWithRetry.bind(turn);
      turn.requestWithRetry = async (m, a) => {
        const r = await original(m, a);
        if (m.messageMethod === 0x004) refreshes.push({ ms: Math.round(performance.now() - t0), lifetime: Number(r[0].getAttributeValue("LIFETIME")) });
        return r;
      };
      await new Promise((r) => setTimeout(r, 3500));
      t.diagnostic(`refreshes: ${refreshes.map((x) => `at ${x.ms} ms, granted ${x.lifetime} s`).join("; ")}`);
      assert.ok(refreshes.length >= 1, "refreshed within the 3 s lifetime");
      assert.ok(refreshes[0]!.ms >= 2000 && refreshes[0]!.ms < 3000, `first refresh at ${refreshes[0]!.ms} ms, before the 3 s lifetime ended`);
      assert.ok(refreshes[0]!.lifetime > 0, "the server accepted it");
      await deleteAllocation(got.protocol.turn as never);
      const n = refreshes.length;
      await new Promise((r) => setTimeout(r, 3000));
      assert.equal(refreshes.length, n, "no refresh after the allocation was deleted");
    } finally {
      await deleteAllocation(got.protocol.turn as never);
    }
  });

  test("a process that made and deleted an allocation exits at once (no refresh timer keeps it alive)", async () => {
    const c = await startCoturn();
    servers.push(c);
    const root = new URL("../../", import.meta.url).pathname;
    const script = `
      const { allocateRelay } = await import(${JSON.stringify(join(root, "src/ice/turn-allocate.js"))});
      const { deleteAllocation } = await import(${JSON.stringify(join(root, "src/ice/werift-internals.js"))});
      const { silentLogger } = await import(${JSON.stringify(join(root, "src/util/logger.js"))});
      const got = await allocateRelay(${JSON.stringify(turnOf(c))}, { logger: silentLogger(), udpAddress: "127.0.0.1" });
      if (!got) process.exit(3);
      await deleteAllocation(got.protocol.turn);
      console.log("deleted " + Date.now());
    `;
    const child = spawn(process.execPath, ["--input-type=module", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
      child.on("exit", (c) => {
        clearTimeout(kill);
        resolve(c);
      });
    });
    const deletedAt = Number(/deleted (\d+)/.exec(out)?.[1]);
    assert.equal(code, 0, `the child exited by itself (${code}; output ${out.trim()})`);
    assert.ok(Date.now() - deletedAt < 5000, `exited ${Date.now() - deletedAt} ms after deleting its allocation`);
  });
});

/** Resolves once a STUN Binding request (RFC 5389 §6, no attributes) to 127.0.0.1:port gets a response; rejects after timeoutMs. */
async function answersStunOverUdp(port: number, timeoutMs: number): Promise<void> {
  const sock = createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      const request = Buffer.alloc(20);
      request.writeUInt16BE(0x0001, 0);
      request.writeUInt32BE(0x2112a442, 4);
      randomBytes(12).copy(request, 8);
      const retry = setInterval(() => sock.send(request, port, "127.0.0.1"), 200);
      const give = setTimeout(() => {
        clearInterval(retry);
        reject(new Error(`no STUN answer over UDP from port ${port} within ${timeoutMs} ms`));
      }, timeoutMs);
      sock.on("message", (m) => {
        if (m.length < 20 || !m.subarray(8, 20).equals(request.subarray(8, 20))) return;
        clearInterval(retry);
        clearTimeout(give);
        resolve();
      });
      sock.send(request, port, "127.0.0.1");
    });
  } finally {
    sock.close();
  }
}
