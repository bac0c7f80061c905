// Records the received audio to a 16-bit mono WAV file.
import { WavFileWriter } from "../wav.js";
import type { AudioSink } from "./sink.js";

export class WavFileSink implements AudioSink {
  readonly #writer: WavFileWriter;

  constructor(
    readonly path: string,
    readonly sampleRate: number,
  ) {
    this.#writer = WavFileWriter.open(path, sampleRate, 1);
  }

  get samplesWritten(): number {
    return this.#writer.dataBytes / 2;
  }

  write(pcm: Int16Array): void {
    this.#writer.write(pcm);
  }

  close(): Promise<void> {
    return this.#writer.close();
  }
}
