// A call's media on this thread (media.threads: 0, and unit tests of a
// call): the PlaneCall a media thread would run, called directly. The call
// gets the ICE agent itself as its IcePort.
import type { IceAgentOptions } from "../../ice/ice-agent.js";
import type { SinkSpec } from "../../media/sinks/sink.js";
import type { BridgeLink } from "../../media/audio-bridge.js";
import type { SourceSpec } from "../../media/sources/source.js";
import { TypedEmitter } from "../../util/events.js";
import type { FrameClock } from "../../util/frame-clock.js";
import type { Logger } from "../../util/logger.js";
import type { CallMedia, CallMediaEvents } from "./call-media.js";
import { PlaneCall } from "./plane-call.js";
import type { CallParts, IcePort } from "./plane-parts.js";
import type { CallMediaStats, MediaSetup, OpenCall, PlaneEvent, TransportSetup } from "./plane-protocol.js";

export class LocalCallMedia extends TypedEmitter<CallMediaEvents> implements CallMedia {
  readonly #call: PlaneCall;
  #prepared = false;
  #connected = false;
  #starting = false;
  #held = false;
  #muted = false;
  #finalStats: CallMediaStats | undefined;

  constructor(o: { open: OpenCall; parts: CallParts; clock: FrameClock; logger: Logger }) {
    super();
    this.#call = new PlaneCall({ ...o, emit: (e) => this.#event(e) });
  }

  #event(e: PlaneEvent): void {
    switch (e.type) {
      case "dtmf":
        this.emit("dtmf", e.digit, e.durationMs);
        return;
      case "file":
        this.emit("file", e.kind, e.file, e.result, e.error);
        return;
      case "deviceFailed":
        this.emit("deviceFailed");
        return;
      case "failed":
        this.emit("failed", e.message);
        return;
      default:
      // ICE events: the call listens to the agent itself.
    }
  }

  ice(o: IceAgentOptions): IcePort {
    const { logger: _logger, ...setup } = o;
    return this.#call.iceCreate(setup);
  }

  get prepared(): boolean {
    return this.#prepared;
  }
  get connected(): boolean {
    return this.#connected;
  }
  get starting(): boolean {
    return this.#starting;
  }
  get held(): boolean {
    return this.#held;
  }
  get muted(): boolean {
    return this.#muted;
  }
  get recordingPath(): string | undefined {
    return this.#call.recordingPath;
  }

  async prepare(s: MediaSetup): Promise<void> {
    if (this.#prepared) return;
    await this.#call.prepare(s);
    this.#prepared = true;
  }

  connect(t: TransportSetup): void {
    if (this.#connected) return;
    this.#connected = true;
    this.#call.connect(t);
  }

  startTransport() {
    this.#starting = true;
    return this.#call.startTransport();
  }

  setHeld(on: boolean, only?: "receive"): void {
    this.#held = on;
    this.#call.setHeld(on, only);
  }

  setPeerHeld(on: boolean): void {
    this.#call.setPeerHeld(on);
  }

  setMuted(on: boolean): void {
    this.#muted = on;
    this.#call.setMuted(on);
  }

  stats(): CallMediaStats | undefined {
    return this.#finalStats ?? this.#call.stats();
  }

  async freshStats(): Promise<CallMediaStats | undefined> {
    return this.stats();
  }

  async sendDtmf(digits: string, durationMs?: number): Promise<void> {
    return this.#call.sendDtmf(digits, durationMs);
  }

  async play(file: string): Promise<void> {
    return this.#call.play(file);
  }

  echo(delayMs: number): Promise<void> {
    return this.#call.echo(delayMs);
  }

  bridge(link: BridgeLink): Promise<void> {
    return this.#call.bridge(link);
  }

  async setInput(spec: SourceSpec): Promise<void> {
    this.#call.setInput(spec);
  }

  async setOutput(spec: SinkSpec, opts?: { overwrite?: boolean }): Promise<void> {
    await this.#call.setOutput(spec, opts);
  }

  startRecording(template: string, opts?: { overwrite?: boolean }): Promise<string> {
    return this.#call.startRecording(template, opts);
  }

  stopRecording(): Promise<string> {
    return this.#call.stopRecording();
  }

  async stop(): Promise<void> {
    this.#finalStats = await this.#call.stop();
  }
}
