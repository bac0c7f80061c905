// Sink registry: one factory per SinkSpec type.
import { NullSink } from "./null-sink.js";
import { createPipeSink } from "./pipe-sink.js";
import { createAlsaSink, createPulseSink } from "./player-sink.js";
import type { AudioSink, SinkSpec, SinkType } from "./sink.js";
import { WavFileSink } from "./wav-file-sink.js";

/** A file sink's file, already created (media/client-path.ts claimWritableFile): the sink owns its descriptor. */
export interface OpenedFile {
  fd: number;
}

type Factory<T extends SinkType> = (spec: Extract<SinkSpec, { type: T }>, sampleRate: number, opened?: OpenedFile) => AudioSink;

const factories: { [T in SinkType]: Factory<T> } = {
  file: (spec, rate, opened) => new WavFileSink(spec.path, rate, opened?.fd),
  null: (_spec, rate) => new NullSink(rate),
  pipe: (spec, rate) => createPipeSink(spec, rate),
  alsa: (spec, rate) => createAlsaSink(spec, rate),
  pulse: (spec, rate) => createPulseSink(spec, rate),
};

/**
 * Opens a sink. Throws (a JingledError naming the sink) when it cannot be
 * opened at all; a device that fails later reports through onError.
 * `opened`: a file sink writes to this descriptor instead of opening the path.
 */
export function createSink(spec: SinkSpec, sampleRate: number, opened?: OpenedFile): AudioSink {
  const factory = factories[spec.type] as Factory<SinkType> | undefined;
  if (!factory) throw new RangeError(`unknown audio sink type: ${String((spec as { type: unknown }).type)}`);
  return factory(spec, sampleRate, opened);
}

export type { AudioSink, SinkSpec, SinkType } from "./sink.js";
export { NullSink } from "./null-sink.js";
export { WavFileSink } from "./wav-file-sink.js";
export { StreamSink } from "./stream-sink.js";
