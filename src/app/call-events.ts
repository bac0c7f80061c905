// What calls tell (their CallEvents, and their statistics now and then) as
// the control protocol's events, each published once on the event bus for
// every front end (control/messages.ts says what each event carries).
import type { EventBus } from "../control/event-bus.js";
import type { Call } from "./call/call.js";

/** Publishes `call`'s events from now on; `onEnded` runs after its last one. */
export function publishCallEvents(call: Call, events: Pick<EventBus, "publish">, onEnded: () => void): void {
  const callId = call.id;
  call.on("state", (state, info) => {
    if (state === "ended") return;
    events.publish("call", { callId, type: state, peer: info.peer, ...(info.codec ? { codec: info.codec } : {}) });
  });
  call.on("media", ({ codec, pair, encryption, srtpProfile }) => {
    events.publish("media", {
      callId,
      codec,
      localCandidate: pair.local,
      remoteCandidate: pair.remote,
      pairType: pair.local.type === "relay" || pair.remote.type === "relay" ? "relayed" : "direct",
      encryption,
      ...(srtpProfile ? { srtpProfile } : {}),
    });
  });
  call.on("control", (type, by) => events.publish("call", { callId, type, by, peer: call.peer }));
  call.on("ice", (info) => events.publish("ice", { callId, ...info }));
  call.on("dtmf", (digit, durationMs) => events.publish("dtmf", { callId, digit, ...(durationMs !== undefined ? { durationMs } : {}) }));
  call.on("file", (kind, file, type, error) => events.publish(kind, { callId, file, type, ...(error ? { error } : {}) }));
  call.on("ended", (info) => {
    const stats = call.stats();
    events.publish("call", {
      callId,
      type: "ended",
      peer: info.peer,
      by: info.by,
      ...(info.reason !== undefined ? { reason: info.reason } : {}),
      durationMs: info.durationMs,
      elapsedMs: info.elapsedMs,
      ...(info.text ? { text: info.text } : {}),
      ...(stats ? { stats } : {}),
    });
    onEnded();
  });
}

/** A `stats` event per active call every `seconds` (none for 0); returns the timer. */
export function publishStatsEvery(seconds: number, calls: () => Pick<Call, "id" | "state" | "stats" | "freshStats">[], events: EventBus): NodeJS.Timeout | undefined {
  if (seconds <= 0) return undefined;
  const timer = setInterval(() => {
    for (const c of calls()) {
      if (c.state !== "active") continue;
      void c.freshStats().then((stats) => {
        if (stats && c.state === "active") events.publish("stats", { callId: c.id, ...stats });
      });
    }
  }, seconds * 1000);
  timer.unref();
  return timer;
}
