// A call's seams: what it is given (CallDeps) and what it tells
// (CallEvents). Its ICE agent and media live in the media plane it is given
// (../media-plane/): on media threads, or in-process (a unit test's plane
// has fakes: an ICE agent without sockets, a clock the test ticks).
import type { IceServers } from "../../ice/ice-agent.js";
import type { Actor, CallInfo, CallState, Encryption, FileEventType, IceEventType, SelectedPair } from "../../control/protocol.js";
import type { Jingle, JmiElement } from "../../jingle/protocol/index.js";
import type { Role } from "../../jingle/session-manager.js";
import type { CodecDescriptor } from "../../media/codecs/codec.js";
import type { MediaPreferences } from "../../media/media-session.js";
import type { SinkSpec } from "../../media/sinks/sink.js";
import type { SourceSpec } from "../../media/sources/source.js";
import type { DtlsCertificate } from "../../rtp/dtls/certificate.js";
import type { Logger } from "../../util/logger.js";
import type { MediaPlane } from "../media-plane/media-plane.js";
import type { DtlsPolicy } from "./security.js";

export type { CallParts, IcePort } from "../media-plane/plane-parts.js";

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
  /** Where the call's media and ICE agent run (media-plane/media-plane.ts). */
  plane: MediaPlane;
  logger: Logger;
  /** Its media's lines on a media thread are not logged either (the start-up's warm-up calls, ../warm-up-calls.ts). */
  quiet?: boolean;
  /** Sends a Jingle action for this session and resolves when the peer acknowledged it. */
  send: (jingle: Omit<Jingle, "sid">) => Promise<void>;
  /** XEP-0320 DTLS-SRTP: "require" refuses peers without a fingerprint, "off" never offers it. */
  dtls: { policy: DtlsPolicy; certificate: DtlsCertificate | undefined };
  /** Offer/accept RTP/RTCP multiplexing (RFC 5761, XEP-0167 <rtcp-mux/>). */
  rtcpMux: boolean;
  /** Sends a XEP-0353 message (propose, proceed, reject, ...) to `to`. */
  sendJmi: (to: string, el: JmiElement) => Promise<void>;
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
