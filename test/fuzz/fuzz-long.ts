// The long fuzz run: every target of test/fuzz/ (the same properties as the
// bounded runs in test/unit/fuzz-*.test.ts) for a given time, in slices with
// fresh random seeds. A failing input is shrunk and written to
// test/fuzz/corpus/<target>/crash-<hash>.<ext>, where the bounded run
// replays it from then on: fix the bug, keep the file (rename it
// regress-<what>.<ext>).
//
//   npm run build && node dist/test/fuzz/fuzz-long.js [seconds] [target ...]
//
// seconds: total time (default 300), shared by the targets named (default:
// all). Exit code 0 when nothing failed, 1 otherwise.
import { fuzz, preview, replayCorpus, saveToCorpus, type AnyTarget } from "./target.js";
import { XMPP_TARGETS } from "./targets-xmpp.js";
import { MEDIA_TARGETS } from "./targets-media.js";
import { DTLS_TARGETS } from "./targets-dtls.js";
import { CONTROL_TARGETS } from "./targets-control.js";
import { CONFIG_TARGETS } from "./targets-config.js";

const ALL: AnyTarget[] = [...XMPP_TARGETS, ...MEDIA_TARGETS, ...DTLS_TARGETS, ...CONTROL_TARGETS, ...CONFIG_TARGETS];
const SLICE_MS = 15_000;

async function main(): Promise<number> {
  const [secondsArg, ...names] = process.argv.slice(2);
  const seconds = secondsArg === undefined ? 300 : Number(secondsArg);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    process.stderr.write(`usage: fuzz-long [seconds] [target ...]\ntargets: ${ALL.map((t) => t.name).join(", ")}\n`);
    return 64;
  }
  const unknown = names.filter((n) => !ALL.some((t) => t.name === n));
  if (unknown.length > 0) {
    process.stderr.write(`unknown target(s): ${unknown.join(", ")}\ntargets: ${ALL.map((t) => t.name).join(", ")}\n`);
    return 64;
  }
  const targets = names.length > 0 ? ALL.filter((t) => names.includes(t.name)) : ALL;

  // A failure that escapes a property (a library's promise nobody awaits) is still a failure.
  const escaped: string[] = [];
  process.on("unhandledRejection", (err) => escaped.push(err instanceof Error ? err.stack ?? err.message : String(err)));
  process.on("uncaughtException", (err) => escaped.push(err.stack ?? err.message));

  const totals = new Map<string, { runs: number; ms: number; failures: number }>(targets.map((t) => [t.name, { runs: 0, ms: 0, failures: 0 }]));
  for (const t of targets) {
    await t.setup?.();
    const n = await replayCorpus(t);
    process.stdout.write(`${t.name}: ${n} corpus files replay cleanly\n`);
  }
  const deadline = Date.now() + seconds * 1000;
  let failures = 0;
  while (Date.now() < deadline) {
    for (const t of targets) {
      const left = deadline - Date.now();
      if (left <= 0) break;
      const run = await fuzz(t, { runs: Number.MAX_SAFE_INTEGER, timeLimitMs: Math.min(SLICE_MS, left) });
      const tot = totals.get(t.name)!;
      tot.runs += run.runs;
      tot.ms += run.ms;
      if (process.env.FUZZ_VERBOSE) process.stdout.write(`${t.name}: ${run.runs} inputs in ${run.ms} ms; heap ${Math.round(process.memoryUsage().heapUsed / 2 ** 20)} MiB\n`);
      if (run.failed) {
        tot.failures++;
        failures++;
        const file = saveToCorpus(t, run.counterexample);
        process.stdout.write(`\nFAIL ${t.name} (seed ${run.seed}) -> ${file}\n${preview(t, run.counterexample)}\n${run.error}\n\n`);
      }
      if (escaped.length > 0) {
        failures++;
        process.stdout.write(`\nFAIL ${t.name}: an error escaped the property:\n${escaped.splice(0).join("\n")}\n\n`);
      }
    }
  }
  for (const t of targets) await t.teardown?.();

  process.stdout.write("\ntarget               inputs      seconds   inputs/s  failures\n");
  let all = 0;
  for (const [name, tot] of totals) {
    all += tot.runs;
    const rate = tot.ms > 0 ? Math.round((tot.runs * 1000) / tot.ms) : 0;
    process.stdout.write(`${name.padEnd(20)} ${String(tot.runs).padStart(8)} ${(tot.ms / 1000).toFixed(1).padStart(12)} ${String(rate).padStart(10)} ${String(tot.failures).padStart(9)}\n`);
  }
  process.stdout.write(`total                ${String(all).padStart(8)} inputs in ${seconds} s; ${failures} failure(s)\n`);
  return failures === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`fuzz-long: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
