// Audio sources: where the audio we send comes from. The media pipeline pulls
// one frame per tick, so a source never blocks and never runs short.
import type { JingledError } from "../../util/errors.js";

export interface AudioSource {
  readonly sampleRate: number;
  /** always returns exactly `samples` samples; silence after the end */
  read(samples: number): Int16Array;
  readonly ended: boolean;
  /** called once, from within read(), when the source runs out */
  onEnded?: () => void;
  /**
   * Set by the user of the source: called (at most once, any time) when a
   * device behind it fails. The source then only gives silence.
   */
  onError?: (err: JingledError) => void;
  close(): void;
}

/** How a source is chosen, in configuration and control commands. */
export type SourceSpec =
  | { type: "file"; path: string; loop?: boolean }
  | { type: "tone"; frequency?: number }
  | { type: "silence" }
  /** raw s16le from a FIFO/file, or stdin when path is "-" or unset */
  | { type: "pipe"; path?: string; rate?: number; channels?: number }
  /** ALSA capture (arecord); device as in `arecord -L` */
  | { type: "alsa"; device?: string }
  /** PulseAudio/PipeWire capture (parec); device is a source name */
  | { type: "pulse"; device?: string; server?: string };

export type SourceType = SourceSpec["type"];
