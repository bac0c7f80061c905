// Audio sources: where the audio we send comes from. The media pipeline pulls
// one frame per tick, so a source never blocks and never runs short.

export interface AudioSource {
  readonly sampleRate: number;
  /** always returns exactly `samples` samples; silence after the end */
  read(samples: number): Int16Array;
  readonly ended: boolean;
  /** called once, from within read(), when the source runs out */
  onEnded?: () => void;
  close(): void;
}

/** How a source is chosen, in configuration and control commands. */
export type SourceSpec =
  | { type: "file"; path: string; loop?: boolean }
  | { type: "tone"; frequency?: number }
  | { type: "silence" };

export type SourceType = SourceSpec["type"];
