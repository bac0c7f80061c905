// A call's media and ICE agent as the call (app/call/) sees them, wherever
// they run: on this thread (./local-call-media.ts) or on a media thread
// (./remote-call-media.ts). Both carry out the same operations
// (./plane-protocol.ts PlaneOps) with the same code (./plane-call.ts); the
// call cannot tell which it has.
import type { Encryption, FileEventType } from "../../control/protocol.js";
import type { IceAgentOptions } from "../../ice/ice-agent.js";
import type { BridgeLink } from "../../media/audio-bridge.js";
import type { SinkSpec } from "../../media/sinks/sink.js";
import type { SourceSpec } from "../../media/sources/source.js";
import type { IcePort } from "./plane-parts.js";
import type { CallMediaStats, MediaSetup, TransportSetup } from "./plane-protocol.js";

export type CallMediaEvents = {
  /** A DTMF digit the peer sent (RFC 4733). */
  dtmf: [digit: string, durationMs?: number];
  /** A playback or recording that ended. */
  file: [kind: "playback" | "recording", file: string, result: FileEventType, error?: string];
  /** A device failed and media.onDeviceError says the call should end. */
  deviceFailed: [];
  /** The media failed (an exception in it, or its thread ended): the call ends with failed-application. */
  failed: [message: string];
};

export interface CallMedia {
  /** Makes the call's ICE agent (once) next to its media; our ufrag/password are readable at once. */
  ice(o: IceAgentOptions): IcePort;
  /** Source, sink and codec are open. */
  readonly prepared: boolean;
  /** The transport is made. */
  readonly connected: boolean;
  /** The transport was started (it is started once). */
  readonly starting: boolean;
  readonly held: boolean;
  readonly muted: boolean;
  /** The call's output file, when it is one. */
  readonly recordingPath: string | undefined;
  /** Opens source, sink and codec; rejects when one cannot be opened. */
  prepare(s: MediaSetup): Promise<void>;
  /** Makes the transport (plain RTP or DTLS-SRTP) between the agent and the media. */
  connect(t: TransportSetup): void;
  /** Starts the transport (DTLS: the handshake), then the media (it joins its thread's clock); resolves when media flows, rejects with a TransportFailure. */
  startTransport(): Promise<{ encryption: Encryption; profile?: string }>;
  /** Our hold: `only: "receive"` first (we stop listening), then both ways; off both ways at once. */
  setHeld(on: boolean, only?: "receive"): void;
  /** The peer's hold (XEP-0167 §7.2 session-info): media stops both ways. */
  setPeerHeld(on: boolean): void;
  setMuted(on: boolean): void;
  /** The latest figures (after stop(), those at the end): exact on this thread, at most about a second old from a media thread. */
  stats(): CallMediaStats | undefined;
  /** Figures no older than `maxAgeMs` (0: of now). */
  freshStats(maxAgeMs?: number): Promise<CallMediaStats | undefined>;
  /** RFC 4733 digits; resolves once they are sent. */
  sendDtmf(digits: string, durationMs?: number): Promise<void>;
  /** Plays a WAV file into the call; resolves once it plays, rejects with bad-argument when it cannot be read. */
  play(file: string): Promise<void>;
  /** The echo service: what the peer says goes back to it `delayMs` later, instead of our input and output. */
  echo(delayMs: number): Promise<void>;
  /** Joins this call's audio to another call's through a bridge (media/audio-bridge.ts), instead of our input and output. */
  bridge(link: BridgeLink): Promise<void>;
  setInput(spec: SourceSpec): Promise<void>;
  /** A file is created first: bad-argument when it cannot be, or exists and `overwrite` is not set. */
  setOutput(spec: SinkSpec, opts?: { overwrite?: boolean }): Promise<void>;
  /** Starts writing what the peer says to a WAV file (created as for setOutput); resolves with its path. */
  startRecording(template: string, opts?: { overwrite?: boolean }): Promise<string>;
  /** Finishes the recording; resolves with its path. */
  stopRecording(): Promise<string>;
  /** Ends the media (a recording is finished, the transport closed); never rejects. The ICE agent is closed through its port. */
  stop(): Promise<void>;
  on<K extends keyof CallMediaEvents & string>(event: K, fn: (...args: CallMediaEvents[K]) => void): () => void;
}
