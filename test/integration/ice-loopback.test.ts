// The ICE adapter with real UDP sockets on 127.0.0.1: two agents trickle
// candidates to each other, connect and exchange data; an unreachable peer
// fails within the connect timeout.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { IceAgent } from "../../src/ice/ice-agent.js";
import { silentLogger } from "../../src/util/logger.js";
import type { IceCandidate } from "../../src/jingle/protocol/index.js";

function agent(controlling: boolean, connectTimeoutMs = 5000, addresses = ["127.0.0.1"]) {
  return new IceAgent({ controlling, addresses, connectTimeoutMs, logger: silentLogger() });
}

/** Two agents that trickle to each other; resolves with both once connected (each side's candidates as it announced them). */
async function connectPair(addresses: string[], remoteIp?: (ip: string) => string) {
  const a = agent(true, 5000, addresses);
  const b = agent(false, 5000, addresses);
  const sent: { a: IceCandidate[]; b: IceCandidate[] } = { a: [], b: [] };
  a.on("candidate", (c) => {
    sent.a.push(c);
    void b.addRemoteCandidate({ ...c, ip: remoteIp ? remoteIp(c.ip) : c.ip });
  });
  b.on("candidate", (c) => {
    sent.b.push(c);
    void a.addRemoteCandidate({ ...c, ip: remoteIp ? remoteIp(c.ip) : c.ip });
  });
  const connected = Promise.all([new Promise((r) => a.once("connected", r)), new Promise((r) => b.once("connected", r))]);
  a.setRemoteParameters(b.localParameters.ufrag, b.localParameters.pwd);
  b.setRemoteParameters(a.localParameters.ufrag, a.localParameters.pwd);
  await Promise.all([a.gather(), b.gather()]);
  await connected;
  return { a, b, sent };
}

test("two agents connect over loopback with trickled candidates and carry data both ways", async () => {
  const a = agent(true);
  const b = agent(false);
  try {
    a.on("candidate", (c) => void b.addRemoteCandidate(c));
    b.on("candidate", (c) => void a.addRemoteCandidate(c));
    const connected = Promise.all([
      new Promise((r) => a.once("connected", r)),
      new Promise((r) => b.once("connected", r)),
    ]);
    a.setRemoteParameters(b.localParameters.ufrag, b.localParameters.pwd);
    b.setRemoteParameters(a.localParameters.ufrag, a.localParameters.pwd);
    const t0 = performance.now();
    await Promise.all([a.gather(), b.gather()]);
    await connected;
    const elapsed = performance.now() - t0;
    assert.ok(elapsed < 5000, `connected in ${elapsed.toFixed(0)} ms`);
    const pair = a.selectedPair()!;
    assert.equal(pair.local.ip, "127.0.0.1");
    assert.equal(pair.remote.ip, "127.0.0.1");
    assert.equal(pair.local.type, "host");

    const got = new Promise<Buffer>((r) => b.once("data", r));
    const back = new Promise<Buffer>((r) => a.once("data", r));
    a.send(Buffer.from([0x80, 0, 1, 2, 3]));
    b.send(Buffer.from([0x80, 0, 9, 9, 9]));
    assert.deepEqual([...(await got)], [0x80, 0, 1, 2, 3]);
    assert.deepEqual([...(await back)], [0x80, 0, 9, 9, 9]);
  } finally {
    await a.close();
    await b.close();
  }
});

test("a call's start: the callee checks before the caller knows its credentials; both connect together, and the callee's first packet goes out at once", async () => {
  // As in a call: the callee (controlled) learns the caller's offer and starts checking at once; the caller
  // learns the callee's credentials only with the session-accept, here 400 ms later. The caller drops the
  // callee's checks until then (port-guard.ts). Its own check then arrives while the callee's pair is In
  // Progress: RFC 8445 §7.3.1.4 triggers a new check at once. werift alone waited for its transaction's
  // retransmission (50, 150, 350, 750 ms after the first), so the callee connected ~350 ms after the caller.
  const a = agent(true);
  const b = agent(false);
  try {
    const at: { a?: number; b?: number } = {};
    const received = new Promise<Buffer>((r) => a.once("data", r));
    a.once("connected", () => (at.a = performance.now()));
    // The moment it is connected the callee sends: consent freshness must already be running (RFC 7675).
    b.once("connected", () => {
      at.b = performance.now();
      b.send(Buffer.from([0x80, 0, 0, 1, 2, 3]));
    });
    b.setRemoteParameters(a.localParameters.ufrag, a.localParameters.pwd);
    const toA: IceCandidate[] = [];
    b.on("candidate", (c) => toA.push(c));
    a.on("candidate", (c) => void b.addRemoteCandidate(c));
    await Promise.all([a.gather(), b.gather()]);
    await new Promise((r) => setTimeout(r, 400));
    a.setRemoteParameters(b.localParameters.ufrag, b.localParameters.pwd);
    for (const c of toA) await a.addRemoteCandidate(c);
    const got = await Promise.race([received, new Promise<undefined>((r) => setTimeout(r, 3000, undefined))]);
    assert.ok(at.a && at.b, "both connected");
    const lag = at.b - at.a;
    console.log(`# callee connected ${lag.toFixed(1)} ms after the caller`);
    assert.ok(lag < 150, `the callee connected ${lag.toFixed(0)} ms after the caller: it waited for a retransmission`);
    assert.deepEqual(got && [...got], [0x80, 0, 0, 1, 2, 3], "the packet the callee sent as it connected arrived");
  } finally {
    await a.close();
    await b.close();
  }
});

test("a candidate signalled after its address was learned from the peer's check takes over the learned one: reported as host, no duplicate pair", async () => {
  // As in a dual-stack call: the caller checks the callee's first candidates (here one that never answers) while
  // the callee's check from an address not signalled yet arrives; the caller learns it as peer-reflexive
  // (RFC 8445 §7.3.1.3), connects through it, and the candidate comes in the next transport-info.
  const silent = createSocket("udp4");
  await new Promise<void>((r) => silent.bind(0, "127.0.0.1", () => r()));
  const a = agent(true);
  const b = agent(false);
  try {
    const connected = Promise.all([new Promise((r) => a.once("connected", r)), new Promise((r) => b.once("connected", r))]);
    const toA: IceCandidate[] = [];
    b.on("candidate", (c) => toA.push(c));
    a.on("candidate", (c) => void b.addRemoteCandidate(c));
    a.setRemoteParameters(b.localParameters.ufrag, b.localParameters.pwd);
    b.setRemoteParameters(a.localParameters.ufrag, a.localParameters.pwd);
    await a.gather();
    await a.addRemoteCandidate({ component: 1, foundation: "9", generation: 0, id: "s", ip: "127.0.0.1", network: 0, port: silent.address().port, priority: 2130706431, protocol: "udp", type: "host" });
    await b.gather();
    await connected;
    const host = toA.find((c) => c.type === "host")!;
    assert.equal(a.selectedPair()?.remote.type, "prflx", "connected through the learned candidate");
    for (const c of toA) await a.addRemoteCandidate(c);
    assert.deepEqual(a.selectedPair()?.remote, { type: "host", ip: host.ip, port: host.port });
    const pairs = a.describeChecks().filter((d) => d.includes(`${host.ip}:${host.port}`) || d.includes(`${host.ip} ${host.port}`));
    assert.equal(pairs.length, 1, `one pair with the callee's address: ${a.describeChecks().join("; ")}`);
  } finally {
    await a.close();
    await b.close();
    silent.close();
  }
});

test("an unreachable peer makes the agent fail within the connect timeout", async () => {
  // A bound socket that never answers STUN: checks go nowhere.
  const sink = createSocket("udp4");
  await new Promise<void>((r) => sink.bind(0, "127.0.0.1", () => r()));
  const port = sink.address().port;
  const a = agent(true, 1500);
  try {
    const failed = new Promise<string>((r) => a.once("failed", r));
    a.setRemoteParameters("abcd", "0123456789012345678901");
    await a.gather();
    await a.addRemoteCandidate({ component: 1, foundation: "1", generation: 0, id: "x", ip: "127.0.0.1", network: 0, port, priority: 2130706431, protocol: "udp", type: "host" });
    const t0 = performance.now();
    const reason = await failed;
    const elapsed = performance.now() - t0;
    assert.match(reason, /no connectivity within 1500 ms|failed/);
    assert.ok(elapsed < 3000, `failed after ${elapsed.toFixed(0)} ms`);
    assert.equal(a.state, "failed");
  } finally {
    await a.close();
    sink.close();
  }
});

test("unusable remote candidates are ignored: mDNS names, TCP, other components, nobody's and everybody's addresses", async () => {
  const a = agent(true);
  try {
    const base = { component: 1, foundation: "1", generation: 0, id: "x", network: 0, port: 9999, priority: 1, protocol: "udp", type: "host" as const };
    assert.equal(await a.addRemoteCandidate({ ...base, ip: "abcd-1234.local" }), false);
    // Checks sent to a multicast group or broadcast would reach every host on the LAN (ours included).
    for (const ip of ["ff02::1", "224.0.0.1", "255.255.255.255", "::", "0.0.0.0"]) assert.equal(await a.addRemoteCandidate({ ...base, ip }), false, ip);
    assert.equal(await a.addRemoteCandidate({ ...base, ip: "127.0.0.1", protocol: "tcp" }), false);
    assert.equal(await a.addRemoteCandidate({ ...base, ip: "127.0.0.1", component: 2 }), false);
    assert.equal(await a.addRemoteCandidate({ ...base, ip: "127.0.0.1" }), true);
  } finally {
    await a.close();
  }
});

test("IPv6: two agents on ::1 connect and carry data; a peer's candidate in another spelling of the address works as well", async () => {
  // "0:0:0:0:0:0:0:1" is ::1: checks and answers come from "::1", which must match the candidate.
  const { a, b, sent } = await connectPair(["::1"], () => "0:0:0:0:0:0:0:1");
  try {
    assert.deepEqual(sent.a.map((c) => `${c.type} ${c.ip}`), ["host ::1"]);
    assert.deepEqual(a.selectedPair()?.local, { type: "host", ip: "::1", port: sent.a[0]!.port });
    assert.equal(a.selectedPair()?.remote.ip, "::1");
    assert.equal(a.selectedPair()?.remote.type, "host", "the signalled candidate, not a peer-reflexive copy");
    const got = new Promise<Buffer>((r) => b.once("data", r));
    a.send(Buffer.from([0x80, 0, 6, 6]));
    assert.deepEqual([...(await got)], [0x80, 0, 6, 6]);
  } finally {
    await a.close();
    await b.close();
  }
});

test("dual-stack: IPv6 announced first and selected when both families work (RFC 8421, as browsers do)", async () => {
  const { a, b, sent } = await connectPair(["127.0.0.1", "::1"]);
  try {
    assert.deepEqual(sent.a.map((c) => c.ip), ["::1", "127.0.0.1"], "best first");
    assert.ok(sent.a[0]!.priority > sent.a[1]!.priority);
    assert.equal(a.selectedPair()?.local.ip, "::1");
    assert.equal(a.selectedPair()?.remote.ip, "::1");
    assert.equal(b.selectedPair()?.local.ip, "::1");
  } finally {
    await a.close();
    await b.close();
  }
});
