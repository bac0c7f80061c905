// The `devices` command: audio sources and sinks this daemon could use, as
// specs ready for set-input / set-output / the config file. Built-in ones
// (silence, tone, file, null), ALSA PCM devices (/proc/asound/pcm) and
// PulseAudio/PipeWire sources and sinks (`pactl list short`). A device is
// listed only when this build's config schema accepts its spec, so nothing
// is offered that set-input would refuse.
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import type { DeviceInfo, DevicesResult } from "../control/protocol.js";
import { sinkSpec, sourceSpec } from "../config/schema.js";
import { helperEnv } from "../util/child-env.js";

export interface AlsaPcm {
  /** e.g. "hw:0,0" */
  device: string;
  name: string;
  playback: boolean;
  capture: boolean;
}

/** Parses /proc/asound/pcm: "00-03: HDMI 0 : HDMI 0 : playback 1" per line. */
export function parseAlsaPcm(text: string): AlsaPcm[] {
  const out: AlsaPcm[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+)-(\d+): ([^:]*?) : [^:]*?((?: : (?:playback|capture) \d+)+)\s*$/.exec(line);
    if (!m) continue;
    out.push({
      device: `hw:${Number(m[1])},${Number(m[2])}`,
      name: m[3]!.trim(),
      playback: /playback \d+/.test(m[4]!),
      capture: /capture \d+/.test(m[4]!),
    });
  }
  return out;
}

/** Parses `pactl list short sources|sinks`: "index<TAB>name<TAB>driver<TAB>format<TAB>state". */
export function parsePactlShort(text: string): { name: string; state: string }[] {
  return text
    .split("\n")
    .map((l) => l.split("\t"))
    .filter((f) => f.length >= 2 && f[1] !== "")
    .map((f) => ({ name: f[1]!, state: f[4] ?? "" }));
}

function pactl(args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile("pactl", args, { timeout: 2000, env: helperEnv() }, (err, stdout) => resolve(err ? "" : stdout));
  });
}

const accepts = (schema: typeof sourceSpec | typeof sinkSpec, spec: object): boolean => schema.safeParse(spec).success;

export async function listDevices(): Promise<DevicesResult> {
  const inputs: DeviceInfo[] = [
    { spec: { type: "silence" }, description: "silence" },
    { spec: { type: "tone", frequency: 440 }, description: "a 440 Hz tone" },
    { spec: { type: "file", path: "/absolute/path.wav", loop: false }, description: "a WAV file" },
  ];
  const outputs: DeviceInfo[] = [
    { spec: { type: "null" }, description: "discard" },
    { spec: { type: "file", path: "/absolute/{callId}.wav" }, description: "a WAV file per call" },
  ];
  const alsa = parseAlsaPcm(await readFile("/proc/asound/pcm", "utf8").catch(() => ""));
  for (const pcm of alsa) {
    const spec = { type: "alsa", device: pcm.device };
    if (pcm.capture && accepts(sourceSpec, spec)) inputs.push({ spec, description: `ALSA ${pcm.name}` });
    if (pcm.playback && accepts(sinkSpec, spec)) outputs.push({ spec, description: `ALSA ${pcm.name}` });
  }
  // Only ask the sound server when this build can use it.
  if (accepts(sourceSpec, { type: "pulse", device: "x" }) || accepts(sinkSpec, { type: "pulse", device: "x" })) {
    for (const s of parsePactlShort(await pactl(["list", "short", "sources"]))) {
      const spec = { type: "pulse", device: s.name };
      if (accepts(sourceSpec, spec)) inputs.push({ spec, description: `PulseAudio source ${s.name}${s.state ? ` (${s.state})` : ""}` });
    }
    for (const s of parsePactlShort(await pactl(["list", "short", "sinks"]))) {
      const spec = { type: "pulse", device: s.name };
      if (accepts(sinkSpec, spec)) outputs.push({ spec, description: `PulseAudio sink ${s.name}${s.state ? ` (${s.state})` : ""}` });
    }
  }
  return { inputs, outputs };
}
