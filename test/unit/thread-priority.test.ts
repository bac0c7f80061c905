// A media thread's scheduling (src/util/thread-priority.ts): each level falls
// back to the next one down when refused, saying why; and, with the real
// system helper in a real worker thread, the kernel's view of the thread
// (/proc/thread-self/stat) and of a process it starts (SCHED_RESET_ON_FORK:
// normal policy, nice 0).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Worker } from "node:worker_threads";
import { raiseThreadPriority, MEDIA_THREAD_NICE, MEDIA_THREAD_RT_PRIORITY, type PrioritySeams } from "../../src/util/thread-priority.js";
import { systemHelper } from "../../src/util/native-system.js";

type Call = [string, number];
function seams(refuse: { fifo?: string; other?: string; nice?: string }, helper = true): PrioritySeams & { calls: Call[] } {
  const calls: Call[] = [];
  const fail = (code: string) => Object.assign(new Error("Operation not permitted"), { code });
  return {
    calls,
    helper: helper
      ? {
          schedule: (policy, value) => {
            calls.push([policy, value]);
            const code = refuse[policy];
            if (code) throw fail(code);
          },
        }
      : null,
    setNice: (n) => {
      calls.push(["setPriority", n]);
      if (refuse.nice) throw fail(refuse.nice);
    },
  };
}

test("realtime: SCHED_FIFO at 10 when allowed, nothing else tried", () => {
  const s = seams({});
  assert.deepEqual(raiseThreadPriority("realtime", s), { wanted: "realtime", got: "realtime", refused: [] });
  assert.deepEqual(s.calls, [["fifo", MEDIA_THREAD_RT_PRIORITY]]);
});

test("realtime refused falls back to nice -10, and says why", () => {
  const s = seams({ fifo: "EPERM" });
  const r = raiseThreadPriority("realtime", s);
  assert.equal(r.got, "raised");
  assert.deepEqual(r.refused, ["realtime: EPERM: Operation not permitted"]);
  assert.deepEqual(s.calls, [["fifo", 10], ["other", MEDIA_THREAD_NICE]]);
});

test("both refused: the daemon's own priority, both reasons", () => {
  const s = seams({ fifo: "EPERM", other: "EPERM" });
  const r = raiseThreadPriority("realtime", s);
  assert.equal(r.got, "normal");
  assert.equal(r.refused.length, 2);
  assert.match(r.refused[1]!, /^raised: EPERM/);
});

test("without the system helper: no real-time, the nice value through os.setPriority", () => {
  const s = seams({}, false);
  const r = raiseThreadPriority("realtime", s);
  assert.deepEqual(r, { wanted: "realtime", got: "raised", refused: ["realtime: the system helper is not built (native/system)"] });
  assert.deepEqual(s.calls, [["setPriority", -10]]);
  const refused = seams({ nice: "EACCES" }, false);
  assert.equal(raiseThreadPriority("raised", refused).got, "normal");
});

test("raised asks for nice -10 only; normal asks for nothing", () => {
  const s = seams({});
  assert.equal(raiseThreadPriority("raised", s).got, "raised");
  assert.deepEqual(s.calls, [["other", -10]]);
  const n = seams({});
  assert.deepEqual(raiseThreadPriority("normal", n), { wanted: "normal", got: "normal", refused: [] });
  assert.deepEqual(n.calls, []);
});

test("the real helper on a real worker thread: the kernel sees the policy, and a child process does not inherit it", { skip: systemHelper() ? false : "native/system is not built (npm run build builds it)" }, async () => {
  // /proc stat fields 19 nice, 40 rt_priority, 41 policy (1-based): after the command name's ")" the list starts at field 3.
  const source = `
    const { parentPort, workerData } = require("node:worker_threads");
    const { readFileSync } = require("node:fs");
    const { execFileSync } = require("node:child_process");
    const fields = (s) => { const f = s.slice(s.lastIndexOf(")") + 2).split(" "); return { nice: Number(f[16]), rtPriority: Number(f[37]), policy: Number(f[38]) }; };
    import(workerData.module).then(({ raiseThreadPriority }) => {
      const outcome = raiseThreadPriority("realtime");
      const self = fields(readFileSync("/proc/thread-self/stat", "utf8"));
      const child = fields(execFileSync("cat", ["/proc/self/stat"], { encoding: "utf8" }));
      parentPort.postMessage({ outcome, self, child });
    });`;
  const module = new URL("../../src/util/thread-priority.js", import.meta.url).href;
  const w = new Worker(source, { eval: true, workerData: { module } });
  const r = (await new Promise((resolve, reject) => {
    w.once("message", resolve);
    w.once("error", reject);
  })) as { outcome: ReturnType<typeof raiseThreadPriority>; self: { nice: number; rtPriority: number; policy: number }; child: { nice: number; rtPriority: number; policy: number } };
  await w.terminate();
  const main = (await import("node:fs")).readFileSync("/proc/thread-self/stat", "utf8");
  const mainPolicy = Number(main.slice(main.lastIndexOf(")") + 2).split(" ")[38]);
  if (r.outcome.got === "realtime") {
    assert.deepEqual([r.self.policy, r.self.rtPriority], [1, MEDIA_THREAD_RT_PRIORITY], "SCHED_FIFO at 10");
  } else if (r.outcome.got === "raised") {
    assert.deepEqual([r.self.policy, r.self.nice], [0, MEDIA_THREAD_NICE]);
    assert.match(r.outcome.refused[0]!, /^realtime: E[A-Z]+/);
  } else {
    assert.equal(r.outcome.refused.length, 2);
  }
  // Only the thread: the test's own thread and the process it started are as they were.
  assert.equal(mainPolicy, 0);
  assert.deepEqual([r.child.policy, r.child.rtPriority, r.child.nice], [0, 0, 0], "the child process starts at the normal policy and nice 0");
});
