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
 *     busy             the call limit (calls.maxCalls) is reached
 *     peer-unavailable the callee is offline or refused the session (e.g. service-unavailable)
 *     not-supported    this call or this build cannot do it (e.g. DTMF the peer did not negotiate)
 *     not-allowed      the command is not enabled for this front end (the MQTT bridge's mqtt.commands)
 *     not-found        no such item (a voicemail recording that does not exist)
 *     internal         a bug in the daemon; the message says what failed
 * A client should treat a code it does not know like `internal`.
 *
 * Commands
 * --------
 *     call       {jid, codecs?: [codec id, ...]}          -> {callId, sid, peer}
 *                jid bare (its best available resource) or full; codecs in preference order,
 *                ids as in the config's media.codecs, e.g. "opus" or "pcma" (status lists them)
 *     call       {jids: [jid, ...], strategy?: "simultaneous"|"sequential", ringSec?: 1..600,
 *                 codecs?}                                -> {callId, peer, targets}
 *                a ring group: one call to 1..8 distinct JIDs (bare or full), one
 *                callId for all. simultaneous (default): every JID rings for
 *                ringSec (default calls.ringTimeoutSec), the first to answer wins
 *                and the others are cancelled at once (a XEP-0353 proposal is
 *                retracted, a Jingle session terminated with <cancel/>);
 *                sequential: one JID after the other, each for ringSec, one that
 *                declines or is unreachable passing on at once. group events say
 *                who rings, who stopped and who answered; from the answer on the
 *                callId's commands and call events are the answered call's.
 *                Nobody answering ends it with reason timeout (decline or busy
 *                when every JID said so; text names each JID's reason); hangup
 *                while ringing cancels every JID. Each JID is a call of its own
 *                for calls.maxCalls (busy when they do not fit); none reachable
 *                at all: peer-unavailable
 *                (its call events before the answer carry peer: the JIDs, ", "-separated)
 *     answer     {callId?}                                -> CallResult
 *     reject     {callId?, reason?: "decline"|"busy"}     -> CallResult   (default decline)
 *     hangup     {callId?}                                -> CallResult
 *     hold       {callId?}                                -> CallResult   (XEP-0167 <hold/>; we stop sending and playing)
 *     resume     {callId?}                                -> CallResult   (XEP-0167 <unhold/>)
 *     mute       {callId?}                                -> CallResult   (XEP-0167 <mute/>; silence is sent)
 *     unmute     {callId?}                                -> CallResult
 *     dtmf       {callId?, digits: "0-9*#A-D"(1..64), durationMs?: 40..2000}
 *                                                         -> {callId, digits}   (RFC 4733 telephone-event)
 *     play       {callId?, file: "/abs/path.wav"}         -> {callId, file}
 *                plays the file into the call instead of the input (an unreadable
 *                file fails the command); a playback event follows when it
 *                ends; the call goes on with the input
 *     record     {callId?, action: "start"|"stop", file?, overwrite?: boolean}
 *                                                         -> {callId, file}
 *                start: writes what the peer says to the WAV `file` (absolute;
 *                {callId}, {peer} and {time} are replaced), created 0600; an
 *                existing file is refused (bad-argument) and left as it is,
 *                unless overwrite is true; the directory must exist; a
 *                recording event follows when it is finished (stop, or the
 *                call ended)
 *     stats      {callId?}                                -> {callId, state, codec?, packetsSent?, ...}
 *     set-input  {callId?, source: Source}                -> CallResult   (switch the audio source now)
 *     set-output {callId?, sink: Sink, overwrite?: boolean} -> CallResult (switch the audio sink now)
 *                a file sink is created like a recording (0600, an existing
 *                file only replaced with overwrite: true)
 *     status     {}                                       -> {version, account: AccountInfo, media: {opusBackend: "native"|"wasm", codecs: [codec id]}, calls: CallInfo[]}
 *                version: the daemon's; codecs: every codec the daemon has, in its order of preference
 *     calls      {}                                       -> CallInfo[]
 *     devices    {}                                       -> {inputs: DeviceInfo[], outputs: DeviceInfo[]}
 *     presence   {show: "available"|"chat"|"away"|"xa"|"dnd", text?}
 *                                                         -> {show, text?}
 *     roster     {action?: "list"|"add"|"approve"|"remove", jid?, name?}
 *                list (default) -> {items: RosterItem[] (with online), requests: [bare JID]};
 *                add (ask for their presence; name optional), approve (let
 *                them see ours), remove -> {jid}
 *     voicemail  {action?: "list"|"delete", name?, olderThanDays?}
 *                list (default) -> {enabled, reason?, dir?, recordings: VoicemailRecording[]}
 *                the recordings calls.voicemail keeps, newest first; voicemail off:
 *                enabled false, reason says so, no recordings (not an error).
 *                delete {name} -> {deleted: [name]}: one recording, by the file name
 *                the list gives (a plain voicemail-*.wav name in calls.voicemail.dir,
 *                a regular file: any other name, a path, a symbolic link or a
 *                directory is refused with bad-argument and left as it is; none of
 *                that name: not-found); delete {olderThanDays} -> {deleted: [name]}:
 *                every recording older than that (by the file's time)
 *     reload     {}                                       -> {applied: [key], restartRequired: [key]}
 *                re-reads the config file (as SIGHUP does); a bad file changes nothing
 *                and fails with bad-argument naming the key
 *     shutdown   {}                                       -> {stopping: true}
 *                like SIGTERM: every call ends (session-terminate), the daemon exits 0
 * `callId` may be omitted only when exactly one call exists. File paths are
 * on the daemon's machine and must be absolute; a path in /proc or /sys or on
 * another kernel file system, a directory that does not exist, or a file
 * where a directory should be is refused with bad-argument saying which.
 *
 * Types
 * -----
 *     AccountInfo {jid, state: "connecting"|"online"|"reconnecting"|"offline", reason?,
 *                  retryAt? (ISO: the next try, while reconnecting),
 *                  server? ("xmpps://HOST:PORT (ADDRESS)": where the connection went, while online),
 *                  presence?: {show, text?}}
 *       reason says why the account is not online: the last error while
 *       reconnecting; while offline also why it stopped trying (the password
 *       was refused; another client took the same JID and resource twice).
 *     CallInfo    {id, peer, direction: "outgoing"|"incoming",
 *                  state: "outgoing"|"ringing"|"incoming"|"connecting"|"active"|"ended",
 *                  startedAt (ISO), answeredAt? (ISO), endedAt? (ISO), codec?,
 *                  reason?, sid? (the Jingle session id), localCandidate?,
 *                  remoteCandidate? (the selected pair, once connected),
 *                  held?, muted? (by us), peerHeld?, peerMuted? (the peer said so),
 *                  stats? (in status and calls: the stats command's fields, once there is media),
 *                  group? (a ring group: {strategy, targets: [jid], ringing: [jid],
 *                  answeredBy? (the device that answered), bridgedWith? (the incoming
 *                  call forwarded to it: calls.forward)})}
 *       outgoing = we proposed, no answer yet; ringing = the peer's device rings;
 *       incoming = the peer calls us, not answered yet; connecting = accepted,
 *       media being set up; reason = XEP-0166 reason once ended.
 *     CallResult  {callId, state, held, muted}
 *     Source      {type: "file", path, loop?} | {type: "tone", frequency?} | {type: "silence"} | ...
 *     Sink        {type: "file", path} | {type: "null"} | ...
 *                 (the config file's media.input / media.output; more types as the build has them)
 *     DeviceInfo  {spec: Source|Sink, description}
 *     RosterItem  {jid, name?, subscription: "none"|"to"|"from"|"both", pendingOut?, groups,
 *                  online?: [full JID]}
 *       online (in the roster list): the contact's devices available now, best
 *       first ([] = none); we learn it only from their presence, which they
 *       share with subscription to or both (RFC 6121 §3)
 *     VoicemailRecording {name, file (the full path), caller? (bare JID), at (ISO: when the
 *                  voicemail answered), durationMs? (from the WAV header), size (bytes)}
 *
 * Events (besides hello)
 * ----------------------
 *     account  {state: "connecting"|"online"|"reconnecting"|"offline", reason?, retryAt?}
 *              reason says why (e.g. the connection error while reconnecting:
 *              one event per failed attempt, with retryAt, the next try)
 *     call     {callId, type, peer, ...}; type is one of
 *                outgoing, incoming, ringing, connecting, active,
 *                held, resumed, muted, unmuted   (+ by: "local"|"peer"),
 *                ended   (+ reason: XEP-0166 reason, by: "local"|"peer" (whose
 *                         doing: the peer's message or silence, or ours), text?: the
 *                         peer's explanation or ours (e.g. why nobody could be
 *                         reached), durationMs: answered to ended, 0 if never
 *                         answered, elapsedMs: from the call command (or the
 *                         incoming call) to ended, stats?)
 *              codec? once known
 *     refused  {peer, reason: "not-allowed"|"busy"|"unsupported-media"}
 *              an incoming call the policy (calls.*) turned away, or a XEP-0353
 *              proposal of media we do not serve (video: calls.videoProposals),
 *              left unanswered for the account's other devices; no call was created
 *     media    {callId, codec, localCandidate, remoteCandidate, pairType, encryption, srtpProfile?}
 *              candidates are {type: "host"|"srflx"|"prflx"|"relay", ip, port,
 *              protocol?: "udp"|"tcp" (udp when absent)}; pairType "direct"
 *              or "relayed" (either side is a TURN relay); encryption "dtls-srtp"
 *              (XEP-0320; srtpProfile e.g. SRTP_AES128_CM_HMAC_SHA1_80) or "none"
 *              (plain RTP with a peer that offers no fingerprint)
 *     ice      {callId, type, by?, reason?, pair?}; type is one of
 *                disconnected  (+ reason) the pair carrying media went silent
 *                restarting    (+ by: "local"|"peer", reason) an ICE restart began
 *                restarted     (+ pair: {local, remote} candidates) a new pair carries media
 *     stats    {callId, codec?, codecBackend?, packetsSent?, packetsReceived?, packetsLost?,
 *              fractionLost?, jitterMs?, rttMs?, jitterBufferDelayMs?, concealedMs?,
 *              framesConcealed?, fecRecovered?, rFactor?, mos?, inputDroppedMs?,
 *              inputUnderruns?, outputDroppedMs?, ...}
 *              every control.statsIntervalSec seconds per active call (0: never);
 *              outputDroppedMs: audio a player output (pipe, ALSA, PulseAudio) dropped
 *              because it fell behind, or while pacat waited for its stream to start
 *              (an idle PulseAudio null sink starts it up to 2 s late; that audio is
 *              dropped rather than kept as delay for the rest of the call)
 *     dtmf     {callId, digit, durationMs?}   a digit the peer sent
 *     playback {callId, file, type: "finished"|"stopped"|"failed", error?}
 *              stopped: cut short by another play or the end of the call
 *     recording {callId, file, type: "finished"|"failed", error?}
 *     roster   {type: "request"|"changed"|"removed", jid, item?: RosterItem}
 *              request: jid asks to see our presence (answer with roster approve)
 *     reload   {applied: [key], restartRequired: [key]}   after SIGHUP or the reload command
 *     group    {callId, type, peer?, reason?, text?, bridgedWith?}   a ring group's callId; type is one of
 *                ringing   (+ peer) a JID rings (its own call was placed)
 *                dropped   (+ peer, reason, text?) a JID stopped ringing: its decline, busy,
 *                          timeout, cancel (another answered, or the group was hung up),
 *                          peer-unavailable (it could not be called)
 *                answered  (+ peer: the device's full JID) the winner; the others are dropped
 *                bridged   (+ bridgedWith: the incoming call's callId) calls.forward: the
 *                          audio of the incoming call and of the answered JID now flows
 *                          both ways
 *     voicemail {callId, type, peer, file?, durationMs?, url?, reason?}; type is one of
 *                answered   nobody answered within calls.voicemail.afterSec: the voicemail did
 *                recording  the greeting was played; what the caller says is recorded
 *                delivered  (+ file, durationMs, url) uploaded (XEP-0363), the link sent in chat
 *                kept       (+ file, durationMs, reason) not uploaded (no upload service, too
 *                           large, refused): the file stays, and the chat message says so
 *                missed     the caller hung up before leaving a message (while it rang, or
 *                           during the greeting): the notify JIDs are told who called
 *     echo     {callId, type, peer, delayMs?, report?}; type is one of
 *                started    (+ delayMs) the caller hears itself delayMs later (calls.echo)
 *                report     (+ report) the call ended; its network report (path, rttMs,
 *                           received/sent: lossPercent, jitterMs, mos; codec, encryption,
 *                           srtpProfile) was sent to the caller in chat
 *
 * Versioning
 * ----------
 * `protocol` changes only when an existing message changes meaning or loses a
 * field; new commands, events, fields and error codes do not change it.
 */

// Every event and command shape (./messages.ts) and the argument checks (./command-args.ts).
export * from "./messages.js";
export * from "./command-args.js";

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
  NotSupported: "not-supported",
  NotAllowed: "not-allowed",
  NotFound: "not-found",
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
