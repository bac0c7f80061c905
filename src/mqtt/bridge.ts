// The MQTT bridge: a control front end like the socket, over a broker (the
// `mqtt` package as client). Events from the daemon's bus are published under
// the topic prefix (./topics.ts); requests on PREFIX/command go through the
// same dispatcher as the socket's (src/control/dispatch.ts), so commands,
// argument checks and error codes are the socket's. Replies go to the
// request's MQTT 5 response topic with its correlation data, else to
// PREFIX/reply (MQTT 3.1.1 has neither: match replies by id there).
//
// The bridge never holds up the daemon: events are published only while
// connected (QoS 0, never queued), the retained state is republished on
// every (re)connection, and commands are handled one at a time from a short
// queue. The broker's password is never logged.
import { readFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import mqtt, { type IClientOptions, type IPublishPacket, type MqttClient } from "mqtt";
import type { CommandDispatcher, ClientInfo } from "../control/dispatch.js";
import type { EventBus, PublishedEvent } from "../control/event-bus.js";
import { errorReply, type ControlReply } from "../control/protocol.js";
import type { Logger } from "../util/logger.js";
import { errorMessage } from "../util/errors.js";
import { callStateOf, initialDoorState, nextDoorState, type DoorState } from "./door-state.js";
import { defaultNodeId, discoveryMessages } from "./home-assistant.js";
import { safeLevel, topicsFor, usableResponseTopic } from "./topics.js";

export interface MqttBridgeConfig {
  url: string;
  protocolVersion: 4 | 5;
  username?: string;
  clientId?: string;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  topicPrefix: string;
  commands: readonly string[];
  maxCommandBytes: number;
  homeAssistant: { enabled: boolean; discoveryPrefix: string; nodeId?: string; name?: string };
}

export interface MqttBridgeOptions {
  config: MqttBridgeConfig;
  password?: string;
  events: EventBus;
  dispatch: CommandDispatcher;
  /** The daemon's status: the account's JID and the calls when the bridge starts. */
  status: () => { account: { jid: string }; calls: { id: string; state: string; direction?: string; peer?: string }[] };
  version: string;
  logger: Logger;
  /** Reconnection delays, doubling from min to max (default 1 s .. 30 s). */
  reconnectMs?: { min: number; max: number };
}

export interface MqttBridge {
  readonly connected: boolean;
  /** Publishes status offline, then disconnects. */
  stop(): Promise<void>;
}

// Commands waiting beyond this are dropped (logged): MQTT has no back-pressure towards one publisher.
const MAX_PENDING = 64;
// With MQTT 5 the broker drops larger messages before sending them to us (MQTT 5 §3.1.2.11.4).
const MAX_PACKET_BYTES = 1024 * 1024;

function readPem(key: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`mqtt.${key}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
  }
}

export function startMqttBridge(o: MqttBridgeOptions): MqttBridge {
  const cfg = o.config;
  const log = o.logger.child({ component: "mqtt" });
  const topics = topicsFor(cfg.topicPrefix);
  const allowed = new Set(cfg.commands);
  const ha = cfg.homeAssistant;
  const status = o.status();
  const discovery = ha.enabled
    ? discoveryMessages({
        discoveryPrefix: ha.discoveryPrefix,
        nodeId: ha.nodeId ?? defaultNodeId(status.account.jid),
        name: ha.name ?? `jingled ${status.account.jid.split("/")[0]}`,
        topics,
        version: o.version,
      })
    : [];
  const client: ClientInfo = { id: 0, connectedAt: new Date(), via: "mqtt" };
  const backoff = o.reconnectMs ?? { min: 1000, max: 30_000 };
  let door: DoorState = initialDoorState(status.calls);
  let published = { callState: "", lastCaller: "" };

  const options: IClientOptions = {
    protocolVersion: cfg.protocolVersion,
    clientId: cfg.clientId ?? `jingled-${randomBytes(4).toString("hex")}`,
    clean: true,
    keepalive: 30,
    connectTimeout: 10_000,
    reconnectPeriod: backoff.min,
    reconnectOnConnackError: true,
    // Nothing piles up while the broker is away: events are only published when connected.
    queueQoSZero: false,
    resubscribe: false,
    will: { topic: topics.status, payload: Buffer.from("offline"), qos: 1, retain: true },
    ...(cfg.username !== undefined ? { username: cfg.username } : {}),
    ...(o.password !== undefined ? { password: o.password } : {}),
    ...(cfg.protocolVersion === 5 ? { properties: { maximumPacketSize: MAX_PACKET_BYTES } } : {}),
    ...(cfg.caFile ? { ca: readPem("caFile", cfg.caFile) } : {}),
    ...(cfg.certFile ? { cert: readPem("certFile", cfg.certFile) } : {}),
    ...(cfg.keyFile ? { key: readPem("keyFile", cfg.keyFile) } : {}),
    rejectUnauthorized: true,
  };
  const mq: MqttClient = mqtt.connect(cfg.url, options);
  let failures = 0;

  mq.on("connect", () => {
    failures = 0;
    mq.options.reconnectPeriod = backoff.min;
    log.info({ url: cfg.url, protocolVersion: cfg.protocolVersion, prefix: cfg.topicPrefix }, "MQTT connected");
    mq.subscribe(topics.command, { qos: 1 }, (err) => {
      if (err) log.error({ err: errorMessage(err), topic: topics.command }, "MQTT subscribe failed");
    });
    publish(topics.status, "online", { qos: 1, retain: true });
    for (const d of discovery) publish(d.topic, JSON.stringify(d.payload), { qos: 1, retain: true });
    published = { callState: "", lastCaller: "" };
    publishDoorState();
  });
  mq.on("close", () => {
    // Doubling delays up to the maximum: a broker that is down or refuses us is not hammered.
    mq.options.reconnectPeriod = Math.min(backoff.max, backoff.min * 2 ** Math.min(failures, 10));
    failures += 1;
  });
  mq.on("error", (err) => {
    // The first failure in a row at warn, the rest at debug: a long outage does not flood the log.
    const level = failures <= 1 ? "warn" : "debug";
    log[level]({ err: errorMessage(err), url: cfg.url }, "MQTT connection failed; retrying");
  });
  mq.on("offline", () => log.info({ url: cfg.url }, "MQTT disconnected; reconnecting"));
  mq.on("message", (topic, payload, packet) => {
    if (topic === topics.command) enqueue(payload, packet);
  });

  function publish(topic: string, payload: string, opts: { qos: 0 | 1; retain?: boolean; properties?: IPublishPacket["properties"] }): void {
    if (!mq.connected) return;
    mq.publish(topic, payload, { qos: opts.qos, retain: opts.retain ?? false, ...(opts.properties ? { properties: opts.properties } : {}) }, (err) => {
      if (err) log.debug({ err: errorMessage(err), topic }, "MQTT publish failed");
    });
  }

  function publishDoorState(): void {
    const now = { callState: callStateOf(door), lastCaller: door.lastCaller };
    if (now.callState !== published.callState) publish(topics.callState, now.callState, { qos: 1, retain: true });
    if (now.lastCaller !== published.lastCaller && now.lastCaller !== "") publish(topics.lastCaller, now.lastCaller, { qos: 1, retain: true });
    if (mq.connected) published = now;
  }

  const offEvents = o.events.subscribe((e: PublishedEvent) => {
    door = nextDoorState(door, e.message);
    if (!mq.connected) return;
    const json = e.line.trimEnd();
    publish(topics.event(e.message.event), json, { qos: 0 });
    const callId = e.message.callId;
    if (typeof callId === "string" && safeLevel(callId)) publish(topics.call(callId, e.message.event), json, { qos: 0 });
    publishDoorState();
  });

  // ------------------------------------------------------------ commands

  const pending: { payload: Buffer; packet: IPublishPacket }[] = [];
  let working = false;
  let dropped = 0;
  const utf8 = new TextDecoder("utf-8", { fatal: true });

  function enqueue(payload: Buffer, packet: IPublishPacket): void {
    if (pending.length >= MAX_PENDING) {
      if (dropped++ % 100 === 0) log.warn({ dropped }, "MQTT commands arrive faster than they are handled; dropped");
      return;
    }
    pending.push({ payload, packet });
    if (!working) void work();
  }

  async function work(): Promise<void> {
    working = true;
    try {
      for (let item = pending.shift(); item; item = pending.shift()) {
        const reply = await handle(item.payload);
        respond(reply, item.packet);
      }
    } finally {
      working = false;
    }
  }

  async function handle(payload: Buffer): Promise<ControlReply> {
    if (payload.length > cfg.maxCommandBytes) {
      return errorReply(null, "line-too-long", `command message of ${payload.length} bytes, longer than ${cfg.maxCommandBytes} (mqtt.maxCommandBytes); ignored`);
    }
    let text: string;
    try {
      text = utf8.decode(payload);
    } catch {
      return errorReply(null, "bad-json", "invalid JSON: the message is not UTF-8");
    }
    return o.dispatch.handle(text, client, { allowed });
  }

  function respond(reply: ControlReply, request: IPublishPacket): void {
    let body: string;
    try {
      body = JSON.stringify(reply);
    } catch (err) {
      body = JSON.stringify(errorReply(reply.id, "internal", `result could not be encoded: ${errorMessage(err)}`));
    }
    const props = request.properties;
    const responseTopic = props?.responseTopic;
    if (cfg.protocolVersion === 5 && responseTopic !== undefined && usableResponseTopic(responseTopic, cfg.topicPrefix, ha.enabled ? ha.discoveryPrefix : undefined)) {
      publish(responseTopic, body, { qos: 1, ...(props?.correlationData ? { properties: { correlationData: props.correlationData } } : {}) });
      return;
    }
    if (responseTopic !== undefined) log.info({ responseTopic: responseTopic.slice(0, 200) }, "response topic not used; the reply goes to PREFIX/reply");
    publish(topics.reply, body, { qos: 1, ...(props?.correlationData ? { properties: { correlationData: props.correlationData } } : {}) });
  }

  return {
    get connected() {
      return mq.connected;
    },
    async stop() {
      offEvents();
      pending.length = 0;
      if (mq.connected) {
        // The will is for crashes; a clean stop says offline itself, retained.
        await Promise.race([
          mq.publishAsync(topics.status, "offline", { qos: 1, retain: true }).catch(() => undefined),
          new Promise((r) => setTimeout(r, 2000)),
        ]);
      }
      await mq.endAsync(true).catch(() => undefined);
    },
  };
}
