// The IceAgent's restart and liveness logic on loopback (no namespaces
// needed): two agents connect, restart (both sides, like a Jingle
// transport-info exchange with new ufrag/pwd), and reconnect on a new
// generation while the old pair carries data until then; an agent whose
// peer goes away reports `disconnected` long before consent expires.
import { test } from "node:test";
import assert from "node:assert/strict";
import { IceAgent } from "../../src/ice/ice-agent.js";
import type { IceCandidate } from "../../src/jingle/protocol/index.js";
import { createLogger } from "../../src/util/logger.js";

const logger = createLogger({ level: (process.env.TEST_ICE_LOG as "debug" | undefined) ?? "silent" });

function pair(opts: { disconnectedAfterMs?: number } = {}) {
  const mk = (controlling: boolean) =>
    new IceAgent({ controlling, addresses: ["127.0.0.1"], connectTimeoutMs: 8000, logger, ...opts });
  const a = mk(true);
  const b = mk(false);
  // Signalling: candidates and credentials go straight across, like trickled transport-info.
  const wire = (from: IceAgent, to: IceAgent) => from.on("candidate", (c: IceCandidate) => void to.addRemoteCandidate(c));
  wire(a, b);
  wire(b, a);
  const exchange = () => {
    b.setRemoteParameters(a.localParameters.ufrag, a.localParameters.pwd);
    a.setRemoteParameters(b.localParameters.ufrag, b.localParameters.pwd);
  };
  return { a, b, exchange };
}

const connected = (x: IceAgent) => new Promise<{ restart: boolean; generation: number }>((r) => x.once("connected", (_p, info) => r(info)));

test("ICE restart: a new generation with new credentials, data flows before, during and after", { timeout: 30_000 }, async () => {
  const { a, b, exchange } = pair();
  try {
    const both = Promise.all([connected(a), connected(b)]);
    exchange();
    await Promise.all([a.gather(), b.gather()]);
    const first = await both;
    assert.deepEqual(first.map((i) => i.restart), [false, false]);

    let received = 0;
    b.on("data", () => received++);
    const oldUfrag = a.localParameters.ufrag;
    const again = Promise.all([connected(a), connected(b)]);
    // Both restart in the same tick (as b would on a's transport-info), before any new candidate is trickled.
    assert.ok(a.restart());
    assert.ok(b.restart());
    assert.ok(a.restarting);
    assert.notEqual(a.localParameters.ufrag, oldUfrag);
    a.send(Buffer.from("during the restart: still on the old pair"));
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(received >= 1, "the old pair carries data while the restart runs");
    exchange();
    const after = await again;
    assert.deepEqual(after.map((i) => [i.restart, i.generation]), [[true, 2], [true, 2]]);
    assert.equal(a.restarting, false);
    const before = received;
    a.send(Buffer.from("after the restart"));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(received, before + 1);
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});

test("a peer that goes away is reported as disconnected before consent expires", { timeout: 30_000 }, async () => {
  const { a, b, exchange } = pair({ disconnectedAfterMs: 2500 });
  try {
    const both = Promise.all([connected(a), connected(b)]);
    exchange();
    await Promise.all([a.gather(), b.gather()]);
    await both;
    const t0 = performance.now();
    const disconnected = new Promise<string>((r) => a.once("disconnected", r));
    let failed = false;
    a.on("failed", () => (failed = true));
    await b.close();
    const reason = await disconnected;
    const ms = performance.now() - t0;
    assert.match(reason, /no consent response or packet/);
    assert.ok(ms < 9000, `disconnected after ${Math.round(ms)} ms`);
    assert.equal(failed, false, "consent (30 s) has not expired yet");
  } finally {
    await Promise.all([a.close(), b.close()]);
  }
});
