// The control protocol's commands (documented in ./protocol.ts): their typed
// arguments and results, and the pure argument checks every handler uses, so
// each command reports bad input the same way (bad-argument, naming the key).
import { CommandError } from "../util/errors.js";
import type { CallInfo, CallState, Snapshot } from "./protocol.js";

// ---------------------------------------------------------------- closed value sets

export const RejectReason = { Decline: "decline", Busy: "busy" } as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

/** XMPP presence (RFC 6121 §4.7.2.1 `show`), "available" meaning none. */
export const PresenceShow = { Available: "available", Chat: "chat", Away: "away", Xa: "xa", Dnd: "dnd" } as const;
export type PresenceShow = (typeof PresenceShow)[keyof typeof PresenceShow];

export const RosterAction = { List: "list", Add: "add", Approve: "approve", Remove: "remove" } as const;
export type RosterAction = (typeof RosterAction)[keyof typeof RosterAction];

export const RecordAction = { Start: "start", Stop: "stop" } as const;
export type RecordAction = (typeof RecordAction)[keyof typeof RecordAction];

// ---------------------------------------------------------------- arguments and results

export interface CallArgs {
  jid: string;
  /** Codec ids in preference order; the daemon knows which exist (its codec registry). */
  codecs?: string[];
}
export interface CallIdArgs {
  callId?: string;
}
export interface RejectArgs extends CallIdArgs {
  reason?: RejectReason;
}
export interface DtmfArgs extends CallIdArgs {
  /** 0-9, *, #, A-D; at most 64. */
  digits: string;
  /** Per digit, 40..2000 ms; the daemon's default when absent. */
  durationMs?: number;
}
export interface PlayArgs extends CallIdArgs {
  /** Absolute path of a WAV file on the daemon's machine. */
  file: string;
}
export interface RecordArgs extends CallIdArgs {
  action: RecordAction;
  /** start: absolute path of the WAV to write; {callId}, {peer}, {time} are replaced. */
  file?: string;
}
/** An audio source or sink as in the config file's media.input / media.output, e.g. {type: "file", path}. */
export interface DeviceSpec {
  type: string;
  [key: string]: unknown;
}
export interface SetInputArgs extends CallIdArgs {
  source: DeviceSpec;
}
export interface SetOutputArgs extends CallIdArgs {
  sink: DeviceSpec;
}
export interface PresenceArgs {
  show: PresenceShow;
  text?: string;
}
export interface RosterArgs {
  action: RosterAction;
  jid?: string;
  name?: string;
}

/** The status command: the snapshot, and what the daemon's media engine has. */
export interface StatusResult extends Snapshot {
  media: {
    opusBackend: "native" | "wasm";
    /** Every codec id the daemon has, in its order of preference. */
    codecs: string[];
  };
}

export interface CallStartResult {
  callId: string;
  /** The Jingle session id. */
  sid: string;
  /** The full JID called. */
  peer: string;
}
export interface CallResult {
  callId: string;
  state: CallState;
  /** We put the call on hold. */
  held: boolean;
  /** Our microphone is muted. */
  muted: boolean;
}
export interface DtmfResult {
  callId: string;
  digits: string;
}
export interface FileResult {
  callId: string;
  file: string;
}
/** Media statistics of one call; the fields beyond callId grow with the media engine. */
export interface StatsResult {
  callId: string;
  state: CallState;
  codec?: string;
  packetsSent?: number;
  packetsReceived?: number;
  packetsLost?: number;
  [key: string]: unknown;
}
export interface DeviceInfo {
  /** What to put in set-input / set-output / the config, e.g. {type: "pulse", device: "..."}. */
  spec: DeviceSpec;
  description: string;
}
export interface DevicesResult {
  inputs: DeviceInfo[];
  outputs: DeviceInfo[];
}
export interface PresenceResult {
  show: PresenceShow;
  text?: string;
}
export interface RosterItem {
  /** Bare JID. */
  jid: string;
  name?: string;
  /** RFC 6121 §2.1.2.5: whose presence each side sees. */
  subscription: "none" | "to" | "from" | "both";
  /** We asked for their presence and wait for the answer. */
  pendingOut?: boolean;
  groups: string[];
  /**
   * In the roster list: the contact's devices available now (full JIDs,
   * best first; [] when none). Known only from their presence, which they
   * share with subscription to or both (RFC 6121 §3).
   */
  online?: string[];
}
export interface RosterListResult {
  items: RosterItem[];
  /** Bare JIDs that asked to see our presence; answer with approve. */
  requests: string[];
}
export interface RosterChangeResult {
  jid: string;
}
export interface ReloadResult {
  /** Config keys whose new values are in force now (new calls use them). */
  applied: string[];
  /** Config keys that changed but take effect only after a restart. */
  restartRequired: string[];
}
export interface ShutdownResult {
  stopping: true;
}

type NoArgs = Record<string, never>;

/** Every command's typed arguments and result; the single source for clients and handlers. */
export interface CommandMap {
  call: { args: CallArgs; result: CallStartResult };
  answer: { args: CallIdArgs; result: CallResult };
  reject: { args: RejectArgs; result: CallResult };
  hangup: { args: CallIdArgs; result: CallResult };
  hold: { args: CallIdArgs; result: CallResult };
  resume: { args: CallIdArgs; result: CallResult };
  mute: { args: CallIdArgs; result: CallResult };
  unmute: { args: CallIdArgs; result: CallResult };
  dtmf: { args: DtmfArgs; result: DtmfResult };
  play: { args: PlayArgs; result: FileResult };
  record: { args: RecordArgs; result: FileResult };
  stats: { args: CallIdArgs; result: StatsResult };
  "set-input": { args: SetInputArgs; result: CallResult };
  "set-output": { args: SetOutputArgs; result: CallResult };
  status: { args: NoArgs; result: StatusResult };
  calls: { args: NoArgs; result: CallInfo[] };
  devices: { args: NoArgs; result: DevicesResult };
  presence: { args: PresenceArgs; result: PresenceResult };
  roster: { args: RosterArgs; result: RosterListResult | RosterChangeResult };
  reload: { args: NoArgs; result: ReloadResult };
  shutdown: { args: NoArgs; result: ShutdownResult };
}
export type CommandName = keyof CommandMap;
export type CommandArgs<C extends CommandName> = CommandMap[C]["args"];
export type CommandResult<C extends CommandName> = CommandMap[C]["result"];

// ---------------------------------------------------------------- checks

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function badArgument(message: string): CommandError {
  return new CommandError("bad-argument", message);
}

function rejectUnknownKeys(cmd: string, args: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(args)) {
    if (!known.includes(key)) {
      const allowed = known.length ? known.join(", ") : "none";
      throw badArgument(`${cmd}: unknown argument "${key}" (allowed: ${allowed})`);
    }
  }
}

function optionalCallId(cmd: string, args: Record<string, unknown>): string | undefined {
  const { callId } = args;
  if (callId === undefined) return undefined;
  if (typeof callId !== "string" || callId === "") throw badArgument(`${cmd}: "callId" must be a non-empty string`);
  return callId;
}

function withCallId<T extends object>(cmd: string, args: Record<string, unknown>, rest: T): T & CallIdArgs {
  const callId = optionalCallId(cmd, args);
  return callId === undefined ? rest : { callId, ...rest };
}

function oneOf<T extends string>(cmd: string, key: string, value: unknown, values: Record<string, T>): T {
  const known = Object.values(values) as string[];
  if (typeof value !== "string" || !known.includes(value)) {
    throw badArgument(`${cmd}: "${key}" must be one of ${known.join(", ")}`);
  }
  return value as T;
}

// A JID's parts are at most 1023 bytes each (RFC 7622 §3.1); deeper checks belong to the XMPP layer.
const MAX_JID_LENGTH = 3071;

function checkJid(cmd: string, jid: unknown, what: string): string {
  if (typeof jid !== "string" || jid === "") throw badArgument(`${cmd}: "jid" is required (${what})`);
  if (jid.length > MAX_JID_LENGTH || /\s/.test(jid) || jid.startsWith("@") || jid.startsWith("/")) {
    throw badArgument(`${cmd}: "${jid.slice(0, 100)}" is not a valid JID`);
  }
  return jid;
}

/** Paths name files on the daemon's machine, whose working directory a client cannot know. */
function absolutePath(cmd: string, key: string, value: unknown): string {
  if (typeof value !== "string" || value === "") throw badArgument(`${cmd}: "${key}" is required (an absolute file path)`);
  if (!value.startsWith("/")) throw badArgument(`${cmd}: "${key}" must be an absolute path, found "${value.slice(0, 200)}"`);
  if (value.includes("\0")) throw badArgument(`${cmd}: "${key}" contains a NUL byte`);
  return value;
}

const MAX_CODECS = 16;
/** An RTP encoding name (RFC 4855 §3: letters, digits, "-", "_", "."), at most 32 characters. */
const CODEC_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$/;

function parseCallArgs(args: Record<string, unknown>): CallArgs {
  rejectUnknownKeys("call", args, ["jid", "codecs"]);
  const result: CallArgs = { jid: checkJid("call", args.jid, "bare or full JID") };
  const { codecs } = args;
  if (codecs !== undefined) {
    // Which ids exist is the daemon's codec registry's business (it answers
    // bad-argument naming them); here only the shape: short names, in order.
    if (!Array.isArray(codecs) || codecs.length === 0 || codecs.length > MAX_CODECS) {
      throw badArgument(`call: "codecs" must be a non-empty array of at most ${MAX_CODECS} codec ids, e.g. ["opus", "pcmu"]`);
    }
    for (const c of codecs) {
      if (typeof c !== "string" || !CODEC_ID.test(c)) {
        throw badArgument(`call: ${JSON.stringify(c)} is not a codec id (a name like "opus" or "g722")`);
      }
    }
    result.codecs = [...new Set((codecs as string[]).map((c) => c.toLowerCase()))];
  }
  return result;
}

function parseRejectArgs(args: Record<string, unknown>): RejectArgs {
  rejectUnknownKeys("reject", args, ["callId", "reason"]);
  const reason = args.reason === undefined ? undefined : oneOf("reject", "reason", args.reason, RejectReason);
  return withCallId("reject", args, reason === undefined ? {} : { reason });
}

function parseCallIdArgs(cmd: string, args: Record<string, unknown>): CallIdArgs {
  rejectUnknownKeys(cmd, args, ["callId"]);
  return withCallId(cmd, args, {});
}

function parseNoArgs(cmd: string, args: Record<string, unknown>): NoArgs {
  rejectUnknownKeys(cmd, args, []);
  return {};
}

const DTMF_DIGITS = /^[0-9A-D*#]+$/;

function parseDtmfArgs(args: Record<string, unknown>): DtmfArgs {
  rejectUnknownKeys("dtmf", args, ["callId", "digits", "durationMs"]);
  const { digits, durationMs } = args;
  if (typeof digits !== "string" || digits === "") throw badArgument('dtmf: "digits" is required (0-9, *, #, A-D)');
  const upper = digits.toUpperCase();
  if (!DTMF_DIGITS.test(upper) || upper.length > 64) {
    throw badArgument(`dtmf: "digits" must be 1 to 64 of 0-9, *, #, A-D; found ${JSON.stringify(digits.slice(0, 80))}`);
  }
  const rest: Omit<DtmfArgs, "callId"> = { digits: upper };
  if (durationMs !== undefined) {
    if (typeof durationMs !== "number" || !Number.isInteger(durationMs) || durationMs < 40 || durationMs > 2000) {
      throw badArgument('dtmf: "durationMs" must be an integer from 40 to 2000');
    }
    rest.durationMs = durationMs;
  }
  return withCallId("dtmf", args, rest);
}

function parsePlayArgs(args: Record<string, unknown>): PlayArgs {
  rejectUnknownKeys("play", args, ["callId", "file"]);
  return withCallId("play", args, { file: absolutePath("play", "file", args.file) });
}

function parseRecordArgs(args: Record<string, unknown>): RecordArgs {
  rejectUnknownKeys("record", args, ["callId", "action", "file"]);
  const action = oneOf("record", "action", args.action, RecordAction);
  if (action === "start") return withCallId("record", args, { action, file: absolutePath("record", "file", args.file) });
  if (args.file !== undefined) throw badArgument('record: "file" is only for action start');
  return withCallId("record", args, { action });
}

function parseDeviceSpec(cmd: string, key: string, value: unknown): DeviceSpec {
  if (!isPlainObject(value) || typeof value.type !== "string" || value.type === "") {
    throw badArgument(`${cmd}: "${key}" must be an object with a "type", e.g. {"type":"file","path":"/tmp/a.wav"}`);
  }
  return value as DeviceSpec;
}

function parseSetInputArgs(args: Record<string, unknown>): SetInputArgs {
  rejectUnknownKeys("set-input", args, ["callId", "source"]);
  return withCallId("set-input", args, { source: parseDeviceSpec("set-input", "source", args.source) });
}

function parseSetOutputArgs(args: Record<string, unknown>): SetOutputArgs {
  rejectUnknownKeys("set-output", args, ["callId", "sink"]);
  return withCallId("set-output", args, { sink: parseDeviceSpec("set-output", "sink", args.sink) });
}

function parsePresenceArgs(args: Record<string, unknown>): PresenceArgs {
  rejectUnknownKeys("presence", args, ["show", "text"]);
  const result: PresenceArgs = { show: oneOf("presence", "show", args.show, PresenceShow) };
  const { text } = args;
  if (text !== undefined) {
    if (typeof text !== "string" || text.length > 1024) throw badArgument('presence: "text" must be a string of at most 1024 characters');
    if (text !== "") result.text = text;
  }
  return result;
}

function parseRosterArgs(args: Record<string, unknown>): RosterArgs {
  rejectUnknownKeys("roster", args, ["action", "jid", "name"]);
  const action = args.action === undefined ? "list" : oneOf("roster", "action", args.action, RosterAction);
  if (action === "list") {
    if (args.jid !== undefined || args.name !== undefined) throw badArgument('roster: list takes no "jid" or "name"');
    return { action };
  }
  const jid = checkJid("roster", args.jid, "a bare JID");
  if (jid.includes("/")) throw badArgument(`roster: "jid" must be a bare JID (no /resource), found "${jid.slice(0, 100)}"`);
  const result: RosterArgs = { action, jid };
  if (args.name !== undefined) {
    if (action !== "add") throw badArgument('roster: "name" is only for action add');
    if (typeof args.name !== "string" || args.name.length > 256) throw badArgument('roster: "name" must be a string of at most 256 characters');
    result.name = args.name;
  }
  return result;
}

const argParsers: { [C in CommandName]: (args: Record<string, unknown>) => CommandArgs<C> } = {
  call: parseCallArgs,
  answer: (a) => parseCallIdArgs("answer", a),
  reject: parseRejectArgs,
  hangup: (a) => parseCallIdArgs("hangup", a),
  hold: (a) => parseCallIdArgs("hold", a),
  resume: (a) => parseCallIdArgs("resume", a),
  mute: (a) => parseCallIdArgs("mute", a),
  unmute: (a) => parseCallIdArgs("unmute", a),
  dtmf: parseDtmfArgs,
  play: parsePlayArgs,
  record: parseRecordArgs,
  stats: (a) => parseCallIdArgs("stats", a),
  "set-input": parseSetInputArgs,
  "set-output": parseSetOutputArgs,
  status: (a) => parseNoArgs("status", a),
  calls: (a) => parseNoArgs("calls", a),
  devices: (a) => parseNoArgs("devices", a),
  presence: parsePresenceArgs,
  roster: parseRosterArgs,
  reload: (a) => parseNoArgs("reload", a),
  shutdown: (a) => parseNoArgs("shutdown", a),
};

export const COMMAND_NAMES = Object.keys(argParsers) as CommandName[];

/** Checks a known command's arguments; throws CommandError("bad-argument") naming the argument. */
export function parseCommandArgs<C extends CommandName>(cmd: C, args: Record<string, unknown>): CommandArgs<C> {
  return argParsers[cmd](args);
}

/**
 * Picks the call a command applies to: the given id, or the only call when
 * none is given. Throws unknown-call / ambiguous-call as the protocol says.
 */
export function resolveCallId(callId: string | undefined, calls: readonly { id: string }[]): string {
  if (callId !== undefined) {
    if (!calls.some((c) => c.id === callId)) throw new CommandError("unknown-call", `no call with id ${callId}`);
    return callId;
  }
  if (calls.length === 0) throw new CommandError("unknown-call", "there is no call");
  if (calls.length > 1) {
    const ids = calls.map((c) => c.id).join(", ");
    throw new CommandError("ambiguous-call", `${calls.length} calls exist (${ids}): give a callId`);
  }
  return calls[0]!.id;
}
