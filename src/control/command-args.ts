// The control commands' argument checks (the shapes are in ./messages.ts):
// pure, and every handler uses them, so each command reports bad input the
// same way (bad-argument, naming the key).
import { CommandError } from "../util/errors.js";
import { isUserJid, sameAddress } from "../util/jid.js";
import {
  PresenceShow,
  RecordAction,
  RejectReason,
  RingStrategy,
  RosterAction,
  VoicemailAction,
  VOICEMAIL_FILE_NAME,
  MAX_FILE_NAME,
  type CallArgs,
  type CallIdArgs,
  type CommandArgs,
  type CommandName,
  type DeviceSpec,
  type DtmfArgs,
  type NoArgs,
  type PlayArgs,
  type PresenceArgs,
  type RecordArgs,
  type RejectArgs,
  type RosterArgs,
  type SetInputArgs,
  type SetOutputArgs,
  type VoicemailArgs,
} from "./messages.js";

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

/** Targets of one ring group at most: each is a call of its own (calls.maxCalls counts them). */
export const MAX_RING_TARGETS = 8;
export const MAX_RING_SEC = 600;

function callTarget(jid: unknown): string {
  const checked = checkJid("call", jid, "bare or full JID");
  if (!isUserJid(checked)) throw badArgument(`call: "${checked.slice(0, 100)}" is not a valid JID (user@example.org or user@example.org/resource)`);
  return checked;
}

/** A ring group's targets: distinct JIDs (a bare JID and one of its full JIDs are distinct targets). */
function ringTargets(value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) throw badArgument('call: "jids" must be a non-empty array of bare or full JIDs');
  if (value.length > MAX_RING_TARGETS) throw badArgument(`call: "jids" has ${value.length} targets; a ring group has at most ${MAX_RING_TARGETS}`);
  const jids: string[] = [];
  for (const v of value) {
    const jid = callTarget(v);
    if (jids.some((j) => sameAddress(j, jid))) throw badArgument(`call: "${jid.slice(0, 100)}" is in "jids" twice`);
    jids.push(jid);
  }
  return jids;
}

function parseCallArgs(args: Record<string, unknown>): CallArgs {
  rejectUnknownKeys("call", args, ["jid", "jids", "strategy", "ringSec", "codecs"]);
  let result: CallArgs;
  if (args.jids !== undefined) {
    if (args.jid !== undefined) throw badArgument('call: give "jid" (one target) or "jids" (a ring group), not both');
    result = { jids: ringTargets(args.jids), strategy: args.strategy === undefined ? "simultaneous" : oneOf("call", "strategy", args.strategy, RingStrategy) };
    const { ringSec } = args;
    if (ringSec !== undefined) {
      if (typeof ringSec !== "number" || !Number.isInteger(ringSec) || ringSec < 1 || ringSec > MAX_RING_SEC) {
        throw badArgument(`call: "ringSec" must be an integer from 1 to ${MAX_RING_SEC}`);
      }
      result.ringSec = ringSec;
    }
  } else {
    if (args.strategy !== undefined || args.ringSec !== undefined) throw badArgument('call: "strategy" and "ringSec" are for a ring group ("jids")');
    result = { jid: callTarget(args.jid) };
  }
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

/** `overwrite`: true or false when present. */
function optionalOverwrite(cmd: string, args: Record<string, unknown>): { overwrite?: boolean } {
  const { overwrite } = args;
  if (overwrite === undefined) return {};
  if (typeof overwrite !== "boolean") throw badArgument(`${cmd}: "overwrite" must be true or false`);
  return { overwrite };
}

function parseRecordArgs(args: Record<string, unknown>): RecordArgs {
  rejectUnknownKeys("record", args, ["callId", "action", "file", "overwrite"]);
  const action = oneOf("record", "action", args.action, RecordAction);
  if (action === "start") return withCallId("record", args, { action, file: absolutePath("record", "file", args.file), ...optionalOverwrite("record", args) });
  if (args.file !== undefined) throw badArgument('record: "file" is only for action start');
  if (args.overwrite !== undefined) throw badArgument('record: "overwrite" is only for action start');
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
  rejectUnknownKeys("set-output", args, ["callId", "sink", "overwrite"]);
  const sink = parseDeviceSpec("set-output", "sink", args.sink);
  const overwrite = optionalOverwrite("set-output", args);
  if (overwrite.overwrite !== undefined && sink.type !== "file") throw badArgument('set-output: "overwrite" is only for a file sink');
  return withCallId("set-output", args, { sink, ...overwrite });
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

/** A recording's file name as the voicemail list gives it: a plain name of its pattern, never a path. */
function voicemailName(value: unknown): string {
  if (typeof value !== "string" || value === "") throw badArgument('voicemail: "name" is required (a recording\'s file name, as the list gives it)');
  if (value.length > MAX_FILE_NAME || !VOICEMAIL_FILE_NAME.test(value)) {
    throw badArgument(`voicemail: ${JSON.stringify(value.slice(0, 200))} is not a recording's file name (voicemail-TIME-CALLER.wav, no path)`);
  }
  return value;
}

const MAX_OLDER_THAN_DAYS = 3650;

function parseVoicemailArgs(args: Record<string, unknown>): VoicemailArgs {
  rejectUnknownKeys("voicemail", args, ["action", "name", "olderThanDays"]);
  const action = args.action === undefined ? "list" : oneOf("voicemail", "action", args.action, VoicemailAction);
  if (action === "list") {
    if (args.name !== undefined || args.olderThanDays !== undefined) throw badArgument('voicemail: list takes no "name" or "olderThanDays"');
    return { action };
  }
  if ((args.name === undefined) === (args.olderThanDays === undefined)) throw badArgument('voicemail: delete takes "name" (one recording) or "olderThanDays", one of them');
  if (args.name !== undefined) return { action, name: voicemailName(args.name) };
  const days = args.olderThanDays;
  if (typeof days !== "number" || !Number.isFinite(days) || days <= 0 || days > MAX_OLDER_THAN_DAYS) {
    throw badArgument(`voicemail: "olderThanDays" must be a number of days above 0, at most ${MAX_OLDER_THAN_DAYS}`);
  }
  return { action, olderThanDays: days };
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
  voicemail: parseVoicemailArgs,
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
