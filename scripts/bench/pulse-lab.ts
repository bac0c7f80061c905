// The sound lab of the mouth-to-ear benchmark (scripts/bench/bench.ts): one
// PulseAudio server (scripts/lab/pulse.ts) with a stereo null sink "lab"
// whose two channels share one clock:
//
//   clk  (sink)   -> lab left    the benchmark plays the click train here
//   mic  (source) <- lab left    the caller's microphone
//   spk  (sink)   -> lab right   the callee's speaker
//
// Recording lab.monitor in stereo gives the mouth (left) and the ear (right)
// on one timeline: latency = right onset - left onset. It includes each
// agent's own device buffering (capture at the caller, playback at the
// callee), as a real mouth-to-ear figure does.
//
// For ALSA clients (baresip) `alsaHome()` holds an .asoundrc with the PCMs
// benchmic and benchspk on the pulse plugin: point HOME at it and set PULSE_SERVER.
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pactl, startPulse, type PulseServer } from "../lab/pulse.js";
import { startProcess, type ManagedProcess } from "../lab/process.js";

export interface PulseLab {
  readonly pulse: PulseServer;
  readonly server: string;
  /** A HOME directory whose .asoundrc defines benchmic and benchspk. */
  readonly alsaHome: string;
  /** Starts recording lab.monitor (stereo s16le at 48 kHz) into `file`. */
  record(file: string): Promise<ManagedProcess>;
  /** Plays a WAV into the clk sink; resolves when it has been played. */
  play(wav: string, timeoutMs: number): Promise<void>;
  stop(): Promise<void>;
}

export const LAB_RATE = 48000;

export async function startPulseLab(dir: string): Promise<PulseLab> {
  const pulse = await startPulse({ sinks: [] });
  try {
    const load = (args: string[]): Promise<string> => pactl(pulse, ["load-module", ...args]);
    await load(["module-null-sink", "sink_name=lab", `rate=${LAB_RATE}`, "channels=2", "channel_map=front-left,front-right"]);
    await load(["module-remap-sink", "sink_name=clk", "master=lab", "channels=1", "channel_map=mono", "master_channel_map=front-left", "remix=no"]);
    await load(["module-remap-sink", "sink_name=spk", "master=lab", "channels=1", "channel_map=mono", "master_channel_map=front-right", "remix=no"]);
    await load(["module-remap-source", "source_name=mic", "master=lab.monitor", "channels=1", "channel_map=mono", "master_channel_map=front-left", "remix=no"]);
  } catch (err) {
    await pulse.stop();
    throw err;
  }
  const alsaHome = join(dir, "alsa-home");
  mkdirSync(alsaHome, { recursive: true });
  writeFileSync(join(alsaHome, ".asoundrc"), 'pcm.benchmic { type pulse; device "mic" }\npcm.benchspk { type pulse; device "spk" }\n');
  const env = { PULSE_SERVER: pulse.server };
  return {
    pulse,
    server: pulse.server,
    alsaHome,
    record: (file) =>
      startProcess("sh", ["-c", 'exec parec --device=lab.monitor --raw --format=s16le --rate=48000 --channels=2 --latency-msec=10 > "$0"', file], { name: "parec lab", env }),
    async play(wav, timeoutMs) {
      const p = await startProcess("paplay", ["--device=clk", "--latency-msec=10", wav], { name: "paplay clk", env });
      const code = await Promise.race([p.exited, new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs))]);
      if (code === "timeout") {
        await p.stop("SIGKILL", 1000);
        throw new Error(`paplay did not finish within ${timeoutMs} ms`);
      }
    },
    stop: () => pulse.stop(),
  };
}
