// Silence: what a call sends when there is nothing to say (or for tests).
import type { AudioSource } from "./source.js";

export class SilenceSource implements AudioSource {
  readonly ended = false;
  onEnded?: () => void;
  constructor(readonly sampleRate: number) {}
  read(samples: number): Int16Array {
    return new Int16Array(samples);
  }
  close(): void {}
}
