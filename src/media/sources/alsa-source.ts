// Capture from an ALSA device with `arecord`: raw s16le mono at the codec's
// rate (raw, not WAV: no header to strip). Started like every helper
// (device-process.ts): a missing arecord, a missing device or its death is one
// device error, and it runs with a minimal environment. (node-record-lpcm16,
// used here before, spawned arecord with the daemon's whole environment,
// password included, did not listen for the child's 'error' event and
// emitted string errors.)
import { startDeviceProcess } from "../device-process.js";
import { PcmDecoderStream } from "../pcm-convert.js";
import { LiveSource } from "./live-source.js";

export interface AlsaSourceOptions {
  /** ALSA PCM name (`arecord -L`); "default" when unset */
  device?: string;
}

export function createAlsaSource(opts: AlsaSourceOptions, sampleRate: number): LiveSource {
  const args = ["-q", "-r", String(sampleRate), "-c", "1", "-t", "raw", "-f", "S16_LE", ...(opts.device ? ["-D", opts.device] : []), "-"];
  const conv = new PcmDecoderStream(sampleRate, 1, sampleRate);
  let src: LiveSource | undefined;
  const proc = startDeviceProcess(`ALSA source ${opts.device ?? "default"}`, "arecord", args, (err) => src?.fail(err));
  src = new LiveSource(sampleRate, { onClose: () => proc.close() });
  const s = src;
  proc.child.stdout?.on("data", (chunk: Buffer) => s.feed(conv.push(chunk)));
  return s;
}
