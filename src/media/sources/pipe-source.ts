// Raw audio from a pipe: signed 16-bit little-endian samples on stdin or a
// named pipe (FIFO) — the way other programs feed a call (`sox ... -t raw - |`,
// a TTS engine, a mixer). The format is not self-describing: rate and
// channel count come from the spec (48000 Hz mono by default) and are
// converted to the codec's. When the writer closes the pipe, the source plays
// out what it has and ends (silence after).
import { createReadStream, constants, openSync, closeSync, fstatSync } from "node:fs";
import { Socket } from "node:net";
import type { Readable } from "node:stream";
import { PcmDecoderStream } from "../pcm-convert.js";
import { deviceError } from "../device-process.js";
import { standardInput } from "../std-streams.js";
import { LiveSource } from "./live-source.js";

export interface PipeSourceOptions {
  /** a FIFO or file path; "-" or undefined: standard input */
  path?: string;
  rate?: number;
  channels?: number;
}

export function createPipeSource(opts: PipeSourceOptions, sampleRate: number): LiveSource {
  const what = `pipe source ${opts.path ?? "-"}`;
  const conv = new PcmDecoderStream(opts.rate ?? 48000, opts.channels ?? 1, sampleRate);
  let stream: Readable;
  let ownsStream = true;
  if (opts.path === undefined || opts.path === "-") {
    stream = standardInput();
    ownsStream = false;
  } else {
    let fd: number;
    try {
      // O_NONBLOCK: opening a FIFO for reading must not wait for its writer.
      fd = openSync(opts.path, constants.O_RDONLY | constants.O_NONBLOCK);
    } catch (err) {
      throw deviceError(what, `cannot open: ${(err as Error).message}`, err);
    }
    if (fstatSync(fd).isFIFO()) {
      stream = new Socket({ fd, readable: true, writable: false });
    } else {
      closeSync(fd);
      stream = createReadStream(opts.path);
    }
  }
  const src = new LiveSource(sampleRate, {
    onClose: () => {
      stream.off("data", onData);
      if (ownsStream) stream.destroy();
    },
  });
  const onData = (chunk: Buffer): void => src.feed(conv.push(chunk));
  stream.on("data", onData);
  stream.on("end", () => src.endOfInput());
  stream.on("error", (err) => src.fail(deviceError(what, err.message, err)));
  return src;
}
