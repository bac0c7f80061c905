// Audio sinks: where the audio we receive goes. write() must not block the
// media tick; close() finishes whatever the sink buffered.
import type { JingledError } from "../../util/errors.js";

export interface AudioSink {
  readonly sampleRate: number;
  write(pcm: Int16Array): void;
  /** Set by the user of the sink: called (at most once) when a device behind it fails. */
  onError?: (err: JingledError) => void;
  close(): Promise<void>;
}

export type SinkSpec =
  | { type: "file"; path: string }
  | { type: "null" }
  /** raw s16le to a FIFO/file, or stdout when path is "-" or unset */
  | { type: "pipe"; path?: string; rate?: number; channels?: number }
  /** ALSA playback (aplay); device as in `aplay -L` */
  | { type: "alsa"; device?: string }
  /** PulseAudio/PipeWire playback (pacat); device is a sink name */
  | { type: "pulse"; device?: string; server?: string };

export type SinkType = SinkSpec["type"];
