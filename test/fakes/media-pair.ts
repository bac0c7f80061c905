// Two media sessions talking through a simulated network, on a virtual
// clock: each tick (20 ms, or the clock period given) first delivers the packets whose (impaired) arrival
// time has come, then runs both sessions' media tick. Impairments: random
// loss, uniform jitter (which also reorders), extra reordering, duplicates.
// Deterministic (seeded), no timers: a 20 s call runs in well under a second.
// No test-framework imports: benchmarks use it too.
import { MediaSession, type MediaSessionOptions } from "../../src/media/media-session.js";
import type { CodecDescriptor } from "../../src/media/codecs/codec.js";
import type { AudioSink } from "../../src/media/sinks/sink.js";
import type { AudioSource } from "../../src/media/sources/source.js";
import type { FrameClock, TickHandler } from "../../src/util/frame-clock.js";
import { silentLogger } from "../../src/util/logger.js";
import { prng } from "../../scripts/lab/audio-compare.js";

export interface Impairment {
  /** probability a packet is dropped, 0..1 */
  loss?: number;
  /** fixed one-way delay, ms */
  baseDelayMs?: number;
  /** extra delay, uniform in [0, jitterMs] (reorders packets sent closer than that) */
  jitterMs?: number;
  /** probability a packet is held back by an extra 1-3 frames */
  reorder?: number;
  /** probability a packet is delivered twice */
  duplicate?: number;
  seed?: number;
}

export interface NetCounters {
  sent: number;
  dropped: number;
  delivered: number;
  duplicated: number;
  reordered: number;
}

/** One direction of the simulated network. */
export class ImpairedLink {
  readonly #imp: Impairment;
  readonly #rnd: () => number;
  #queue: { at: number; seq: number; packet: Buffer }[] = [];
  #n = 0;
  readonly counters: NetCounters = { sent: 0, dropped: 0, delivered: 0, duplicated: 0, reordered: 0 };
  /** Drop only RTP (not RTCP) so loss figures compare with RTP statistics. */
  readonly rtpOnly: boolean;

  constructor(imp: Impairment = {}, opts: { rtpOnly?: boolean } = {}) {
    this.#imp = imp;
    this.#rnd = prng(imp.seed ?? 1);
    this.rtpOnly = opts.rtpOnly ?? true;
  }

  send(packet: Buffer, nowMs: number): void {
    this.counters.sent++;
    const isRtcp = packet.length >= 2 && packet[1]! >= 192 && packet[1]! <= 223;
    const r = this.#rnd;
    if (!(isRtcp && this.rtpOnly) && r() < (this.#imp.loss ?? 0)) {
      this.counters.dropped++;
      return;
    }
    let delay = (this.#imp.baseDelayMs ?? 0) + r() * (this.#imp.jitterMs ?? 0);
    if (r() < (this.#imp.reorder ?? 0)) {
      delay += 20 * (1 + Math.floor(r() * 3));
      this.counters.reordered++;
    }
    this.#queue.push({ at: nowMs + delay, seq: this.#n++, packet });
    if (r() < (this.#imp.duplicate ?? 0)) {
      this.counters.duplicated++;
      this.#queue.push({ at: nowMs + delay + r() * 30, seq: this.#n++, packet });
    }
  }

  /** Packets due by `nowMs`, in arrival order. */
  due(nowMs: number): { at: number; packet: Buffer }[] {
    const ready = this.#queue.filter((q) => q.at <= nowMs).sort((a, b) => a.at - b.at || a.seq - b.seq);
    this.#queue = this.#queue.filter((q) => q.at > nowMs);
    this.counters.delivered += ready.length;
    return ready;
  }
}

/** A frame clock driven by hand, with a virtual time in ms. */
export class VirtualClock implements FrameClock {
  readonly #subs = new Set<TickHandler>();
  #i = 0;
  nowMs = 0;
  /** undefined: a clock that does not say (sessions take it as 20 ms) */
  constructor(readonly periodMs?: number) {}
  subscribe(fn: TickHandler): () => void {
    this.#subs.add(fn);
    return () => this.#subs.delete(fn);
  }
  tick(): void {
    this.#i++;
    for (const fn of [...this.#subs]) fn(this.#i);
  }
}

export interface PairOptions {
  codec: CodecDescriptor;
  payloadType?: number;
  sources: { a: AudioSource; b: AudioSource };
  sinks: { a: AudioSink; b: AudioSink };
  /** a -> b and b -> a impairments */
  impair?: { ab?: Impairment; ba?: Impairment };
  /** the clock's period, ms (default: a clock that does not say, taken as 20 ms) */
  clockPeriodMs?: number;
  /** extra MediaSession options for both */
  session?: Partial<Omit<MediaSessionOptions, "codec" | "source" | "sink" | "clock" | "send" | "logger">>;
}

export interface MediaPair {
  a: MediaSession;
  b: MediaSession;
  clock: VirtualClock;
  links: { ab: ImpairedLink; ba: ImpairedLink };
  /** Run for `ms` of virtual time (whole ticks). */
  run(ms: number): void;
  stop(): Promise<void>;
}

const EPOCH = Date.UTC(2025, 0, 1);

export function createMediaPair(o: PairOptions): MediaPair {
  const clock = new VirtualClock(o.clockPeriodMs);
  const period = o.clockPeriodMs ?? 20;
  const links = { ab: new ImpairedLink(o.impair?.ab), ba: new ImpairedLink(o.impair?.ba) };
  const common = {
    codec: o.codec,
    payloadType: o.payloadType ?? o.codec.defaultPayloadType,
    clock,
    jitterFrames: 2,
    logger: silentLogger(),
    now: () => clock.nowMs,
    wallClock: () => EPOCH + clock.nowMs,
    ...o.session,
  };
  // Seeded RTCP timing too: the impairments draw from their generators per packet, RTCP included.
  const a = new MediaSession({ random: prng(101), ...common, source: o.sources.a, sink: o.sinks.a, send: (p) => links.ab.send(p, clock.nowMs) });
  const b = new MediaSession({ random: prng(202), ...common, source: o.sources.b, sink: o.sinks.b, send: (p) => links.ba.send(p, clock.nowMs) });
  return {
    a,
    b,
    clock,
    links,
    run(ms: number) {
      const end = clock.nowMs + ms;
      while (clock.nowMs < end) {
        const tickAt = clock.nowMs + period;
        // Deliveries at their own arrival times, in order, then the tick.
        const arrivals = [
          ...links.ab.due(tickAt).map((x) => ({ ...x, to: b })),
          ...links.ba.due(tickAt).map((x) => ({ ...x, to: a })),
        ].sort((x, y) => x.at - y.at);
        for (const x of arrivals) {
          clock.nowMs = Math.max(clock.nowMs, x.at);
          x.to.receive(x.packet);
        }
        clock.nowMs = tickAt;
        clock.tick();
      }
    },
    async stop() {
      await a.stop();
      await b.stop();
    },
  };
}

/** A source playing a fixed signal once, then silence. */
export class ArraySource implements AudioSource {
  #pos = 0;
  onEnded?: () => void;
  constructor(
    readonly sampleRate: number,
    private readonly pcm: Int16Array,
  ) {}
  get ended(): boolean {
    return this.#pos >= this.pcm.length;
  }
  read(samples: number): Int16Array {
    const out = new Int16Array(samples);
    out.set(this.pcm.subarray(this.#pos, this.#pos + samples));
    this.#pos += samples;
    return out;
  }
  close(): void {}
}

/** A sink keeping everything written, with the virtual time of each frame. */
export class ArraySink implements AudioSink {
  readonly chunks: Int16Array[] = [];
  closed = false;
  constructor(readonly sampleRate: number) {}
  write(pcm: Int16Array): void {
    this.chunks.push(pcm.slice());
  }
  async close(): Promise<void> {
    this.closed = true;
  }
  all(): Int16Array {
    const n = this.chunks.reduce((acc, c) => acc + c.length, 0);
    const out = new Int16Array(n);
    let off = 0;
    for (const c of this.chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  }
}
