// A test-side MQTT client (the mqtt package) that keeps every message it
// receives; next() returns each matching message at most once, in arrival order.
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt";

export interface Received {
  topic: string;
  text: string;
  packet: IPublishPacket;
}

export interface Observer {
  readonly client: MqttClient;
  readonly seen: Received[];
  next(pred: (m: Received) => boolean, what: string, timeoutMs?: number): Promise<Received>;
  close(): Promise<void>;
}

export async function mqttObserver(url: string, o: Partial<IClientOptions> = {}): Promise<Observer> {
  const client = await mqtt.connectAsync(url, { protocolVersion: 5, reconnectPeriod: 500, clientId: `test-${Math.random().toString(16).slice(2, 10)}`, ...o });
  const seen: Received[] = [];
  const taken = new Set<Received>();
  const waiters = new Set<() => void>();
  client.on("message", (topic, payload, packet) => {
    seen.push({ topic, text: payload.toString(), packet });
    for (const w of [...waiters]) w();
  });
  return {
    client,
    seen,
    next(pred, what, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const m = seen.find((x) => !taken.has(x) && pred(x));
          if (!m) return;
          taken.add(m);
          waiters.delete(check);
          clearTimeout(timer);
          resolve(m);
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; seen: ${seen.slice(-15).map((m) => `${m.topic} ${m.text.slice(0, 100)}`).join(" | ")}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => client.endAsync(true),
  };
}
