// The configuration file's schema. Every key is documented in config/example.yaml.
// Validation errors name the key, what was found and what was expected.
import { forwardSchema } from "./forward-schema.js";
import { z } from "zod";
import { OpusBackendChoice } from "../media/codecs/opus-backend.js";
import { COMMAND_NAMES, CallEventType, EventName } from "../control/protocol.js";
import { codecIds } from "../media/codecs/index.js";
import { USER_JID_PATTERN } from "../util/jid.js";
import type { SourceSpec } from "../media/sources/source.js";
import type { SinkSpec } from "../media/sinks/sink.js";
import { ipLiteralProblem } from "./ip-literal.js";
import { MEDIA_PRIORITIES } from "../util/thread-priority.js";
import { echoKeys, voicemailSchema } from "./voicemail-schema.js";

/** An IP address literal; anything else is named for what it looks like (./ip-literal.ts). */
function ipLiteral(expected: string) {
  return z.string().superRefine((s, ctx) => {
    const problem = ipLiteralProblem(s, expected);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  });
}


// The codec registry's ids (src/media/codecs/index.ts), in its order of preference.
/** The codec ids of the registry (media.codecs, the call command's --codec). */
export const CODEC_IDS = codecIds() as [string, ...string[]];
const codecName = z.enum(CODEC_IDS);

// The source and sink types are the media layer's (media/sources/source.ts,
// media/sinks/sink.ts): the schemas below must produce exactly those.
export const sourceSpec = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("file"), path: z.string().min(1), loop: z.boolean().default(false) }),
  z.strictObject({ type: z.literal("tone"), frequency: z.number().positive().max(20000).default(440) }),
  z.strictObject({ type: z.literal("silence") }),
  // Raw s16le on a FIFO/file, or stdin ("-"); rate/channels of the stream.
  z.strictObject({ type: z.literal("pipe"), path: z.string().min(1).optional(), rate: z.number().int().min(8000).max(192000).optional(), channels: z.number().int().min(1).max(8).optional() }),
  // ALSA capture (arecord); device as in `arecord -L`.
  z.strictObject({ type: z.literal("alsa"), device: z.string().min(1).optional() }),
  // PulseAudio/PipeWire capture (parec); device: a source name, server: a PULSE_SERVER string.
  z.strictObject({ type: z.literal("pulse"), device: z.string().min(1).optional(), server: z.string().min(1).optional() }),
]);

export const sinkSpec = z.discriminatedUnion("type", [
  // `path` may contain {callId}, {peer} and {time}; one file per call.
  z.strictObject({ type: z.literal("file"), path: z.string().min(1) }),
  z.strictObject({ type: z.literal("null") }),
  z.strictObject({ type: z.literal("pipe"), path: z.string().min(1).optional(), rate: z.number().int().min(8000).max(192000).optional(), channels: z.number().int().min(1).max(8).optional() }),
  z.strictObject({ type: z.literal("alsa"), device: z.string().min(1).optional() }),
  z.strictObject({ type: z.literal("pulse"), device: z.string().min(1).optional(), server: z.string().min(1).optional() }),
]);

// What the schemas give is what the media layer takes (checked when compiling).
type Produces<S extends z.ZodType, T> = z.output<S> extends T ? true : never;
const _sourcesMatch: Produces<typeof sourceSpec, SourceSpec> = true;
const _sinksMatch: Produces<typeof sinkSpec, SinkSpec> = true;
void _sourcesMatch;
void _sinksMatch;

const hostPort = z
  .string()
  .regex(/^(stun|turn|turns):[^\s]+$/, "expected a stun:HOST[:PORT] URI");

/** Commands the MQTT bridge takes by default: none that reads or writes files on the daemon's machine or stops it. */
export const MQTT_DEFAULT_COMMANDS = ["call", "answer", "reject", "hangup", "hold", "resume", "mute", "unmute", "dtmf", "stats", "status", "calls"] as const;

/** "*", an event ("call"), or an event and its type ("call.incoming"). */
const eventMatcher = z.string().superRefine((v, ctx) => {
  if (v === "*") return;
  const [event, type, more] = v.split(".");
  const events = Object.values(EventName) as string[];
  const callTypes = Object.values(CallEventType) as string[];
  if (more !== undefined || !events.includes(event!)) {
    ctx.addIssue({ code: "custom", message: `expected "*", an event (${events.join(", ")}) or EVENT.TYPE such as call.incoming` });
  } else if (event === "call" && type !== undefined && !callTypes.includes(type)) {
    ctx.addIssue({ code: "custom", message: `call events have the types ${callTypes.join(", ")}` });
  } else if (type === "") {
    ctx.addIssue({ code: "custom", message: "an empty type after the dot" });
  }
});

// MQTT topic levels: no wildcards, no empty level at either end (MQTT 5 §4.7).
const topicPrefix = z.string().regex(/^[^#+/\s]+(\/[^#+/\s]+)*$/, "expected topic levels like jingled/door (no +, #, spaces or empty levels)");

export const configSchema = z.strictObject({
  account: z.strictObject({
    jid: z.string().regex(USER_JID_PATTERN, "expected a JID like user@example.org"),
    /** Prefer passwordFile or the JINGLED_PASSWORD environment variable. */
    password: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
    resource: z.string().min(1).default("jingled"),
    /**
     * Where the server is, when DNS does not say (or to override it):
     * xmpp://HOST[:PORT] (STARTTLS, 5222) or xmpps://HOST[:PORT] (Direct TLS, 5223).
     * Default: the JID's domain's DNS SRV records (RFC 6120 §3.2, XEP-0368), else its port 5222.
     */
    server: z.string().regex(/^xmpps?:\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/:[\]]+)(:\d{1,5})?$/, "expected xmpp://HOST[:PORT] (STARTTLS) or xmpps://HOST[:PORT] (Direct TLS)").optional(),
    /** Presence priority (XEP-0115 caps are always sent). */
    priority: z.number().int().min(-128).max(127).default(0),
  }),
  tls: z
    .strictObject({
      /** Allow a connection without STARTTLS (credentials in clear text). Off by default. */
      allowPlaintext: z.boolean().default(false),
      /** Extra CA certificate (PEM) to trust, e.g. a local server's self-signed certificate. */
      caFile: z.string().min(1).optional(),
    })
    .default({ allowPlaintext: false }),
  control: z
    .strictObject({
      /** Unix socket path; default $XDG_RUNTIME_DIR/jingled/control.sock. */
      socket: z.string().min(1).optional(),
      /** A stats event per active call this often; 0: never. */
      statsIntervalSec: z.number().int().min(0).max(3600).default(0),
    })
    .prefault({}),
  ice: z
    .strictObject({
      /** Host candidate addresses; default: every non-loopback interface address. A link-local IPv6 one needs its zone (fe80::1%eth0). */
      addresses: z.array(ipLiteral("an IP address of this machine, like 192.0.2.10 (link-local IPv6 with its zone: fe80::1%eth0)")).optional(),
      /** Interface names whose addresses are used (ignored when addresses is set). */
      interfaces: z.array(z.string().min(1)).optional(),
      /** Also link-local IPv6 addresses (fe80::/10) of those interfaces as host candidates. */
      linkLocal: z.boolean().default(false),
      /** STUN servers (stun:HOST:PORT). None by default: nothing is contacted unless configured. */
      stun: z.array(hostPort).default([]),
      /** TURN servers (turn:HOST[:PORT][?transport=udp|tcp] or turns:...), with static credentials. */
      turn: z
        .array(z.strictObject({ uri: z.string().regex(/^turns?:[^\s]+$/, "expected turn:HOST[:PORT][?transport=udp|tcp]"), username: z.string().min(1), password: z.string().min(1) }))
        .default([]),
      /** Also use the STUN/TURN servers (and short-lived TURN credentials) the XMPP server offers (XEP-0215). */
      serverServices: z.boolean().default(true),
      /** "relay": use TURN relay candidates only (hides our addresses from the peer). */
      policy: z.enum(["all", "relay"]).default("all"),
      portRange: z.tuple([z.number().int().min(1024).max(65535), z.number().int().min(1024).max(65535)]).optional(),
      /** Give up when no candidate pair works within this time. */
      connectTimeoutMs: z.number().int().min(1000).max(120000).default(20000),
    })
    .prefault({}),
  media: z
    .strictObject({
      /** Codecs in order of preference; default: every codec, in the registry's order. */
      codecs: z.array(codecName).min(1).default([...CODEC_IDS]),
      input: sourceSpec.default({ type: "silence" }),
      output: sinkSpec.default({ type: "null" }),
      /** Starting playout delay of the adaptive jitter buffer, in media frames (20 ms; 10 ms at 10 ms ptime); it then follows the measured jitter. */
      jitterFrames: z.number().int().min(1).max(25).default(1),
      /** Bounds of the adaptive playout delay, ms. */
      jitterMinMs: z.number().int().min(0).max(1000).default(0),
      jitterMaxMs: z.number().int().min(20).max(2000).default(300),
      /** Audio per packet we send unless the peer asks otherwise (XEP-0167 ptime), ms. */
      ptimeMs: z.union([z.literal(10), z.literal(20), z.literal(40), z.literal(60)]).default(20),
      /** Opus encoder: bits per second, complexity 0-10, in-band FEC, DTX (silence costs almost nothing). */
      opus: z
        .strictObject({
          bitrate: z.number().int().min(6000).max(510000).default(32000),
          complexity: z.number().int().min(0).max(10).default(9),
          fec: z.boolean().default(true),
          dtx: z.boolean().optional(),
          /** Implementation: native (system libopus; decodes in-band FEC), wasm (opusscript), auto (native when built). */
          // Whether native is built here is checked when the daemon starts (src/app/runtime-checks.ts).
          backend: z.enum([OpusBackendChoice.Auto, OpusBackendChoice.Native, OpusBackendChoice.Wasm]).default(OpusBackendChoice.Auto),
        })
        .prefault({}),
      /** RFC 4733 DTMF: tone and pause per digit, ms. */
      dtmf: z.strictObject({ toneMs: z.number().int().min(40).max(2000).default(100), gapMs: z.number().int().min(20).max(1000).default(60) }).prefault({}),
      /** A source or sink failing mid-call: carry on with silence, or end the call (failed-application). */
      onDeviceError: z.enum(["silence", "end"]).default("silence"),
      /**
       * Media threads (app/media-plane/): auto (the default) is one per core, at most 4, so a call's audio
       * never waits for signalling; 0 keeps media on the main thread (an idle thread costs about 15 MiB).
       */
      threads: z.union([z.literal("auto"), z.number().int().min(0).max(16)]).default("auto"),
      /**
       * What the first call needs is made ready at start (the first media thread, the codecs run once), so
       * the first call sets up as fast as later ones; false: at the first call instead (about 20 MiB less
       * while no call was made, the first call ~0.3 s slower). Read at start only.
       */
      preload: z.boolean().default(true),
      /**
       * What a media thread asks the scheduler for (util/thread-priority.ts): realtime (SCHED_FIFO 10; needs
       * CAP_SYS_NICE or LimitRTPRIO=10), raised (nice -10), normal. Refused falls back a step, logged. Read at start only.
       */
      priority: z.enum(MEDIA_PRIORITIES).default("realtime"),
      /** RTCP report interval (RFC 3550 §6.2: 5 s minimum recommended), ms. */
      rtcpIntervalMs: z.number().int().min(1000).max(60000).default(5000),
      /** DTLS-SRTP (XEP-0320): prefer (offer it, accept plain RTP from peers without it), require, or off. */
      dtls: z.enum(["require", "prefer", "off"]).default("prefer"),
      /** Offer RTP/RTCP multiplexing (RFC 5761). Off only to mimic or test older peers: then no RTCP is sent. */
      rtcpMux: z.boolean().default(true),
    })
    .prefault({}),
  calls: z
    .strictObject({
      /** Who may ring: roster contacts (and our own account), the allowlist only, or everyone. */
      acceptFrom: z.enum(["roster", "allowlist", "everyone"]).default("roster"),
      /** Bare JIDs or *@domain entries, for acceptFrom/autoAnswer "allowlist". */
      allowlist: z.array(z.string().regex(/^(\*|[^@/\s]+)@[^@/\s]+$/, "expected a bare JID or *@domain")).default([]),
      /** Which incoming calls are answered without a command (true = all, false = off). */
      autoAnswer: z
        .union([z.boolean(), z.enum(["off", "allowlist", "roster", "all"])])
        .default("off")
        .transform((v) => (v === true ? "all" : v === false ? "off" : v)),
      /** Seconds an auto-answered call rings first. */
      autoAnswerDelaySec: z.number().min(0).max(300).default(0),
      /** Calls at once (any state); one more incoming call is refused with busy. */
      maxCalls: z.number().int().min(1).max(64).default(4),
      /** Unanswered calls (either direction) end with reason timeout after this long. */
      ringTimeoutSec: z.number().int().min(1).max(600).default(60),
      /** XEP-0353 Jingle Message Initiation: advertise it and take proposals. Off mimics a pre-JMI client. */
      jingleMessage: z.boolean().default(true),
      /**
       * A proposal of audio and video: "ignore" it (no ringing, no answer: a
       * device of the account that does video takes it; a `refused` event
       * says so), or ring and answer it with audio alone ("audio-only"), for
       * callers that accept that (Conversations does not: it ends such a call
       * with security-error).
       */
      videoProposals: z.enum(["ignore", "audio-only"]).default("ignore"),
      /** Forward every admitted incoming call to a ring group, the audio bridged (./forward-schema.ts). */
      forward: forwardSchema.optional(),
      /** Unanswered incoming calls go to voicemail, delivered to chat (./voicemail-schema.ts). */
      voicemail: voicemailSchema,
      ...echoKeys,
    })
    .prefault({})
    .superRefine((c, ctx) => {
      if (c.voicemail.enabled && c.voicemail.afterSec >= c.ringTimeoutSec) {
        ctx.addIssue({ code: "custom", path: ["voicemail", "afterSec"], message: `must be below calls.ringTimeoutSec (${c.ringTimeoutSec}), which ends an unanswered call first` });
      }
      // A forwarded call nobody answered goes to the voicemail when its ring group gives up: that must come first.
      const groupRingsSec = c.forward ? c.forward.ringSec * (c.forward.strategy === "sequential" ? c.forward.to.length : 1) : 0;
      if (c.voicemail.enabled && c.forward && groupRingsSec >= c.ringTimeoutSec) {
        ctx.addIssue({
          code: "custom",
          path: ["forward", "ringSec"],
          message: `the ring group rings ${groupRingsSec} s in all, not below calls.ringTimeoutSec (${c.ringTimeoutSec}): the caller would be cut off before the voicemail could take the call`,
        });
      }
    }),
  log: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
      /** auto: readable lines when stderr is a terminal, JSON lines otherwise. */
      format: z.enum(["auto", "pretty", "json"]).default("auto"),
    })
    .prefault({}),
  /** The MQTT bridge (docs/control-protocol.md, "MQTT"). */
  mqtt: z
    .strictObject({
      enabled: z.boolean().default(false),
      /** mqtt://HOST[:PORT] or mqtts://HOST[:PORT] (TLS); credentials go in username/password, never in the URL. */
      url: z
        .string()
        .regex(/^mqtts?:\/\/(\[[0-9a-fA-F:.]+\]|[^\s/@:\[\]]+)(:\d{1,5})?\/?$/, "expected mqtt://HOST[:PORT] or mqtts://HOST[:PORT], without credentials")
        .default("mqtt://127.0.0.1:1883"),
      /** 5 (MQTT 5: replies use the request's response topic and correlation data) or 4 (MQTT 3.1.1). */
      protocolVersion: z.union([z.literal(5), z.literal(4)]).default(5),
      username: z.string().min(1).optional(),
      /** Prefer passwordFile or the JINGLED_MQTT_PASSWORD environment variable. */
      password: z.string().min(1).optional(),
      passwordFile: z.string().min(1).optional(),
      /** Default: jingled- and 8 random hex digits. */
      clientId: z.string().min(1).max(128).optional(),
      /** mqtts: CA certificate (PEM) to trust, and a client certificate and key (PEM) if the broker asks for one. */
      caFile: z.string().min(1).optional(),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
      /** Every topic starts with this; give each daemon on a broker its own. */
      topicPrefix: topicPrefix.default("jingled"),
      /** The commands taken from PREFIX/command; others are answered not-allowed. */
      commands: z.array(z.enum(COMMAND_NAMES as [string, ...string[]])).default([...MQTT_DEFAULT_COMMANDS]),
      /** A longer command message gets a line-too-long error reply (as on the socket). */
      maxCommandBytes: z.number().int().min(256).max(1024 * 1024).default(64 * 1024),
      /** Home Assistant MQTT discovery: a door-phone device (call state, last caller, answer and hang-up buttons). */
      homeAssistant: z
        .strictObject({
          enabled: z.boolean().default(false),
          discoveryPrefix: topicPrefix.default("homeassistant"),
          /** The device's id in Home Assistant; default: the account's JID with _ for other characters. */
          nodeId: z.string().regex(/^[a-zA-Z0-9_-]{1,64}$/, "expected letters, digits, _ and -").optional(),
          /** The device's name; default: jingled and the account's JID. */
          name: z.string().min(1).max(100).optional(),
        })
        .prefault({}),
    })
    .prefault({})
    .superRefine((m, ctx) => {
      if ((m.certFile === undefined) !== (m.keyFile === undefined)) ctx.addIssue({ code: "custom", path: ["certFile"], message: "certFile and keyFile go together" });
      if (m.password !== undefined && m.passwordFile !== undefined) ctx.addIssue({ code: "custom", path: ["password"], message: "give password or passwordFile, not both" });
    }),
  /** Programs run on events, the event as JSON on stdin (docs/control-protocol.md, "Hooks"). */
  hooks: z
    .strictObject({
      /** Hook programs running at once; more wait in a queue. */
      maxConcurrent: z.number().int().min(1).max(64).default(4),
      /** Waiting runs beyond this are dropped (and logged). */
      maxQueued: z.number().int().min(0).max(10000).default(100),
      run: z
        .array(
          z.strictObject({
            events: z.array(eventMatcher).min(1),
            /** The program and its arguments (no shell). A relative path is taken from the config file's directory. */
            command: z.array(z.string().min(1)).min(1),
            /** Killed (SIGTERM, then SIGKILL 2 s later) when still running after this long. */
            timeoutSec: z.number().positive().max(3600).default(10),
          }),
        )
        .default([]),
    })
    .prefault({}),
  /** Prometheus metrics over HTTP (GET /metrics). */
  metrics: z
    .strictObject({
      enabled: z.boolean().default(false),
      address: ipLiteral("an IP address like 127.0.0.1").default("127.0.0.1"),
      port: z.number().int().min(1).max(65535).default(9464),
    })
    .prefault({}),
  });

export type Config = z.infer<typeof configSchema>;
