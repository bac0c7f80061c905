// Two calls to each other on this machine, once, before the account goes
// online: the main thread's part of a call — the Call and its parts, the
// Jingle IQs built, written, read back, parsed and checked against the
// session's state, the offer/answer, trickled candidates, the security
// decision, the media plane's messages — runs once, so the first real call
// is not the one that pays for V8 compiling that code (measured: the first
// call after start reached its first decoded frame 1.4-1.9x as late as
// later calls without this, 1.2-1.6x with it; docs/performance.md).
//
// The calls' stanzas never leave the process: each Jingle action goes out
// as an IQ of the sender's session table (jingle/session-manager.ts, one of
// its own here), is serialized, parsed back and taken by the other side's
// table as the server would deliver it. Their media go through the plane as
// a call's do (on a media thread: across the thread boundary), on
// 127.0.0.1, with a tone and no output; nothing of them is logged (a silent
// logger, quiet media), counted, or told to control clients. Whatever goes
// wrong is logged at debug; start-up goes on either way.
import { parse } from "ltx";
import { NS_JINGLE, type Jingle } from "../jingle/protocol/index.js";
import { SessionManager } from "../jingle/session-manager.js";
import type { CodecDescriptor } from "../media/codecs/codec.js";
import { errorMessage } from "../util/errors.js";
import { withTimeout } from "../util/timeout.js";
import type { Logger } from "../util/logger.js";
import { Call } from "./call/call.js";
import type { CallDeps } from "./call/parts.js";

/** The warm-up gives up after this long. */
export const WARM_UP_CALLS_TIMEOUT_MS = 3000;

export interface WarmUpCallsOptions {
  /** What the daemon's calls are made with (the media's input and output are replaced: a tone, nothing). */
  settings: Pick<CallDeps, "jitterFrames" | "mediaPrefs" | "ringTimeoutMs" | "rtcpMux" | "plane" | "dtls"> & { connectTimeoutMs: number };
  codecs: CodecDescriptor[];
  /** Our JID (both calls use it; nothing is sent to it). */
  self: string;
  logger: Logger;
}

/** Resolves when both calls have been active and ended, or the warm-up was given up (never rejects). */
export async function warmUpCalls(o: WarmUpCallsOptions): Promise<void> {
  const log = o.logger.child({ module: "warm-up" });
  const started = performance.now();
  const calls: Call[] = [];
  try {
    await withTimeout(run(o, calls), WARM_UP_CALLS_TIMEOUT_MS);
    log.debug({ ms: Math.round(performance.now() - started) }, "call path warmed up");
  } catch (err) {
    log.debug({ err: errorMessage(err) }, "call path warm-up failed");
  } finally {
    await Promise.allSettled(calls.map((c) => (c.state === "ended" ? undefined : c.hangup("success"))));
  }
}

async function run(o: WarmUpCallsOptions, calls: Call[]): Promise<void> {
  const silent = o.logger.child({ module: "warm-up" }, { level: "silent" });
  const sid = "jingled-warm-up";
  const peer = `${o.self.split("/")[0]}/jingled-warm-up`;
  const tables = { initiator: new SessionManager(), responder: new SessionManager() };
  tables.initiator.createOutgoing(sid, peer);
  let failed: string | undefined;
  let ids = 0;
  const deliver = (role: "initiator" | "responder", to: () => Call, j: Omit<Jingle, "sid">): Promise<void> => {
    const iq = tables[role].outgoing(sid, j, `warm-up-${++ids}`);
    iq.attrs.from = role === "initiator" ? o.self : peer;
    // As the server would hand it over: an element on the wire, read and parsed again.
    const received = parse(iq.toString());
    const res = tables[role === "initiator" ? "responder" : "initiator"].incoming(received, received.getChild("jingle", NS_JINGLE)!);
    if (!res.ok) return Promise.reject(new Error(res.error));
    // Acknowledged at once (the iq result); taken after the sender's step, as a stanza would be.
    setImmediate(() => {
      const call = to();
      const taken = res.isNew ? call.offer(res.jingle, true) : call.remote(res.jingle);
      taken.catch((err: unknown) => (failed ??= errorMessage(err)));
    });
    return Promise.resolve();
  };
  const make = (role: "initiator" | "responder", id: string, other: () => Call): Call => {
    const call = new Call({
      ...o.settings,
      id,
      sid,
      peer: role === "initiator" ? peer : o.self,
      role,
      self: role === "initiator" ? o.self : peer,
      codecs: o.codecs,
      input: { type: "tone", frequency: 440 },
      output: { type: "null" },
      ice: { addresses: ["127.0.0.1"], connectTimeoutMs: o.settings.connectTimeoutMs, relayOnly: false, servers: async () => ({}) },
      logger: silent,
      quiet: true,
      send: (j) => deliver(role, other, j),
      sendJmi: async () => undefined,
    });
    calls.push(call);
    return call;
  };
  const caller: Call = make("initiator", "warm-up-caller", () => callee);
  const callee: Call = make("responder", "warm-up-callee", () => caller);
  const active = (call: Call) =>
    new Promise<void>((resolve, reject) => {
      call.on("state", (state) => (state === "active" ? resolve() : undefined));
      call.on("ended", (info) => reject(new Error(`ended before it was active: ${info.reason ?? "?"}${info.text ? ` (${info.text})` : ""}`)));
    });
  const both = Promise.all([active(caller), active(callee)]);
  both.catch(() => undefined); // awaited below, unless start() throws first
  // What a client asking for the figures while the call sets up runs (the stats command).
  let polling = true;
  const poll = (async () => {
    while (polling) {
      await Promise.all([caller.freshStats(), callee.freshStats()]);
      await new Promise((r) => setTimeout(r, 2));
    }
  })();
  try {
    await caller.start();
    await both;
  } finally {
    polling = false;
    await poll;
  }
  if (failed) throw new Error(failed);
  const ended = Promise.all([caller, callee].map((c) => new Promise<void>((resolve) => (c.state === "ended" ? resolve() : c.on("ended", () => resolve())))));
  await caller.hangup("success");
  await ended;
}
