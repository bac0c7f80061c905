// The optional front ends beside the control socket, each fed by the same
// event bus: event hooks, Prometheus metrics, the MQTT bridge. Built from the
// config at start; stopped after the calls have ended, so they see the last
// events.
import type { LoadedConfig } from "../config/load.js";
import type { CommandDispatcher } from "../control/dispatch.js";
import type { EventBus } from "../control/event-bus.js";
import type { StatusResult } from "../control/protocol.js";
import { createHookRunner } from "../hooks/hook-runner.js";
import { startMetricsServer } from "../metrics/metrics-server.js";
import type { Logger } from "../util/logger.js";
import { VERSION } from "../version.js";

export interface FrontEndDeps {
  /** The config in force (reload replaces it; hooks read it on every event). */
  config: () => LoadedConfig;
  events: EventBus;
  dispatch: CommandDispatcher;
  /** The `status` result. */
  status: () => StatusResult;
  socketPath: string;
  logger: Logger;
}

export interface FrontEnds {
  stop(): Promise<void>;
}

export async function startFrontEnds(d: FrontEndDeps): Promise<FrontEnds> {
  const stops: (() => Promise<void>)[] = [];
  const cfg = d.config();
  try {
    const hooks = createHookRunner({ config: () => d.config().hooks, socketPath: d.socketPath, logger: d.logger });
    const offHooks = d.events.subscribe(hooks.onEvent);
    stops.push(async () => {
      offHooks();
      await hooks.stop();
    });
    if (cfg.mqtt.enabled) {
      // Connects (and reconnects) in the background: a broker that is down does not keep the daemon from starting.
      const { enabled: _enabled, password: _password, passwordFile: _passwordFile, ...mqttConfig } = cfg.mqtt;
      // The MQTT client library (about 15 MiB resident) is loaded only by a daemon that uses it.
      const { startMqttBridge } = await import("../mqtt/bridge.js");
      const bridge = startMqttBridge({
        config: mqttConfig,
        ...(cfg.mqttSecret !== undefined ? { password: cfg.mqttSecret } : {}),
        events: d.events,
        dispatch: d.dispatch,
        status: d.status,
        version: VERSION,
        logger: d.logger,
      });
      stops.push(() => bridge.stop());
    }
    if (cfg.metrics.enabled) {
      const metrics = await startMetricsServer({ ...cfg.metrics, events: d.events, status: d.status, version: VERSION, logger: d.logger });
      stops.push(() => metrics.close());
    }
  } catch (err) {
    await Promise.allSettled(stops.map((s) => s()));
    throw err;
  }
  return {
    async stop() {
      await Promise.allSettled(stops.reverse().map((s) => s()));
    },
  };
}
