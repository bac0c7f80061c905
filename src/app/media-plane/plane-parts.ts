// What a call's part of the media plane is made of, with the factories that
// make the real parts: the ICE agent (ice/), the media session (media/), the
// transport under it (./media-transport.ts), sources and sinks. A plane
// takes these factories from its owner, so a unit test hands it fakes (an
// ICE agent without sockets) and drives a call's logic directly.
import { IceAgent, type IceAgentEvents, type IceAgentOptions, type IceAgentState, type RestartOptions } from "../../ice/ice-agent.js";
import type { IceCandidate } from "../../jingle/protocol/index.js";
import { MediaSession, type MediaSessionOptions } from "../../media/media-session.js";
import { createSink, type AudioSink, type OpenedFile, type SinkSpec } from "../../media/sinks/index.js";
import { createSource, type AudioSource, type SourceSpec } from "../../media/sources/index.js";
import type { DtlsCertificate } from "../../rtp/dtls/certificate.js";
import type { Logger } from "../../util/logger.js";
import { dtlsTransport, plainTransport, type MediaTransport, type PacketSink } from "./media-transport.js";
import type { Security } from "./plane-protocol.js";

/** What a call's ICE negotiation (call/ice-session.ts) uses of its ICE agent (ice/ice-agent.ts), wherever the agent runs. */
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
  close(): Promise<void>;
  on<K extends keyof IceAgentEvents & string>(event: K, fn: (...args: IceAgentEvents[K]) => void): () => void;
}

/** The agent as the media plane uses it besides: it sends, and its `data` events are the peer's datagrams. */
export interface PlaneIceAgent extends IcePort {
  send(packet: Buffer): void;
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
  ice(o: IceAgentOptions): PlaneIceAgent;
  media(o: MediaSessionOptions): MediaSession;
  transport(o: TransportOptions): MediaTransport;
  source(spec: SourceSpec, sampleRate: number): AudioSource;
  /** `opened`: a file sink's file, already created (media/client-path.ts); the sink owns the descriptor. */
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
