#!/usr/bin/env node
// Runs the compiled test suite (dist/) with Node's built-in test runner.
//
//   node scripts/run-tests.mjs                 unit tests, then integration tests
//   node scripts/run-tests.mjs unit            only dist/test/unit/**/*.test.js
//   node scripts/run-tests.mjs integration     only dist/test/integration/**/*.test.js
//   node scripts/run-tests.mjs FILE|DIR ...    these files (test/x.test.ts is mapped to dist/test/x.test.js)
//
// All files go to one run of node:test (each file in its own process, in the
// order listed), so the output ends with Node's own summary (`# pass N`,
// `# fail N` from the TAP reporter; `ℹ pass N` from spec on a terminal).
// Environment:
//   TEST_REPORTER=tap|spec|dot   reporter (default: spec on a TTY, else tap, like `node --test`)
//   TEST_FILE_TIMEOUT_MS=N       per-file limit (default 120000 for unit only, 600000 with integration)
//   TEST_CONCURRENCY=N           files run at once (default: 1 when integration files are included —
//                                they start servers and daemons — else the core count)
//   TEST_NAME_PATTERN=REGEX      run only tests whose name matches
//
// Note on timeouts: in Node 20 `--test-timeout` (and run({ timeout })) limits a
// whole test FILE, not each test; give slow tests their own `{ timeout }`.
import { existsSync, readdirSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { run } from "node:test";
import * as reporters from "node:test/reporters";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const distTest = join(root, "dist", "test");
const groups = { unit: join(distTest, "unit"), integration: join(distTest, "integration") };

function die(msg) {
  process.stderr.write(`run-tests: ${msg}\n`);
  process.exit(1);
}

function collect(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  const walk = (d) => {
    for (const ent of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, ent.name);
      if (ent.isDirectory()) walk(p);
      else if (ent.isFile() && ent.name.endsWith(".test.js")) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** test/unit/x.test.ts -> dist/test/unit/x.test.js; dist paths and .js files pass through. */
function mapArg(arg) {
  let p = resolve(arg);
  if (existsSync(p) && statSync(p).isDirectory()) {
    const rel = relative(root, p);
    if (!rel.startsWith("dist") && !rel.startsWith("..")) {
      const inDist = join(root, "dist", rel);
      if (existsSync(inDist)) return collect(inDist);
    }
    return collect(p);
  }
  if (p.endsWith(".ts")) {
    const rel = relative(root, p);
    if (!rel.startsWith("..") && !rel.startsWith("dist")) p = join(root, "dist", rel.replace(/\.ts$/, ".js"));
    else p = p.replace(/\.ts$/, ".js");
  }
  if (!existsSync(p)) die(`no such test file: ${arg} (looked for ${relative(root, p)}; did the build run?)`);
  return [p];
}

const args = process.argv.slice(2);
let files = [];
let hasIntegration = false;
if (args.length === 0) {
  const unit = collect(groups.unit);
  const integration = collect(groups.integration);
  if (unit.length === 0) process.stderr.write("run-tests: warning: no unit test files in dist/test/unit\n");
  if (integration.length === 0) process.stderr.write("run-tests: warning: no integration test files in dist/test/integration\n");
  files = [...unit, ...integration];
  hasIntegration = integration.length > 0;
} else {
  for (const arg of args) {
    if (arg === "unit" || arg === "integration") {
      const found = collect(groups[arg]);
      if (found.length === 0) die(`no ${arg} test files (dist/test/${arg}/**/*.test.js); did \`npm run build\` run?`);
      files.push(...found);
      if (arg === "integration") hasIntegration = true;
    } else {
      const found = mapArg(arg);
      files.push(...found);
      if (found.some((f) => f.startsWith(groups.integration))) hasIntegration = true;
    }
  }
  files = [...new Set(files)];
}

if (files.length === 0) {
  die(
    existsSync(distTest)
      ? "no test files found under dist/test (unit/ or integration/, *.test.js): nothing ran, failing"
      : "dist/test does not exist: run `npm run build` first (no test ran, failing)",
  );
}

const envInt = (name, fallback) => {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) die(`${name} must be a positive integer, got ${JSON.stringify(v)}`);
  return n;
};
const concurrency = envInt("TEST_CONCURRENCY", hasIntegration ? 1 : Math.max(1, availableParallelism()));
const timeout = envInt("TEST_FILE_TIMEOUT_MS", hasIntegration ? 600_000 : 120_000);
const reporterName = process.env.TEST_REPORTER || (process.stdout.isTTY ? "spec" : "tap");
const reporter = reporters[reporterName];
if (!reporter) die(`unknown TEST_REPORTER ${JSON.stringify(reporterName)} (tap, spec, dot)`);

process.stderr.write(
  `run-tests: ${files.length} file(s), concurrency ${concurrency}, per-file timeout ${timeout} ms:\n` +
    files.map((f) => `  ${relative(root, f)}\n`).join(""),
);

const options = { files, concurrency, timeout };
if (process.env.TEST_NAME_PATTERN) options.testNamePatterns = [new RegExp(process.env.TEST_NAME_PATTERN)];

let failed = false;
let executed = 0;
const stream = run(options);
stream.on("test:fail", (ev) => {
  // A skipped/todo test never fails; anything else does.
  if (!ev.todo) failed = true;
});
stream.on("test:pass", (ev) => {
  if (!ev.skip && !ev.todo) executed++;
});
// Pipe rather than write: the summary lines must be the last thing printed.
const out = reporterName === "spec" ? stream.compose(new reporter()) : stream.compose(reporter);
out.pipe(process.stdout);
out.on("end", () => {
  if (!failed && executed === 0) {
    process.stderr.write("run-tests: no test passed or failed (all skipped or none defined): failing\n");
    process.exitCode = 1;
  } else {
    process.exitCode = failed ? 1 : 0;
  }
});
