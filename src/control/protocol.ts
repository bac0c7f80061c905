/*
 * jingled control protocol, version 1
 * ====================================
 *
 * (This text is also docs/control-protocol.md; change both together.)
 *
 * Transport
 * ---------
 * A Unix stream socket, by default `$XDG_RUNTIME_DIR/jingled/control.sock`,
 * or `/tmp/jingled-<uid>/control.sock` when XDG_RUNTIME_DIR is unset. The
 * directory is 0700 and the socket 0600, both owned by the daemon's user:
 * whoever can connect is that user, so there is no further authentication.
 *
 * Every message is one JSON object on one line: UTF-8, ended by "\n" (a
 * trailing "\r" is tolerated, blank lines are ignored). A request line may be
 * at most 64 KiB; a longer one gets a `line-too-long` error and is skipped up
 * to its newline, and the connection goes on.
 *
 * On connect
 * ----------
 * Before anything else the daemon sends a hello:
 *
 *     {"event":"hello","seq":41,"time":"2025-01-01T12:00:00.000Z","protocol":1,
 *      "version":"0.1.0","snapshot":{"account":{...},"calls":[...]}}
 *
 * `protocol` is this document's version. `snapshot` has the same shape as
 * the `status` result and already reflects every event up to and including
 * `seq`; the next event this client receives has seq + 1.
 *
 * Requests and replies
 * --------------------
 *     {"id":1,"cmd":"call","args":{"jid":"bob@example.org"}}
 *     {"id":1,"ok":true,"result":{"callId":"c1"}}
 *     {"id":2,"cmd":"hangup","args":{"callId":"c9"}}
 *     {"id":2,"ok":false,"error":{"code":"unknown-call","message":"no call with id c9"}}
 *
 * `id` is a string or a number chosen by the client and echoed in the reply.
 * `args` is optional (an object when present). A client's requests are
 * handled one at a time in the order sent, and every non-blank line gets
 * exactly one reply, in the same order. When the id could not be read
 * (bad-json, line-too-long, a missing or mistyped id) the reply has "id":null.
 * A client may send requests without waiting for replies; with 32 of its
 * lines unanswered the daemon stops reading from it until it catches up. A
 * client may also half-close after its last request: the daemon answers what
 * it received (a last line without "\n" included), then closes.
 *
 * Events
 * ------
 *     {"event":"call","seq":42,"time":"2025-01-01T12:00:01.000Z","callId":"c1",
 *      "type":"ringing","peer":"bob@example.org/phone"}
 *
 * Events go to every connected client. `seq` is one daemon-wide counter, +1
 * per event, the same number for every client; `time` is ISO 8601 UTC.
 * Replies and events are written to each client in the order they happen, so
 * an event caused by a request may arrive before that request's reply.
 * Clients must ignore events and fields they do not know: new ones may be
 * added within version 1.
 *
 * Flow control
 * ------------
 * A client that stops reading is disconnected once more than 1 MiB waits to
 * be sent to it; the daemon never waits for a slow client. After reconnecting
 * the hello snapshot brings the client up to date.
 *
 * Error codes
 * -----------
 *     bad-json         the line is not valid JSON
 *     bad-request      not an object, or id/cmd/args missing or of the wrong type
 *     line-too-long    the line exceeded the size limit (the rest was skipped)
 *     unknown-command  no such cmd
 *     bad-argument     an argument is missing, of the wrong type or out of range
 *     unknown-call     no call with that id (or no call at all when omitted)
 *     ambiguous-call   callId omitted while several calls exist
 *     invalid-state    the call is not in a state that allows the command
 *     not-connected    the XMPP account is not online
 *     busy             the call limit is reached
 *     peer-unavailable the callee is offline or refused the session (e.g. service-unavailable)
 *     internal         a bug in the daemon; the message says what failed
 * A client should treat a code it does not know like `internal`.
 *
 * Commands
 * --------
 *     call    {jid, codecs?: ["opus"|"pcmu", ...]}  -> {callId}
 *             jid bare (rings every device) or full; codecs in preference order
 *     answer  {callId?}                             -> {callId}
 *     reject  {callId?, reason?: "decline"|"busy"}  -> {callId}   (default decline)
 *     hangup  {callId?}                             -> {callId}
 *     status  {}                                    -> {account: AccountInfo, calls: CallInfo[]}
 *     calls   {}                                    -> CallInfo[]
 * `callId` may be omitted only when exactly one call exists.
 *
 * Types
 * -----
 *     AccountInfo {jid, state: "connecting"|"online"|"reconnecting"|"offline", reason?}
 *     CallInfo    {id, peer, direction: "outgoing"|"incoming",
 *                  state: "outgoing"|"ringing"|"incoming"|"connecting"|"active"|"ended",
 *                  startedAt (ISO), answeredAt? (ISO), endedAt? (ISO), codec?,
 *                  reason?, sid? (the Jingle session id), localCandidate?,
 *                  remoteCandidate? (the selected pair, once connected)}
 *       outgoing = we proposed, no answer yet; ringing = the peer's device rings;
 *       incoming = the peer calls us, not answered yet; connecting = accepted,
 *       media being set up; reason = XEP-0166 reason once ended.
 *
 * Events (besides hello)
 * ----------------------
 *     account {state: "connecting"|"online"|"reconnecting"|"offline", reason?}
 *     call    {callId, type: "outgoing"|"incoming"|"ringing"|"connecting"|"active"|"ended",
 *              peer, codec? (once known), reason? (ended: XEP-0166 reason),
 *              text? (ended: the peer's explanation), durationMs? (ended; 0 if
 *              never active)}
 *              `type` says what happened; later versions add e.g. held, muted.
 *     media   {callId, codec, localCandidate, remoteCandidate, pairType}
 *              candidates are {type: "host"|"srflx"|"prflx"|"relay", ip, port,
 *              protocol?: "udp"|"tcp" (udp when absent)}; pairType "direct"
 *              or "relayed" (either side is a TURN relay)
 *
 * Versioning
 * ----------
 * `protocol` changes only when an existing message changes meaning or loses a
 * field; new commands, events, fields and error codes do not change it.
 */

import { CommandError } from "../util/errors.js";

export const PROTOCOL_VERSION = 1;

// ---------------------------------------------------------------- errors

export const ErrorCode = {
  BadJson: "bad-json",
  BadRequest: "bad-request",
  LineTooLong: "line-too-long",
  UnknownCommand: "unknown-command",
  BadArgument: "bad-argument",
  UnknownCall: "unknown-call",
  AmbiguousCall: "ambiguous-call",
  InvalidState: "invalid-state",
  NotConnected: "not-connected",
  Busy: "busy",
  PeerUnavailable: "peer-unavailable",
  Internal: "internal",
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const errorCodes: ReadonlySet<string> = new Set(Object.values(ErrorCode));
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && errorCodes.has(code);
}

export interface ErrorBody {
  code: ErrorCode;
  message: string;
}

// ---------------------------------------------------------------- envelopes

export type RequestId = string | number;

export interface ControlRequest {
  id: RequestId;
  cmd: string;
  /** Always an object after parsing (`{}` when the client sent none). */
  args: Record<string, unknown>;
}

export interface OkReply<R = unknown> {
  id: RequestId;
  ok: true;
  result: R;
}

export interface ErrorReply {
  /** null when the request's id could not be read. */
  id: RequestId | null;
  ok: false;
  error: ErrorBody;
}

export type ControlReply<R = unknown> = OkReply<R> | ErrorReply;

/** Fields every event carries; `seq` and `time` are added by the server. */
export interface EventEnvelope {
  event: string;
  seq: number;
  time: string;
}

// ---------------------------------------------------------------- states

export const AccountState = {
  Connecting: "connecting",
  Online: "online",
  Reconnecting: "reconnecting",
  Offline: "offline",
} as const;
export type AccountState = (typeof AccountState)[keyof typeof AccountState];

export const CallDirection = { Outgoing: "outgoing", Incoming: "incoming" } as const;
export type CallDirection = (typeof CallDirection)[keyof typeof CallDirection];

export const CallState = {
  Outgoing: "outgoing",
  Ringing: "ringing",
  Incoming: "incoming",
  Connecting: "connecting",
  Active: "active",
  Ended: "ended",
} as const;
export type CallState = (typeof CallState)[keyof typeof CallState];

/** What a `call` event announces: "type", not "state", because later ones (held, muted) are happenings. */
export const CallEventType = {
  Outgoing: "outgoing",
  Incoming: "incoming",
  Ringing: "ringing",
  Connecting: "connecting",
  Active: "active",
  Ended: "ended",
} as const;
export type CallEventType = (typeof CallEventType)[keyof typeof CallEventType];

export const CodecName = { Opus: "opus", Pcmu: "pcmu" } as const;
export type CodecName = (typeof CodecName)[keyof typeof CodecName];

export const RejectReason = { Decline: "decline", Busy: "busy" } as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

// ---------------------------------------------------------------- data types

export interface AccountInfo {
  jid: string;
  state: AccountState;
  reason?: string;
}

export interface CallInfo {
  id: string;
  peer: string;
  direction: CallDirection;
  state: CallState;
  /** ISO 8601. */
  startedAt: string;
  answeredAt?: string;
  endedAt?: string;
  codec?: string;
  /** XEP-0166 reason, once ended. */
  reason?: string;
  /** The Jingle session id, for matching daemon logs and peer logs. */
  sid?: string;
  localCandidate?: CandidateSummary;
  remoteCandidate?: CandidateSummary;
}

export interface CandidateSummary {
  type: "host" | "srflx" | "prflx" | "relay";
  ip: string;
  port: number;
  /** udp when absent. */
  protocol?: "udp" | "tcp";
}

/** Same shape as the `status` result. */
export interface Snapshot {
  account: AccountInfo;
  calls: CallInfo[];
}

// ---------------------------------------------------------------- events

export interface HelloEvent extends EventEnvelope {
  event: "hello";
  protocol: number;
  version: string;
  snapshot: Snapshot;
}

export interface AccountEvent extends EventEnvelope {
  event: "account";
  state: AccountState;
  reason?: string;
}

export interface CallEvent extends EventEnvelope {
  event: "call";
  callId: string;
  type: CallEventType;
  peer: string;
  codec?: string;
  reason?: string;
  /** The peer's free-text explanation of the reason, when it sent one. */
  text?: string;
  durationMs?: number;
}

export interface MediaEvent extends EventEnvelope {
  event: "media";
  callId: string;
  codec: string;
  localCandidate: CandidateSummary;
  remoteCandidate: CandidateSummary;
  pairType: "direct" | "relayed";
}

export type KnownEvent = HelloEvent | AccountEvent | CallEvent | MediaEvent;

/** Fields a producer passes to broadcast(): everything but the envelope. */
export type EventFields<E extends EventEnvelope> = Omit<E, keyof EventEnvelope>;

// ---------------------------------------------------------------- commands

export interface CallArgs {
  jid: string;
  codecs?: CodecName[];
}
export interface CallIdArgs {
  callId?: string;
}
export interface RejectArgs extends CallIdArgs {
  reason?: RejectReason;
}
export interface CallIdResult {
  callId: string;
}

/** Every command's typed arguments and result; the single source for clients and handlers. */
export interface CommandMap {
  call: { args: CallArgs; result: CallIdResult };
  answer: { args: CallIdArgs; result: CallIdResult };
  reject: { args: RejectArgs; result: CallIdResult };
  hangup: { args: CallIdArgs; result: CallIdResult };
  status: { args: Record<string, never>; result: Snapshot };
  calls: { args: Record<string, never>; result: CallInfo[] };
}
export type CommandName = keyof CommandMap;
export type CommandArgs<C extends CommandName> = CommandMap[C]["args"];
export type CommandResult<C extends CommandName> = CommandMap[C]["result"];

// ---------------------------------------------------------------- encoding

/** One wire line. JSON.stringify never emits a raw newline, so the framing holds. */
export function encodeLine(message: object): string {
  return JSON.stringify(message) + "\n";
}

export function okReply<R>(id: RequestId, result: R): OkReply<R> {
  // A handler returning undefined still yields a valid `result` field.
  return { id, ok: true, result: (result === undefined ? null : result) as R };
}

export function errorReply(id: RequestId | null, code: ErrorCode, message: string): ErrorReply {
  return { id, ok: false, error: { code, message } };
}

// ---------------------------------------------------------------- parsing

export type ParseResult =
  | { ok: true; request: ControlRequest }
  | { ok: false; error: ErrorBody; id?: RequestId };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isRequestId(v: unknown): v is RequestId {
  return (typeof v === "string" && v.length <= 256) || (typeof v === "number" && Number.isFinite(v));
}

/** Validates one request line (without its newline). Pure: no I/O, never throws. */
export function parseRequestLine(line: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { ok: false, error: { code: "bad-json", message: `invalid JSON: ${detail}` } };
  }
  if (!isPlainObject(value)) {
    return { ok: false, error: { code: "bad-request", message: "a request must be a JSON object" } };
  }
  const fail = (message: string): ParseResult => {
    const result: ParseResult = { ok: false, error: { code: "bad-request", message } };
    if (isRequestId(value.id)) result.id = value.id;
    return result;
  };
  if (!("id" in value)) return fail('missing "id" (a string or a number)');
  if (!isRequestId(value.id)) return fail('"id" must be a string (at most 256 characters) or a finite number');
  if (!("cmd" in value)) return fail('missing "cmd"');
  if (typeof value.cmd !== "string" || value.cmd === "") return fail('"cmd" must be a non-empty string');
  if (value.args !== undefined && !isPlainObject(value.args)) return fail('"args" must be an object');
  return { ok: true, request: { id: value.id, cmd: value.cmd, args: value.args ?? {} } };
}

// ---------------------------------------------------------------- argument validation
// Pure checks a daemon's handlers use, so every command reports bad input the same way.

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

// A JID's parts are at most 1023 bytes each (RFC 7622 §3.1); deeper checks belong to the XMPP layer.
const MAX_JID_LENGTH = 3071;

function parseCallArgs(args: Record<string, unknown>): CallArgs {
  rejectUnknownKeys("call", args, ["jid", "codecs"]);
  const { jid, codecs } = args;
  if (typeof jid !== "string" || jid === "") throw badArgument('call: "jid" is required (bare or full JID)');
  if (jid.length > MAX_JID_LENGTH || /\s/.test(jid) || jid.startsWith("@") || jid.startsWith("/")) {
    throw badArgument(`call: "${jid.slice(0, 100)}" is not a valid JID`);
  }
  const result: CallArgs = { jid };
  if (codecs !== undefined) {
    const known = Object.values(CodecName) as string[];
    if (!Array.isArray(codecs) || codecs.length === 0) {
      throw badArgument(`call: "codecs" must be a non-empty array of ${known.join(", ")}`);
    }
    for (const c of codecs) {
      if (typeof c !== "string" || !known.includes(c)) {
        throw badArgument(`call: unknown codec ${JSON.stringify(c)} (known: ${known.join(", ")})`);
      }
    }
    result.codecs = [...new Set(codecs as CodecName[])];
  }
  return result;
}

function parseRejectArgs(args: Record<string, unknown>): RejectArgs {
  rejectUnknownKeys("reject", args, ["callId", "reason"]);
  const result: RejectArgs = {};
  const callId = optionalCallId("reject", args);
  if (callId !== undefined) result.callId = callId;
  const { reason } = args;
  if (reason !== undefined) {
    const known = Object.values(RejectReason) as string[];
    if (typeof reason !== "string" || !known.includes(reason)) {
      throw badArgument(`reject: "reason" must be one of ${known.join(", ")}`);
    }
    result.reason = reason as RejectReason;
  }
  return result;
}

function parseCallIdArgs(cmd: string, args: Record<string, unknown>): CallIdArgs {
  rejectUnknownKeys(cmd, args, ["callId"]);
  const callId = optionalCallId(cmd, args);
  return callId === undefined ? {} : { callId };
}

function parseNoArgs(cmd: string, args: Record<string, unknown>): Record<string, never> {
  rejectUnknownKeys(cmd, args, []);
  return {};
}

const argParsers: { [C in CommandName]: (args: Record<string, unknown>) => CommandArgs<C> } = {
  call: parseCallArgs,
  answer: (a) => parseCallIdArgs("answer", a),
  reject: parseRejectArgs,
  hangup: (a) => parseCallIdArgs("hangup", a),
  status: (a) => parseNoArgs("status", a),
  calls: (a) => parseNoArgs("calls", a),
};

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
