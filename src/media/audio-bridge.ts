// Two calls' audio joined: what one call's peer says is what the other
// call's peer hears, both ways (a gateway forwarding an incoming call). The
// bridge is made of the media layer's own interfaces, so a call needs no
// notion of it: each side gets an AudioSink (its decoded audio goes in) and
// an AudioSource (the other side's audio comes out), and plugs them in as it
// would a file or a sound card.
//
//   call A's decoded audio -> sink A -> resample to B's rate -> LiveSource B -> B's encoder
//   call B's decoded audio -> sink B -> resample to A's rate -> LiveSource A -> A's encoder
//
// Each direction goes through a bounded FIFO (LiveSource: at most `maxMs`,
// backlog beyond a couple of frames trimmed), because the two calls' media
// ticks are not locked to each other: a receive tick of one side may come in
// bursts after a stalled event loop or on another thread. Nothing here blocks
// and nothing grows without bound. Audio written before the other side is
// attached goes nowhere.
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

export interface BridgeStats {
  /** Samples (at the writer's rate) that crossed from a to b and from b to a. */
  aToB: number;
  bToA: number;
  /** Samples written while the other side was not attached (lost). */
  unattached: number;
}

export interface AudioBridgeOptions {
  /** Hard cap of each direction's FIFO, ms (default 200). */
  maxMs?: number;
}

const other = (side: BridgeSide): BridgeSide => (side === "a" ? "b" : "a");

export class AudioBridge {
  readonly #maxMs: number;
  readonly #fifo = new Map<BridgeSide, LiveSource>();
  readonly #stats: BridgeStats = { aToB: 0, bToA: 0, unattached: 0 };
  #closed = false;

  constructor(opts: AudioBridgeOptions = {}) {
    this.#maxMs = opts.maxMs ?? 200;
  }

  get stats(): BridgeStats {
    return { ...this.#stats };
  }

  /** True once both sides are attached. */
  get joined(): boolean {
    return this.#fifo.size === 2;
  }

  /**
   * The end for one side, whose call's audio runs at `sampleRate`. Each side
   * is attached once. Closing either end's source or sink (the call ended or
   * swapped it out) detaches that direction only.
   */
  attach(side: BridgeSide, sampleRate: number): BridgeEnd {
    if (this.#closed) throw new Error("audio bridge: closed");
    if (this.#fifo.has(side)) throw new Error(`audio bridge: side ${side} is already attached`);
    const fifo = new LiveSource(sampleRate, { maxMs: this.#maxMs, onClose: () => this.#fifo.delete(side) });
    this.#fifo.set(side, fifo);
    const counter = side === "a" ? "aToB" : "bToA";
    let resampler: Resampler | undefined;
    let closed = false;
    const sink: AudioSink = {
      sampleRate,
      write: (pcm) => {
        if (closed) return;
        const to = this.#fifo.get(other(side));
        if (!to) {
          this.#stats.unattached += pcm.length;
          return;
        }
        if (!resampler || resampler.outRate !== to.sampleRate) resampler = new Resampler(sampleRate, to.sampleRate);
        to.feed(resampler.process(pcm));
        this.#stats[counter] += pcm.length;
      },
      close: async () => {
        closed = true;
      },
    };
    return { source: fifo, sink };
  }

  /** Detaches both sides: each source gives silence from now on. */
  close(): void {
    this.#closed = true;
    for (const fifo of [...this.#fifo.values()]) fifo.close();
  }
}
