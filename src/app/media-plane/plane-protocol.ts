// The boundary between the main thread (XMPP, Jingle, the ICE negotiation,
// the control socket) and the media plane (each call's ICE agent and
// sockets, its transport, media session and devices): the messages that
// cross it, and nothing else does. Control and statistics only: a packet or
// an audio frame never crosses (docs/architecture.md, "The media plane").
//
//   main -> plane   open          a call's media is made (its settings)
//                   op            one operation on one call (PlaneOps), with
//                                 `req` when main waits for its outcome
//                   logLevel      the log level changed (reload)
//   plane -> main   ready         the thread has loaded its code
//                   reply         the outcome of an op with `req`
//                   event         what a call's ICE agent or media tells
//                   stats         every second, the figures of the thread's calls
//                                 and how busy the thread is
//                   log           a log line of the thread (./plane-log.ts)
//
// Everything here is plain data (structured clone): a Buffer arrives as a
// Uint8Array, a Date stays a Date, errors travel as WireError.
import type { Encryption, FileEventType, SelectedPair } from "../../control/protocol.js";
import type { RestartOptions } from "../../ice/ice-agent.js";
import type { TurnServer } from "../../ice/turn-allocate.js";
import type { IceCandidate } from "../../jingle/protocol/index.js";
import type { EncoderOptions } from "../../media/codecs/codec.js";
import type { OpusBackend } from "../../media/codecs/opus-backend.js";
import type { MediaPreferences, MediaStats } from "../../media/media-session.js";
import type { SinkSpec } from "../../media/sinks/sink.js";
import type { BridgeLink } from "../../media/audio-bridge.js";
import type { SourceSpec } from "../../media/sources/source.js";
import type { DtlsCertificate } from "../../rtp/dtls/certificate.js";
import type { DtlsFailureCondition } from "../../rtp/dtls/dtls-srtp.js";
import type { DtlsRole } from "../../rtp/dtls/setup-role.js";
import { CallError, JingledError } from "../../util/errors.js";
import type { LogLevel } from "../../util/logger.js";
import type { MediaPriority } from "../../util/thread-priority.js";
import type { LogRecord } from "./plane-log.js";

/** Plain RTP, or DTLS-SRTP in our role with the setup attribute we announce (decided by call/security.ts). */
export type Security = { mode: "dtls"; role: DtlsRole; setup: "actpass" | "active" | "passive" } | { mode: "plain" };

/** What a call's media is made with, before anything is negotiated. */
export interface OpenCall {
  callId: string;
  sid: string;
  /** ISO time the call began ({time} in file templates). */
  startedAt: string;
  input: SourceSpec;
  output: SinkSpec;
  jitterFrames: number;
  prefs: MediaPreferences;
  /** The call's log bindings (call id, sid), so its lines read the same on any thread. */
  log: Record<string, unknown>;
  /** Its lines are not logged (the thread's warm-up call, ./warm-up-call.ts). */
  quiet?: boolean;
}

/** The ICE agent's options as they cross (ice/ice-agent.ts IceAgentOptions without the logger). */
export interface IceSetup {
  controlling: boolean;
  addresses: string[];
  stun?: [string, number][];
  turn?: TurnServer | TurnServer[];
  relayOnly?: boolean;
  portRange?: [number, number];
  connectTimeoutMs: number;
  relayGraceMs?: number;
  disconnectedAfterMs?: number;
  turnTcpAfterMs?: number;
  turnTimeoutMs?: number;
  /** Our ufrag/password, made on the main thread: the offer needs them before the agent answers. */
  localCredentials?: { ufrag: string; pwd: string };
}

/** What the media is opened with once the codec is settled. */
export interface MediaSetup {
  /** Codec id ("opus", "pcmu"): the plane looks the codec up in its own registry. */
  codec: string;
  /** The Opus implementation in force when the call was set up (media.opus.backend). */
  opusBackend: OpusBackend;
  payloadType: number;
  telephoneEvent?: { payloadType: number; clockRate: number };
  ptimeMs: number;
  /** Encoder settings: ours, adjusted by the peer's fmtp (call/negotiation.ts). */
  encoder: Omit<EncoderOptions, "ptimeMs">;
  /** Without rtcp-mux, RTP only (the agent has one component). */
  rtcpMux: boolean;
  /** The peer's full JID ({peer} in file templates). */
  peer: string;
}

/** What the transport under the media is made with, once the security is decided. */
export interface TransportSetup {
  security: Security;
  certificate: DtlsCertificate | undefined;
  remoteFingerprint: { hash: string; value: string } | undefined;
}

export type CallMediaStats = MediaStats & { recording?: string };

/**
 * The operations on one call's media, as the plane carries them out
 * (media-plane/plane-call.ts). An op that returns a value or a promise is
 * asked for with a `req`; the others are only posted.
 */
export interface PlaneOps {
  iceCreate(o: IceSetup): void;
  iceGather(): Promise<void>;
  iceRemoteParameters(ufrag: string, pwd: string): void;
  iceAddCandidate(c: IceCandidate): Promise<boolean>;
  iceRestart(o: RestartOptions & { localCredentials?: { ufrag: string; pwd: string } }): boolean;
  iceClose(): Promise<void>;
  /** Opens source, sink and codec; returns the output file, when it is one. */
  prepare(s: MediaSetup): Promise<{ recordingPath?: string }>;
  connect(t: TransportSetup): void;
  /** Resolves when the transport is up and the media flows (media-path.ts). */
  startTransport(): Promise<{ encryption: Encryption; profile?: string }>;
  /** Our hold: `only: "receive"` until the peer acknowledged it, then both ways (media-path.ts). */
  setHeld(on: boolean, only?: "receive"): void;
  /** The peer's hold (XEP-0167 §7.2 session-info). */
  setPeerHeld(on: boolean): void;
  setMuted(on: boolean): void;
  stats(): CallMediaStats | undefined;
  sendDtmf(digits: string, durationMs?: number): Promise<void>;
  play(file: string): Promise<void>;
  /** The echo service: what the peer says goes back to it `delayMs` later, instead of our input and output. */
  echo(delayMs: number): Promise<void>;
  /** Joins the call to another call's audio (media/audio-bridge.ts; the link is shared memory, no frame crosses as a message). */
  bridge(link: BridgeLink): Promise<void>;
  setInput(spec: SourceSpec): void;
  /** Returns the output file, when it is one. */
  setOutput(spec: SinkSpec, opts?: { overwrite?: boolean }): Promise<{ recordingPath?: string }>;
  startRecording(template: string, opts?: { overwrite?: boolean }): Promise<string>;
  stopRecording(): Promise<string>;
  /** Ends the media; returns the figures at the end. */
  stop(): Promise<CallMediaStats | undefined>;
}

export type OpName = keyof PlaneOps;
export type OpResult<K extends OpName> = Awaited<ReturnType<PlaneOps[K]>>;

/** What a call's part of the plane tells. */
export type PlaneEvent =
  | { type: "candidate"; candidate: IceCandidate; generation: number }
  | { type: "gatheringDone"; generation: number }
  | { type: "connected"; pair: SelectedPair; restart: boolean; generation: number }
  | { type: "disconnected"; reason: string }
  | { type: "iceFailed"; reason: string }
  | { type: "dtmf"; digit: string; durationMs?: number }
  | { type: "file"; kind: "playback" | "recording"; file: string; result: FileEventType; error?: string }
  /** A device failed and media.onDeviceError says the call should end. */
  | { type: "deviceFailed" }
  /** An exception in this call's media: the call ends with failed-application. */
  | { type: "failed"; message: string };

export type OpMessage = { [K in OpName]: { kind: "op"; call: string; req?: number; op: K; args: Parameters<PlaneOps[K]> } }[OpName];

export type MainMessage =
  | { kind: "open"; call: string; open: OpenCall }
  | OpMessage
  | { kind: "logLevel"; level: LogLevel }
  /** The warm-up call is over (./warm-up-call.ts): the thread's load counts from now, and what start-up left behind can go. */
  | { kind: "warmedUp" };

export type PlaneMessage =
  | { kind: "ready" }
  | { kind: "reply"; req: number; value?: unknown; error?: WireError }
  | { kind: "event"; call: string; event: PlaneEvent }
  /** `load`: the thread's event loop utilisation since the last report, 0..1 (how busy it is). */
  | { kind: "stats"; calls: [call: string, stats: CallMediaStats][]; load: number }
  | { kind: "log"; record: LogRecord };

/** How often a media thread sends its calls' figures by default, ms. */
export const STATS_EVERY_MS = 1000;

/** What the media threads are started with (worker data). */
export interface PlaneThreadData {
  /** The thread's log level (its lines are written by the main thread's logger). */
  log: { level: LogLevel };
  /** How often the thread sends its calls' figures, ms. */
  statsEveryMs: number;
  /** The scheduling priority it asks for (media.priority, ../../util/thread-priority.ts). */
  priority: MediaPriority;
}

// ------------------------------------------------------------ errors

/** An error as it crosses: its class, the protocol code it carries, a DTLS failure's Jingle condition. */
export interface WireError {
  name: string;
  message: string;
  code?: string;
  condition?: DtlsFailureCondition;
}

/** The transport could not start (DTLS failed, the peer did not verify): the call ends with `condition`. */
export class TransportFailure extends Error {
  constructor(
    message: string,
    readonly condition: DtlsFailureCondition,
  ) {
    super(message);
  }
}

export function toWireError(err: unknown): WireError {
  if (!(err instanceof Error)) return { name: "Error", message: String(err) };
  const w: WireError = { name: err instanceof CallError ? "CallError" : err instanceof JingledError ? "JingledError" : err.name, message: err.message };
  if (err instanceof JingledError) w.code = err.code;
  if (err instanceof TransportFailure) {
    w.name = "TransportFailure";
    w.condition = err.condition;
  }
  return w;
}

/** The error again, of the class the control protocol and the call look for. */
export function fromWireError(w: WireError): Error {
  if (w.name === "TransportFailure" && w.condition) return new TransportFailure(w.message, w.condition);
  if (w.code !== undefined) return w.name === "CallError" ? new CallError(w.code, w.message) : new JingledError(w.code, w.message);
  if (w.name === "RangeError") return new RangeError(w.message);
  if (w.name === "TypeError") return new TypeError(w.message);
  return new Error(w.message);
}
