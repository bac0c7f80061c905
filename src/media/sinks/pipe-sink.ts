// Raw audio to a pipe: signed 16-bit little-endian samples on stdout or a
// named pipe (FIFO), for other programs to take (`| aplay -f S16_LE ...`, a
// speech recogniser). Rate and channels from the spec (48000 Hz mono by
// default). Note: the daemon logs to stderr, so stdout is free for this.
import { createWriteStream, constants, openSync } from "node:fs";
import type { Writable } from "node:stream";
import { deviceError } from "../device-process.js";
import { standardOutput } from "../std-streams.js";
import { StreamSink } from "./stream-sink.js";

export interface PipeSinkOptions {
  /** a FIFO or file path; "-" or undefined: standard output */
  path?: string;
  rate?: number;
  channels?: number;
}

export function createPipeSink(opts: PipeSinkOptions, sampleRate: number): StreamSink {
  const what = `pipe sink ${opts.path ?? "-"}`;
  let stream: Writable;
  if (opts.path === undefined || opts.path === "-") {
    stream = standardOutput();
  } else {
    let fd: number;
    try {
      // A FIFO opened for writing without a reader fails at once (ENXIO) with
      // O_NONBLOCK, instead of hanging the daemon; regular files are created.
      fd = openSync(opts.path, constants.O_WRONLY | constants.O_CREAT | constants.O_NONBLOCK, 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw deviceError(what, code === "ENXIO" ? "no process is reading the pipe" : `cannot open: ${(err as Error).message}`, err);
    }
    stream = createWriteStream("", { fd });
  }
  const sink = new StreamSink(sampleRate, stream, { rate: opts.rate ?? 48000, channels: opts.channels ?? 1 });
  stream.on("error", (err) => sink.fail(deviceError(what, err.message, err)));
  return sink;
}
