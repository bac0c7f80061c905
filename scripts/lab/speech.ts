// Audio fixtures made on the fly: speech from espeak-ng, numbers from sox.
// No test-framework imports here: scripts (the demo) import this from dist too.
import { execFile } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname, join } from "node:path";

function run(cmd: string, args: string[], timeoutMs = 30000): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8", maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${stdout}${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

export interface SpeechOptions {
  /** espeak-ng voice, e.g. "en", "en-us", "de" (espeak-ng --voices). */
  voice?: string;
  /** Words per minute (espeak-ng -s; its default is 175). */
  rate?: number;
  /** Resample with sox (espeak-ng writes 22050 Hz mono 16-bit). */
  sampleRate?: number;
  /** Channel count of the result (1 = mono, espeak-ng's own). */
  channels?: number;
}

/** Speak `text` into a WAV file at `path` with espeak-ng (and sox when converting). */
export async function makeSpeechWav(text: string, path: string, opts: SpeechOptions = {}): Promise<void> {
  const args: string[] = [];
  if (opts.voice) args.push("-v", opts.voice);
  if (opts.rate !== undefined) args.push("-s", String(Math.round(opts.rate)));
  const convert = opts.sampleRate !== undefined || opts.channels !== undefined;
  const target = convert ? join(dirname(path), `.espeak-${process.pid}-${Date.now()}.wav`) : path;
  // "--" keeps text starting with "-" from being read as an option.
  await run("espeak-ng", [...args, "-w", target, "--", text]);
  if (!convert) return;
  try {
    const out: string[] = [];
    if (opts.sampleRate !== undefined) out.push("-r", String(opts.sampleRate));
    if (opts.channels !== undefined) out.push("-c", String(opts.channels));
    await run("sox", [target, "-b", "16", ...out, path]);
  } finally {
    rmSync(target, { force: true });
  }
}

export interface SoxStat {
  samplesRead: number;
  lengthSeconds: number;
  maximumAmplitude: number;
  minimumAmplitude: number;
  rmsAmplitude: number;
  meanNorm: number;
  roughFrequency: number;
  /** Every "Key: value" line of `sox FILE -n stat`, keys as sox prints them. */
  raw: Record<string, number>;
}

/** `sox FILE -n stat`, parsed. RMS amplitude is 0..1 (full scale); near 0 means silence. */
export async function soxStat(path: string): Promise<SoxStat> {
  const { stdout, stderr } = await run("sox", [path, "-n", "stat"]);
  const raw: Record<string, number> = {};
  for (const line of `${stdout}\n${stderr}`.split("\n")) {
    const m = /^([A-Za-z][A-Za-z ()]*?):\s+(-?[0-9.eE+-]+)\s*$/.exec(line.trim());
    if (m) raw[m[1]!.replace(/\s+/g, " ")] = Number(m[2]);
  }
  const get = (key: string): number => {
    const v = raw[key];
    if (v === undefined || Number.isNaN(v)) {
      throw new Error(`soxStat(${path}): no "${key}" in sox output:\n${stdout}${stderr}`);
    }
    return v;
  };
  return {
    samplesRead: get("Samples read"),
    lengthSeconds: get("Length (seconds)"),
    maximumAmplitude: get("Maximum amplitude"),
    minimumAmplitude: get("Minimum amplitude"),
    rmsAmplitude: get("RMS amplitude"),
    meanNorm: get("Mean norm"),
    roughFrequency: raw["Rough frequency"] ?? 0,
    raw,
  };
}

export interface SoxInfo {
  sampleRate: number;
  channels: number;
  /** Duration in seconds. */
  durationSeconds: number;
}

/** Header facts of an audio file (`sox --i`). */
export async function soxInfo(path: string): Promise<SoxInfo> {
  const [r, c, d] = await Promise.all([
    run("sox", ["--i", "-r", path]),
    run("sox", ["--i", "-c", path]),
    run("sox", ["--i", "-D", path]),
  ]);
  return { sampleRate: Number(r.stdout.trim()), channels: Number(c.stdout.trim()), durationSeconds: Number(d.stdout.trim()) };
}
