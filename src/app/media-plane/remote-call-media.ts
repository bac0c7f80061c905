// A call's media on a media thread, as the call sees it: each operation goes
// to the call's PlaneCall there (./plane-call.ts) through the thread's link,
// in order; what the call reads at once (prepared, connected, held, muted,
// the output file) is kept here, the figures as the thread last sent them.
// Nothing is sent to a thread until the call first needs its media, and the
// thread is chosen then.
import type { Encryption } from "../../control/protocol.js";
import type { IceAgentOptions } from "../../ice/ice-agent.js";
import { newLocalCredentials } from "../../ice/stun-auth.js";
import type { SinkSpec } from "../../media/sinks/sink.js";
import type { BridgeLink } from "../../media/audio-bridge.js";
import type { SourceSpec } from "../../media/sources/source.js";
import { JingledError } from "../../util/errors.js";
import { TypedEmitter } from "../../util/events.js";
import type { CallMedia, CallMediaEvents } from "./call-media.js";
import type { IcePort } from "./plane-parts.js";
import type { PlaneLink } from "./plane-link.js";
import type { CallMediaStats, MediaSetup, OpName, OpResult, OpenCall, PlaneEvent, PlaneOps, TransportSetup } from "./plane-protocol.js";
import { RemoteIcePort } from "./remote-ice-port.js";

export class RemoteCallMedia extends TypedEmitter<CallMediaEvents> implements CallMedia {
  readonly #open: OpenCall;
  readonly #attach: () => PlaneLink;
  #link: PlaneLink | undefined;
  #ice: RemoteIcePort | undefined;
  #preparing: Promise<void> | undefined;
  #prepared = false;
  #connected = false;
  #starting = false;
  #held = false;
  #muted = false;
  #recordingPath: string | undefined;
  #stats: { at: number; value: CallMediaStats | undefined } | undefined;
  #fetching: Promise<CallMediaStats | undefined> | undefined;
  #stopped = false;
  #iceClosed = false;
  #failed = false;

  /** `attach` chooses the call's thread, at its first operation. */
  constructor(o: { open: OpenCall; attach: () => PlaneLink }) {
    super();
    this.#open = o.open;
    this.#attach = o.attach;
  }

  #linked(): PlaneLink {
    if (!this.#link) {
      this.#link = this.#attach();
      this.#link.open(this.#open.callId, this.#open, {
        event: (e) => this.#event(e),
        stats: (s) => {
          if (!this.#stopped) this.#stats = { at: performance.now(), value: s };
        },
      });
    }
    return this.#link;
  }

  #request<K extends OpName>(op: K, ...args: Parameters<PlaneOps[K]>): Promise<OpResult<K>> {
    return this.#linked().request(this.#open.callId, op, args);
  }

  #post<K extends OpName>(op: K, ...args: Parameters<PlaneOps[K]>): void {
    this.#linked().post(this.#open.callId, op, args);
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
        if (this.#failed) return;
        this.#failed = true;
        this.emit("failed", e.message);
        return;
      default:
        this.#ice?.event(e);
    }
  }

  ice(o: IceAgentOptions): IcePort {
    if (this.#ice) throw new JingledError("invalid-state", "the call's ICE agent exists already");
    const { logger: _logger, localCredentials = newLocalCredentials(), ...setup } = o;
    this.#ice = new RemoteIcePort({
      request: (op, ...args) => this.#request(op, ...args),
      post: (op, ...args) => this.#post(op, ...args),
      localCredentials,
      onClosed: () => {
        this.#iceClosed = true;
        this.#release();
      },
    });
    this.#post("iceCreate", { ...setup, localCredentials });
    return this.#ice;
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
    return this.#recordingPath;
  }

  prepare(s: MediaSetup): Promise<void> {
    this.#preparing ??= this.#request("prepare", s).then(
      (r) => {
        this.#prepared = true;
        this.#recordingPath = r.recordingPath;
      },
      (err: unknown) => {
        this.#preparing = undefined;
        throw err;
      },
    );
    return this.#preparing;
  }

  connect(t: TransportSetup): void {
    if (this.#connected) return;
    this.#connected = true;
    this.#post("connect", t);
  }

  startTransport(): Promise<{ encryption: Encryption; profile?: string }> {
    this.#starting = true;
    return this.#request("startTransport");
  }

  setHeld(on: boolean, only?: "receive"): void {
    this.#held = on;
    if (only) this.#post("setHeld", on, only);
    else this.#post("setHeld", on);
  }

  setPeerHeld(on: boolean): void {
    this.#post("setPeerHeld", on);
  }

  setMuted(on: boolean): void {
    this.#muted = on;
    this.#post("setMuted", on);
  }

  stats(): CallMediaStats | undefined {
    return this.#stats?.value;
  }

  freshStats(maxAgeMs = 0): Promise<CallMediaStats | undefined> {
    const s = this.#stats;
    if (this.#stopped || !this.#link || this.#link.dead || (s && performance.now() - s.at <= maxAgeMs)) return Promise.resolve(s?.value);
    this.#fetching ??= this.#request("stats").then(
      (value) => {
        this.#fetching = undefined;
        if (!this.#stopped) this.#stats = { at: performance.now(), value };
        return this.#stats?.value;
      },
      () => {
        this.#fetching = undefined;
        return this.#stats?.value;
      },
    );
    return this.#fetching;
  }

  sendDtmf(digits: string, durationMs?: number): Promise<void> {
    return durationMs !== undefined ? this.#request("sendDtmf", digits, durationMs) : this.#request("sendDtmf", digits);
  }

  play(file: string): Promise<void> {
    return this.#request("play", file);
  }

  echo(delayMs: number): Promise<void> {
    return this.#request("echo", delayMs);
  }

  bridge(link: BridgeLink): Promise<void> {
    return this.#request("bridge", link);
  }

  setInput(spec: SourceSpec): Promise<void> {
    return this.#request("setInput", spec);
  }

  async setOutput(spec: SinkSpec, opts?: { overwrite?: boolean }): Promise<void> {
    const r = await (opts ? this.#request("setOutput", spec, opts) : this.#request("setOutput", spec));
    this.#recordingPath = r.recordingPath;
  }

  startRecording(template: string, opts?: { overwrite?: boolean }): Promise<string> {
    return opts ? this.#request("startRecording", template, opts) : this.#request("startRecording", template);
  }

  stopRecording(): Promise<string> {
    return this.#request("stopRecording");
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    if (!this.#link) {
      this.#stopped = true;
      return;
    }
    const final = await this.#request("stop").catch(() => this.#stats?.value);
    this.#stopped = true;
    this.#stats = { at: performance.now(), value: final };
    this.#release();
  }

  /** The call's media stopped and its agent closed (or never made): the thread forgets it. */
  #release(): void {
    if (this.#stopped && (this.#iceClosed || !this.#ice)) this.#link?.release(this.#open.callId);
  }
}
