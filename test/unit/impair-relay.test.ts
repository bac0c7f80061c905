// The impairing relay (scripts/lab/impair-relay.ts) on real loopback
// sockets: it selects only relayed RTP/RTCP, passes TURN control in order and
// unchanged, and does what its counters say (loss near the setting, packets
// really overtaken under jitter, duplicates sent twice); close() cancels what
// is still delayed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
import { isRelayedMedia, startImpairRelay, turnPayload } from "../../scripts/lab/impair-relay.js";

function channelData(channel: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUInt16BE(channel, 0);
  h.writeUInt16BE(payload.length, 2);
  return Buffer.concat([h, payload]);
}

function rtp(seq: number): Buffer {
  const b = Buffer.alloc(172);
  b[0] = 0x80;
  b[1] = 111;
  b.writeUInt16BE(seq, 2);
  return b;
}

/** A STUN message: method/class packed into the type (RFC 5389 §6), with one DATA attribute when given. */
function stun(method: number, cls: number, data?: Buffer): Buffer {
  const type = (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((cls & 1) << 4) | ((cls & 2) << 7);
  const attr = data ? Buffer.concat([Buffer.from([0x00, 0x13, data.length >> 8, data.length & 0xff]), data, Buffer.alloc((4 - (data.length % 4)) % 4)]) : Buffer.alloc(0);
  const h = Buffer.alloc(20);
  h.writeUInt16BE(type, 0);
  h.writeUInt16BE(attr.length, 2);
  h.writeUInt32BE(0x2112a442, 4);
  return Buffer.concat([h, attr]);
}

test("selection: RTP in ChannelData or a Send/Data indication is media; TURN control, STUN and DTLS inside are not", () => {
  assert.equal(isRelayedMedia(channelData(0x4000, rtp(1))), true);
  assert.equal(isRelayedMedia(stun(0x006, 1, rtp(1))), true, "Send indication");
  assert.equal(isRelayedMedia(stun(0x007, 1, rtp(1))), true, "Data indication");
  assert.equal(isRelayedMedia(stun(0x003, 0)), false, "Allocate request");
  assert.equal(isRelayedMedia(stun(0x009, 0)), false, "ChannelBind request");
  assert.equal(isRelayedMedia(stun(0x008, 0)), false, "CreatePermission request");
  assert.equal(isRelayedMedia(channelData(0x4000, stun(0x001, 0))), false, "an ICE check through a channel");
  assert.equal(isRelayedMedia(channelData(0x4000, Buffer.from([22, 254, 253, ...Buffer.alloc(20)]))), false, "DTLS through a channel");
  assert.deepEqual(turnPayload(stun(0x007, 1, Buffer.from("abcde"))), Buffer.from("abcde"));
});

async function bound(): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind({ port: 0, address: "127.0.0.1" }, () => r()));
  return s;
}

test("real sockets: loss near the setting, real reordering under 40 ms of jitter, duplicates; control passes in order", { timeout: 20_000 }, async () => {
  const server = await bound();
  const client = await bound();
  const relay = await startImpairRelay({
    target: { host: "127.0.0.1", port: server.address().port },
    seed: 42,
    up: { loss: 0.1, jitterMs: 40, reorder: 0.05, duplicate: 0.02 },
    down: {},
  });
  const seen: number[] = [];
  const control: string[] = [];
  server.on("message", (m, r) => {
    const p = turnPayload(m);
    if (p) seen.push(p.readUInt16BE(2));
    else control.push(m.toString("hex"));
    server.send(m, r.port, r.address); // echo back: the down direction
  });
  let echoed = 0;
  client.on("message", () => echoed++);
  const N = 400;
  const ctl = [stun(0x003, 0), stun(0x008, 0), stun(0x009, 0)];
  for (const c of ctl) client.send(c, relay.port, "127.0.0.1");
  for (let i = 0; i < N; i++) {
    client.send(channelData(0x4000, rtp(i)), relay.port, "127.0.0.1");
    if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  await new Promise((r) => setTimeout(r, 400));
  const up = relay.counters.up;
  assert.equal(up.received, N + 3);
  assert.equal(up.passed, 3);
  assert.deepEqual(control, ctl.map((c) => c.toString("hex")), "control passed unchanged, in order");
  assert.equal(up.impairable, N);
  assert.ok(up.dropped > N * 0.05 && up.dropped < N * 0.15, `dropped ${up.dropped}`);
  assert.ok(up.duplicated > 0 && up.heldBack > 0, JSON.stringify(up));
  assert.equal(up.forwarded, N - up.dropped + up.duplicated);
  assert.equal(seen.length, up.forwarded, "the target got what the counters say");
  let inversions = 0;
  for (let i = 1; i < seen.length; i++) if (seen[i]! < seen[i - 1]!) inversions++;
  assert.ok(inversions > 10, `reordered on the wire: ${inversions} inversions`);
  assert.ok(up.outOfOrder > 10, `outOfOrder ${up.outOfOrder}`);
  assert.ok(up.maxDelayMs <= 40 + 50, `max delay ${up.maxDelayMs}`);
  assert.equal(relay.counters.down.received, seen.length + 3, "replies come back through the client's own upstream socket");
  assert.equal(echoed, relay.counters.down.forwarded + relay.counters.down.passed);
  await relay.close();
  server.close();
  client.close();
});

test("close() cancels packets still delayed; nothing is sent after it", { timeout: 10_000 }, async () => {
  const server = await bound();
  const client = await bound();
  const relay = await startImpairRelay({ target: { host: "127.0.0.1", port: server.address().port }, seed: 1, up: { baseDelayMs: 300 } });
  let got = 0;
  server.on("message", () => got++);
  for (let i = 0; i < 10; i++) client.send(channelData(0x4000, rtp(i)), relay.port, "127.0.0.1");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(relay.counters.up.impairable, 10);
  await relay.close();
  await relay.close();
  await new Promise((r) => setTimeout(r, 400));
  assert.equal(got, 0);
  assert.equal(relay.counters.up.forwarded, 0);
  server.close();
  client.close();
});

test("bounded: no more than maxInFlight packets wait; the rest are dropped as overflow", { timeout: 10_000 }, async () => {
  const server = await bound();
  const client = await bound();
  const relay = await startImpairRelay({ target: { host: "127.0.0.1", port: server.address().port }, seed: 1, up: { baseDelayMs: 200 }, maxInFlight: 5 });
  for (let i = 0; i < 12; i++) client.send(channelData(0x4000, rtp(i)), relay.port, "127.0.0.1");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(relay.counters.up.overflow, 7);
  await relay.close();
  server.close();
  client.close();
});
