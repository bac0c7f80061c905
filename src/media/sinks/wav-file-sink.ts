// Records the received audio to a 16-bit mono WAV file.
import { WavFileWriter } from "../wav.js";
import type { AudioSink } from "./sink.js";

export class WavFileSink implements AudioSink {
  readonly #writer: WavFileWriter;

  /** `fd`: an already created file (client-path.ts claimWritableFile), owned by the sink from now on. */
  constructor(
    readonly path: string,
    readonly sampleRate: number,
    fd?: number,
  ) {
    this.#writer = WavFileWriter.open(path, sampleRate, 1, fd === undefined ? {} : { fd });
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
