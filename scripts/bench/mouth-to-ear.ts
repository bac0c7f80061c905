// Mouth-to-ear latency (scripts/bench/bench.ts), two ways:
//  - through the PulseAudio lab (bench-pulse-lab.ts), for jingled and baresip
//    alike: a click train played into the lab's left channel is the caller's
//    microphone; the callee plays what it hears into the right channel; one
//    stereo recording of the lab holds both. Each burst's onset on the right
//    minus its onset on the left is one latency sample. Sound devices included.
//  - jingled's pipeline alone, file to file, by the issue-4 benchmark
//    (scripts/bench/bench-latency.ts), which is run as it is and parsed.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../lab/daemon.js";
import { startProcess } from "../lab/process.js";
import { findOnsets, pairOnsets, type ClickTrain } from "./audio.js";
import { LAB_RATE, type PulseLab } from "./pulse-lab.js";
import { sleep, summarize, type Summary } from "./stats.js";

export interface MouthToEarResult {
  latency: Summary;
  /** bursts played / found at the mouth / paired with an ear onset */
  bursts: { played: number; mouth: number; paired: number };
  samplesMs: number[];
  /** what the callee's own statistics say (jingled: playout buffer delay), when known */
  receiver?: Record<string, unknown>;
}

/** Plays `clicks` (a WAV written by writeClickTrain) while recording the lab; the call must be up. */
export async function measureMouthToEar(lab: PulseLab, clicksWav: string, train: ClickTrain, recording: string): Promise<MouthToEarResult> {
  const rec = await lab.record(recording);
  try {
    await sleep(300);
    await lab.play(clicksWav, train.seconds * 1000 + 10000);
    await sleep(700);
  } finally {
    await rec.stop("SIGTERM", 2000);
  }
  const raw = readFileSync(recording);
  const mouth = findOnsets(raw, 2, 0, LAB_RATE);
  const ear = findOnsets(raw, 2, 1, LAB_RATE);
  const delays = pairOnsets(mouth, ear, 550);
  return {
    latency: summarize(delays),
    bursts: { played: train.onsets.length, mouth: mouth.length, paired: delays.length },
    samplesMs: delays.map((d) => Math.round(d * 10) / 10),
  };
}

/**
 * The sound-server path alone: the lab's mic piped straight into its speaker
 * with the capture/playback latencies jingled asks for (parec 20 ms, pacat
 * 40 ms: src/media/sources/pulse-source.ts, sinks/player-sink.ts). What a
 * jingled figure above this adds is the call's own pipeline.
 */
export async function measureSoundServerPath(lab: PulseLab, clicksWav: string, train: ClickTrain, recording: string): Promise<MouthToEarResult> {
  const loop = await startProcess(
    "sh",
    ["-c", "parec --device=mic --raw --format=s16le --rate=48000 --channels=1 --latency-msec=20 | pacat --playback --device=spk --raw --format=s16le --rate=48000 --channels=1 --latency-msec=40"],
    { name: "parec|pacat", env: { PULSE_SERVER: lab.server }, processGroup: true },
  );
  try {
    await sleep(800);
    return await measureMouthToEar(lab, clicksWav, train, recording);
  } finally {
    await loop.stop("SIGTERM", 2000);
  }
}

export interface PipelineLatency {
  /** frame read at the caller -> written at the callee, plus one frame of capture: no sound devices */
  mouthToEarMs?: number;
  pipelineMs?: number;
  jitterBufferMs?: number;
  clicks?: string;
  /** the benchmark's own report, verbatim */
  output: string;
}

/**
 * jingled's file-to-file pipeline latency from the issue-4 benchmark
 * (scripts/bench/bench-latency.ts, run as it is: `node dist/scripts/bench/bench-latency.js
 * CODEC SECONDS`, its default number of calls); its report is parsed for the headline figures
 * (the medians over every click).
 */
export async function runPipelineLatency(codec: string, seconds: number): Promise<PipelineLatency> {
  const calls = 5;
  const script = join(REPO_ROOT, "dist", "scripts", "bench", "bench-latency.js");
  if (!existsSync(script)) throw new Error(`${script} is missing (scripts/bench/bench-latency.ts, the issue-4 benchmark)`);
  const p = await startProcess(process.execPath, [script, codec, String(seconds), `--runs=${calls}`], { name: "bench-latency" });
  const code = await Promise.race([p.exited, sleep(calls * (seconds * 1000 + 15_000) + 60_000).then(() => "timeout" as const)]);
  if (code === "timeout") {
    await p.stop("SIGTERM", 5000);
    throw new Error("bench-latency did not finish in time");
  }
  const output = p.output();
  if (code !== 0) throw new Error(`bench-latency exited with ${code}: ${output.split("\n").slice(-3).join(" | ")}`);
  const num = (re: RegExp): number | undefined => {
    const m = re.exec(output);
    return m ? Number(m[1]) : undefined;
  };
  const r: PipelineLatency = { output };
  const m2e = num(/= mouth-to-ear\s+([\d.]+) ms/);
  const pipe = num(/pipeline delay\s+([\d.]+) ms/);
  const jb = num(/jitter buffer\s+([\d.]+) ms/);
  const clicks = /clicks found\s+(\d+ of \d+)/.exec(output)?.[1];
  if (m2e !== undefined) r.mouthToEarMs = m2e;
  if (pipe !== undefined) r.pipelineMs = pipe;
  if (jb !== undefined) r.jitterBufferMs = jb;
  if (clicks) r.clicks = clicks;
  return r;
}
