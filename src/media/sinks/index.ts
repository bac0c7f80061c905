// Sink registry: one factory per SinkSpec type.
import { NullSink } from "./null-sink.js";
import { createPipeSink } from "./pipe-sink.js";
import { createAlsaSink, createPulseSink } from "./player-sink.js";
import type { AudioSink, SinkSpec, SinkType } from "./sink.js";
import { WavFileSink } from "./wav-file-sink.js";

type Factory<T extends SinkType> = (spec: Extract<SinkSpec, { type: T }>, sampleRate: number) => AudioSink;

const factories: { [T in SinkType]: Factory<T> } = {
  file: (spec, rate) => new WavFileSink(spec.path, rate),
  null: (_spec, rate) => new NullSink(rate),
  pipe: (spec, rate) => createPipeSink(spec, rate),
  alsa: (spec, rate) => createAlsaSink(spec, rate),
  pulse: (spec, rate) => createPulseSink(spec, rate),
};

/**
 * Opens a sink. Throws (a JingledError naming the sink) when it cannot be
 * opened at all; a device that fails later reports through onError.
 */
export function createSink(spec: SinkSpec, sampleRate: number): AudioSink {
  const factory = factories[spec.type] as Factory<SinkType> | undefined;
  if (!factory) throw new RangeError(`unknown audio sink type: ${String((spec as { type: unknown }).type)}`);
  return factory(spec, sampleRate);
}

export type { AudioSink, SinkSpec, SinkType } from "./sink.js";
export { NullSink } from "./null-sink.js";
export { WavFileSink } from "./wav-file-sink.js";
export { StreamSink } from "./stream-sink.js";
