// The daemon's event bus: the app publishes each event once; every front end
// (the control socket, the MQTT bridge, hooks, metrics) subscribes. The bus
// stamps the envelope (seq, time) and encodes the JSON once, so all of them
// see the same event with the same seq. Only the protocol's events, with
// their fields, can be published (EventMap in ./messages.ts).
import type { Logger } from "../util/logger.js";
import { encodeLine, type EventEnvelope, type EventFields, type EventMap, type EventName } from "./protocol.js";

/** An event as sent: the envelope plus its fields. */
export type BusEvent = EventEnvelope & Record<string, unknown>;

export interface PublishedEvent {
  readonly message: BusEvent;
  /** The message as one protocol line, "\n" included. */
  readonly line: string;
}

export interface EventBus {
  /** Stamps `{event, seq, time}` in front of `fields` and hands it to every subscriber. */
  publish<E extends EventName>(event: E, fields: EventFields<EventMap[E]>): void;
  /** Returns the unsubscribe function. */
  subscribe(fn: (e: PublishedEvent) => void): () => void;
  /** The seq of the last event published (0 before the first). */
  readonly seq: number;
}

export function createEventBus(logger: Logger): EventBus {
  const log = logger.child({ component: "events" });
  const subscribers = new Set<(e: PublishedEvent) => void>();
  let seq = 0;

  function publish(event: string, fields: object): void {
    const message: Record<string, unknown> = { event, seq: seq + 1, time: new Date().toISOString() };
    // The envelope comes first on the wire and a field can never overwrite it.
    for (const [key, value] of Object.entries(fields)) if (!(key in message)) message[key] = value;
    let line: string;
    try {
      line = encodeLine(message);
    } catch (err) {
      // A producer's bug must not take the daemon down; no seq is used, so clients see no gap.
      log.error({ err, event }, "event is not serialisable; not sent");
      return;
    }
    seq += 1;
    const published: PublishedEvent = { message: message as BusEvent, line };
    for (const fn of [...subscribers]) {
      try {
        fn(published);
      } catch (err) {
        // One front end's bug must not keep the event from the others.
        log.error({ err, event }, "event subscriber failed");
      }
    }
  }

  return {
    publish,
    subscribe(fn) {
      subscribers.add(fn);
      return () => void subscribers.delete(fn);
    },
    get seq() {
      return seq;
    },
  };
}
