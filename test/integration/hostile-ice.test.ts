// Attacks on the ICE agent (src/ice) with real UDP sockets on 127.0.0.1
// (issue 12, findings 3 and 4): Binding requests from a stranger who knows
// our ufrag (it travels in the clear in every check) but not our password,
// before and after the peer's credentials are known; and, from someone who
// does know the password (the peer, or its server), floods that must stay
// bounded. The stranger must get nothing back and change nothing; the call
// between the real agents must carry its data. Datagrams that are not STUN
// pass only from the peer's validated addresses, host and TURN-relayed alike.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { IceAgent } from "../../src/ice/ice-agent.js";
import type { IceCandidate } from "../../src/jingle/protocol/index.js";
import { MAX_EARLY_CHECKS, MAX_LEARNED_CANDIDATES, RATE_BURST, RATE_PER_SECOND } from "../../src/ice/port-guard.js";
import { silentLogger } from "../../src/util/logger.js";
import { STUN, bindingRequest, bindingSuccess, channelData, dataIndication, readStun } from "../helpers/stun.js";
import { startCoturn, type Coturn } from "../../scripts/lab/coturn.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RTP = Buffer.from([0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0xff]);

function agent(controlling: boolean): IceAgent {
  return new IceAgent({ controlling, addresses: ["127.0.0.1"], connectTimeoutMs: 15_000, logger: silentLogger() });
}

/** An agent that has gathered: its candidates (host only, on 127.0.0.1). */
async function gathered(a: IceAgent): Promise<IceCandidate[]> {
  const cands: IceCandidate[] = [];
  a.on("candidate", (c) => cands.push(c));
  await a.gather();
  assert.ok(cands.length > 0, "a host candidate");
  return cands;
}

function connected(a: IceAgent, timeoutMs = 15_000): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`not connected within ${timeoutMs} ms; checks: ${a.describeChecks().join("; ")}`)), timeoutMs);
    a.once("connected", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

/** Two agents (a controlling) connected over loopback the ordinary way; their candidates. */
async function call(): Promise<{ a: IceAgent; b: IceAgent; aCands: IceCandidate[]; bCands: IceCandidate[] }> {
  const a = agent(true);
  const b = agent(false);
  const [aCands, bCands] = await Promise.all([gathered(a), gathered(b)]);
  const up = Promise.all([connected(a), connected(b)]);
  a.setRemoteParameters(b.localParameters.ufrag, b.localParameters.pwd);
  b.setRemoteParameters(a.localParameters.ufrag, a.localParameters.pwd);
  for (const c of bCands) await a.addRemoteCandidate(c);
  for (const c of aCands) await b.addRemoteCandidate(c);
  await up;
  return { a, b, aCands, bCands };
}

/** `n` attacker sockets on 127.0.0.1; everything they receive is kept. */
async function attackers(n: number): Promise<{ sockets: Socket[]; received: { data: Buffer; from: RemoteInfo; at: number }[]; close(): void }> {
  const received: { data: Buffer; from: RemoteInfo; at: number }[] = [];
  const sockets = await Promise.all(
    Array.from({ length: n }, async () => {
      const s = createSocket("udp4");
      s.on("message", (data, from) => received.push({ data, from, at: performance.now() }));
      await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
      return s;
    }),
  );
  return { sockets, received, close: () => sockets.forEach((s) => s.close()) };
}

/** Sends `data` on `count` packets, both ways, and resolves with how many each side received. */
async function exchange(a: IceAgent, b: IceAgent, count: number): Promise<{ atA: number; atB: number }> {
  let atA = 0;
  let atB = 0;
  const onA = () => atA++;
  const onB = () => atB++;
  a.on("data", onA);
  b.on("data", onB);
  for (let i = 0; i < count; i++) {
    a.send(RTP);
    b.send(RTP);
    await sleep(5);
  }
  await sleep(300);
  a.off("data", onA);
  b.off("data", onB);
  return { atA, atB };
}

const successes = (rx: { data: Buffer }[]) => rx.filter((r) => readStun(r.data)?.type === STUN.bindingSuccess).length;

describe("attacks on the ICE agent", { timeout: 120_000 }, () => {
  test("candidates before credentials: a stranger who knows our ufrag never becomes the selected pair and receives nothing", async (t) => {
    const v = agent(false);
    const p = agent(true);
    const atk = await attackers(1);
    try {
      const [vCands, pCands] = await Promise.all([gathered(v), gathered(p)]);
      // The stranger answers every check it gets as if it were the peer:
      // signed with the empty password, what the victim would check with
      // while it does not know the peer's yet.
      atk.sockets[0]!.on("message", (m, from) => {
        const s = readStun(m);
        if (s?.type === STUN.bindingRequest) atk.sockets[0]!.send(bindingSuccess(s.tid, from, Buffer.alloc(0)), from.port, from.address);
      });
      // The peer's candidates arrive before its ufrag/pwd (a transport-info
      // that overtook the session-accept); the stranger's checks meanwhile
      // name our ufrag and ask to be nominated.
      for (const c of pCands) await v.addRemoteCandidate(c);
      for (let i = 0; i < 20; i++) {
        atk.sockets[0]!.send(bindingRequest({ username: `${v.localParameters.ufrag}:evil`, key: randomBytes(16), role: "controlling", useCandidate: true }), vCands[0]!.port, "127.0.0.1");
        await sleep(25);
      }
      await sleep(1500);
      // Now the credentials, and the peer learns ours.
      const up = Promise.all([connected(v), connected(p)]);
      v.setRemoteParameters(p.localParameters.ufrag, p.localParameters.pwd);
      p.setRemoteParameters(v.localParameters.ufrag, v.localParameters.pwd);
      for (const c of vCands) await p.addRemoteCandidate(c);
      await up;
      const selected = v.selectedPair()!;
      t.diagnostic(`victim's selected pair: ${JSON.stringify(selected)}; stranger at port ${atk.sockets[0]!.address().port}; checks: ${v.describeChecks().join("; ")}`);
      const { atA, atB } = await exchange(v, p, 10);
      t.diagnostic(`the stranger received ${atk.received.length} datagrams (${successes(atk.received)} success responses); the peer got ${atB} of 10 packets, the victim ${atA}`);
      assert.equal(selected.remote.port, pCands[0]!.port, "the selected pair goes to the peer");
      assert.equal(atk.received.length, 0, "the stranger received nothing: no response, no check, no media");
      assert.ok(atB >= 10 && atA >= 10, "the call carries its data");
    } finally {
      atk.close();
      await Promise.all([v.close(), p.close()]);
    }
  });

  test("a check signed with our password gets no answer until the peer's credentials are known", async (t) => {
    const v = agent(false);
    const atk = await attackers(1);
    try {
      const [c] = await gathered(v);
      const key = Buffer.from(v.localParameters.pwd);
      const send = () => atk.sockets[0]!.send(bindingRequest({ username: `${v.localParameters.ufrag}:peer`, key, role: "controlling" }), c!.port, "127.0.0.1");
      for (let i = 0; i < 5; i++) {
        send();
        await sleep(50);
      }
      await sleep(500);
      const before = atk.received.length;
      v.setRemoteParameters("peer", "p".repeat(24));
      send();
      await sleep(500);
      t.diagnostic(`before the credentials: ${before} datagrams back; after: ${atk.received.length - before} (${successes(atk.received)} success responses)`);
      assert.equal(before, 0, "nothing answered before the remote credentials");
      assert.ok(successes(atk.received) >= 1, "answered once they are known (the check itself was valid)");
    } finally {
      atk.close();
      await v.close();
    }
  });

  test("3,000 forged checks naming our ufrag (role conflicts, USE-CANDIDATE) from 30 sources during a call: no answer, no new pair, data flows", async (t) => {
    const { a, b } = await call();
    const atk = await attackers(30);
    try {
      const pairsBefore = a.describeChecks().length;
      const heap0 = process.memoryUsage().heapUsed;
      const t0 = performance.now();
      for (let i = 0; i < 3000; i++) {
        const target = i % 2 ? a : b;
        const port = (i % 2 ? a : b).selectedPair()!.local.port;
        const other = i % 2 ? b : a;
        atk.sockets[i % 30]!.send(
          bindingRequest({
            username: `${target.localParameters.ufrag}:${other.localParameters.ufrag}`,
            key: randomBytes(16),
            role: i % 4 < 2 ? "controlling" : "controlled",
            tieBreaker: i % 3 ? 0xffffffffffffffffn : 0n,
            useCandidate: true,
          }),
          port,
          "127.0.0.1",
        );
        if (i % 100 === 99) await sleep(10);
      }
      const { atA, atB } = await exchange(a, b, 20);
      await sleep(1000);
      const ms = performance.now() - t0;
      const heap1 = process.memoryUsage().heapUsed;
      t.diagnostic(
        `3000 forged checks in ${Math.round(ms)} ms: ${atk.received.length} datagrams back to the attackers (${successes(atk.received)} success responses); pairs ${pairsBefore} -> ${a.describeChecks().length} (a), ${b.describeChecks().length} (b); heap ${((heap1 - heap0) / 1048576).toFixed(1)} MiB; data ${atA}/${atB} of 20`,
      );
      assert.equal(atk.received.length, 0, "nothing sent to the attackers");
      assert.equal(a.describeChecks().length, pairsBefore, "no new candidate pair");
      assert.equal(a.state, "connected");
      assert.equal(b.state, "connected");
      assert.ok(atA >= 20 && atB >= 20, "data flows both ways");
    } finally {
      atk.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  // Someone with our password (the peer, or its server) is still bounded.
  test("with our password, 200 sources during a call: at most MAX_LEARNED_CANDIDATES peer-reflexive candidates (and pairs)", async (t) => {
    const { a, b } = await call();
    const atk = await attackers(200);
    try {
      const pairsBefore = a.describeChecks().length;
      const key = Buffer.from(a.localParameters.pwd);
      const port = a.selectedPair()!.local.port;
      for (const s of atk.sockets) {
        s.send(bindingRequest({ username: `${a.localParameters.ufrag}:${b.localParameters.ufrag}`, key, role: "controlled" }), port, "127.0.0.1");
        await sleep(2);
      }
      await sleep(1500);
      const newPairs = a.describeChecks().length - pairsBefore;
      t.diagnostic(`200 sources with valid checks: ${successes(atk.received)} success responses, ${atk.received.length} datagrams back in all, ${newPairs} new pairs (bound ${MAX_LEARNED_CANDIDATES})`);
      assert.ok(newPairs <= MAX_LEARNED_CANDIDATES, `${newPairs} new pairs`);
      assert.ok(successes(atk.received) <= MAX_LEARNED_CANDIDATES, `${successes(atk.received)} success responses`);
      const { atA, atB } = await exchange(a, b, 10);
      assert.ok(atA >= 10 && atB >= 10, "data flows both ways");
    } finally {
      atk.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("with our password, 600 checks from one source in about 0.6 s: answers limited to the per-source rate", async (t) => {
    const { a, b } = await call();
    const atk = await attackers(1);
    try {
      const key = Buffer.from(a.localParameters.pwd);
      const port = a.selectedPair()!.local.port;
      const t0 = performance.now();
      for (let i = 0; i < 600; i++) {
        atk.sockets[0]!.send(bindingRequest({ username: `${a.localParameters.ufrag}:${b.localParameters.ufrag}`, key, role: "controlled" }), port, "127.0.0.1");
        if (i % 10 === 9) await sleep(10);
      }
      const sec = (performance.now() - t0) / 1000;
      await sleep(500);
      const ok = successes(atk.received);
      const limit = RATE_BURST + Math.ceil((sec + 0.5) * RATE_PER_SECOND);
      t.diagnostic(`600 valid checks from one source in ${sec.toFixed(2)} s: ${ok} answered (limit ${limit}), ${atk.received.length - ok} other datagrams back`);
      assert.ok(ok <= limit, `${ok} answers`);
      assert.ok(ok >= 1, "some are answered (they are valid)");
    } finally {
      atk.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  test("with our password, before any remote candidate: at most MAX_EARLY_CHECKS checks of 100 sources wait (and are answered)", async (t) => {
    const v = agent(false);
    const atk = await attackers(100);
    try {
      const [c] = await gathered(v);
      v.setRemoteParameters("peer", "p".repeat(24));
      const key = Buffer.from(v.localParameters.pwd);
      for (const s of atk.sockets) {
        s.send(bindingRequest({ username: `${v.localParameters.ufrag}:peer`, key, role: "controlling" }), c!.port, "127.0.0.1");
        await sleep(2);
      }
      await sleep(1000);
      t.diagnostic(`100 sources' valid checks before any remote candidate: ${successes(atk.received)} answered (bound ${MAX_EARLY_CHECKS})`);
      assert.ok(successes(atk.received) <= MAX_EARLY_CHECKS, `${successes(atk.received)} answered`);
    } finally {
      atk.close();
      await v.close();
    }
  });

  describe("through a TURN relay (real coturn)", () => {
    let coturn: Coturn | undefined;
    after(async () => coturn?.stop());

    test("a stranger's datagrams relayed by the TURN server, and Data indications and ChannelData forged at the TURN client's socket, never reach the agent; the peer's do", async (t) => {
      coturn = await startCoturn();
      const turn = { host: coturn.host, port: coturn.port, transport: "udp" as const, ...coturn.credentials("victim") };
      const v = new IceAgent({ controlling: true, addresses: ["127.0.0.1"], relayOnly: true, turn, connectTimeoutMs: 15_000, logger: silentLogger() });
      const p = agent(false);
      const atk = await attackers(1);
      try {
        const [vCands, pCands] = await Promise.all([gathered(v), gathered(p)]);
        const relay = vCands.find((c) => c.type === "relay")!;
        assert.ok(relay?.relAddr && relay.relPort, "a relay candidate with the TURN client's mapped address");
        const up = Promise.all([connected(v), connected(p)]);
        v.setRemoteParameters(p.localParameters.ufrag, p.localParameters.pwd);
        p.setRemoteParameters(v.localParameters.ufrag, v.localParameters.pwd);
        for (const c of pCands) await v.addRemoteCandidate(c);
        for (const c of vCands) await p.addRemoteCandidate(c);
        await up;
        assert.equal(v.selectedPair()!.local.type, "relay");
        const peer = { address: pCands[0]!.ip, port: pCands[0]!.port };
        const evil = Buffer.from([0x80, 0, 0, 9, 0, 0, 0, 0, 0xee, 0xee, 0xee, 0xee, 0xee]);
        const alert = Buffer.from("15fefd000000000000000000020228", "hex");
        let foreign = 0;
        let genuine = 0;
        v.on("data", (d) => (d.equals(evil) || d.equals(alert) ? foreign++ : genuine++));
        for (let i = 0; i < 20; i++) {
          // Through the relay (coturn's permission is per IP, and the stranger shares the peer's 127.0.0.1).
          atk.sockets[0]!.send(i % 2 ? evil : alert, relay.port, relay.ip);
          // Straight at the TURN client's socket, claiming to be the TURN server speaking for the peer.
          atk.sockets[0]!.send(dataIndication(peer, i % 2 ? evil : alert), relay.relPort!, relay.relAddr!);
          for (let ch = 0x4000; ch < 0x4004; ch++) atk.sockets[0]!.send(channelData(ch, i % 2 ? evil : alert), relay.relPort!, relay.relAddr!);
          p.send(RTP);
          await sleep(20);
        }
        await sleep(500);
        t.diagnostic(`the victim took ${foreign} of the stranger's 120 datagrams, ${genuine} of the peer's 20 packets; the stranger received ${atk.received.length} datagrams`);
        assert.equal(foreign, 0, "nothing of the stranger's reached the agent");
        assert.ok(genuine >= 20, "the peer's packets did");
        assert.equal(v.state, "connected");
      } finally {
        atk.close();
        await Promise.all([v.close(), p.close()]);
      }
    });
  });
});
