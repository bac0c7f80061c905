// Registers the bounded fuzz runs of some targets as node:test tests: first
// the target's regression corpus (test/fuzz/corpus/<target>/), then a fixed
// number of generated inputs. The seed is fixed so `npm test` is
// reproducible; FUZZ_SEED=<n> picks another, FUZZ_SEED=random a fresh one
// (printed), FUZZ_RUNS_SCALE=<x> multiplies the run counts.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { fuzz, preview, replayCorpus, type AnyTarget } from "./target.js";

const DEFAULT_SEED = 20250108;

function seed(): number {
  const s = process.env.FUZZ_SEED;
  if (s === undefined || s === "") return DEFAULT_SEED;
  if (s === "random") return (Date.now() ^ (Math.random() * 0x7fffffff)) | 0;
  return Number(s) | 0;
}

export function fuzzTests(title: string, targets: AnyTarget[]): void {
  const scale = Number(process.env.FUZZ_RUNS_SCALE ?? "1") || 1;
  describe(title, () => {
    for (const target of targets) {
      describe(target.name, () => {
        before(async () => target.setup?.());
        after(async () => target.teardown?.());
        test("regression corpus replays cleanly", async (t) => {
          const n = await replayCorpus(target);
          t.diagnostic(`${target.name}: ${n} corpus files`);
        });
        test(`${Math.round(target.runs * scale)} generated inputs: ${target.description}`, async (t) => {
          const s = seed();
          const run = await fuzz(target, { runs: Math.round(target.runs * scale), seed: s, timeLimitMs: 20_000 });
          t.diagnostic(`${target.name}: ${run.runs} inputs in ${run.ms} ms (seed ${s})`);
          if (run.failed) {
            assert.fail(
              `${target.name} fails with seed ${s} (reproduce: FUZZ_SEED=${s}); shrunk input:\n${preview(target, run.counterexample)}\n${run.error}`,
            );
          }
        });
      });
    }
  });
}
