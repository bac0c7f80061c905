// Discards audio, counting it (a call nobody listens to; tests).
import type { AudioSink } from "./sink.js";

export class NullSink implements AudioSink {
  samplesWritten = 0;
  constructor(readonly sampleRate: number) {}
  write(pcm: Int16Array): void {
    this.samplesWritten += pcm.length;
  }
  async close(): Promise<void> {}
}
