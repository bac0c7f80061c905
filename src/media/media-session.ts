// The media of one call: a clocked send path (source -> encoder -> RTP, DTMF
// events), a clocked receive path (RTP -> adaptive playout buffer ->
// decoder/concealment -> sink), RTCP reports both ways, and the controls a
// call needs while it runs (mute, hold, DTMF, playing a file, recording,
// switching devices). Transport-agnostic: RTP and RTCP go out through `send`
// (RTP and RTCP multiplexed on one transport, RFC 5761) and come in through
// receiveRtp/receiveRtcp from a transport that has told them apart (or
// `receive`, which does that itself, for a harness without one), so ICE,
// DTLS-SRTP or a test harness can sit underneath.
import type { CodecDescriptor, EncoderOptions } from "./codecs/codec.js";
import type { AudioSource } from "./sources/source.js";
import type { AudioSink } from "./sinks/sink.js";
import { SilenceSource } from "./sources/silence-source.js";
import { LiveSource } from "./sources/live-source.js";
import { NullSink } from "./sinks/null-sink.js";
import { StreamSink } from "./sinks/stream-sink.js";
import { Playback, Recorder } from "./call-files.js";
import { ReceivePath } from "./receive-path.js";
import { PlayMode, SendPath } from "./send-path.js";
import { DtmfReceiver } from "./dtmf-receiver.js";
import { summarizeMediaStats, type MediaStats } from "./media-stats.js";
import { isRtcpPacket, parseRtp } from "../rtp/rtp-packet.js";
import { ReceiverStats } from "../rtp/receiver-stats.js";
import { RtcpSession } from "../rtp/rtcp-session.js";
import type { FrameClock } from "../util/frame-clock.js";
import type { Logger } from "../util/logger.js";
import { TypedEmitter } from "../util/events.js";
import { JingledError, errorMessage } from "../util/errors.js";

export type { MediaStats } from "./media-stats.js";

/** The media frame, ms, unless the packets are shorter. */
export const FRAME_MS = 20;
/** A frame's tick this much later than a frame after the one before is late: counted in the statistics. */
export const LATE_TICK_SLACK_MS = 10;

/**
 * The media frame of a call: 10 ms when it sends 10 ms packets (the peer
 * asked for them: XEP-0167 ptime, RFC 4566 §6 a=ptime), so each packet goes
 * out as soon as its audio is read and playout runs at the same step; 20 ms
 * otherwise (longer packets are built from 20 ms frames).
 */
export function mediaFrameMs(ptimeMs: number | undefined): number {
  return ptimeMs === 10 ? 10 : FRAME_MS;
}

/** What happens when a device (source or sink) fails mid-call. */
export const DeviceErrorAction = {
  /** carry on: silence instead of the source, nowhere instead of the sink */
  Silence: "silence",
  /** the call should end (failed-application); the session itself carries on with silence until stopped */
  End: "end",
} as const;
export type DeviceErrorAction = (typeof DeviceErrorAction)[keyof typeof DeviceErrorAction];

export interface MediaSessionOptions {
  codec: CodecDescriptor;
  /** Payload type negotiated for the codec (the offerer's number). */
  payloadType: number;
  source: AudioSource;
  sink: AudioSink;
  clock: FrameClock;
  /** Sends one RTP or RTCP packet. */
  send: (packet: Buffer) => void;
  /** Initial playout delay in media frames (jitter.initialMs wins when given). */
  jitterFrames: number;
  logger: Logger;
  /** The negotiated telephone-event payload type (RFC 4733); DTMF is unavailable without it. */
  telephoneEvent?: { payloadType: number; clockRate: number };
  /** Audio per packet we send (the peer's ptime); 20 ms by default. */
  ptimeMs?: number;
  /** Encoder settings (Opus: bitrate, complexity, FEC, DTX). */
  encoder?: Omit<EncoderOptions, "ptimeMs">;
  /** Adaptive playout buffer bounds. */
  jitter?: { initialMs?: number; minMs?: number; maxMs?: number };
  /** RTCP report interval (RFC 3550 §6.2 minimum 5 s) and CNAME; false: no RTCP. */
  rtcp?: { intervalMs?: number; cname?: string } | false;
  /** DTMF tone and pause lengths, ms. */
  dtmf?: { toneMs?: number; gapMs?: number };
  onDeviceError?: DeviceErrorAction;
  /** Monotonic clock, ms (performance.now by default). */
  now?: () => number;
  /** Wall clock, ms since 1970 (Date.now by default), for RTCP NTP timestamps. */
  wallClock?: () => number;
  /** 0..1, for the RTCP interval randomisation (Math.random by default; tests seed it). */
  random?: () => number;
}

/** Per-daemon media settings (from the configuration), for whoever builds sessions. */
export interface MediaPreferences {
  jitter?: { initialMs?: number; minMs?: number; maxMs?: number };
  encoder?: Omit<EncoderOptions, "ptimeMs">;
  /** ptime we ask the peer for (and send when it asks for none) */
  ptimeMs?: number;
  dtmf?: { toneMs?: number; gapMs?: number };
  onDeviceError?: DeviceErrorAction;
  rtcpIntervalMs?: number;
}


export type MediaSessionEvents = {
  /** A digit the peer sent (RFC 4733). */
  dtmf: [info: { digit: string; durationMs: number }];
  /** A file given to play() ended: played out, stopped by stop()/another play(), or unreadable. */
  playbackEnded: [info: { path: string; reason: "finished" | "stopped" | "replaced" }];
  /** A source or sink failed; `action` says what the session did about it. */
  deviceError: [info: { device: "source" | "sink"; message: string; action: DeviceErrorAction }];
  /** The first frame from the peer was decoded. */
  firstAudio: [];
  /** An RTCP report was sent or received (about every 5 s): fresh statistics. */
  report: [stats: MediaStats];
  /** The peer sent RTCP BYE (RFC 3550 §6.6). */
  bye: [info: { reason?: string }];
};

export class MediaSession extends TypedEmitter<MediaSessionEvents> {
  readonly #o: MediaSessionOptions;
  readonly #log: Logger;
  readonly #send: SendPath;
  readonly #recv: ReceivePath;
  readonly #rxStats: ReceiverStats;
  readonly #rtcp: RtcpSession | undefined;
  readonly #dtmfRx: DtmfReceiver | undefined;
  readonly #now: () => number;
  readonly #wall: () => number;
  #sink: AudioSink;
  #unsubscribe: (() => void) | undefined;
  #remoteSsrc: number | undefined;
  #stopped = false;
  /** On hold (either side's, XEP-0167 §7.2): what stopped. */
  #hold = { send: false, receive: false };
  #firstReceived = false;
  readonly #playback: Playback;
  readonly #recorder: Recorder;
  readonly #s = { packetsReceived: 0, bytesReceived: 0, bytesSent: 0, packetsDiscarded: 0, framesPlayed: 0 };
  #lastTick: number | undefined;
  /** Media frames ticked (send side). */
  #ticks = 0;
  /** Clock ticks seen; a frame is every #steps of them. */
  #clockTicks = 0;
  /** The clock tick within a frame (0..#steps-1) at which the receive side plays: where its playout started. */
  #recvPhase = 0;
  #maxTickGap = 0;
  #lateTicks = 0;
  /** The media frame, ms (mediaFrameMs), and clock ticks per frame. */
  readonly frameMs: number;
  readonly #steps: number;

  constructor(opts: MediaSessionOptions) {
    super();
    this.#o = opts;
    this.#log = opts.logger;
    this.#now = opts.now ?? (() => performance.now());
    this.#wall = opts.wallClock ?? (() => Date.now());
    this.#sink = opts.sink;
    // A clock coarser than the frame (a 20 ms clock, 10 ms packets): 20 ms frames, two packets each.
    const period = opts.clock.periodMs ?? FRAME_MS;
    const wanted = mediaFrameMs(opts.ptimeMs);
    this.frameMs = wanted >= period ? wanted : FRAME_MS;
    this.#steps = Math.max(1, Math.round(this.frameMs / period));
    this.#send = new SendPath({
      codec: opts.codec,
      payloadType: opts.payloadType,
      source: opts.source,
      frameMs: this.frameMs,
      ...(opts.ptimeMs !== undefined ? { ptimeMs: opts.ptimeMs } : {}),
      ...(opts.encoder ? { encoder: opts.encoder } : {}),
      ...(opts.telephoneEvent ? { telephoneEvent: opts.telephoneEvent } : {}),
      ...(opts.dtmf ? { dtmf: opts.dtmf } : {}),
    });
    const decoder = opts.codec.createDecoder();
    this.#recv = new ReceivePath({
      codec: opts.codec,
      decoder,
      frameMs: this.frameMs,
      jitter: {
        initialDelayMs: opts.jitter?.initialMs ?? opts.jitterFrames * this.frameMs,
        ...(opts.jitter?.minMs !== undefined ? { minDelayMs: opts.jitter.minMs } : {}),
        ...(opts.jitter?.maxMs !== undefined ? { maxDelayMs: opts.jitter.maxMs } : {}),
      },
    });
    this.#decoderClose = () => decoder.close();
    this.#codecBackend = decoder.backend;
    this.#rxStats = new ReceiverStats(opts.codec.clockRate);
    this.#rtcp =
      opts.rtcp === false
        ? undefined
        : new RtcpSession({
            localSsrc: this.#send.packetizer.ssrc,
            clockRate: opts.codec.clockRate,
            ...(opts.rtcp?.intervalMs !== undefined ? { intervalMs: opts.rtcp.intervalMs } : {}),
            ...(opts.rtcp?.cname !== undefined ? { cname: opts.rtcp.cname } : {}),
            ...(opts.random ? { random: opts.random } : {}),
          });
    this.#dtmfRx = opts.telephoneEvent ? new DtmfReceiver({ clockRate: opts.telephoneEvent.clockRate }) : undefined;
    this.#playback = new Playback(this.#send, opts.codec.pcmRate, (info) => this.emit("playbackEnded", info));
    this.#recorder = new Recorder(opts.codec.pcmRate);
    this.#watchSource(opts.source);
    this.#watchSink(opts.sink);
  }

  readonly #decoderClose: () => void;
  readonly #codecBackend: string | undefined;

  start(): void {
    if (this.#unsubscribe || this.#stopped) return;
    this.#unsubscribe = this.#o.clock.subscribe(() => this.#tick());
  }

  // ------------------------------------------------------------ controls

  get muted(): boolean {
    return this.#send.muted;
  }

  /** Silence instead of the source (a file being played is silenced too). */
  set muted(v: boolean) {
    this.#send.muted = v;
  }

  setMuted(on: boolean): void {
    this.#send.muted = on;
  }

  get held(): boolean {
    return this.#hold.send && this.#hold.receive;
  }

  /**
   * On hold (XEP-0167 §7.2, ours or the peer's): no RTP goes out or is
   * counted as sent, and the RTP clock runs on (SendPath.idle); what the peer
   * sends is neither played nor counted, and nothing is expected: no loss,
   * no concealment, no underruns, no jitter (ReceivePath.pause,
   * ReceiverStats.pause). RTCP goes on both ways (RFC 3550 §6: the session
   * stays alive). `only: "receive"` stops only what we receive: for the
   * moment between our hold and the peer's acknowledgement, while the peer
   * still sends and must still hear us until it stops listening.
   */
  setHeld(on: boolean, only?: "receive"): void {
    const next = { send: on && only !== "receive", receive: on };
    if (next.receive && !this.#hold.receive) {
      this.#recv.pause();
      this.#rxStats.pause();
    }
    this.#hold = next;
  }

  /** True when DTMF can be sent (a telephone-event payload type was negotiated at the codec's clock rate). */
  get canSendDtmf(): boolean {
    return this.#send.dtmf !== undefined;
  }

  /**
   * Sends digits (0-9, *, #, A-D) as RFC 4733 events on the negotiated
   * telephone-event payload type; resolves when the last digit's end packets
   * are out (or the session stopped). `durationMs` is the tone length per digit.
   */
  sendDtmf(digits: string, durationMs?: number): Promise<void> {
    const dtmf = this.#send.dtmf;
    if (!dtmf) {
      return Promise.reject(new JingledError("not-supported", "DTMF: the peer did not negotiate telephone-event at the codec's clock rate"));
    }
    if (this.#stopped) return Promise.reject(new JingledError("media-stopped", "DTMF: the media session has stopped"));
    // On hold nothing is sent: the digits would wait for the resume.
    if (this.#hold.send) return Promise.reject(new JingledError("invalid-state", "DTMF: the call is on hold"));
    if (durationMs !== undefined && (!(durationMs >= 40) || durationMs > 2000)) {
      return Promise.reject(new RangeError(`DTMF duration must be 40..2000 ms, got ${durationMs}`));
    }
    return new Promise((resolve, reject) => {
      try {
        dtmf.enqueue(digits, () => resolve(), durationMs);
      } catch (err) {
        reject(err);
      }
    });
  }

  /**
   * Plays a WAV file into the call, instead of the source ("replace", the
   * default) or on top of it ("mix"); the call goes on. Resolves when the file
   * has been played out, was replaced by another play(), or the session
   * stopped; rejects when the file cannot be read.
   */
  play(path: string, mode: PlayMode = PlayMode.Replace): Promise<void> {
    if (this.#stopped) return Promise.reject(new JingledError("media-stopped", "play: the media session has stopped"));
    return this.#playback.play(path, mode);
  }

  /** Stops a file being played (play() resolves). */
  stopPlayback(): void {
    this.#playback.end("stopped");
  }

  /**
   * Starts a WAV recording (16-bit mono, the codec's rate) of what we hear.
   * `fd`: the file, already created (media/client-path.ts); the recording owns it.
   */
  startRecording(path: string, fd?: number): void {
    // A recording in progress is the first complaint (Recorder.start), a stopped session the second.
    if (this.#stopped && this.#recorder.path === undefined) throw new JingledError("media-stopped", "record: the media session has stopped");
    this.#recorder.start(path, fd);
  }

  /** Finishes the recording. */
  stopRecording(): Promise<{ path: string; durationMs: number }> {
    return this.#recorder.stop();
  }

  get recordingPath(): string | undefined {
    return this.#recorder.path;
  }

  /** Switches the source from the next frame on; the old one is closed. */
  replaceSource(src: AudioSource): void {
    if (this.#stopped) {
      src.close();
      return;
    }
    this.#watchSource(src);
    const old = this.#send.replaceSource(src);
    if (old !== src) closeQuietly(old);
  }

  /** Switches the sink from the next frame on; resolves when the old one is closed. */
  async replaceSink(sink: AudioSink): Promise<void> {
    if (this.#stopped) {
      await sink.close();
      return;
    }
    this.#watchSink(sink);
    const old = this.#sink;
    this.#sink = sink;
    if (old !== sink) await old.close().catch((err: unknown) => this.#log.debug({ err: errorMessage(err) }, "closing the old sink"));
  }

  // ------------------------------------------------------------ packets

  /** An RTP or RTCP packet, told apart here (RFC 5761 §4): for a harness without a transport. Never throws. */
  receive(packet: Buffer): void {
    if (isRtcpPacket(packet)) this.receiveRtcp(packet);
    else this.receiveRtp(packet);
  }

  /** A plain RTP packet from the transport: its header parsed once, here. Never throws. */
  receiveRtp(packet: Buffer): void {
    if (this.#stopped || this.#hold.receive) return;
    const now = this.#now();
    const rtp = parseRtp(packet);
    const te = this.#o.telephoneEvent;
    if (!rtp || (rtp.payloadType !== this.#o.payloadType && rtp.payloadType !== te?.payloadType)) {
      this.#s.packetsDiscarded++;
      return;
    }
    // Plain RTP has no authentication: lock on to the first SSRC (RFC 3550 §8.2
    // collisions aside, a second source on this port is not our peer).
    if (this.#remoteSsrc === undefined) this.#remoteSsrc = rtp.ssrc;
    else if (rtp.ssrc !== this.#remoteSsrc) {
      this.#s.packetsDiscarded++;
      return;
    }
    if (!this.#rxStats.update(rtp.sequenceNumber, rtp.timestamp, now, rtp.payload.length)) {
      this.#s.packetsDiscarded++; // §A.1 probation after a big sequence jump
      return;
    }
    this.#s.packetsReceived++;
    this.#s.bytesReceived += packet.length;
    if (rtp.payloadType === te?.payloadType) {
      for (const d of this.#dtmfRx!.receive(rtp.timestamp, rtp.payload, now)) this.#emitDtmf(d.digit, d.durationMs);
      return;
    }
    this.#recv.push(rtp.sequenceNumber, rtp.timestamp, rtp.payload, now);
  }

  /** A plain RTCP (compound) packet from the transport. Never throws. */
  receiveRtcp(packet: Buffer): void {
    if (this.#stopped || !this.#rtcp) return;
    if (packet.length < 8) {
      this.#s.packetsDiscarded++;
      return;
    }
    const now = this.#now();
    // Like RTP: once locked on to the peer's SSRC, RTCP sent under another one
    // (the SSRC after the header, RFC 3550 §6.1) is not the peer's: a spoofed BYE or SR.
    if (this.#remoteSsrc !== undefined && packet.readUInt32BE(4) !== this.#remoteSsrc) {
      this.#s.packetsDiscarded++;
      return;
    }
    for (const input of this.#rtcp.receive(packet, now, this.#wall())) {
      if (input.kind === "bye") {
        this.#log.info({ reason: input.reason }, "RTCP BYE from the peer");
        this.emit("bye", input.reason !== undefined ? { reason: input.reason } : {});
      } else if (input.kind === "report") {
        this.emit("report", this.stats());
      }
    }
  }

  /**
   * One clock tick. The send side runs on the first tick of each frame. The
   * receive side runs once per frame too, at the tick within the frame where
   * its playout started: until then it tries at every tick, so the first
   * packet waits for playout at most one clock period beyond the playout
   * buffer's margin, whatever the phase between the peer's clock and ours
   * (the buffer's later changes of the delay are whole frames, so the phase
   * stays). With one tick per frame both run on every tick.
   */
  #tick(): void {
    if (this.#stopped) return;
    const now = this.#now();
    const step = this.#clockTicks++ % this.#steps;
    if (step === 0) this.#sendTick(now);
    if (this.#stopped) return;
    const playing = this.#recv.buffer.started;
    if (!playing || step === this.#recvPhase) {
      this.#receiveTick(now);
      if (!playing && this.#recv.buffer.started) this.#recvPhase = step;
    }
    if (step === 0) {
      if (this.#dtmfRx) for (const d of this.#dtmfRx.tick(now)) this.#emitDtmf(d.digit, d.durationMs);
      // RTCP.
      if (this.#rtcp?.due(now)) {
        this.#transmit(this.#rtcp.buildReport(now, this.#wall(), this.#senderState(), this.#receiverState()));
        this.emit("report", this.stats());
      }
    }
  }

  #sendTick(now: number): void {
    if (this.#lastTick !== undefined) {
      const gap = now - this.#lastTick;
      if (gap > this.#maxTickGap) this.#maxTickGap = gap;
      if (gap >= this.frameMs + LATE_TICK_SLACK_MS) this.#lateTicks++;
      if (gap > 2 * this.frameMs) this.#log.debug({ gapMs: Math.round(gap), frame: this.#ticks }, "media clock stalled");
    }
    this.#ticks++;
    this.#lastTick = now;
    // Wall-clock anchors for latency measurement (scripts/bench/bench-latency.ts): the
    // source is read once per frame from here on.
    if (this.#ticks === 1) this.#log.debug({ wallMs: this.#wall(), ptimeMs: this.#send.ptimeMs, frameMs: this.frameMs }, "first media tick");

    // Send path.
    let packets: Buffer[] = [];
    if (this.#hold.send) this.#send.idle();
    else {
      try {
        packets = this.#send.tick();
      } catch (err) {
        this.#deviceFailed("source", err);
      }
    }
    for (const p of packets) {
      this.#s.bytesSent += p.length;
      this.#transmit(p);
    }
    if (packets.length > 0) this.#rtcp?.rtpSent();
  }

  #receiveTick(now: number): void {
    const frame = this.#hold.receive ? undefined : this.#recv.frame(now);
    this.#logDelayChanges();
    if (frame) {
      this.#s.framesPlayed++;
      try {
        this.#sink.write(frame);
      } catch (err) {
        this.#deviceFailed("sink", err);
      }
      this.#recorder.write(frame);
      if (!this.#firstReceived) {
        this.#firstReceived = true;
        this.#log.debug({ wallMs: this.#wall() }, "first frame played");
        this.emit("firstAudio");
      }
    }
  }

  #adjusts = { expands: 0, merges: 0, resyncs: 0 };

  #logDelayChanges(): void {
    const b = this.#recv.buffer.stats;
    const a = this.#adjusts;
    if (b.expands === a.expands && b.merges === a.merges && b.resyncs === a.resyncs) return;
    const what = b.resyncs !== a.resyncs ? "restart" : b.expands !== a.expands ? "expand" : "merge";
    this.#adjusts = { expands: b.expands, merges: b.merges, resyncs: b.resyncs };
    this.#log.debug({ what, delayMs: b.delayMs, targetMs: b.targetDelayMs, late: b.late }, "playout delay changed");
  }

  /** One RTP or RTCP packet to the transport. */
  #transmit(p: Buffer): void {
    try {
      this.#o.send(p);
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, "send failed");
    }
  }

  #senderState() {
    return {
      rtpTimestamp: this.#send.packetizer.nextTimestamp,
      packetCount: this.#send.packetizer.packetsSent,
      octetCount: this.#send.packetizer.octetsSent,
    };
  }

  #receiverState() {
    return this.#remoteSsrc !== undefined ? { stats: this.#rxStats, remoteSsrc: this.#remoteSsrc } : undefined;
  }

  #emitDtmf(digit: string, durationMs: number): void {
    this.#log.info({ digit, durationMs }, "DTMF received");
    this.emit("dtmf", { digit, durationMs });
  }

  #watchSource(src: AudioSource): void {
    src.onError = (err) => {
      if (this.#send.source === src) this.#deviceFailed("source", err);
    };
    if (src instanceof LiveSource) {
      // A capture that delivers faster than we send (clock drift, a stalled tick) loses its oldest audio, not our latency.
      src.onBacklogTrim = ({ droppedSamples, bufferedSamples }) => {
        const { backlogTrims } = src.stats;
        if (backlogTrims <= 3 || backlogTrims % 100 === 0) {
          const ms = (n: number) => Math.round((n * 1000) / src.sampleRate);
          this.#log.info({ droppedMs: ms(droppedSamples), bufferedMs: ms(bufferedSamples), trims: backlogTrims }, "live input backlog dropped");
        }
      };
    }
  }

  #watchSink(sink: AudioSink): void {
    sink.onError = (err) => {
      if (this.#sink === sink) this.#deviceFailed("sink", err);
    };
  }

  /** A device failed: never a crash; silence/nowhere instead, and the owner decides whether the call goes on. */
  #deviceFailed(device: "source" | "sink", err: unknown): void {
    if (this.#stopped) return;
    const action = this.#o.onDeviceError ?? DeviceErrorAction.Silence;
    const message = errorMessage(err);
    this.#log.warn({ device, err: message, action }, "audio device failed");
    if (device === "source") {
      const old = this.#send.replaceSource(new SilenceSource(this.#o.codec.pcmRate));
      closeQuietly(old);
    } else {
      const old = this.#sink;
      this.#sink = new NullSink(this.#o.codec.pcmRate);
      void old.close().catch(() => undefined);
    }
    this.emit("deviceError", { device, message, action });
  }

  // ------------------------------------------------------------ statistics

  /** What a live input (pipe, ALSA, PulseAudio) lost: backlog dropped to keep latency, overflow, underruns. */
  #inputStats(): { inputDroppedMs?: number; inputUnderruns?: number } {
    const src = this.#send.source;
    if (!(src instanceof LiveSource)) return {};
    const s = src.stats;
    return { inputDroppedMs: Math.round(((s.backlogDropped + s.dropped) * 1000) / src.sampleRate), inputUnderruns: s.underruns };
  }

  stats(): MediaStats {
    return summarizeMediaStats({
      codec: this.#o.codec,
      ...(this.#codecBackend ? { codecBackend: this.#codecBackend } : {}),
      payloadType: this.#o.payloadType,
      ptimeMs: this.#send.ptimeMs,
      frameMs: this.frameMs,
      packetsSent: this.#send.packetizer.packetsSent,
      counters: this.#s,
      receiver: this.#rxStats,
      playout: this.#recv.stats,
      ...(this.#rtcp?.remote ? { remote: this.#rtcp.remote } : {}),
      input: this.#inputStats(),
      output: this.#sink instanceof StreamSink ? { outputDroppedMs: this.#sink.droppedMs } : {},
      dtmfSent: this.#send.dtmf?.sent ?? 0,
      dtmfReceived: this.#dtmfRx?.received ?? 0,
      rtcpSent: this.#rtcp?.reportsSent ?? 0,
      rtcpReceived: this.#rtcp?.packetsReceived ?? 0,
      maxTickGapMs: this.#maxTickGap,
      lateTicks: this.#lateTicks,
      localSsrc: this.#send.packetizer.ssrc,
      ...(this.#remoteSsrc !== undefined ? { remoteSsrc: this.#remoteSsrc } : {}),
    });
  }

  /**
   * Stops the media: RTCP BYE to the peer (unless `bye: false`), pending
   * DTMF and playback end, the recording is finished, source and sink close.
   */
  async stop(opts: { bye?: boolean; reason?: string } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#log.info({ stats: this.stats() }, "media stopped");
    if (this.#rtcp && opts.bye !== false && this.#unsubscribe) {
      this.#transmit(this.#rtcp.buildBye(opts.reason));
    }
    this.#stopped = true;
    this.#unsubscribe?.();
    this.#send.close(); // cancels DTMF: pending sendDtmf() promises resolve
    this.#playback.end("stopped");
    this.#decoderClose();
    closeQuietly(this.#send.source);
    await Promise.allSettled([this.#sink.close(), this.#recorder.close()]);
  }
}

function closeQuietly(src: AudioSource): void {
  try {
    src.close();
  } catch {
    /* a failing device may fail to close too */
  }
}
