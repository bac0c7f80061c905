// One call's part of the media plane, on whichever thread runs it: its ICE
// agent (and so its sockets) and its media path (source, sink, codec,
// transport). What arrives at the agent goes to the media path here, and
// what the media path sends goes to the agent, without leaving the thread.
//
// An exception in this call's media — a clock tick, a datagram, an
// operation posted without a reply — ends this call (`failed`, the call
// then ends with failed-application), never the thread or its other calls.
import type { IceCandidate } from "../../jingle/protocol/index.js";
import type { RestartOptions } from "../../ice/ice-agent.js";
import { openBridgeEnd, type BridgeLink } from "../../media/audio-bridge.js";
import { DelayLine } from "../../media/delay-line.js";
import { findCodecById } from "../../media/codecs/index.js";
import { selectOpusBackend } from "../../media/codecs/opus-backend.js";
import type { SinkSpec } from "../../media/sinks/sink.js";
import type { SourceSpec } from "../../media/sources/source.js";
import { JingledError, errorMessage } from "../../util/errors.js";
import type { FrameClock, TickHandler } from "../../util/frame-clock.js";
import type { Logger } from "../../util/logger.js";
import { MediaPath } from "./media-path.js";
import type { CallParts, PlaneIceAgent } from "./plane-parts.js";
import type { CallMediaStats, IceSetup, MediaSetup, OpenCall, PlaneEvent, PlaneOps, TransportSetup } from "./plane-protocol.js";

export interface PlaneCallOptions {
  open: OpenCall;
  parts: CallParts;
  /** The thread's media clock. */
  clock: FrameClock;
  /** The thread's logger; the call's lines get its bindings (OpenCall.log). */
  logger: Logger;
  /** Where the call's events go (to the main thread, or to the call in-process). */
  emit: (e: PlaneEvent) => void;
}

export class PlaneCall implements PlaneOps {
  readonly #o: PlaneCallOptions;
  readonly #log: Logger;
  readonly #path: MediaPath;
  #agent: PlaneIceAgent | undefined;
  #peer: string;
  #failed = false;
  #stopped = false;
  #iceClosed = false;

  constructor(o: PlaneCallOptions) {
    this.#o = o;
    this.#log = o.open.quiet ? o.logger.child(o.open.log, { level: "silent" }) : o.logger.child(o.open.log);
    this.#peer = "";
    const open = o.open;
    this.#path = new MediaPath({
      callId: open.callId,
      sid: open.sid,
      startedAt: new Date(open.startedAt),
      peer: () => this.#peer,
      input: open.input,
      output: open.output,
      jitterFrames: open.jitterFrames,
      prefs: open.prefs,
      clock: this.#guardedClock(o.clock),
      logger: this.#log,
      parts: o.parts,
    });
    this.#path.on("dtmf", (digit, durationMs) => o.emit({ type: "dtmf", digit, ...(durationMs !== undefined ? { durationMs } : {}) }));
    this.#path.on("file", (kind, file, result, error) => o.emit({ type: "file", kind, file, result, ...(error !== undefined ? { error } : {}) }));
    this.#path.on("deviceFailed", () => o.emit({ type: "deviceFailed" }));
  }

  /** The call's ICE agent, once made. */
  get agent(): PlaneIceAgent | undefined {
    return this.#agent;
  }

  /** The call's output file, when it is one. */
  get recordingPath(): string | undefined {
    return this.#path.recordingPath;
  }

  /** stop() was called. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Media stopped and the agent closed (or never made): nothing of the call is left. */
  get finished(): boolean {
    return this.#stopped && (this.#iceClosed || !this.#agent);
  }

  /** This call's media threw: it is reported once, and the call's ticks and datagrams stop. */
  fail(err: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    const message = errorMessage(err);
    this.#log.error({ err: message, stack: err instanceof Error ? err.stack : undefined }, "media failed");
    this.#o.emit({ type: "failed", message });
  }

  /** The thread's clock, its ticks for this call guarded: an exception fails this call only. */
  #guardedClock(clock: FrameClock): FrameClock {
    return {
      ...(clock.periodMs !== undefined ? { periodMs: clock.periodMs } : {}),
      subscribe: (fn: TickHandler) =>
        clock.subscribe((i) => {
          if (this.#failed) return;
          try {
            fn(i);
          } catch (err) {
            this.fail(err);
          }
        }),
    };
  }

  // ------------------------------------------------------------ ICE

  iceCreate(o: IceSetup): PlaneIceAgent {
    if (this.#agent) throw new JingledError("invalid-state", "the call's ICE agent exists already");
    const agent = this.#o.parts.ice({ ...o, logger: this.#log });
    this.#agent = agent;
    agent.on("data", (d) => {
      if (this.#failed) return;
      try {
        this.#path.receive(d);
      } catch (err) {
        this.fail(err);
      }
    });
    return agent;
  }

  #requireAgent(): PlaneIceAgent {
    if (!this.#agent) throw new JingledError("invalid-state", "the call has no ICE agent");
    return this.#agent;
  }

  iceGather(): Promise<void> {
    return this.#requireAgent().gather();
  }

  iceRemoteParameters(ufrag: string, pwd: string): void {
    this.#requireAgent().setRemoteParameters(ufrag, pwd);
  }

  iceAddCandidate(c: IceCandidate): Promise<boolean> {
    return this.#requireAgent().addRemoteCandidate(c);
  }

  iceRestart(o: RestartOptions): boolean {
    return this.#requireAgent().restart(o);
  }

  async iceClose(): Promise<void> {
    this.#iceClosed = true;
    await this.#agent?.close();
  }

  // ------------------------------------------------------------ media

  async prepare(s: MediaSetup): Promise<{ recordingPath?: string }> {
    const codec = findCodecById(s.codec);
    if (!codec) throw new JingledError("media-error", `unknown codec ${s.codec}`);
    // The implementation the main thread had selected when the call was set up (reload may change it for later calls).
    if (codec.name.toLowerCase() === "opus") selectOpusBackend(s.opusBackend);
    this.#peer = s.peer;
    await this.#path.prepare(codec, s);
    return this.#recording();
  }

  #recording(): { recordingPath?: string } {
    const path = this.#path.recordingPath;
    return path !== undefined ? { recordingPath: path } : {};
  }

  connect(t: TransportSetup): void {
    // A certificate that crossed threads has its DER as a Uint8Array.
    const certificate = t.certificate && { ...t.certificate, der: Buffer.from(t.certificate.der) };
    this.#path.connect({ ...t, certificate, send: (d) => this.#agent?.send(d) });
  }

  startTransport() {
    return this.#path.startTransport();
  }

  setHeld(on: boolean, only?: "receive"): void {
    this.#path.setHeld(on, only);
  }

  setPeerHeld(on: boolean): void {
    this.#path.setPeerHeld(on);
  }

  setMuted(on: boolean): void {
    this.#path.setMuted(on);
  }

  stats(): CallMediaStats | undefined {
    return this.#path.stats();
  }

  sendDtmf(digits: string, durationMs?: number): Promise<void> {
    return this.#path.sendDtmf(digits, durationMs);
  }

  play(file: string): Promise<void> {
    return this.#path.play(file);
  }

  echo(delayMs: number): Promise<void> {
    return this.#path.plugIn("echo", (rate) => {
      const line = new DelayLine(rate, delayMs);
      return { source: line.source(), sink: line.sink() };
    });
  }

  bridge(link: BridgeLink): Promise<void> {
    return this.#path.plugIn("bridge", (rate) => openBridgeEnd(link, rate));
  }

  setInput(spec: SourceSpec): void {
    this.#path.setInput(spec);
  }

  async setOutput(spec: SinkSpec, opts?: { overwrite?: boolean }): Promise<{ recordingPath?: string }> {
    await this.#path.setOutput(spec, opts);
    return this.#recording();
  }

  startRecording(template: string, opts?: { overwrite?: boolean }): Promise<string> {
    return this.#path.startRecording(template, opts);
  }

  stopRecording(): Promise<string> {
    return this.#path.stopRecording();
  }

  async stop(): Promise<CallMediaStats | undefined> {
    this.#stopped = true;
    await this.#path.stop();
    return this.#path.stats();
  }
}
