// ICE restarts at the Jingle session layer (src/app/call.ts over src/ice):
// two Calls in one process, their Jingle actions carried across in memory
// (an XMPP stand-in that can lose stanzas), real ICE agents on 127.0.0.1,
// plain RTP (DTLS off), a tone one way and silence the other.
//
//   crossing restarts (glare, XEP-0176 §8): both sides restart in the same
//     tick; each takes the other's new ufrag/pwd as the answer; both converge
//   a restart transport-info that is lost (the peer was offline for a moment:
//     service-unavailable) is resent whole, and the restart completes
import { test } from "node:test";
import assert from "node:assert/strict";
import { Call } from "../../src/app/call/call.js";
import { inProcessPlane } from "../../src/app/media-plane/in-process-plane.js";
import type { Jingle } from "../../src/jingle/protocol/index.js";
import { findCodec } from "../../src/media/codecs/index.js";
import { createFrameClock } from "../../src/util/frame-clock.js";
import { createLogger } from "../../src/util/logger.js";

const logger = createLogger({ level: (process.env.TEST_CALL_LOG as "debug" | undefined) ?? "silent" });
const SID = "sid-restart-test";

type Wire = { drop?: (from: "a" | "b", j: Omit<Jingle, "sid">) => boolean; dropped: number };

function callPair() {
  const clock = createFrameClock(20);
  const plane = inProcessPlane({ clock, logger });
  const codecs = [findCodec("PCMU", 8000)!];
  const wire: Wire = { dropped: 0 };
  let b: Call | undefined;
  const deps = (role: "initiator" | "responder", self: string, peer: string, from: "a" | "b") => ({
    id: from,
    sid: SID,
    peer,
    role,
    self,
    codecs,
    input: role === "initiator" ? ({ type: "tone", frequency: 440 } as const) : ({ type: "silence" } as const),
    output: { type: "null" } as const,
    jitterFrames: 1,
    ice: { addresses: ["127.0.0.1"], connectTimeoutMs: 10_000, relayOnly: false, servers: async () => ({}) },
    ringTimeoutMs: 30_000,
    plane,
    logger: logger.child({ side: from }),
    dtls: { policy: "off" as const, certificate: undefined },
    rtcpMux: true,
    sendJmi: async () => undefined,
    send: async (j: Omit<Jingle, "sid">) => {
      if (wire.drop?.(from, j)) {
        wire.dropped++;
        throw new Error("service-unavailable");
      }
      const full = { ...j, sid: SID } as Jingle;
      // Delivered on a later turn, like a stanza through a server; the "ack" is immediate.
      setImmediate(() => {
        if (from === "a") {
          if (j.action === "session-initiate") {
            b = new Call(deps("responder", "bob@example.org/b", "alice@example.org/a", "b"));
            void b.offer(full, true).catch(() => undefined);
          } else void b?.remote(full).catch(() => undefined);
        } else void a.remote(full).catch(() => undefined);
      });
    },
  });
  const a = new Call(deps("initiator", "alice@example.org/a", "bob@example.org/b", "a"));
  return { a, b: () => b!, wire };
}

const once = <T>(c: Call, pred: (info: T) => boolean, event: "media" | "ice", timeoutMs: number, what: string) =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
    const fn = (info: T) => {
      if (!pred(info)) return;
      clearTimeout(timer);
      c.off(event, fn as never);
      resolve(info);
    };
    c.on(event, fn as never);
  });

async function connectedPair() {
  const p = callPair();
  const mediaA = once(p.a, () => true, "media", 10_000, "media at a");
  await p.a.start();
  await mediaA;
  // b exists once the session-initiate arrived; wait until it hears a's tone (its ICE is connected then).
  for (let i = 0; i < 250 && !((p.b()?.stats()?.packetsReceived ?? 0) > 10); i++) await new Promise((r) => setTimeout(r, 20));
  assert.ok((p.b()?.stats()?.packetsReceived ?? 0) > 10, "b hears a before the test begins");
  return p;
}

async function packetsIn(c: Call, ms: number): Promise<number> {
  const before = c.stats()?.packetsReceived ?? 0;
  await new Promise((r) => setTimeout(r, ms));
  return (c.stats()?.packetsReceived ?? 0) - before;
}

async function hangup(p: { a: Call; b: () => Call | undefined }) {
  await p.a.hangup().catch(() => undefined);
  await p.b()?.hangup().catch(() => undefined);
}

type IceInfo = { type: string; by?: string };

test("crossing ICE restarts (both sides in the same tick) converge on a new pair", { timeout: 30_000 }, async () => {
  const p = await connectedPair();
  try {
    const a = p.a;
    const b = p.b();
    const seen: Record<string, IceInfo[]> = { a: [], b: [] };
    a.on("ice", (i) => seen.a!.push(i));
    b.on("ice", (i) => seen.b!.push(i));
    const restarted = Promise.all([
      once<IceInfo>(a, (i) => i.type === "restarted", "ice", 15_000, "a restarted"),
      once<IceInfo>(b, (i) => i.type === "restarted", "ice", 15_000, "b restarted"),
    ]);
    await Promise.all([a.restartIce("test: a"), b.restartIce("test: b")]);
    await restarted;
    assert.deepEqual(seen.a!.filter((i) => i.type === "restarting").map((i) => i.by), ["local"], "a began its own restart");
    assert.deepEqual(seen.b!.filter((i) => i.type === "restarting").map((i) => i.by), ["local"], "b began its own restart");
    assert.ok((await packetsIn(b, 500)) > 15, "media flows on the new pair");
  } finally {
    await hangup(p);
  }
});

test("a lost ICE restart transport-info is resent, and the restart completes", { timeout: 30_000 }, async () => {
  const p = await connectedPair();
  try {
    const a = p.a;
    const b = p.b();
    // Everything b says about its new generation in the first 300 ms is lost (its ufrag/pwd and candidates).
    let lossUntil = 0;
    p.wire.drop = (from, j) => from === "b" && j.action === "transport-info" && performance.now() < lossUntil;
    const restarted = Promise.all([
      once<IceInfo>(a, (i) => i.type === "restarted", "ice", 15_000, "a restarted"),
      once<IceInfo>(b, (i) => i.type === "restarted", "ice", 15_000, "b restarted"),
    ]);
    lossUntil = performance.now() + 300;
    const t0 = performance.now();
    await b.restartIce("test: b");
    await restarted;
    const ms = performance.now() - t0;
    assert.ok(p.wire.dropped >= 1, `transport-infos were lost (${p.wire.dropped})`);
    assert.ok(ms < 8000, `restarted after ${Math.round(ms)} ms`);
    assert.ok((await packetsIn(b, 500)) > 15, "media flows on the new pair");
  } finally {
    await hangup(p);
  }
});
