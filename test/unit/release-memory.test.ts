// What a thread does once start-up is over (src/util/release-memory.ts): a
// full garbage collection on the calling thread, with V8's gc() exposed to
// nothing else, and glibc's malloc_trim giving freed malloc pages back
// (native/system; skipped with the reason when the helper is not built).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { runInNewContext } from "node:vm";
import { Worker } from "node:worker_threads";
import { canTrimMalloc, collectGarbage, exposeGc, releaseMemory } from "../../src/util/release-memory.js";

const rssKiB = (): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]);

test("collectGarbage collects what nothing refers to, and leaves gc() exposed nowhere", async () => {
  let target: object | undefined = { big: new Array(1000).fill("x") };
  const ref = new WeakRef(target);
  target = undefined;
  // A WeakRef's target lives at least until the current job ends.
  await new Promise((r) => setImmediate(r));
  collectGarbage();
  assert.equal(ref.deref(), undefined);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
  assert.equal(runInNewContext("typeof gc"), "undefined", "a context made later has no gc() either");
  collectGarbage(); // a second time: the function made once is reused
});

test("finding gc() never throws while another thread clears the process-wide flag", async () => {
  // As a media thread ending its warm-up while the main thread collects before its login.
  const clearer = new Worker(
    `const { setFlagsFromString } = require("node:v8");
     const { parentPort } = require("node:worker_threads");
     parentPort.postMessage("running");
     const end = Date.now() + 400;
     while (Date.now() < end) setFlagsFromString("--no-expose-gc");`,
    { eval: true },
  );
  await new Promise((r) => clearer.once("message", r));
  let found = 0;
  let tries = 0;
  const end = Date.now() + 300;
  while (Date.now() < end) {
    tries++;
    const gc = exposeGc(); // threw "gc is not defined" when the flag was cleared in between
    if (gc) {
      found++;
      gc();
    }
  }
  await new Promise((r) => clearer.once("exit", r));
  assert.ok(tries > 10, `${tries} tries`);
  assert.equal(typeof (globalThis as { gc?: unknown }).gc, "undefined");
  assert.ok(typeof exposeGc() === "function", `once nothing clears the flag gc() is found (found ${found} of ${tries} while it was being cleared)`);
});

test("releaseMemory gives freed malloc memory back to the system", { skip: canTrimMalloc() ? false : "native/system is not built (npm run build builds it)" }, async () => {
  // 64 KiB blocks (below glibc's mmap threshold: they come from the arena),
  // every one freed but the last, which keeps free() from trimming the top.
  const blocks: Buffer[] = [];
  for (let i = 0; i < 800; i++) blocks.push(Buffer.allocUnsafeSlow(64 * 1024).fill(i & 0xff));
  const last = blocks.pop()!;
  blocks.length = 0;
  await new Promise((r) => setImmediate(r));
  collectGarbage();
  const before = rssKiB();
  assert.equal(releaseMemory(), true, "malloc_trim gave pages back");
  const after = rssKiB();
  assert.ok(before - after > 20 * 1024, `RSS ${before} KiB -> ${after} KiB: at least 20 MiB of the ~50 MiB freed went back`);
  assert.equal(last[0], 799 & 0xff);
});
