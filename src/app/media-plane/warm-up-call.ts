// A call to itself on loopback, once per media thread before the thread
// takes calls: two call media on 127.0.0.1 check and connect ICE, do a
// DTLS-SRTP handshake and carry a few Opus frames both ways, then stop.
// Code a call runs for the first time is slow (V8 compiles it lazily;
// measured on a busy 2-core machine: the first call's ICE checks and DTLS
// handshake took about twice as long as later calls'), so the first real
// call finds every step of its media path run once already.
//
// It goes through the same CallMedia interface a call uses (./call-media.ts):
// on a media thread that is the main thread's end of the boundary (the
// messages, RemoteCallMedia, the link) as well as the thread's (PlaneHost,
// PlaneCall). Run inside the thread only, the warm-up left the boundary
// cold: the first call's messages cost the main thread 10-15 ms more than
// later calls' (V8 CPU profiles, bench-setup-trace --cpu-prof). Nothing of
// it leaves the machine and it sends only to itself; the call's lines are
// not logged (OpenCall.quiet); whatever goes wrong is logged at debug and
// the thread is ready after it either way.
import { opusBackend } from "../../media/codecs/opus-backend.js";
import { createCertificate, fingerprint } from "../../rtp/dtls/certificate.js";
import { errorMessage } from "../../util/errors.js";
import { withTimeout } from "../../util/timeout.js";
import type { Logger } from "../../util/logger.js";
import type { CallMedia } from "./call-media.js";
import type { IcePort } from "./plane-parts.js";
import type { MediaSetup, OpenCall } from "./plane-protocol.js";

/** How long the warm-up may take at most; the thread is ready after it either way. */
export const WARM_UP_TIMEOUT_MS = 3000;
/** Frames carried once media flows. */
const WARM_UP_FRAMES = 10;
/** How often the receiving end's figures are asked for while the frames flow, ms. */
const POLL_MS = 20;

export interface WarmUpOptions {
  /** A call's media on the thread to warm up (a call id is unique to the thread it is given to). */
  open(o: OpenCall): CallMedia;
  logger: Logger;
}

/** Resolves when the call is done or given up (never rejects). */
export async function warmUpCall(o: WarmUpOptions): Promise<void> {
  const log = o.logger.child({ module: "warm-up" });
  const started = performance.now();
  const calls: { media: CallMedia; ice?: IcePort }[] = [];
  try {
    await withTimeout(run(o, calls), WARM_UP_TIMEOUT_MS);
    log.debug({ ms: Math.round(performance.now() - started) }, "media path warmed up");
  } catch (err) {
    log.debug({ err: errorMessage(err) }, "media path warm-up failed");
  } finally {
    await Promise.allSettled(calls.map(async (c) => (await c.media.stop(), await c.ice?.close())));
  }
}

let serial = 0;

async function run(o: WarmUpOptions, calls: { media: CallMedia; ice?: IcePort }[]): Promise<void> {
  const certificate = await createCertificate("jingled-warm-up");
  const remoteFingerprint = { hash: "sha-256", value: fingerprint(certificate) };
  const n = ++serial;
  const open = (name: string): OpenCall => ({
    callId: `${name}-${n}`,
    sid: name,
    startedAt: new Date().toISOString(),
    input: { type: "tone", frequency: 440 },
    output: { type: "null" },
    jitterFrames: 2,
    prefs: {},
    log: { call: name },
    quiet: true,
  });
  let failed: string | undefined;
  const [a, b] = ["warm-up-a", "warm-up-b"].map((name) => {
    const media = o.open(open(name));
    media.on("failed", (message) => (failed = message));
    const call = { media };
    calls.push(call);
    return call;
  }) as [{ media: CallMedia; ice?: IcePort }, { media: CallMedia; ice?: IcePort }];
  const silent = o.logger.child({ module: "warm-up" }, { level: "silent" });
  const [iceA, iceB] = [a, b].map((call, i) => (call.ice = call.media.ice({ controlling: i === 0, addresses: ["127.0.0.1"], connectTimeoutMs: WARM_UP_TIMEOUT_MS, logger: silent }))) as [IcePort, IcePort];
  iceA.on("candidate", (c) => void iceB.addRemoteCandidate(c));
  iceB.on("candidate", (c) => void iceA.addRemoteCandidate(c));
  iceA.setRemoteParameters(iceB.localParameters.ufrag, iceB.localParameters.pwd);
  iceB.setRemoteParameters(iceA.localParameters.ufrag, iceA.localParameters.pwd);
  const connected = Promise.all([iceA, iceB].map((ice) => new Promise<void>((resolve, reject) => (ice.on("connected", () => resolve()), ice.on("failed", (why) => reject(new Error(`ICE failed: ${why}`)))))));
  const setup: MediaSetup = { codec: "opus", opusBackend: opusBackend(), payloadType: 111, ptimeMs: 20, encoder: {}, rtcpMux: true, peer: "warm-up" };
  await Promise.all([a.media.prepare(setup), b.media.prepare(setup)]);
  await Promise.all([iceA.gather(), iceB.gather()]);
  await connected;
  a.media.connect({ security: { mode: "dtls", role: "server", setup: "passive" }, certificate, remoteFingerprint });
  b.media.connect({ security: { mode: "dtls", role: "client", setup: "active" }, certificate, remoteFingerprint });
  await Promise.all([a.media.startTransport(), b.media.startTransport()]);
  for (let polls = 0; polls < 5 * WARM_UP_FRAMES; polls++) {
    if (failed) break;
    if (((await b.media.freshStats())?.framesPlayed ?? 0) >= WARM_UP_FRAMES) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  if (failed) throw new Error(failed);
}
