// A call to itself on loopback, once, when a media thread starts (before
// it says it is ready): two PlaneCalls on 127.0.0.1 check and connect ICE,
// do a DTLS-SRTP handshake and carry a few Opus frames both ways, then
// stop. Code a call runs for the first time is slow (V8 compiles it lazily;
// measured on a busy 2-core machine: the first call's ICE checks and DTLS
// handshake took about twice as long as later calls'), so the first real
// call finds every step of its media path run once already. Nothing of it
// leaves the thread and it sends only to itself; whatever goes wrong is
// logged at debug and the thread goes on.
import { createCertificate, fingerprint } from "../../rtp/dtls/certificate.js";
import { opusBackend } from "../../media/codecs/opus-backend.js";
import { errorMessage } from "../../util/errors.js";
import type { FrameClock } from "../../util/frame-clock.js";
import type { Logger } from "../../util/logger.js";
import { PlaneCall } from "./plane-call.js";
import type { CallParts } from "./plane-parts.js";
import type { MediaSetup, OpenCall } from "./plane-protocol.js";

/** How long the warm-up may take at most; the thread is ready after it either way. */
export const WARM_UP_TIMEOUT_MS = 3000;
/** Frames carried once media flows. */
const WARM_UP_FRAMES = 10;

export async function warmUpCall(o: { clock: FrameClock; logger: Logger; parts: CallParts }): Promise<void> {
  const log = o.logger.child({ module: "warm-up" });
  const started = performance.now();
  const calls: PlaneCall[] = [];
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      run(o, calls),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`not done in ${WARM_UP_TIMEOUT_MS} ms`)), WARM_UP_TIMEOUT_MS);
      }),
    ]);
    log.debug({ ms: Math.round(performance.now() - started) }, "media path warmed up");
  } catch (err) {
    log.debug({ err: errorMessage(err) }, "media path warm-up failed");
  } finally {
    clearTimeout(timer);
    await Promise.allSettled(calls.map(async (c) => (await c.stop(), await c.iceClose())));
  }
}

async function run(o: { clock: FrameClock; logger: Logger; parts: CallParts }, calls: PlaneCall[]): Promise<void> {
  const silent = o.logger.child({ module: "warm-up" }, { level: "silent" });
  const certificate = await createCertificate("jingled-warm-up");
  const remoteFingerprint = { hash: "sha-256", value: fingerprint(certificate) };
  const open = (name: string): OpenCall => ({
    callId: name,
    sid: name,
    startedAt: new Date().toISOString(),
    input: { type: "tone", frequency: 440 },
    output: { type: "null" },
    jitterFrames: 2,
    prefs: {},
    log: { call: name },
  });
  let failed: string | undefined;
  const [a, b] = ["warm-up-a", "warm-up-b"].map((name) => {
    const call = new PlaneCall({ open: open(name), parts: o.parts, clock: o.clock, logger: silent, emit: (e) => (e.type === "failed" ? (failed = e.message) : undefined) });
    calls.push(call);
    return call;
  }) as [PlaneCall, PlaneCall];
  const agents = [a, b].map((call, i) => call.iceCreate({ controlling: i === 0, addresses: ["127.0.0.1"], connectTimeoutMs: WARM_UP_TIMEOUT_MS }));
  const [agentA, agentB] = agents as [NonNullable<(typeof agents)[0]>, NonNullable<(typeof agents)[0]>];
  agentA.on("candidate", (c) => void agentB.addRemoteCandidate(c));
  agentB.on("candidate", (c) => void agentA.addRemoteCandidate(c));
  agentA.setRemoteParameters(agentB.localParameters.ufrag, agentB.localParameters.pwd);
  agentB.setRemoteParameters(agentA.localParameters.ufrag, agentA.localParameters.pwd);
  const connected = Promise.all(agents.map((ag) => new Promise<void>((resolve) => ag.on("connected", () => resolve()))));
  const setup: MediaSetup = {
    codec: "opus",
    opusBackend: opusBackend(),
    payloadType: 111,
    ptimeMs: 20,
    encoder: {},
    rtcpMux: true,
    peer: "warm-up",
  };
  await Promise.all([a.prepare(setup), b.prepare(setup)]);
  await Promise.all([agentA.gather(), agentB.gather()]);
  await connected;
  a.connect({ security: { mode: "dtls", role: "server", setup: "passive" }, certificate, remoteFingerprint });
  b.connect({ security: { mode: "dtls", role: "client", setup: "active" }, certificate, remoteFingerprint });
  await Promise.all([a.startTransport(), b.startTransport()]);
  let ticks = 0;
  await new Promise<void>((resolve) => {
    const stop = o.clock.subscribe(() => {
      if (++ticks < 5 * WARM_UP_FRAMES && (b.stats()?.framesPlayed ?? 0) < WARM_UP_FRAMES) return;
      stop();
      resolve();
    });
  });
  if (failed) throw new Error(failed);
}
