// calls.forward: an incoming call is forwarded to a ring group, and once a
// target answered, the two calls' audio is bridged (media/audio-bridge.ts).
// The incoming call rings while the group does; it is answered when a target
// answers (so the caller is not charged with a call nobody took), refused
// with the group's reason when nobody does (or taken by calls.voicemail,
// when it is on), and whichever side hangs up
// ends the other. Answered on the daemon itself first (an answer command),
// it is an ordinary call: the group stops ringing. The bridge is plugged into each call as its source and
// sink: the calls know nothing of each other.
import type { EventBus } from "../control/event-bus.js";
import { REASON_CONDITIONS, type ReasonCondition } from "../jingle/protocol/index.js";
import { AudioBridge } from "../media/audio-bridge.js";
import { errorMessage } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import type { Call } from "./call/call.js";
import type { RingGroup } from "./ring-group.js";
import type { Voicemail } from "./voicemail.js";

/** Who answers and ends a forwarded call, as the log's audit lines say it. */
export const BY_FORWARD = "call forwarding";

export interface ForwardDeps {
  incoming: Call;
  group: RingGroup;
  /** Takes the call when nobody in the group answered (calls.voicemail; false when it is off). */
  voicemail?: Pick<Voicemail, "takeUnanswered">;
  events: Pick<EventBus, "publish">;
  logger: Logger;
}

export function forwardCall({ incoming, group, voicemail, events, logger }: ForwardDeps): void {
  const log = logger.child({ call: incoming.id, forwardedTo: group.id });
  let bridge: AudioBridge | undefined;
  /** Answered on this daemon before anyone in the group: no longer forwarded. */
  let answeredHere = false;
  /** Nobody in the group answered and the voicemail took the call: no longer forwarded. */
  let toVoicemail = false;

  const join = async (): Promise<void> => {
    const leg = group.winner;
    if (bridge || !leg || incoming.state !== "active" || leg.state !== "active") return;
    const b = (bridge = new AudioBridge());
    try {
      await incoming.bridgeAudio(b.link("a"));
      await leg.bridgeAudio(b.link("b"));
    } catch (err) {
      // One of them ended meanwhile (its end ends the other), or its media is gone.
      log.warn({ err: errorMessage(err) }, "bridging the forwarded call failed");
      void incoming.hangup("failed-application", BY_FORWARD).catch(() => undefined);
      void group.hangup("failed-application", BY_FORWARD).catch(() => undefined);
      return;
    }
    log.info({ leg: leg.id, peer: leg.peer }, "forwarded call bridged");
    events.publish("group", { callId: group.id, type: "bridged", bridgedWith: incoming.id });
  };

  group.on("answered", (leg) => {
    leg.on("state", (state) => state === "active" && void join());
    if (incoming.state === "incoming") void incoming.answer(BY_FORWARD).catch((err: unknown) => log.warn({ err: errorMessage(err) }, "answering the forwarded call"));
    void join();
  });
  incoming.on("state", (state) => {
    // Answered here (an answer command on the door itself) before anyone in the group: the group stops ringing.
    if (answeredHere || toVoicemail) return;
    if ((state === "connecting" || state === "active") && !group.winner) {
      answeredHere = true;
      log.info("the forwarded call was answered here: the ring group stops");
      void group.hangup("cancel", `${BY_FORWARD}: answered here`).catch(() => undefined);
      return;
    }
    if (state === "active") void join();
  });
  incoming.on("ended", () => {
    bridge?.close();
    void group.hangup("success", `${BY_FORWARD}: the caller hung up`).catch(() => undefined);
  });
  group.on("ended", ({ reason, answered }) => {
    bridge?.close();
    if (incoming.state === "ended" || answeredHere) return;
    if (!answered && incoming.state === "incoming") {
      if (voicemail?.takeUnanswered(incoming)) {
        toVoicemail = true;
        log.info({ reason }, "nobody in the ring group answered: the voicemail takes the call");
        return;
      }
      const condition = (REASON_CONDITIONS as readonly string[]).includes(reason) ? (reason as ReasonCondition) : "timeout";
      void incoming.reject(condition, BY_FORWARD).catch(() => undefined);
    } else void incoming.hangup("success", BY_FORWARD).catch(() => undefined);
  });
}
