// Capture from PulseAudio (or PipeWire's pulse server) with `parec`: raw
// s16le mono at the codec's rate, so the sound server does any conversion.
// `device` is a source name (`pactl list short sources`; a sink's
// ".monitor" records what that sink plays); `server` a PULSE_SERVER string.
import { startDeviceProcess } from "../device-process.js";
import { PcmDecoderStream } from "../pcm-convert.js";
import { LiveSource } from "./live-source.js";

export interface PulseSourceOptions {
  device?: string;
  server?: string;
  /** requested capture latency, ms (default 20) */
  latencyMs?: number;
}

export function createPulseSource(opts: PulseSourceOptions, sampleRate: number): LiveSource {
  const args = ["--raw", "--format=s16le", `--rate=${sampleRate}`, "--channels=1", `--latency-msec=${opts.latencyMs ?? 20}`, "--client-name=jingled"];
  if (opts.device) args.push(`--device=${opts.device}`);
  if (opts.server) args.push(`--server=${opts.server}`);
  const conv = new PcmDecoderStream(sampleRate, 1, sampleRate);
  let src: LiveSource | undefined;
  const proc = startDeviceProcess(`PulseAudio source ${opts.device ?? "(default)"}`, "parec", args, (err) => src?.fail(err));
  src = new LiveSource(sampleRate, { onClose: () => proc.close() });
  const s = src;
  proc.child.stdout?.on("data", (chunk: Buffer) => s.feed(conv.push(chunk)));
  return s;
}
