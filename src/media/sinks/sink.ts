// Audio sinks: where the audio we receive goes. write() must not block the
// media tick; close() finishes whatever the sink buffered.

export interface AudioSink {
  readonly sampleRate: number;
  write(pcm: Int16Array): void;
  close(): Promise<void>;
}

export type SinkSpec = { type: "file"; path: string } | { type: "null" };

export type SinkType = SinkSpec["type"];
