// A call's seams: what it is given (CallDeps), what it tells (CallEvents),
// and what it is made of, as the call sees it, with the factories that make
// the real parts: the ICE agent (ice/), the media session (media/), the
// transport under it (./media-transport.ts), sources and sinks. A Call takes
// these factories from its owner, so a unit test hands it fakes (an ICE
// agent without sockets) and drives its logic directly.
import { IceAgent, type IceAgentEvents, type IceAgentOptions, type IceAgentState, type IceServers, type RestartOptions } from "../../ice/ice-agent.js";
import { MediaSession, type MediaSessionOptions } from "../../media/media-session.js";
import { createSink, type AudioSink, type OpenedFile, type SinkSpec } from "../../media/sinks/index.js";
import { createSource, type AudioSource, type SourceSpec } from "../../media/sources/index.js";
import type { DtlsCertificate } from "../../rtp/dtls/certificate.js";
import type { Actor, CallInfo, CallState, Encryption, FileEventType, IceEventType, SelectedPair } from "../../control/protocol.js";
import type { IceCandidate, Jingle, JmiElement } from "../../jingle/protocol/index.js";
import type { Role } from "../../jingle/session-manager.js";
import type { CodecDescriptor } from "../../media/codecs/codec.js";
import type { MediaPreferences } from "../../media/media-session.js";
import type { FrameClock } from "../../util/frame-clock.js";
import type { Logger } from "../../util/logger.js";
import { dtlsTransport, plainTransport, type MediaTransport, type PacketSink } from "./media-transport.js";
import type { DtlsPolicy, Security } from "./security.js";

/** What a call uses of its ICE agent (ice/ice-agent.ts). */
export interface IcePort {
  readonly state: IceAgentState;
  /** 1, then +1 per ICE restart. */
  readonly generation: number;
  /** True from restart() until the new generation is connected. */
  readonly restarting: boolean;
  readonly localParameters: { ufrag: string; pwd: string };
  gather(): Promise<void>;
  setRemoteParameters(ufrag: string, pwd: string): void;
  addRemoteCandidate(c: IceCandidate): Promise<boolean>;
  restart(o?: RestartOptions): boolean;
  send(packet: Buffer): void;
  close(): Promise<void>;
  on<K extends keyof IceAgentEvents & string>(event: K, fn: (...args: IceAgentEvents[K]) => void): () => void;
}

/** What a call's ICE needs from its owner. */
export interface IceConfig {
  addresses: string[];
  portRange?: [number, number];
  connectTimeoutMs: number;
  relayOnly: boolean;
  /** STUN/TURN servers, resolved when the agent is made and at each restart (TURN credentials are short-lived). */
  servers: () => Promise<IceServers>;
  /** Host addresses now (they may change during a call: an ICE restart picks them up). */
  currentAddresses?: () => string[];
}

export interface TransportOptions {
  security: Security;
  /** DTLS-SRTP: our certificate and the fingerprint the peer announced. */
  certificate: DtlsCertificate | undefined;
  remoteFingerprint: { hash: string; value: string } | undefined;
  /** Puts one datagram on the wire (the ICE agent). */
  send: (datagram: Buffer) => void;
  /** Takes what arrives: the media session. */
  deliver: PacketSink;
  logger: Logger;
}

export interface CallParts {
  ice(o: IceAgentOptions): IcePort;
  media(o: MediaSessionOptions): MediaSession;
  transport(o: TransportOptions): MediaTransport;
  source(spec: SourceSpec, sampleRate: number): AudioSource;
  /** `opened`: a file sink's file, already created (client-path.ts); the sink owns the descriptor. */
  sink(spec: SinkSpec, sampleRate: number, opened?: OpenedFile): AudioSink;
}

export const defaultCallParts: CallParts = {
  ice: (o) => new IceAgent(o),
  media: (o) => new MediaSession(o),
  transport: (o) =>
    o.security.mode === "dtls"
      ? dtlsTransport({ role: o.security.role, certificate: o.certificate!, remoteFingerprint: o.remoteFingerprint!, send: o.send, deliver: o.deliver, logger: o.logger })
      : plainTransport({ send: o.send, deliver: o.deliver }),
  source: createSource,
  sink: createSink,
};

export interface CallDeps {
  id: string;
  sid: string;
  /** When the call began: the call command (default: when the Call is made). Durations count from here. */
  startedAt?: Date;
  /** Who placed an outgoing call, for the log ("socket client 3"). */
  placedBy?: string;
  peer: string;
  role: Role;
  /** Our full JID (the Jingle initiator attribute). */
  self: string;
  codecs: CodecDescriptor[];
  input: SourceSpec;
  output: SinkSpec;
  jitterFrames: number;
  /** Media settings from the configuration (jitter bounds, Opus, ptime, DTMF, device failures, RTCP). */
  mediaPrefs?: MediaPreferences;
  ice: IceConfig;
  ringTimeoutMs: number;
  /** How long after our XEP-0353 proceed the caller's session-initiate may take (default INITIATE_AFTER_PROCEED_MS, call.ts). */
  initiateTimeoutMs?: number;
  clock: FrameClock;
  logger: Logger;
  /** Sends a Jingle action for this session and resolves when the peer acknowledged it. */
  send: (jingle: Omit<Jingle, "sid">) => Promise<void>;
  /** XEP-0320 DTLS-SRTP: "require" refuses peers without a fingerprint, "off" never offers it. */
  dtls: { policy: DtlsPolicy; certificate: DtlsCertificate | undefined };
  /** Offer/accept RTP/RTCP multiplexing (RFC 5761, XEP-0167 <rtcp-mux/>). */
  rtcpMux: boolean;
  /** Sends a XEP-0353 message (propose, proceed, reject, ...) to `to`. */
  sendJmi: (to: string, el: JmiElement) => Promise<void>;
  /** Makes the call's parts; the real ones (./parts.ts) for whatever is not given. */
  parts?: Partial<CallParts>;
}

export type CallEvents = {
  state: [state: CallState, info: CallInfo];
  media: [info: { codec: string; pair: SelectedPair; encryption: Encryption; srtpProfile?: string }];
  /** durationMs: answered to ended (0 if never answered); elapsedMs: started (the call command) to ended; `by`: whose doing the end is (the peer's message or silence, or ours). */
  ended: [info: CallInfo & { durationMs: number; elapsedMs: number; text?: string; by: Actor }];
  /** Hold and mute, by us (control commands) or by the peer (XEP-0167 session-info). */
  control: [type: "held" | "resumed" | "muted" | "unmuted", by: Actor];
  /** ICE path changes during the call: the pair went silent, a restart began (by us or the peer), a new pair carries media. */
  ice: [info: { type: IceEventType; by?: Actor; reason?: string; pair?: SelectedPair }];
  /** A DTMF digit the peer sent (RFC 4733). */
  dtmf: [digit: string, durationMs?: number];
  /** A playback or recording that ended: played out / written, cut short (another play, the call ended), or failed. */
  file: [kind: "playback" | "recording", file: string, result: FileEventType, error?: string];
};
