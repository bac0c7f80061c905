// Adversarial media at a real daemon's media port during a real call (issue 8
// item 3, issue 12 findings 2 and 3): a flood of garbage UDP, RTP and RTCP
// from a source that is not the negotiated peer, DTLS alerts and ClientHellos
// during the handshake, and STUN connectivity checks with wrong credentials,
// a brute force of the ufrag and a flood of forged checks naming the real
// one. Datagrams from an address ICE has not validated never get past ICE;
// forged checks get no answer. The call's audio must not notice.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createHmac, randomBytes } from "node:crypto";
import { createSocket, type Socket } from "node:dgram";
import { crc32 } from "node:zlib";
import { freePort } from "../../scripts/lab/ports.js";
import { STUN, bindingRequest as checkRequest, readStun } from "../helpers/stun.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { procFigures, sleep } from "../helpers/hostile.js";
import { withLab } from "../helpers/with-lab.js";
import { RtpPacketizer } from "../../src/rtp/rtp-packet.js";
import { buildBye, buildSdes, buildSenderReport, compound } from "../../src/rtp/rtcp-packets.js";
import type { AnyEvent } from "../../src/control/client.js";

type Stats = { packetsReceived: number; packetsDiscarded: number; framesConcealed: number; concealedMs: number; remote?: { cname?: string }; remoteSsrc?: number };
const isCall = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;

/** A STUN Binding request (RFC 5389 §6, RFC 8445 §7.1.2) with the given USERNAME, signed with `key`. */
function bindingRequest(username: string, key: Buffer): Buffer {
  const attr = (type: number, value: Buffer): Buffer => {
    const pad = (4 - (value.length % 4)) % 4;
    const h = Buffer.alloc(4);
    h.writeUInt16BE(type, 0);
    h.writeUInt16BE(value.length, 2);
    return Buffer.concat([h, value, Buffer.alloc(pad)]);
  };
  const prio = Buffer.alloc(4);
  prio.writeUInt32BE(1853824767);
  let body = Buffer.concat([attr(0x0006, Buffer.from(username)), attr(0x0024, prio), attr(0x8029, randomBytes(8))]);
  const header = (len: number) => {
    const h = Buffer.alloc(20);
    h.writeUInt16BE(0x0001, 0);
    h.writeUInt16BE(len, 2);
    h.writeUInt32BE(0x2112a442, 4);
    tid.copy(h, 8);
    return h;
  };
  const tid = randomBytes(12);
  const mi = createHmac("sha1", key).update(Buffer.concat([header(body.length + 24), body])).digest();
  body = Buffer.concat([body, attr(0x0008, mi)]);
  const fpValue = Buffer.alloc(4);
  fpValue.writeUInt32BE((crc32(Buffer.concat([header(body.length + 8), body])) ^ 0x5354554e) >>> 0);
  body = Buffer.concat([body, attr(0x8028, fpValue)]);
  return Buffer.concat([header(body.length), body]);
}

/** DTLS 1.2 records (RFC 6347 §4.1) a stranger can send without any key: epoch-0 alerts and a ClientHello without use_srtp. */
const DTLS_ALERT = Buffer.from("15fefd000000000000000000020228", "hex"); // fatal handshake_failure
const DTLS_CLOSE_NOTIFY = Buffer.from("15fefd000000000000000100020100", "hex");
function clientHelloWithoutSrtp(): Buffer {
  const body = Buffer.concat([Buffer.from("fefd", "hex"), randomBytes(32), Buffer.from("0000" + "0002c02b" + "0100", "hex")]);
  const len24 = (n: number) => Buffer.from([(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff]);
  const hs = Buffer.concat([Buffer.from([1]), len24(body.length), Buffer.from("0000000000", "hex"), len24(body.length), body]);
  const rec = Buffer.from("16fefd0000000000000002" + "0000", "hex");
  rec.writeUInt16BE(hs.length, 11);
  return Buffer.concat([rec, hs]);
}

async function udpSocket(): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  return s;
}

/** Calls `send` `perSecond` times a second for `ms` (or `count` times), in 10 ms bursts; resolves with how many times it was called. */
async function paced(perSecond: number, ms: number, send: (i: number) => void, count = Infinity): Promise<number> {
  const start = performance.now();
  let sent = 0;
  while (performance.now() - start < ms && sent < count) {
    const due = Math.min(count, Math.floor(((performance.now() - start) * perSecond) / 1000));
    for (; sent < due; sent++) send(sent);
    await sleep(10);
  }
  return sent;
}

/** Sends `perSecond` datagrams a second made by `make` to 127.0.0.1:port for `ms`, in 10 ms bursts; resolves with how many were sent. */
function flood(sock: Socket, port: number, perSecond: number, ms: number, make: (i: number) => Buffer): Promise<number> {
  return paced(perSecond, ms, (i) => sock.send(make(i), port, "127.0.0.1"));
}

describe("hostile media at a daemon's media port", { timeout: 120_000 }, () => {
  let alice: Daemon;
  let bob: Daemon;
  let plainAlice: Daemon;
  let attacker: Socket;
  /** bob's media ports: a stranger who knows the range can aim at the port before the call exists. */
  let bobPorts: number[];
  const common = { input: { type: "tone", frequency: 440 }, output: { type: "null" }, codecs: ["pcmu"], logLevel: "info", autoAnswer: true };
  const lab = withLab({
    name: "hostile-media",
    users: { alice: "a-pw", bob: "b-pw", carol: "c-pw" },
    setup: async () => {
      const first = await freePort("udp");
      bobPorts = Array.from({ length: 8 }, (_, i) => first + i);
    },
    daemons: () => ({
      alice: { ...common, config: { calls: { acceptFrom: "everyone", autoAnswer: "all" } } },
      bob: { ...common, config: { calls: { acceptFrom: "everyone", autoAnswer: "all" }, ice: { addresses: ["127.0.0.1"], connectTimeoutMs: 10000, portRange: [bobPorts[0], bobPorts.at(-1)] } } },
      // DTLS off on one side: both fall back to plain RTP/AVP.
      carol: { ...common, config: { calls: { acceptFrom: "everyone", autoAnswer: "all" }, media: { codecs: ["pcmu"], input: { type: "tone", frequency: 440 }, output: { type: "null" }, dtls: "off" } } },
    }),
    parallel: true,
  });

  before(async () => {
    ({ daemons: { alice, bob, carol: plainAlice } } = lab);
    attacker = lab.adopt(await udpSocket());
  });

  /**
   * caller calls bob (auto-answered); resolves with both call ids, bob's
   * media port and bob's ICE ufrag (from its log: an on-path observer reads
   * it in every connectivity check).
   */
  async function connect(caller: Daemon): Promise<{ callId: string; bobCall: string; bobPort: number; bobUfrag: string; encryption: unknown }> {
    const mark = bob.events.length;
    const line = bob.process.mark();
    const { callId } = (await caller.control.request("call", { jid: bob.jid })) as { callId: string };
    await caller.waitForEvent(isCall(callId, "active"), 15_000, "caller active");
    const media = await bob.waitForEvent((e) => e.event === "media" && bob.events.indexOf(e) >= mark, 15_000, "bob's media event");
    const connected = await bob.process.waitForLine(/"msg":"ice connected"/, 5000, { after: line });
    const bobUfrag = /"ufrag":"([^"]+)"/.exec(connected)?.[1];
    assert.ok(bobUfrag, `bob's ufrag in ${connected}`);
    await sleep(600);
    return { callId, bobCall: media.callId as string, bobPort: (media.localCandidate as { port: number }).port, bobUfrag, encryption: media.encryption };
  }

  /** Sends what `make` returns to every one of bob's ports every 10 ms until `until` settles; resolves with the count sent. */
  async function sprayBobPorts(until: Promise<unknown>, make: (i: number) => Buffer[]): Promise<number> {
    let done = false;
    void until.finally(() => (done = true)).catch(() => undefined);
    let sent = 0;
    for (let i = 0; !done && i < 2000; i++) {
      for (const d of make(i)) for (const port of bobPorts) attacker.send(d, port, "127.0.0.1"), sent++;
      await sleep(10);
    }
    return sent;
  }

  async function bobStats(callId: string): Promise<Stats> {
    return (await bob.control.request("stats", { callId })) as unknown as Stats;
  }

  async function hangup(caller: Daemon, callId: string, bobCall: string): Promise<void> {
    await caller.control.request("hangup", { callId });
    await bob.waitForEvent(isCall(bobCall, "ended"), 10_000, "bob ended");
  }

  test("DTLS-SRTP call: 3 s of garbage at 3000 datagrams/s (random, RTP-, RTCP-, DTLS- and STUN-looking); audio unaffected", async (t) => {
    const { callId, bobCall, bobPort, encryption } = await connect(alice);
    assert.equal(encryption, "dtls-srtp");
    const s0 = await bobStats(bobCall);
    await sleep(2000);
    const s1 = await bobStats(bobCall);
    const p1 = procFigures(bob.process.pid);
    const t1 = performance.now();
    const firsts = [0, 1, 22, 23, 128, 144, 200, 201, 255];
    const sent = await flood(attacker, bobPort, 3000, 3000, (i) => {
      const b = randomBytes(1 + (i % 600));
      b[0] = firsts[i % firsts.length]!;
      if (b.length > 1 && b[0] === 128) b[1] = 0; // PCMU payload type: looks like our stream
      return b;
    });
    const s2 = await bobStats(bobCall);
    const ms = performance.now() - t1;
    const p2 = procFigures(bob.process.pid);
    const base = { rx: s1.packetsReceived - s0.packetsReceived, concealed: s1.framesConcealed - s0.framesConcealed };
    const during = { rx: s2.packetsReceived - s1.packetsReceived, concealed: s2.framesConcealed - s1.framesConcealed };
    t.diagnostic(`flood: ${sent} datagrams in ${Math.round(ms)} ms; bob's CPU ${p2.cpuMs - p1.cpuMs} ms (≈${(((p2.cpuMs - p1.cpuMs) * 1000) / sent).toFixed(0)} µs a datagram, audio included), RSS ${p1.rssKiB} -> ${p2.rssKiB} KiB`);
    t.diagnostic(`bob received ${base.rx} RTP in 2000 ms before, ${during.rx} in ${Math.round(ms)} ms during; concealed frames ${base.concealed} before, ${during.concealed} during`);
    assert.ok(during.rx / ms >= (0.85 * base.rx) / 2000, "the peer's packets kept arriving at their rate");
    assert.ok(during.concealed <= base.concealed + 15, "no audible concealment from the flood");
    assert.equal(s2.remoteSsrc, s0.remoteSsrc, "still locked on the peer's stream");
    await hangup(alice, callId, bobCall);
  });

  test("plain RTP call: RTP and RTCP (BYE, SR, SDES) from another source are dropped; the peer's stream and CNAME stay", async (t) => {
    const { callId, bobCall, bobPort, encryption } = await connect(plainAlice);
    assert.equal(encryption, "none", "plain RTP/AVP when one side has DTLS off");
    const s0 = await bobStats(bobCall);
    await sleep(1000);
    const s1 = await bobStats(bobCall);
    const foreign = new RtpPacketizer({ payloadType: 0, clockRate: 8000 });
    const ssrc = foreign.ssrc;
    const sender = { ntpTimestamp: 0x0badc0ffee000000n, rtpTimestamp: 1, packetCount: 1, octetCount: 1 };
    const t1 = performance.now();
    const N = await flood(attacker, bobPort, 1000, 2000, (i) => {
      if (i % 100 === 50) return buildBye([ssrc], "spoofed");
      if (i % 100 === 99) return compound(buildSenderReport(ssrc, sender, []), buildSdes(ssrc, "mallory"));
      return foreign.packetize(Buffer.alloc(160, 0x00), 160); // full-scale PCMU: loud if it were played
    });
    await sleep(300);
    const s2 = await bobStats(bobCall);
    const ms = performance.now() - t1;
    const calls = (await bob.control.request("calls")) as { id: string; state: string }[];
    t.diagnostic(`${N} foreign packets (RTP, RTCP BYE/SR/SDES) in ${Math.round(ms)} ms; bob discarded ${s2.packetsDiscarded - s1.packetsDiscarded}; the peer's packets: ${s1.packetsReceived - s0.packetsReceived} in 1000 ms before, ${s2.packetsReceived - s1.packetsReceived} in ${Math.round(ms)} ms during`);
    assert.equal(calls.find((c) => c.id === bobCall)?.state, "active", "the call goes on (no spoofed BYE ends it)");
    assert.equal(s2.remoteSsrc, s0.remoteSsrc, "still locked on the peer's SSRC");
    assert.ok(s2.packetsDiscarded - s1.packetsDiscarded <= 5, "the foreign packets never reached the media session (ICE dropped them: not from the peer's address)");
    assert.ok(s2.remote?.cname !== "mallory", "the peer's CNAME was not replaced");
    assert.ok((s2.packetsReceived - s1.packetsReceived) / ms >= (0.85 * (s1.packetsReceived - s0.packetsReceived)) / 1000, "the peer's packets kept arriving at their rate");
    await hangup(plainAlice, callId, bobCall);
  });

  test("STUN Binding requests with wrong credentials get no success response; the call keeps its pair", async (t) => {
    const { callId, bobCall, bobPort } = await connect(alice);
    const before = ((await bob.control.request("calls")) as { id: string; remoteCandidate?: unknown }[]).find((c) => c.id === bobCall);
    const replies: Buffer[] = [];
    const onMessage = (m: Buffer) => replies.push(m);
    attacker.on("message", onMessage);
    try {
      for (let i = 0; i < 50; i++) {
        attacker.send(bindingRequest(i % 2 ? "wrong:creds" : `x${i}:y`, randomBytes(16)), bobPort, "127.0.0.1");
        await sleep(10);
      }
      await sleep(1000);
    } finally {
      attacker.off("message", onMessage);
    }
    const success = replies.filter((r) => r.length >= 20 && r.readUInt16BE(0) === 0x0101);
    const errors = replies.filter((r) => r.length >= 20 && r.readUInt16BE(0) === 0x0111);
    t.diagnostic(`50 bad binding requests: ${success.length} success responses, ${errors.length} error responses, ${replies.length - success.length - errors.length} other datagrams back`);
    assert.equal(success.length, 0, "no Binding success for wrong credentials");
    assert.equal(replies.length - errors.length, 0, "no connectivity checks or media sent to the stranger");
    const after_ = ((await bob.control.request("calls")) as { id: string; state: string; remoteCandidate?: unknown }[]).find((c) => c.id === bobCall);
    assert.equal(after_?.state, "active");
    assert.deepEqual(after_?.remoteCandidate, before?.remoteCandidate, "the selected pair is unchanged");
    await hangup(alice, callId, bobCall);
  });
  /** bob's packets received over `ms`, before and during `attack`; asserts the rate held and the call is still active. */
  async function mediaUnaffected(t: { diagnostic(m: string): void }, bobCall: string, attack: () => Promise<string>): Promise<void> {
    const s0 = await bobStats(bobCall);
    await sleep(1000);
    const s1 = await bobStats(bobCall);
    const t1 = performance.now();
    const what = await attack();
    const s2 = await bobStats(bobCall);
    const ms = performance.now() - t1;
    const base = s1.packetsReceived - s0.packetsReceived;
    const during = s2.packetsReceived - s1.packetsReceived;
    t.diagnostic(`${what}; bob received ${base} RTP in 1000 ms before, ${during} in ${Math.round(ms)} ms during; SRTP authentication failures during: ${(s2 as { srtpAuthFailures?: number }).srtpAuthFailures ?? "n/a"}`);
    assert.ok(during / ms >= (0.85 * base) / 1000, "the peer's packets kept arriving at their rate");
    assert.equal(s2.remoteSsrc, s0.remoteSsrc, "still on the peer's stream");
    const calls = (await bob.control.request("calls")) as { id: string; state: string }[];
    assert.equal(calls.find((c) => c.id === bobCall)?.state, "active");
  }

  test("brute force of a 4-hex-digit ufrag (werift's own length) against a live call: no success response; media unaffected", async (t) => {
    const { callId, bobCall, bobPort } = await connect(alice);
    const replies: { m: Buffer; at: number }[] = [];
    const onMessage = (m: Buffer) => replies.push({ m, at: performance.now() });
    attacker.on("message", onMessage);
    let t0 = 0;
    try {
      await mediaUnaffected(t, bobCall, async () => {
        t0 = performance.now();
        // Every 16-bit ufrag once, 8,000 a second (what the daemon reads without its socket buffer overflowing), each signed with a guess.
        const n = await paced(8000, 20_000, (i) => attacker.send(checkRequest({ username: `${i.toString(16).padStart(4, "0")}:m4ll`, key: randomBytes(16), role: "controlling", useCandidate: true }), bobPort, "127.0.0.1"), 0x10000);
        await sleep(500);
        return `${n} guesses in ${Math.round(performance.now() - t0)} ms`;
      });
    } finally {
      attacker.off("message", onMessage);
    }
    const success = replies.filter((r) => readStun(r.m)?.type === STUN.bindingSuccess);
    t.diagnostic(`${success.length} success responses${success[0] ? `, the first after ${Math.round(success[0].at - t0)} ms` : ""}; ${replies.length} datagrams back in all`);
    assert.equal(success.length, 0, "no Binding success for a guessed ufrag");
    assert.equal(replies.length, 0, "nothing at all sent back to the guesser");
    await hangup(alice, callId, bobCall);
  });

  test("3,000 forged checks naming bob's real ufrag from 500 sources (wrong MESSAGE-INTEGRITY, role conflicts, USE-CANDIDATE): nothing back, RSS flat, media unaffected", async (t) => {
    const { callId, bobCall, bobPort, bobUfrag } = await connect(alice);
    const sockets = await Promise.all(Array.from({ length: 500 }, () => udpSocket()));
    const replies: Buffer[] = [];
    for (const s of sockets) s.on("message", (m: Buffer) => replies.push(m));
    const p0 = procFigures(bob.process.pid);
    try {
      await mediaUnaffected(t, bobCall, async () => {
        const n = await paced(3000, 1000, (i) => {
          const req = checkRequest({ username: `${bobUfrag}:m4ll`, key: randomBytes(16), role: i % 2 ? "controlling" : "controlled", tieBreaker: i % 3 ? 0xffffffffffffffffn : 0n, useCandidate: true });
          sockets[i % sockets.length]!.send(req, bobPort, "127.0.0.1");
        });
        await sleep(3000);
        return `${n} forged checks`;
      });
    } finally {
      for (const s of sockets) s.close();
    }
    const p1 = procFigures(bob.process.pid);
    const success = replies.filter((r) => readStun(r)?.type === STUN.bindingSuccess).length;
    t.diagnostic(`${success} success responses, ${replies.length} datagrams back in all (${(replies.length / 3000).toFixed(2)} a request); bob's RSS ${p0.rssKiB} -> ${p1.rssKiB} KiB`);
    assert.equal(success, 0, "no Binding success");
    assert.equal(replies.length, 0, "nothing reflected: no response, no triggered check to a learned candidate");
    assert.ok(p1.rssKiB - p0.rssKiB < 8 * 1024, `bob's RSS grew ${p1.rssKiB - p0.rssKiB} KiB`);
    await hangup(alice, callId, bobCall);
  });

  test("DTLS alerts, close_notify, ClientHellos without use_srtp, RTP and RTCP from a stranger at bob's ports, during the handshake and the call: the call connects, nothing reaches SRTP", async (t) => {
    const foreignRtp = new RtpPacketizer({ payloadType: 0, clockRate: 8000 });
    const kinds = (i: number) => [DTLS_ALERT, DTLS_CLOSE_NOTIFY, clientHelloWithoutSrtp(), foreignRtp.packetize(Buffer.alloc(160, i & 0xff), 160), buildBye([foreignRtp.ssrc], "spoofed")];
    const mark = bob.events.length;
    // From before the call exists until bob's side is active (or has ended).
    const bobDone = bob.waitForEvent((e) => bob.events.indexOf(e) >= mark && e.event === "call" && (e.type === "active" || e.type === "ended"), 20_000, "bob active or ended");
    const spraying = sprayBobPorts(bobDone, kinds);
    const { callId } = (await alice.control.request("call", { jid: bob.jid })) as { callId: string };
    const outcome = await bobDone;
    const sent = await spraying;
    t.diagnostic(`${sent} datagrams at bob's ${bobPorts.length} ports during set-up; bob's call: ${outcome.type}${outcome.reason ? ` (${String(outcome.reason)}: ${String(outcome.text ?? "")})` : ""}`);
    assert.equal(outcome.type, "active", "the call connects");
    await alice.waitForEvent(isCall(callId, "active"), 15_000, "alice active");
    const bobCall = outcome.callId as string;
    await sleep(600);
    const a0 = ((await bobStats(bobCall)) as { srtpAuthFailures?: number }).srtpAuthFailures ?? 0;
    await mediaUnaffected(t, bobCall, async () => {
      const n = await sprayBobPorts(sleep(3000), kinds);
      return `${n} more during the call`;
    });
    const a1 = ((await bobStats(bobCall)) as { srtpAuthFailures?: number }).srtpAuthFailures ?? 0;
    assert.equal(a0, 0, "no foreign packet reached SRTP during set-up");
    assert.equal(a1, 0, "no foreign packet reached SRTP during the call");
    await hangup(alice, callId, bobCall);
  });

  test("plain RTP call: a stranger's RTP at bob's ports from before the call never takes the SSRC lock", async (t) => {
    const foreign = new RtpPacketizer({ payloadType: 0, clockRate: 8000 });
    const mark = bob.events.length;
    const bobDone = bob.waitForEvent((e) => bob.events.indexOf(e) >= mark && e.event === "call" && (e.type === "active" || e.type === "ended"), 20_000, "bob active or ended");
    const spraying = sprayBobPorts(bobDone, () => [foreign.packetize(Buffer.alloc(160, 0x00), 160)]);
    const { callId } = (await plainAlice.control.request("call", { jid: bob.jid })) as { callId: string };
    const outcome = await bobDone;
    const sent = await spraying;
    assert.equal(outcome.type, "active", "the call connects");
    const bobCall = outcome.callId as string;
    await sleep(1000);
    const s = await bobStats(bobCall);
    t.diagnostic(`${sent} foreign RTP packets at bob's ports during set-up; bob locked on SSRC ${s.remoteSsrc} (the stranger's: ${foreign.ssrc}), discarded ${s.packetsDiscarded}, received ${s.packetsReceived}`);
    assert.notEqual(s.remoteSsrc, foreign.ssrc, "the stranger's stream did not take the lock");
    assert.ok(s.packetsReceived >= 30, "the peer's packets are played");
    await hangup(plainAlice, callId, bobCall);
  });
});
