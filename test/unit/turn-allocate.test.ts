// TURN server selection and the allocation race (src/ice/turn-allocate.ts)
// without a TURN server: which servers are used, and that a server that
// never answers costs at most the time limit. (Allocations against real
// coturns: test/integration/turn-relay.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { createServer } from "node:net";
import { MAX_TURN_SERVERS, allocateRelay, distinctTurnServers } from "../../src/ice/turn-allocate.js";
import type { TurnServer } from "../../src/ice/ice-agent.js";
import { silentLogger } from "../../src/util/logger.js";

const server = (host: string, port: number, transport: TurnServer["transport"] = "udp"): TurnServer => ({ host, port, transport, username: "u", password: "p" });

test("every distinct TURN server is used, in the order given, up to the bound", () => {
  const list = [
    server("turn.example.org", 3478),
    server("TURN.example.org", 3478), // the same server
    server("turn.example.org", 3478, "tcp"), // another transport: another server
    server("turn2.example.org", 3478),
    server("turn3.example.org", 3478),
    server("turn4.example.org", 3478),
  ];
  const used = distinctTurnServers(list);
  assert.equal(used.length, MAX_TURN_SERVERS);
  assert.deepEqual(
    used.map((s) => `${s.host}:${s.port}/${s.transport}`),
    ["turn.example.org:3478/udp", "turn.example.org:3478/tcp", "turn2.example.org:3478/udp", "turn3.example.org:3478/udp"],
  );
  assert.deepEqual(distinctTurnServers([]), []);
});

test("a TURN server that never answers (UDP swallowed, TCP refused) gives no relay, within the time limit", async () => {
  // UDP: a socket that reads and never answers. TCP: a port nobody listens on (refused at once).
  const sink = createSocket("udp4");
  await new Promise<void>((r) => sink.bind(0, "127.0.0.1", () => r()));
  const port = sink.address().port;
  let swallowed = 0;
  sink.on("message", () => swallowed++);
  // Make sure nothing listens on that TCP port (bind and close it).
  const probe = createServer();
  const free = await new Promise<boolean>((r) => probe.once("error", () => r(false)).listen(port, "127.0.0.1", () => r(true)));
  if (free) await new Promise((r) => probe.close(r));
  try {
    const t0 = performance.now();
    const got = await allocateRelay(server("127.0.0.1", port), { logger: silentLogger(), udpAddress: "127.0.0.1", tcpAfterMs: 200, timeoutMs: 2000 });
    const ms = performance.now() - t0;
    assert.equal(got, undefined);
    assert.ok(swallowed >= 1, "UDP was tried");
    assert.ok(ms < 2600, `gave up after ${Math.round(ms)} ms (limit 2000 ms)`);
  } finally {
    sink.close();
  }
});
