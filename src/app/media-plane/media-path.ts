// The media part of a call: once the codec is settled it opens the source,
// the sink and the codec (a MediaSession, media/media-session.ts); once the
// security is decided, the transport under them (./media-transport.ts).
// Datagrams from ICE come straight here and go straight on, never through
// the call:
//
//   ICE agent --data--> receive() --> transport: RTP/RTCP told apart once,
//   DTLS-SRTP unprotected --> MediaSession.receiveRtp/receiveRtcp: the RTP
//   header parsed once --> playout buffer
//
// and the media session's packets go down the same way to the ICE agent.
// Hold and mute are the media session's; this part holds them until the
// session exists. File names in templates ({callId}, {sid}, {peer}, {time})
// are resolved here, and files to write are created here, without blocking
// the event loop (media/client-path.ts): a client's only in a directory that
// exists, the configured media.output's with its missing directories.
import { close } from "node:fs";
import { unlink } from "node:fs/promises";
import type { Encryption, FileEventType } from "../../control/protocol.js";
import { claimUnusedFile, claimWritableFile, type ClaimedFile } from "../../media/client-path.js";
import type { MediaPreferences, MediaSession, MediaStats } from "../../media/media-session.js";
import type { AudioSink, SinkSpec } from "../../media/sinks/index.js";
import type { AudioSource, SourceSpec } from "../../media/sources/index.js";
import type { DtlsCertificate } from "../../rtp/dtls/certificate.js";
import { CallError, errorMessage } from "../../util/errors.js";
import { TypedEmitter } from "../../util/events.js";
import type { FrameClock } from "../../util/frame-clock.js";
import type { Logger } from "../../util/logger.js";
import type { CodecDescriptor } from "../../media/codecs/codec.js";
import type { MediaTransport, PacketSink } from "./media-transport.js";
import type { CallParts } from "./plane-parts.js";
import type { MediaSetup, Security } from "./plane-protocol.js";

/** Datagrams kept before the transport is decided (e.g. an early DTLS ClientHello): only the peer's reach us (ice/port-guard.ts). */
export const MAX_EARLY_DATAGRAMS = 32;

export interface MediaPathOptions {
  callId: string;
  sid: string;
  startedAt: Date;
  /** The peer now (a bare JID while proposed, its device's full JID after). */
  peer: () => string;
  input: SourceSpec;
  output: SinkSpec;
  jitterFrames: number;
  prefs: MediaPreferences;
  clock: FrameClock;
  logger: Logger;
  parts: Pick<CallParts, "media" | "transport" | "source" | "sink">;
}

export type MediaPathEvents = {
  /** A DTMF digit the peer sent (RFC 4733). */
  dtmf: [digit: string, durationMs?: number];
  /** A playback or recording that ended. */
  file: [kind: "playback" | "recording", file: string, result: FileEventType, error?: string];
  /** A device failed and media.onDeviceError says the call should end. */
  deviceFailed: [];
};

/** Fills in a file template's {callId}, {sid}, {peer}, {time} (each made safe for a file name). */
export function expandFileTemplate(template: string, v: { callId: string; sid: string; peer: string; startedAt: Date }): string {
  return template
    .replaceAll("{callId}", v.callId)
    .replaceAll("{sid}", v.sid.replace(/[^A-Za-z0-9_-]/g, "_"))
    .replaceAll("{peer}", v.peer.replace(/[^A-Za-z0-9@._-]/g, "_"))
    .replaceAll("{time}", v.startedAt.toISOString().replace(/[:.]/g, "-"));
}

export class MediaPath extends TypedEmitter<MediaPathEvents> {
  readonly #o: MediaPathOptions;
  #session: MediaSession | undefined;
  #codec: CodecDescriptor | undefined;
  #transport: MediaTransport | undefined;
  readonly #early: Buffer[] = [];
  #starting = false;
  #preparing: Promise<void> | undefined;
  #stopped = false;
  /** Our hold: "receive" between the hold command and the peer's acknowledgement (Call.setHeld), then "both". */
  #held: "receive" | "both" | undefined;
  /** The peer's hold (its session-info): both directions at once. */
  #peerHeld = false;
  #muted = false;
  /** The call's output file, when it is one (shown in stats). */
  #recordingPath: string | undefined;
  #finalStats: MediaStats | undefined;
  /** What the transport delivers goes to the media session once there is one. */
  readonly #deliver: PacketSink = {
    receiveRtp: (p) => this.#session?.receiveRtp(p),
    receiveRtcp: (p) => this.#session?.receiveRtcp(p),
  };

  constructor(o: MediaPathOptions) {
    super();
    this.#o = o;
  }

  /** A datagram from the ICE agent. */
  receive(datagram: Buffer): void {
    if (this.#transport) this.#transport.receive(datagram);
    else if (this.#early.length < MAX_EARLY_DATAGRAMS) this.#early.push(datagram);
  }

  /** True once source, sink and codec are open. */
  get prepared(): boolean {
    return this.#session !== undefined;
  }

  /** True once the transport is made. */
  get connected(): boolean {
    return this.#transport !== undefined;
  }

  /** True once the transport was started (it is started once). */
  get starting(): boolean {
    return this.#starting;
  }

  get recordingPath(): string | undefined {
    return this.#recordingPath;
  }

  /**
   * Opens source, sink and codec for the negotiated codec (once; a second
   * call waits for the first). Rejects when one cannot be opened. Without
   * rtcp-mux RTCP would need a second ICE component, which the agent does
   * not have: RTP only then (DESIGN.md).
   */
  prepare(codec: CodecDescriptor, n: MediaSetup): Promise<void> {
    this.#preparing ??= this.#prepare(codec, n);
    return this.#preparing;
  }

  async #prepare(codec: CodecDescriptor, n: MediaSetup): Promise<void> {
    const { payloadType, rtcpMux } = n;
    const parts = this.#o.parts;
    const configured = this.#o.output;
    const output: SinkSpec = configured.type === "file" ? { ...configured, path: this.#expand(configured.path) } : configured;
    const source = parts.source(this.#o.input, codec.pcmRate);
    let sink;
    try {
      // The configuration's file: its directories may be made (recordings/{peer}/...); an
      // existing file is never replaced, a numbered name is taken instead (config/example.yaml).
      const file = output.type === "file" ? await claimUnusedFile(output.path, { cmd: "media.output", createDirectories: true }) : undefined;
      if (this.#stopped) {
        if (file) await release(file, true);
        throw new CallError("invalid-state", "the call ended while its media was being set up");
      }
      if (file) this.#recordingPath = file.path;
      try {
        sink = parts.sink(file ? { type: "file", path: file.path } : output, codec.pcmRate, file);
      } catch (err) {
        if (file) await release(file, true);
        throw err;
      }
    } catch (err) {
      closeQuietly(source);
      throw err;
    }
    const prefs = this.#o.prefs;
    const session = parts.media({
      codec,
      payloadType,
      source,
      sink,
      clock: this.#o.clock,
      send: (p) => this.#transport?.send(p),
      jitterFrames: this.#o.jitterFrames,
      logger: this.#o.logger,
      ptimeMs: n.ptimeMs,
      encoder: n.encoder,
      ...(n.telephoneEvent ? { telephoneEvent: n.telephoneEvent } : {}),
      ...(prefs.jitter ? { jitter: prefs.jitter } : {}),
      ...(prefs.dtmf ? { dtmf: prefs.dtmf } : {}),
      ...(prefs.onDeviceError ? { onDeviceError: prefs.onDeviceError } : {}),
      ...(!rtcpMux ? { rtcp: false as const } : prefs.rtcpIntervalMs ? { rtcp: { intervalMs: prefs.rtcpIntervalMs } } : {}),
    });
    this.#session = session;
    this.#codec = codec;
    // A failed device: the session carries on with silence; the call ends if so configured.
    session.on("deviceError", ({ action }) => {
      if (action === "end") this.emit("deviceFailed");
    });
    session.setMuted(this.#muted);
    this.#applyHold();
    session.on("dtmf", ({ digit, durationMs }) => this.emit("dtmf", digit, durationMs));
    // play() resolves for every ending; this says which (failures come from play()'s rejection).
    session.on("playbackEnded", ({ path, reason }) => this.emit("file", "playback", path, reason === "finished" ? "finished" : "stopped"));
  }

  /** Makes the plain or DTLS-SRTP transport and feeds it what came early. */
  connect(o: { security: Security; certificate: DtlsCertificate | undefined; remoteFingerprint: { hash: string; value: string } | undefined; send: (d: Buffer) => void }): void {
    if (this.#transport) return;
    this.#transport = this.#o.parts.transport({ ...o, deliver: this.#deliver, logger: this.#o.logger });
    for (const d of this.#early.splice(0)) this.#transport.receive(d);
  }

  /**
   * Starts the transport (DTLS: the handshake); once it is up, media flows:
   * the session joins the media clock here, on the media's own thread, not
   * a round trip through the call later. The peer sends from the moment its
   * own transport is up; packets that arrive before our session plays pile
   * up, and the playout buffer starts past those that waited too long (a
   * main thread busy with a first call's setup cost ~70 ms of received
   * speech that way). A call that ended meanwhile has stopped its session,
   * which then does not start.
   */
  async startTransport(): Promise<{ encryption: Encryption; profile?: string }> {
    const transport = this.#transport!;
    this.#starting = true;
    const info = await transport.start();
    this.#session?.start();
    return { encryption: transport.encryption, ...(info.profile ? { profile: info.profile } : {}) };
  }

  /** Our hold (from the hold command on). */
  get held(): boolean {
    return this.#held !== undefined;
  }

  get muted(): boolean {
    return this.#muted;
  }

  /**
   * Our hold: `only: "receive"` first (we stop listening; the peer still
   * hears us until it stops listening), then both ways; off both ways at once.
   */
  setHeld(on: boolean, only?: "receive"): void {
    this.#held = !on ? undefined : only ?? "both";
    this.#applyHold();
  }

  /** The peer's hold (XEP-0167 §7.2 session-info): media stops both ways, as for ours. */
  setPeerHeld(on: boolean): void {
    this.#peerHeld = on;
    this.#applyHold();
  }

  #applyHold(): void {
    const both = this.#peerHeld || this.#held === "both";
    this.#session?.setHeld(both || this.#held !== undefined, both ? undefined : "receive");
  }

  setMuted(on: boolean): void {
    this.#muted = on;
    this.#session?.setMuted(on);
  }

  /** The media session's figures plus what SRTP took out before it: replayed (duplicate) packets, forged ones. */
  #stats(): MediaStats | undefined {
    const s = this.#session?.stats();
    const t = this.#transport?.stats();
    if (!s || !t) return s;
    return { ...s, packetsDuplicate: s.packetsDuplicate + t.replayed, srtpAuthFailures: t.authFailures };
  }

  /** Media statistics now; after stop(), those at the end. */
  stats(): (MediaStats & { recording?: string }) | undefined {
    const s = this.#finalStats ?? this.#stats();
    if (!s) return undefined;
    return this.#recordingPath ? { ...s, recording: this.#recordingPath } : s;
  }

  // ------------------------------------------------------------ controls

  #require(command: string): MediaSession {
    if (!this.#session) throw new CallError("invalid-state", `${command}: call ${this.#o.callId} has no media yet`);
    return this.#session;
  }

  /** RFC 4733 digits; the promise resolves once they are sent. */
  sendDtmf(digits: string, durationMs?: number): Promise<void> {
    return this.#require("dtmf").sendDtmf(digits, durationMs);
  }

  /** Plays a WAV file into the call; resolves once it plays, throws bad-argument when it cannot be read. */
  async play(file: string): Promise<void> {
    const playing = this.#require("play").play(file);
    // A file that cannot be read fails at once: make that the command's error, not a later event.
    try {
      await Promise.race([playing, new Promise((r) => setImmediate(r))]);
    } catch (err) {
      throw new CallError("bad-argument", `play: ${errorMessage(err)}`);
    }
    playing.catch((err: unknown) => this.emit("file", "playback", file, "failed", errorMessage(err)));
  }

  setInput(spec: SourceSpec): void {
    const m = this.#require("set-input");
    m.replaceSource(this.#o.parts.source(spec, this.#codec!.pcmRate));
  }

  /**
   * Replaces source and sink with a pair made for the codec's rate (the echo
   * service's delay line, a bridge to another call); the old ones are closed.
   * `command` names the operation in the error when there is no media yet.
   */
  async plugIn(command: string, make: (sampleRate: number) => { source: AudioSource; sink: AudioSink }): Promise<void> {
    const m = this.#require(command);
    const { source, sink } = make(this.#codec!.pcmRate);
    m.replaceSource(source);
    await m.replaceSink(sink);
  }

  /** Switches the sink; a file is created first (bad-argument when it cannot be, or exists and `overwrite` is not set). */
  async setOutput(spec: SinkSpec, opts: { overwrite?: boolean } = {}): Promise<void> {
    const m = this.#require("set-output");
    const rate = this.#codec!.pcmRate;
    if (spec.type !== "file") {
      await m.replaceSink(this.#o.parts.sink(spec, rate));
      return;
    }
    const resolved = this.#expand(spec.path);
    const file = await claimWritableFile(resolved, { cmd: "set-output", overwrite: opts.overwrite === true });
    let sink;
    try {
      sink = this.#o.parts.sink({ type: "file", path: resolved }, rate, file);
    } catch (err) {
      await release(file, opts.overwrite !== true);
      throw err;
    }
    this.#recordingPath = resolved;
    await m.replaceSink(sink);
  }

  /**
   * Starts writing what the peer says to a WAV file; returns its path. The
   * file is created first (bad-argument when it cannot be, or exists and
   * `overwrite` is not set).
   */
  async startRecording(pathTemplate: string, opts: { overwrite?: boolean } = {}): Promise<string> {
    const m = this.#require("record");
    if (m.recordingPath) throw new CallError("invalid-state", `record: call ${this.#o.callId} is already recording to ${m.recordingPath}`);
    const path = this.#expand(pathTemplate);
    const file = await claimWritableFile(path, { cmd: "record", overwrite: opts.overwrite === true });
    try {
      m.startRecording(path, file.fd);
    } catch (err) {
      await release(file, opts.overwrite !== true);
      throw err;
    }
    return path;
  }

  /** Finishes the recording; returns its path. */
  async stopRecording(): Promise<string> {
    if (!this.#session?.recordingPath) throw new CallError("invalid-state", `record: call ${this.#o.callId} is not recording`);
    const { path } = await this.#session.stopRecording();
    this.emit("file", "recording", path, "finished");
    return path;
  }

  /** Fills in a file name template. */
  #expand(template: string): string {
    return expandFileTemplate(template, { callId: this.#o.callId, sid: this.#o.sid, peer: this.#o.peer(), startedAt: this.#o.startedAt });
  }

  /** Ends the media: a recording is finished, the session stops, the transport closes; the statistics stay. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#finalStats = this.#stats();
    const session = this.#session;
    if (session?.recordingPath) {
      const rec = await session.stopRecording().catch((err: unknown) => this.#o.logger.warn({ err: errorMessage(err) }, "recording"));
      if (rec) this.emit("file", "recording", rec.path, "finished");
    }
    await session?.stop().catch((err: unknown) => this.#o.logger.warn({ err: errorMessage(err) }, "media stop"));
    this.#transport?.close();
  }
}

/** Gives back a file claimed for a sink that was not made: closed, and removed when it was created for it. */
async function release(file: ClaimedFile, created: boolean): Promise<void> {
  await new Promise<void>((resolve) => close(file.fd, () => resolve()));
  if (created) await unlink(file.path).catch(() => undefined);
}

function closeQuietly(source: { close(): void }): void {
  try {
    source.close();
  } catch {
    /* a failing device may fail to close too */
  }
}
