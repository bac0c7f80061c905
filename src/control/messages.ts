// The control protocol's shapes, each declared once: the closed value sets,
// what the daemon reports (account, calls), every event and every command's
// arguments and result. The daemon's publishers and handlers and every client
// (jinglectl, the MQTT bridge, the package's users) are typed from here; the
// protocol itself is documented at the top of ./protocol.ts, which re-exports
// all of this.
import type { AccountState, CandidateSummary, PresenceShow, RosterItem, SelectedPair } from "../util/vocabulary.js";

// What a layer below produces and the protocol reports as it is (declared in util/vocabulary.ts).
export { AccountState, CandidateType, PresenceShow, Subscription } from "../util/vocabulary.js";
export type { CandidateSummary, RosterItem, SelectedPair } from "../util/vocabulary.js";

// ---------------------------------------------------------------- envelope

/** Fields every event carries; `seq` and `time` are added by the server. */
export interface EventEnvelope {
  event: string;
  seq: number;
  time: string;
}

// ---------------------------------------------------------------- states

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

/** What a `call` event announces: "type", not "state", because some (held, muted) are happenings. */
export const CallEventType = {
  Outgoing: "outgoing",
  Incoming: "incoming",
  Ringing: "ringing",
  Connecting: "connecting",
  Active: "active",
  Held: "held",
  Resumed: "resumed",
  Muted: "muted",
  Unmuted: "unmuted",
  Ended: "ended",
} as const;
export type CallEventType = (typeof CallEventType)[keyof typeof CallEventType];

/** Who caused a held/resumed/muted/unmuted event. */
export const Actor = { Local: "local", Peer: "peer" } as const;
export type Actor = (typeof Actor)[keyof typeof Actor];

/** The events the daemon publishes (besides hello, which only the socket sends). */
export const EventName = {
  Account: "account",
  Call: "call",
  Refused: "refused",
  Media: "media",
  Ice: "ice",
  Stats: "stats",
  Dtmf: "dtmf",
  Playback: "playback",
  Recording: "recording",
  Roster: "roster",
  Reload: "reload",
  Group: "group",
  Voicemail: "voicemail",
  Echo: "echo",
} as const;
export type EventName = (typeof EventName)[keyof typeof EventName];

export const RefusedReason = { NotAllowed: "not-allowed", Busy: "busy", UnsupportedMedia: "unsupported-media" } as const;
export type RefusedReason = (typeof RefusedReason)[keyof typeof RefusedReason];

/** What an `ice` event says about a call's ICE path. */
export const IceEventType = { Disconnected: "disconnected", Restarting: "restarting", Restarted: "restarted" } as const;
export type IceEventType = (typeof IceEventType)[keyof typeof IceEventType];

/** How the media is carried: DTLS-SRTP (XEP-0320), or plain RTP/AVP for a peer without a fingerprint. */
export const Encryption = { DtlsSrtp: "dtls-srtp", None: "none" } as const;
export type Encryption = (typeof Encryption)[keyof typeof Encryption];

/** How a playback or recording ended; "stopped": a playback cut short (another play, the call ended). */
export const FileEventType = { Finished: "finished", Stopped: "stopped", Failed: "failed" } as const;
export type FileEventType = (typeof FileEventType)[keyof typeof FileEventType];

/** How a ring group rings its targets: all at once (the first to answer wins), or one after the other. */
export const RingStrategy = { Simultaneous: "simultaneous", Sequential: "sequential" } as const;
export type RingStrategy = (typeof RingStrategy)[keyof typeof RingStrategy];

/** What a `group` event says about a ring group. */
export const GroupEventType = { Ringing: "ringing", Dropped: "dropped", Answered: "answered", Bridged: "bridged" } as const;
export type GroupEventType = (typeof GroupEventType)[keyof typeof GroupEventType];

// ---------------------------------------------------------------- data types

export interface AccountInfo {
  jid: string;
  state: AccountState;
  reason?: string;
  /** ISO 8601: the next connection attempt, while reconnecting. */
  retryAt?: string;
  /** Where the connection went, while online: "xmpps://HOST:PORT (ADDRESS)". */
  server?: string;
  presence?: { show: PresenceShow; text?: string };
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
  held?: boolean;
  muted?: boolean;
  peerHeld?: boolean;
  peerMuted?: boolean;
  /** The media statistics (as the stats command gives them), once there is media. */
  stats?: Record<string, unknown>;
  /** A ring group: whom it rings and who answered. */
  group?: RingGroupInfo;
}

export interface RingGroupInfo {
  strategy: RingStrategy;
  /** Every target, in the order given. */
  targets: string[];
  /** The targets ringing now. */
  ringing: string[];
  /** The target that answered (its device's full JID). */
  answeredBy?: string;
  /** A forwarded incoming call: its call id, whose audio is bridged with this group's. */
  bridgedWith?: string;
}

/** What the hello event and the `status` result both carry. */
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
  /** ISO 8601: the next connection attempt, while reconnecting. */
  retryAt?: string;
}

export interface CallEvent extends EventEnvelope {
  event: "call";
  callId: string;
  type: CallEventType;
  peer: string;
  codec?: string;
  /** held/resumed/muted/unmuted: who did it. */
  by?: Actor;
  reason?: string;
  /** ended: the peer's free-text explanation of the reason, or ours (why nobody could be reached). */
  text?: string;
  /** ended: from answered to ended (0 if never answered). */
  durationMs?: number;
  /** ended: from the call command (or the incoming call) to ended. */
  elapsedMs?: number;
  /** ended: the call's last media statistics. */
  stats?: Record<string, unknown>;
}

export interface RefusedEvent extends EventEnvelope {
  event: "refused";
  peer: string;
  reason: RefusedReason;
}

export interface MediaEvent extends EventEnvelope {
  event: "media";
  callId: string;
  codec: string;
  localCandidate: CandidateSummary;
  remoteCandidate: CandidateSummary;
  pairType: "direct" | "relayed";
  encryption: Encryption;
  /** DTLS-SRTP: the SRTP protection profile, e.g. SRTP_AES128_CM_HMAC_SHA1_80. */
  srtpProfile?: string;
}

export interface IceEvent extends EventEnvelope {
  event: "ice";
  callId: string;
  type: IceEventType;
  /** restarting: who began the ICE restart. */
  by?: Actor;
  /** disconnected, restarting: why. */
  reason?: string;
  /** restarted: the new pair. */
  pair?: SelectedPair;
}

export interface StatsEvent extends EventEnvelope {
  event: "stats";
  callId: string;
  [key: string]: unknown;
}

export interface DtmfEvent extends EventEnvelope {
  event: "dtmf";
  callId: string;
  digit: string;
  durationMs?: number;
}

export interface FileEvent extends EventEnvelope {
  event: "playback" | "recording";
  callId: string;
  file: string;
  type: FileEventType;
  error?: string;
}

export interface RosterEvent extends EventEnvelope {
  event: "roster";
  type: "request" | "changed" | "removed";
  jid: string;
  item?: RosterItem;
}

export interface GroupEvent extends EventEnvelope {
  event: "group";
  /** The ring group's call id (the one the call command gave). */
  callId: string;
  type: GroupEventType;
  /** ringing, dropped, answered: the target (answered: the full JID of the device that answered). */
  peer?: string;
  /** dropped: why this target stopped ringing (decline, busy, timeout, cancel when another answered, ...). */
  reason?: string;
  /** dropped: the peer's or our explanation. */
  text?: string;
  /** bridged: the incoming call whose audio now flows to and from the group's answered call. */
  bridgedWith?: string;
}

export interface ReloadEvent extends EventEnvelope {
  event: "reload";
  applied: string[];
  restartRequired: string[];
}

/** What a `voicemail` event says (app/voicemail.ts). */
export const VoicemailEventType = { Answered: "answered", Recording: "recording", Delivered: "delivered", Kept: "kept", Missed: "missed" } as const;
export type VoicemailEventType = (typeof VoicemailEventType)[keyof typeof VoicemailEventType];

export interface VoicemailEvent extends EventEnvelope {
  event: "voicemail";
  callId: string;
  type: VoicemailEventType;
  /** The caller (bare JID once recorded). */
  peer: string;
  /** delivered, kept: the recording (16 kHz mono WAV, mode 0600). */
  file?: string;
  durationMs?: number;
  /** delivered: where it was uploaded (XEP-0363). */
  url?: string;
  /** kept: why it was not uploaded. */
  reason?: string;
}

/** What an `echo` event says (app/echo-service.ts). */
export const EchoEventType = { Started: "started", Report: "report" } as const;
export type EchoEventType = (typeof EchoEventType)[keyof typeof EchoEventType];

export interface EchoEvent extends EventEnvelope {
  event: "echo";
  callId: string;
  type: EchoEventType;
  peer: string;
  /** started: how much later the caller hears itself, ms. */
  delayMs?: number;
  /** report: the network report sent to the caller in chat (app/call-report.ts NetworkReport). */
  report?: Record<string, unknown>;
}

export type KnownEvent =
  | HelloEvent
  | AccountEvent
  | CallEvent
  | RefusedEvent
  | MediaEvent
  | IceEvent
  | StatsEvent
  | DtmfEvent
  | FileEvent
  | RosterEvent
  | ReloadEvent
  | GroupEvent
  | VoicemailEvent
  | EchoEvent;

/** Every event the daemon publishes, by name: what a publisher must give for each. */
export interface EventMap {
  account: AccountEvent;
  call: CallEvent;
  refused: RefusedEvent;
  media: MediaEvent;
  ice: IceEvent;
  stats: StatsEvent;
  dtmf: DtmfEvent;
  playback: FileEvent & { event: "playback" };
  recording: FileEvent & { event: "recording" };
  roster: RosterEvent;
  reload: ReloadEvent;
  group: GroupEvent;
  voicemail: VoicemailEvent;
  echo: EchoEvent;
}
// EventName and EventMap name the same events (checked when compiling).
const _eventNamesMatch: [EventName, keyof EventMap] extends [keyof EventMap, EventName] ? true : never = true;
void _eventNamesMatch;

/**
 * Each event's fields by name, as the protocol text lists them (the docs
 * test holds the text against this list). Checked when compiling: a field
 * an event has but this list lacks, or the reverse, does not compile.
 * stats is open-ended: its fields grow with the media engine.
 */
export const EVENT_FIELDS = {
  account: ["state", "reason", "retryAt"],
  call: ["callId", "type", "peer", "codec", "by", "reason", "text", "durationMs", "elapsedMs", "stats"],
  refused: ["peer", "reason"],
  media: ["callId", "codec", "localCandidate", "remoteCandidate", "pairType", "encryption", "srtpProfile"],
  ice: ["callId", "type", "by", "reason", "pair"],
  stats: ["callId"],
  dtmf: ["callId", "digit", "durationMs"],
  playback: ["callId", "file", "type", "error"],
  recording: ["callId", "file", "type", "error"],
  roster: ["type", "jid", "item"],
  reload: ["applied", "restartRequired"],
  group: ["callId", "type", "peer", "reason", "text", "bridgedWith"],
  voicemail: ["callId", "type", "peer", "file", "durationMs", "url", "reason"],
  echo: ["callId", "type", "peer", "delayMs", "report"],
} as const satisfies { [E in EventName]: readonly (keyof EventFields<EventMap[E]> & string)[] };
type Unlisted<E extends EventName> = Exclude<keyof EventFields<EventMap[E]>, (typeof EVENT_FIELDS)[E][number]>;
const _everyFieldListed: { [E in Exclude<EventName, "stats">]: Unlisted<E> extends never ? true : Unlisted<E> } = {
  account: true,
  call: true,
  refused: true,
  media: true,
  ice: true,
  dtmf: true,
  playback: true,
  recording: true,
  roster: true,
  reload: true,
  group: true,
  voicemail: true,
  echo: true,
};
void _everyFieldListed;

/** Fields a producer passes to broadcast(): everything but the envelope. */
export type EventFields<E extends EventEnvelope> = Omit<E, keyof EventEnvelope>;

// ---------------------------------------------------------------- closed value sets

export const RejectReason = { Decline: "decline", Busy: "busy" } as const;
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason];

export const RosterAction = { List: "list", Add: "add", Approve: "approve", Remove: "remove" } as const;
export type RosterAction = (typeof RosterAction)[keyof typeof RosterAction];

export const VoicemailAction = { List: "list", Delete: "delete" } as const;
export type VoicemailAction = (typeof VoicemailAction)[keyof typeof VoicemailAction];

/**
 * The file names the voicemail gives its recordings (app/voicemail.ts:
 * voicemail-TIME-CALLER.wav): a plain name, never a path, never one of its
 * hidden working files (.greeting-*, .beep.wav, .*.recording). The only
 * names the voicemail command and retention ever touch.
 */
export const VOICEMAIL_FILE_NAME = /^voicemail-[A-Za-z0-9@._-]+\.wav$/;
/** A file name's limit on Linux (NAME_MAX). */
export const MAX_FILE_NAME = 255;

export const RecordAction = { Start: "start", Stop: "stop" } as const;
export type RecordAction = (typeof RecordAction)[keyof typeof RecordAction];

// ---------------------------------------------------------------- arguments and results

/** `jid` for one target; `jids` (with `strategy`, `ringSec`) for a ring group. */
export interface CallArgs {
  jid?: string;
  /** A ring group: 1 to 8 distinct bare or full JIDs; the call command gives one call id for all. */
  jids?: string[];
  /** With jids: simultaneous (default) or sequential. */
  strategy?: RingStrategy;
  /** With jids: how long each target rings (sequential) or the group rings (simultaneous), 1..600 s. */
  ringSec?: number;
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
  /** start: replace the file when it exists (default: an existing file is refused, never touched). */
  overwrite?: boolean;
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
  /** A file sink: replace the file when it exists (default: an existing file is refused, never touched). */
  overwrite?: boolean;
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

/** `delete`: one recording by its file `name`, or every recording older than `olderThanDays`. */
export interface VoicemailArgs {
  action: VoicemailAction;
  /** delete: a recording's file name as the list gives it (voicemail-TIME-CALLER.wav), no path. */
  name?: string;
  /** delete: every recording older than this many days (more than 0). */
  olderThanDays?: number;
}

/** The status command: the snapshot, and what the daemon's media engine has. */
export interface StatusResult extends Snapshot {
  /** The daemon's version. */
  version: string;
  media: {
    opusBackend: "native" | "wasm";
    /** Every codec id the daemon has, in its order of preference. */
    codecs: string[];
  };
}

export interface CallStartResult {
  callId: string;
  /** The Jingle session id (a ring group: none, each target has its own). */
  sid?: string;
  /** The full JID called (a ring group: its first target). */
  peer: string;
  /** A ring group: its targets. */
  targets?: string[];
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
/** A contact in the roster list: the roster item and who of it is online. */
export interface RosterListItem extends RosterItem {
  /**
   * The contact's devices available now (full JIDs, best first; [] when
   * none). Known only from their presence, which they share with
   * subscription to or both (RFC 6121 §3).
   */
  online?: string[];
}
export interface RosterListResult {
  items: RosterListItem[];
  /** Bare JIDs that asked to see our presence; answer with approve. */
  requests: string[];
}
export interface RosterChangeResult {
  jid: string;
}
/** A recording the voicemail keeps (calls.voicemail.dir). */
export interface VoicemailRecording {
  /** The file name: what delete takes. */
  name: string;
  /** The full path on the daemon's machine. */
  file: string;
  /** The caller's bare JID (absent when the name does not say and the daemon did not record it). */
  caller?: string;
  /** When the voicemail answered (ISO 8601 UTC; the file's time when the name does not say). */
  at: string;
  /** The message's length, from the WAV header (absent when the header cannot be read). */
  durationMs?: number;
  /** Bytes. */
  size: number;
}
export interface VoicemailListResult {
  /** false: calls.voicemail is off (or has no dir); the list is empty and `reason` says so. */
  enabled: boolean;
  reason?: string;
  /** Where the recordings are (calls.voicemail.dir). */
  dir?: string;
  /** Newest first. */
  recordings: VoicemailRecording[];
}
export interface VoicemailDeleteResult {
  /** The file names deleted. */
  deleted: string[];
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

export type NoArgs = Record<string, never>;

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
  voicemail: { args: VoicemailArgs; result: VoicemailListResult | VoicemailDeleteResult };
  reload: { args: NoArgs; result: ReloadResult };
  shutdown: { args: NoArgs; result: ShutdownResult };
}
export type CommandName = keyof CommandMap;
export type CommandArgs<C extends CommandName> = CommandMap[C]["args"];
export type CommandResult<C extends CommandName> = CommandMap[C]["result"];
