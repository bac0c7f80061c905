// A continuous sine tone, phase-continuous across reads: a known signal for
// checking a call end to end.
import type { AudioSource } from "./source.js";

export interface ToneOptions {
  /** Hz; 440 by default */
  frequency?: number;
  /** peak level, 0..1 of full scale; 0.25 (-12 dBFS) by default */
  amplitude?: number;
}

export class ToneSource implements AudioSource {
  readonly ended = false;
  onEnded?: () => void;
  readonly frequency: number;
  readonly #peak: number;
  readonly #step: number;
  /** Phase in cycles, kept in [0, 1) so precision does not degrade over hours. */
  #phase = 0;

  constructor(
    readonly sampleRate: number,
    opts: ToneOptions = {},
  ) {
    this.frequency = opts.frequency ?? 440;
    if (!(this.frequency > 0 && this.frequency < sampleRate / 2)) {
      throw new RangeError(`tone frequency must be between 0 and ${sampleRate / 2} Hz, got ${this.frequency}`);
    }
    this.#peak = Math.round(32767 * Math.min(1, Math.max(0, opts.amplitude ?? 0.25)));
    this.#step = this.frequency / sampleRate;
  }

  read(samples: number): Int16Array {
    const out = new Int16Array(samples);
    let phase = this.#phase;
    for (let i = 0; i < samples; i++) {
      out[i] = Math.round(this.#peak * Math.sin(2 * Math.PI * phase));
      phase += this.#step;
      if (phase >= 1) phase -= 1;
    }
    this.#phase = phase;
    return out;
  }

  close(): void {}
}
