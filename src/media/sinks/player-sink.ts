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

/** How a player says it started consuming (see StreamSink's awaitStart). */
interface StartReport {
  /** seen on stderr once the player plays */
  pattern: RegExp;
  /** stderr output to leave out of error messages */
  noise?: RegExp;
  primeMs: number;
}

function playerSink(what: string, command: string, args: string[], sampleRate: number, start?: StartReport): StreamSink {
  let sink: StreamSink | undefined;
  // The start line may arrive split over two reads: keep a little of the previous one.
  let seen = "";
  const onStderr = start
    ? (text: string): void => {
        if (!sink?.awaitingStart) return;
        seen = (seen + text).slice(-200);
        if (start.pattern.test(seen)) sink.started();
      }
    : undefined;
  const proc = startDeviceProcess(what, command, args, (err) => sink?.fail(err), {
    stdin: true,
    ...(onStderr ? { onStderr } : {}),
    ...(start?.noise ? { stderrNoise: start.noise } : {}),
  });
  sink = new StreamSink(sampleRate, proc.child.stdin!, {
    ...(start ? { awaitStart: true, primeMs: start.primeMs } : {}),
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
  const latencyMs = opts.latencyMs ?? 40;
  // -v: pacat says "Stream started." when the server starts playing (it also prints a
  // "Time: ...; Latency: ..." status line, ended by \r, every 50 ms: left out of error messages).
  const args = ["--playback", "-v", "--raw", "--format=s16le", `--rate=${sampleRate}`, "--channels=1", `--latency-msec=${latencyMs}`, "--client-name=jingled"];
  if (opts.device) args.push(`--device=${opts.device}`);
  if (opts.server) args.push(`--server=${opts.server}`);
  return playerSink(`PulseAudio sink ${opts.device ?? "(default)"}`, "pacat", args, sampleRate, {
    pattern: /^Stream started\./m,
    noise: /Time: [^\r\n]*\r/g,
    primeMs: latencyMs,
  });
}
