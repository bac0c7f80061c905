// Our host sockets and the direct media send on them (src/ice/werift-internals.ts:
// HostUdpTransport, mediaSender), with real UDP sockets on 127.0.0.1: a port
// range is bound to its first free port, datagrams reach the peer and come
// back with their source, and media is sent only while werift says the pair
// may carry it (RFC 7675 consent), never on a closed socket, and not at all
// on a pair that is not one of our host sockets (a relay: werift's path).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import type { CandidatePair, Connection } from "werift-ice";
import { HostUdpTransport, mediaSender } from "../../src/ice/werift-internals.js";

async function peer(): Promise<{ socket: Socket; port: number; received: Buffer[]; next: () => Promise<{ data: Buffer; port: number }> }> {
  const socket = createSocket("udp4");
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  const received: Buffer[] = [];
  const waiting: ((m: { data: Buffer; port: number }) => void)[] = [];
  socket.on("message", (data, info) => {
    received.push(data);
    waiting.shift()?.({ data, port: info.port });
  });
  return { socket, port: socket.address().port, received, next: () => new Promise((r) => waiting.push(r)) };
}

const close = (s: Socket) => new Promise<void>((r) => s.close(() => r()));
const settle = () => new Promise((r) => setTimeout(r, 100));

test("a port range is bound to its first free port; a full range fails with a clear error", async () => {
  // A free port with a free neighbour, taken by another socket: the transport gets the neighbour.
  const blocker = createSocket("udp4");
  await new Promise<void>((r) => blocker.bind(0, "127.0.0.1", () => r()));
  const taken = blocker.address().port;
  const t = await HostUdpTransport.open("udp4", "127.0.0.1", [taken, taken + 1]).catch(() => undefined);
  try {
    // The neighbour may belong to someone else on a shared machine: then the range is full.
    if (t) assert.equal(t.address.port, taken + 1);
    await assert.rejects(HostUdpTransport.open("udp4", "127.0.0.1", [taken, taken]), /no free UDP port in .* on 127\.0\.0\.1/);
  } finally {
    await t?.close();
    await close(blocker);
  }
});

test("datagrams go out to an IP literal and come in with their source", async () => {
  const p = await peer();
  const t = await HostUdpTransport.open("udp4", "127.0.0.1");
  try {
    const got = p.next();
    t.sendTo(Buffer.from([1, 2, 3]), p.port, "127.0.0.1");
    const m = await got;
    assert.deepEqual([...m.data], [1, 2, 3]);
    assert.equal(m.port, t.address.port);
    const back = new Promise<[Buffer, [string, number]]>((r) => (t.onData = (d, a) => r([d, a])));
    p.socket.send(Buffer.from([9]), t.address.port, "127.0.0.1");
    const [data, from] = await back;
    assert.deepEqual([...data], [9]);
    assert.deepEqual(from, ["127.0.0.1", p.port]);
    // werift's own sends (STUN) go through send(): a promise, resolved for a literal.
    const viaSend = p.next();
    await t.send(Buffer.from([4]), ["127.0.0.1", p.port]);
    assert.deepEqual([...(await viaSend).data], [4]);
  } finally {
    await t.close();
    await close(p.socket);
  }
});

test("media is sent on the pair's socket only while consent holds, and counted on the pair", async () => {
  const p = await peer();
  const t = await HostUdpTransport.open("udp4", "127.0.0.1");
  let consent = true;
  const conn = { canSendApplicationData: () => consent } as unknown as Connection;
  const pair = { protocol: { transport: t }, remoteAddr: ["127.0.0.1", p.port], packetsSent: 0, bytesSent: 0 } as unknown as CandidatePair;
  try {
    const send = mediaSender(conn, pair);
    assert.ok(send, "a host pair gets the direct sender");
    const got = p.next();
    assert.equal(send(Buffer.alloc(172, 0x80)), true);
    assert.equal((await got).data.length, 172);
    assert.equal(pair.packetsSent, 1);
    assert.equal(pair.bytesSent, 172);

    consent = false; // RFC 7675 §5.1: consent expired, no more media
    assert.equal(send(Buffer.alloc(10)), false);
    await settle();
    assert.equal(p.received.length, 1);
    assert.equal(pair.packetsSent, 1);

    consent = true;
    await t.close();
    assert.equal(send(Buffer.alloc(10)), false, "nothing on a closed socket, and no throw");
  } finally {
    if (!t.closed) await t.close();
    await close(p.socket);
  }
});

test("a pair that is not on one of our host sockets (a TURN relay) gets no direct sender", () => {
  const conn = { canSendApplicationData: () => true } as unknown as Connection;
  const relayed = { protocol: { type: "turn", turn: {} }, remoteAddr: ["192.0.2.1", 3478], packetsSent: 0, bytesSent: 0 } as unknown as CandidatePair;
  assert.equal(mediaSender(conn, relayed), undefined);
});
