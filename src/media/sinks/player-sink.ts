// Playback through a player process: `aplay` for ALSA, `pacat` for
// PulseAudio/PipeWire. It gets raw s16le mono at the codec's rate on stdin;
// resampling to the device is the player's (or the sound server's) job.
// `speaker` (a native module) is not used: it aborts the whole process when
// no sound device exists, and a child process can fail alone.
import { startDeviceProcess } from "../device-process.js";
import { StreamSink } from "./stream-sink.js";

export interface AlsaSinkOptions {
  /** ALSA PCM name (`aplay -L`); "default" when unset */
  device?: string;
  /** device buffer, ms (default 60) */
  bufferMs?: number;
}

export interface PulseSinkOptions {
  /** sink name (`pactl list short sinks`) */
  device?: string;
  server?: string;
  /** requested playback latency, ms (default 40) */
  latencyMs?: number;
}

function playerSink(what: string, command: string, args: string[], sampleRate: number): StreamSink {
  let sink: StreamSink | undefined;
  const proc = startDeviceProcess(what, command, args, (err) => sink?.fail(err), { stdin: true });
  sink = new StreamSink(sampleRate, proc.child.stdin!, {
    onClose: () =>
      new Promise<void>((resolve) => {
        // Let it play out what it has, briefly; then stop it by PID.
        if (proc.child.exitCode !== null || proc.child.signalCode !== null) return resolve();
        const timer = setTimeout(() => {
          proc.close();
          resolve();
        }, 300);
        // Its exit now is expected: the sink is closed, so no failure is reported.
        proc.child.once("exit", () => {
          clearTimeout(timer);
          resolve();
        });
      }).finally(() => proc.close()),
  });
  return sink;
}

export function createAlsaSink(opts: AlsaSinkOptions, sampleRate: number): StreamSink {
  const args = ["-q", "-t", "raw", "-f", "S16_LE", "-c", "1", "-r", String(sampleRate), "--buffer-time", String((opts.bufferMs ?? 60) * 1000)];
  if (opts.device) args.push("-D", opts.device);
  return playerSink(`ALSA sink ${opts.device ?? "default"}`, "aplay", args, sampleRate);
}

export function createPulseSink(opts: PulseSinkOptions, sampleRate: number): StreamSink {
  const args = ["--playback", "--raw", "--format=s16le", `--rate=${sampleRate}`, "--channels=1", `--latency-msec=${opts.latencyMs ?? 40}`, "--client-name=jingled"];
  if (opts.device) args.push(`--device=${opts.device}`);
  if (opts.server) args.push(`--server=${opts.server}`);
  return playerSink(`PulseAudio sink ${opts.device ?? "(default)"}`, "pacat", args, sampleRate);
}
