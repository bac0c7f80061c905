// The configuration file's schema. Every key is documented in config/example.yaml.
// Validation errors name the key, what was found and what was expected.
import { z } from "zod";

const jidPattern = /^[^@/\s]+@[^@/\s]+(\/.+)?$/;

const codecName = z.enum(["opus", "pcmu"]);

export const sourceSpec = z.discriminatedUnion("type", [
  z.strictObject({ type: z.literal("file"), path: z.string().min(1), loop: z.boolean().default(false) }),
  z.strictObject({ type: z.literal("tone"), frequency: z.number().positive().max(20000).default(440) }),
  z.strictObject({ type: z.literal("silence") }),
]);

export const sinkSpec = z.discriminatedUnion("type", [
  // `path` may contain {callId}, {peer} and {time}; one file per call.
  z.strictObject({ type: z.literal("file"), path: z.string().min(1) }),
  z.strictObject({ type: z.literal("null") }),
]);

const hostPort = z
  .string()
  .regex(/^(stun|turn|turns):[^\s]+$/, "expected a stun:HOST[:PORT] URI");

export const configSchema = z.strictObject({
  account: z.strictObject({
    jid: z.string().regex(jidPattern, "expected a JID like user@example.org"),
    /** Prefer passwordFile or the JINGLED_PASSWORD environment variable. */
    password: z.string().min(1).optional(),
    passwordFile: z.string().min(1).optional(),
    resource: z.string().min(1).default("jingled"),
    /** xmpp://HOST:PORT; default: the JID's domain on port 5222. */
    server: z.string().regex(/^xmpp:\/\/[^\s/]+(:\d+)?$/, "expected xmpp://HOST[:PORT]").optional(),
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
      /** Host candidate addresses; default: every non-loopback interface address. */
      addresses: z.array(z.ipv4().or(z.ipv6())).optional(),
      /** Interface names whose addresses are used (ignored when addresses is set). */
      interfaces: z.array(z.string().min(1)).optional(),
      /** STUN servers (stun:HOST:PORT). None by default: nothing is contacted unless configured. */
      stun: z.array(hostPort).default([]),
      portRange: z.tuple([z.number().int().min(1024).max(65535), z.number().int().min(1024).max(65535)]).optional(),
      /** Give up when no candidate pair works within this time. */
      connectTimeoutMs: z.number().int().min(1000).max(120000).default(20000),
    })
    .default({ stun: [], connectTimeoutMs: 20000 }),
  media: z
    .strictObject({
      /** Codecs in order of preference. */
      codecs: z.array(codecName).min(1).default(["opus", "pcmu"]),
      input: sourceSpec.default({ type: "silence" }),
      output: sinkSpec.default({ type: "null" }),
      /** Playout delay of the (reordering) jitter buffer, in 20 ms frames. */
      jitterFrames: z.number().int().min(1).max(25).default(3),
    })
    .default({ codecs: ["opus", "pcmu"], input: { type: "silence" }, output: { type: "null" }, jitterFrames: 3 }),
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
    })
    .prefault({}),
  log: z
    .strictObject({
      level: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
    })
    .default({ level: "info" }),
});

export type Config = z.infer<typeof configSchema>;
export type SourceSpec = z.infer<typeof sourceSpec>;
export type SinkSpec = z.infer<typeof sinkSpec>;
export type CodecName = z.infer<typeof codecName>;
