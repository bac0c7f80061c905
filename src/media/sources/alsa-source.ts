// Capture from an ALSA device through node-record-lpcm16 (which runs
// `arecord`): raw s16le mono at the codec's rate (raw, not WAV: no header to
// strip). node-record-lpcm16 needs care: it does not listen for the child's
// 'error' event (arecord missing would crash the process), and its stream
// emits a *string* 'error' whenever arecord exits non-zero, including when it
// is stopped. Both are caught here and turned into one device error.
import { createRequire } from "node:module";
import type { ChildProcess } from "node:child_process";
import type { Readable } from "node:stream";
import { deviceError } from "../device-process.js";
import { PcmDecoderStream } from "../pcm-convert.js";
import { LiveSource } from "./live-source.js";

interface Recording {
  process: ChildProcess;
  stream(): Readable;
  stop(): void;
}
const require = createRequire(import.meta.url);
const recorder = require("node-record-lpcm16") as { record(opts: Record<string, unknown>): Recording };

export interface AlsaSourceOptions {
  /** ALSA PCM name (`arecord -L`); "default" when unset */
  device?: string;
}

export function createAlsaSource(opts: AlsaSourceOptions, sampleRate: number): LiveSource {
  const what = `ALSA source ${opts.device ?? "default"}`;
  let stopped = false;
  const rec = recorder.record({
    recorder: "arecord",
    sampleRate: String(sampleRate),
    channels: "1",
    audioType: "raw",
    ...(opts.device ? { device: opts.device } : {}),
  });
  const conv = new PcmDecoderStream(sampleRate, 1, sampleRate);
  let stderr = "";
  const src = new LiveSource(sampleRate, {
    onClose: () => {
      stopped = true;
      const pid = rec.process.pid;
      if (pid !== undefined && rec.process.exitCode === null && rec.process.signalCode === null) {
        try {
          process.kill(pid, "SIGTERM");
        } catch {
          /* gone already */
        }
      }
    },
  });
  const fail = (message: string, cause?: unknown): void => {
    if (stopped) return;
    stopped = true;
    src.fail(deviceError(what, message, cause));
  };
  rec.process.on("error", (err: NodeJS.ErrnoException) =>
    fail(err.code === "ENOENT" ? "arecord is not installed (Debian package alsa-utils)" : err.message, err),
  );
  rec.process.stderr?.on("data", (d: Buffer) => {
    stderr = (stderr + d.toString("utf8")).slice(-2000);
  });
  const stream = rec.stream();
  stream.on("error", (e: unknown) => {
    const tail = stderr.trim().split("\n").slice(-2).join(" / ");
    fail(`arecord failed${tail ? `: ${tail}` : ""} (${typeof e === "string" ? e.split("\n")[0] : (e as Error).message})`);
  });
  rec.process.on("exit", (code, signal) => {
    const tail = stderr.trim().split("\n").slice(-2).join(" / ");
    fail(`arecord exited (${signal ?? `code ${code}`})${tail ? `: ${tail}` : ""}`);
  });
  stream.on("data", (chunk: Buffer) => src.feed(conv.push(chunk)));
  return src;
}
