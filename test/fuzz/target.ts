// A fuzz target: an input generator (fast-check arbitrary), a property check
// that throws on a violation, and a file encoding so that a failing input
// becomes a regression fixture in test/fuzz/corpus/<target>/. The bounded
// runs in test/unit/fuzz-*.test.ts and the long run (test/fuzz/fuzz-long.ts)
// share these. No test-framework imports.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { TEST_DIR } from "./xml-mutate.js";

export interface FuzzTarget<T> {
  /** Also the corpus directory name. */
  readonly name: string;
  /** What is fuzzed and which properties are checked. */
  readonly description: string;
  readonly arbitrary: fc.Arbitrary<T>;
  /** Throws (an AssertionError or the unexpected error itself) when a property is violated. */
  check(input: T): void | Promise<void>;
  /** Corpus file <-> input. */
  encode(input: T): Buffer;
  decode(data: Buffer): T;
  /** Corpus file extension, without the dot. */
  readonly ext: string;
  /** Runs in the bounded test (a few seconds at most). */
  readonly runs: number;
  /** Optional set-up before a run (certificates, sockets) and tear-down after. */
  setup?(): Promise<void>;
  teardown?(): Promise<void>;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyTarget = FuzzTarget<any>;

export const CORPUS_DIR = join(TEST_DIR, "fuzz", "corpus");

/** The corpus files of a target, sorted (empty when none). */
export function corpusFiles(target: AnyTarget): string[] {
  const dir = join(CORPUS_DIR, target.name);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => !f.startsWith("."))
    .sort()
    .map((f) => join(dir, f));
}

/** Replays every corpus file; returns how many ran. Throws naming the file on the first violation. */
export async function replayCorpus(target: AnyTarget): Promise<number> {
  const files = corpusFiles(target);
  for (const file of files) {
    try {
      await target.check(target.decode(readFileSync(file)));
    } catch (err) {
      throw new Error(`${target.name}: corpus file ${file} fails: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    }
  }
  return files.length;
}

/** Writes a failing input to the corpus (named by its hash); returns the path. */
export function saveToCorpus(target: AnyTarget, input: unknown, prefix = "crash"): string {
  const data = target.encode(input);
  const dir = join(CORPUS_DIR, target.name);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${prefix}-${createHash("sha256").update(data).digest("hex").slice(0, 16)}.${target.ext}`);
  writeFileSync(file, data);
  return file;
}

export interface FuzzRun {
  target: string;
  runs: number;
  ms: number;
  failed: boolean;
  counterexample?: unknown;
  error?: string;
  seed: number;
}

/**
 * Runs the property `runs` times (or until `timeLimitMs`), shrinking a
 * failure to a small counterexample. Never throws: the result says.
 */
export async function fuzz(target: AnyTarget, opts: { runs: number; timeLimitMs?: number; seed?: number }): Promise<FuzzRun> {
  const seed = opts.seed ?? (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  const t0 = performance.now();
  let executed = 0;
  const property = fc.asyncProperty(target.arbitrary, async (input) => {
    executed++;
    await target.check(input);
  });
  const details = await fc.check(property, {
    numRuns: opts.runs,
    seed,
    ...(opts.timeLimitMs !== undefined ? { interruptAfterTimeLimit: opts.timeLimitMs, markInterruptAsFailure: false } : {}),
    endOnFailure: false,
  });
  const run: FuzzRun = { target: target.name, runs: executed, ms: Math.round(performance.now() - t0), failed: details.failed, seed };
  if (details.failed) {
    run.counterexample = details.counterexample?.[0];
    const e = details.errorInstance;
    run.error = e instanceof Error ? e.stack ?? e.message : String(e);
  }
  return run;
}

/** A short, printable view of an input for failure messages. */
export function preview(target: AnyTarget, input: unknown, max = 600): string {
  let s: string;
  try {
    s = target.encode(input).toString("utf8");
  } catch {
    s = String(input);
  }
  return s.length > max ? `${s.slice(0, max)}… (${s.length} bytes)` : s;
}
