// Call setup benchmark (scripts/bench/bench.ts): from the call command to the first
// decoded audio frame at the auto-answering callee, one call at a time.
//
// jingled: `call` on the caller's control socket (a full JID: session-initiate
// straight away, no XEP-0353 proposal) -> the callee's `stats` for that call,
// polled every ~2 ms: first RTP packet (packetsReceived > 0) and first decoded
// frame (framesPlayed > 0); plus the callee's `active` event (its time field).
// baresip: `dial` on ctrl_tcp -> the callee's CALL_RTPESTAB event (first RTP
// packet) and the first decoded frame written by the sndfile filter (its
// dec.wav grows past the header; polled every ~1 ms).
import { readdirSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Baresip } from "./baresip.js";
import type { JingledPair } from "./jingled.js";
import { isCall } from "./jingled.js";
import { pollUntil, sleep, summarize, type Summary } from "./stats.js";

export interface SetupResult {
  /** call command -> first decoded frame at the callee, ms */
  firstAudio: Summary;
  /** call command -> first RTP packet at the callee, ms */
  firstPacket: Summary;
  /** call command -> callee says the call is up (jingled: active event; baresip: CALL_ESTABLISHED), ms */
  established: Summary;
  samples: { firstAudioMs: number; firstPacketMs: number; establishedMs: number }[];
  /** jingled: the first call after the daemons started (the unmeasured warm-up call), issue 15 item 5 */
  firstCall?: { firstAudioMs: number; firstPacketMs: number; establishedMs: number };
  failures: string[];
}

function result(samples: SetupResult["samples"], failures: string[], firstCall?: SetupResult["firstCall"]): SetupResult {
  return {
    ...(firstCall ? { firstCall } : {}),
    firstAudio: summarize(samples.map((s) => s.firstAudioMs)),
    firstPacket: summarize(samples.map((s) => s.firstPacketMs)),
    established: summarize(samples.map((s) => s.establishedMs)),
    samples,
    failures,
  };
}

interface MediaCounters {
  packetsReceived?: number;
  framesPlayed?: number;
}

/**
 * `iterations` measured calls after `warmup` unmeasured ones. The first is placed `firstAfterMs` after
 * the pair came online (default at once, into the login's own traffic: --first-call-after in bench.ts).
 */
export async function jingledSetup(pair: JingledPair, codec: string, iterations: number, warmup = 1, firstAfterMs = 0): Promise<SetupResult> {
  const { caller, callee } = pair;
  if (firstAfterMs > 0) await sleep(firstAfterMs);
  const samples: SetupResult["samples"] = [];
  const failures: string[] = [];
  const seen = new Set<unknown>();
  let firstCall: SetupResult["firstCall"];
  for (let i = 0; i < warmup + iterations; i++) {
    try {
      const t0Wall = Date.now();
      const t0 = performance.now();
      const placed = caller.control.request("call", { jid: callee.jid, codecs: [codec] }) as Promise<{ callId: string }>;
      const inc = await callee.waitForEvent((e) => isCall("incoming")(e) && !seen.has(e.callId), 10000, "incoming call");
      seen.add(inc.callId);
      const calleeId = inc.callId as string;
      let firstPacket: number | undefined;
      const firstAudio = await pollUntil(
        async () => {
          const s = (await callee.control.request("stats", { callId: calleeId })) as MediaCounters;
          const now = performance.now();
          if (firstPacket === undefined && (s.packetsReceived ?? 0) > 0) firstPacket = now;
          return (s.framesPlayed ?? 0) > 0 ? now : undefined;
        },
        10000,
        2,
        "the first decoded frame at the callee",
      );
      const active = await callee.waitForEvent(isCall("active", calleeId), 5000, "active");
      const { callId } = await placed;
      const sample = {
        firstAudioMs: firstAudio - t0,
        firstPacketMs: (firstPacket ?? firstAudio) - t0,
        establishedMs: Date.parse(String(active.time)) - t0Wall,
      };
      if (i === 0) firstCall = sample;
      if (i >= warmup) samples.push(sample);
      await caller.control.request("hangup", { callId });
      await callee.waitForEvent(isCall("ended", calleeId), 10000, "ended");
    } catch (err) {
      failures.push((err as Error).message.split("\n")[0]!);
      if (failures.length > 3) break;
    }
    await sleep(150);
  }
  return result(samples, failures, firstCall);
}

function firstDecodedFrameWritten(dir: string): boolean {
  for (const f of readdirSync(dir)) {
    if (!f.endsWith("-dec.wav")) continue;
    try {
      if (statSync(join(dir, f)).size > 44) return true;
    } catch {
      /* being replaced */
    }
  }
  return false;
}

/** The callee must have been started with `sndfileDir` (its decoded-audio dumps are the first-frame signal). */
export async function baresipSetup(caller: Baresip, callee: Baresip, sndfileDir: string, iterations: number, warmup = 1): Promise<SetupResult> {
  const samples: SetupResult["samples"] = [];
  const failures: string[] = [];
  for (let i = 0; i < warmup + iterations; i++) {
    try {
      for (const f of readdirSync(sndfileDir)) rmSync(join(sndfileDir, f), { force: true });
      const before = callee.ctrl.events.length;
      const fresh = (type: string) => (e: { type: string }) => e.type === type && callee.ctrl.events.indexOf(e as never) >= before;
      const { sentAt, reply } = caller.ctrl.request("dial", callee.uri);
      const firstAudio = await pollUntil(() => (firstDecodedFrameWritten(sndfileDir) ? performance.now() : undefined), 10000, 1, "baresip's first decoded frame");
      const rtp = await callee.ctrl.waitForEvent(fresh("CALL_RTPESTAB"), 5000, "CALL_RTPESTAB");
      const est = await callee.ctrl.waitForEvent(fresh("CALL_ESTABLISHED"), 5000, "CALL_ESTABLISHED");
      const r = await reply;
      if (!r.ok) throw new Error(`dial failed: ${r.data}`);
      if (i >= warmup) samples.push({ firstAudioMs: firstAudio - sentAt, firstPacketMs: rtp.at - sentAt, establishedMs: est.at - sentAt });
      await caller.ctrl.request("hangup").reply;
      await callee.ctrl.waitForEvent((e) => e.type === "CALL_CLOSED" && e.id === rtp.id, 10000, "CALL_CLOSED");
    } catch (err) {
      failures.push((err as Error).message.split("\n")[0]!);
      if (failures.length > 3) break;
    }
    await sleep(150);
  }
  return result(samples, failures);
}
