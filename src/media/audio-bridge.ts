// Two calls' audio joined: what one call's peer says is what the other
// call's peer hears, both ways (a gateway forwarding an incoming call). The
// bridge is made of the media layer's own interfaces, so a call needs no
// notion of it: each side gets an AudioSink (its decoded audio goes in) and
// an AudioSource (the other side's audio comes out), and plugs them in as it
// would a file or a sound card.
//
//   call A's decoded audio -> sink A -> ring a->b -> resample to B's rate -> source B -> B's encoder
//   call B's decoded audio -> sink B -> ring b->a -> resample to A's rate -> source A -> A's encoder
//
// The two calls may run on different media threads (app/media-plane/), so
// each direction is a single-producer single-consumer ring in a
// SharedArrayBuffer: the bridge (made on the main thread) hands each side a
// BridgeLink, which crosses to that call's thread as part of an operation
// (structured clone shares, not copies, the memory); no message is sent per
// frame. The writer puts samples at its own rate (written in the ring's
// header) and never blocks: what does not fit in `maxMs` is dropped. The
// reader drains the ring into a bounded FIFO at its rate (LiveSource:
// backlog beyond a couple of frames trimmed), because the two calls' media
// ticks are not locked to each other. Audio written while the other side is
// not attached goes nowhere.
import { Resampler } from "./resampler.js";
import { LiveSource } from "./sources/live-source.js";
import type { AudioSink } from "./sinks/sink.js";
import type { AudioSource } from "./sources/source.js";

export const BridgeSide = { A: "a", B: "b" } as const;
export type BridgeSide = (typeof BridgeSide)[keyof typeof BridgeSide];

export interface BridgeEnd {
  /** What this side's call sends: the other side's audio. */
  source: AudioSource;
  /** Where this side's call puts what it receives. */
  sink: AudioSink;
}

/** One side's view of the bridge: the ring it reads and the ring it writes. Crosses threads. */
export interface BridgeLink {
  rx: SharedArrayBuffer;
  tx: SharedArrayBuffer;
  maxMs: number;
}

export interface BridgeStats {
  /** Samples (at the writer's rate) that crossed from a to b and from b to a. */
  aToB: number;
  bToA: number;
  /** Samples written while the other side was not attached (lost). */
  unattached: number;
}

export interface AudioBridgeOptions {
  /** Hard cap of each direction's buffering, ms (default 200). */
  maxMs?: number;
}

// The ring's header, Int32 slots; positions are free-running int32 counters (wrap-safe: differences only).
const WRITE = 0;
const READ = 1;
/** The reader is attached (1) or not (0). */
const READER = 2;
const CLOSED = 3;
/** The writer's sample rate (0: no writer yet). */
const RATE = 4;
const CROSSED = 5;
const UNATTACHED = 6;
const HEADER_SLOTS = 8;
/** Samples per ring: enough for 48 kHz up to the longest maxMs allowed, a power of two (index = position & mask). */
const RING_SAMPLES = 1 << 15;
const MAX_MS = Math.floor((RING_SAMPLES * 1000) / 48000);

function newRing(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_SLOTS * 4 + RING_SAMPLES * 2);
}

class Ring {
  readonly head: Int32Array;
  readonly data: Int16Array;
  constructor(sab: SharedArrayBuffer) {
    this.head = new Int32Array(sab, 0, HEADER_SLOTS);
    this.data = new Int16Array(sab, HEADER_SLOTS * 4, RING_SAMPLES);
  }
  get used(): number {
    return (Atomics.load(this.head, WRITE) - Atomics.load(this.head, READ)) | 0;
  }
  get closed(): boolean {
    return Atomics.load(this.head, CLOSED) === 1;
  }
}

/** Writes `pcm` into the ring, at most `limit` samples held; returns the samples that fit. */
function put(ring: Ring, pcm: Int16Array, limit: number): number {
  const w = Atomics.load(ring.head, WRITE);
  const n = Math.min(pcm.length, Math.max(0, limit - ring.used));
  const mask = RING_SAMPLES - 1;
  const at = w & mask;
  const first = Math.min(n, RING_SAMPLES - at);
  ring.data.set(pcm.subarray(0, first), at);
  if (n > first) ring.data.set(pcm.subarray(first, n), 0);
  Atomics.store(ring.head, WRITE, (w + n) | 0);
  return n;
}

/** Everything in the ring, removed from it. */
function take(ring: Ring): Int16Array {
  const r = Atomics.load(ring.head, READ);
  const n = ring.used;
  if (n <= 0) return new Int16Array(0);
  const out = new Int16Array(n);
  const at = r & (RING_SAMPLES - 1);
  const first = Math.min(n, RING_SAMPLES - at);
  out.set(ring.data.subarray(at, at + first), 0);
  if (n > first) out.set(ring.data.subarray(0, n - first), first);
  Atomics.store(ring.head, READ, (r + n) | 0);
  return out;
}

/**
 * The end of a bridge for a call whose audio runs at `sampleRate`, on
 * whichever thread runs that call. Closing the source detaches this side as
 * a reader (what the other side writes is then dropped and counted).
 */
export function openBridgeEnd(link: BridgeLink, sampleRate: number): BridgeEnd {
  const rx = new Ring(link.rx);
  const tx = new Ring(link.tx);
  if (rx.closed || tx.closed) throw new Error("audio bridge: closed");
  const limit = Math.round((sampleRate * link.maxMs) / 1000);
  Atomics.store(tx.head, RATE, sampleRate);
  Atomics.store(rx.head, READ, Atomics.load(rx.head, WRITE)); // nothing from before we were here
  Atomics.store(rx.head, READER, 1);
  const fifo = new LiveSource(sampleRate, { maxMs: link.maxMs });
  let resampler: Resampler | undefined;
  let sourceClosed = false;
  let sinkClosed = false;
  const source: AudioSource & { readonly buffered: number } = {
    sampleRate,
    get ended() {
      return false;
    },
    get buffered() {
      return fifo.buffered + rx.used;
    },
    read(samples: number): Int16Array {
      if (sourceClosed || rx.closed) return new Int16Array(samples);
      const pcm = take(rx);
      const rate = Atomics.load(rx.head, RATE);
      if (pcm.length > 0 && rate > 0) {
        if (!resampler || resampler.inRate !== rate) resampler = new Resampler(rate, sampleRate);
        fifo.feed(rate === sampleRate ? pcm : resampler.process(pcm));
      }
      return fifo.read(samples);
    },
    close(): void {
      if (sourceClosed) return;
      sourceClosed = true;
      Atomics.store(rx.head, READER, 0);
      fifo.close();
    },
  };
  const sink: AudioSink = {
    sampleRate,
    write(pcm: Int16Array): void {
      if (sinkClosed || tx.closed || pcm.length === 0) return;
      if (Atomics.load(tx.head, READER) !== 1) {
        Atomics.add(tx.head, UNATTACHED, pcm.length);
        return;
      }
      Atomics.add(tx.head, CROSSED, put(tx, pcm, limit));
    },
    async close(): Promise<void> {
      sinkClosed = true;
    },
  };
  return { source, sink };
}

/** Made where the calls are joined (the main thread); each side's link goes to that call's media. */
export class AudioBridge {
  readonly #maxMs: number;
  /** a -> b and b -> a. */
  readonly #ab = newRing();
  readonly #ba = newRing();

  constructor(opts: AudioBridgeOptions = {}) {
    this.#maxMs = Math.min(opts.maxMs ?? 200, MAX_MS);
  }

  /** The shared memory for one side: it reads what the other side writes. */
  link(side: BridgeSide): BridgeLink {
    return side === "a" ? { rx: this.#ba, tx: this.#ab, maxMs: this.#maxMs } : { rx: this.#ab, tx: this.#ba, maxMs: this.#maxMs };
  }

  get stats(): BridgeStats {
    const ab = new Ring(this.#ab).head;
    const ba = new Ring(this.#ba).head;
    return {
      aToB: Atomics.load(ab, CROSSED),
      bToA: Atomics.load(ba, CROSSED),
      unattached: Atomics.load(ab, UNATTACHED) + Atomics.load(ba, UNATTACHED),
    };
  }

  /** True while both sides read. */
  get joined(): boolean {
    return [this.#ab, this.#ba].every((sab) => Atomics.load(new Ring(sab).head, READER) === 1);
  }

  /** Both sides give silence from now on, and what they write is dropped. */
  close(): void {
    for (const sab of [this.#ab, this.#ba]) Atomics.store(new Ring(sab).head, CLOSED, 1);
  }
}
