// Source registry: one factory per SourceSpec type.
import { createAlsaSource } from "./alsa-source.js";
import { createPipeSource } from "./pipe-source.js";
import { createPulseSource } from "./pulse-source.js";
import { SilenceSource } from "./silence-source.js";
import type { AudioSource, SourceSpec, SourceType } from "./source.js";
import { ToneSource } from "./tone-source.js";
import { WavFileSource } from "./wav-file-source.js";

type Factory<T extends SourceType> = (spec: Extract<SourceSpec, { type: T }>, sampleRate: number) => AudioSource;

const factories: { [T in SourceType]: Factory<T> } = {
  file: (spec, rate) => new WavFileSource(spec.path, rate, { loop: spec.loop ?? false }),
  tone: (spec, rate) => new ToneSource(rate, spec.frequency !== undefined ? { frequency: spec.frequency } : {}),
  silence: (_spec, rate) => new SilenceSource(rate),
  pipe: (spec, rate) => createPipeSource(spec, rate),
  alsa: (spec, rate) => createAlsaSource(spec, rate),
  pulse: (spec, rate) => createPulseSource(spec, rate),
};

/**
 * Opens a source. Throws (a JingledError naming the source) when it cannot
 * be opened at all; a device that fails later reports through onError.
 */
export function createSource(spec: SourceSpec, sampleRate: number): AudioSource {
  const factory = factories[spec.type] as Factory<SourceType> | undefined;
  if (!factory) throw new RangeError(`unknown audio source type: ${String((spec as { type: unknown }).type)}`);
  return factory(spec, sampleRate);
}

export type { AudioSource, SourceSpec, SourceType } from "./source.js";
export { SilenceSource } from "./silence-source.js";
export { ToneSource } from "./tone-source.js";
export { WavFileSource } from "./wav-file-source.js";
export { LiveSource } from "./live-source.js";
