// A media thread's log lines (src/app/media-plane/plane-log.ts): what the
// thread's logger posts, carried over a real MessageChannel and written by
// a pino logger on this side, reads as the same calls on a pino logger of
// the thread's own would have (every field but the time): bindings, levels,
// errors with their class, code, stack and cause.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MessageChannel } from "node:worker_threads";
import { pino } from "pino";
import { JingledError } from "../../src/util/errors.js";
import type { Logger } from "../../src/util/logger.js";
import { planeLogger, writePlaneLog, type LogRecord } from "../../src/app/media-plane/plane-log.js";

/** A pino logger as util/logger.ts makes it, writing into `lines` (time left out). */
function capture(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino({ name: "jingled", level: "trace", base: { pid: process.pid } }, {
    write: (s: string) => {
      const { time: _time, ...rest } = JSON.parse(s) as Record<string, unknown>;
      lines.push(rest);
    },
  });
  return { log, lines };
}

// The errors are made once: their stacks name where they were made.
const cause = new Error("socket closed");
const err = new JingledError("media-error", "send failed", { cause });
(err as unknown as { port: number }).port = 5004;
const bad = new TypeError("bad frame");

/** The same calls made on `log`. */
function script(log: Logger): void {
  const t = log.child({ thread: 3 });
  const m = t.child({ module: "media-path" });
  m.info({ call: "c1", ms: 12 }, "media flowing");
  m.debug("no fields");
  m.warn({ err, call: "c1" }, "call media failed");
  t.error(bad);
  t.child({ module: "warm-up" }, { level: "silent" }).info("never written");
}

test("a thread's lines, carried across a MessageChannel, read as a pino logger of its own would have written them", async () => {
  const direct = capture();
  script(direct.log);

  const forwarded = capture();
  const { port1, port2 } = new MessageChannel();
  let received = 0;
  port2.on("message", (r: LogRecord) => {
    received++;
    writePlaneLog(forwarded.log, r);
  });
  script(planeLogger({ level: "trace", post: (r) => port1.postMessage(r) }));
  while (received < direct.lines.length) await new Promise((r) => setImmediate(r));
  port1.close();

  assert.equal(direct.lines.length, 4);
  assert.deepEqual(forwarded.lines, direct.lines);
  const warn = forwarded.lines[2]!.err as Record<string, unknown>;
  assert.equal(warn.type, "JingledError");
  assert.equal(warn.code, "media-error");
  assert.equal(warn.port, 5004);
  assert.match(String(warn.message), /send failed: socket closed/);
  assert.match(String(warn.stack), /caused by: Error: socket closed/);
});

test("the level: set on the thread's root it reaches every logger made from it, except one with a level of its own", () => {
  const records: LogRecord[] = [];
  const root = planeLogger({ level: "info", post: (r) => records.push(r) });
  const call = root.child({ thread: 1 }).child({ call: "c1" });
  const quiet = root.child({ module: "warm-up" }, { level: "silent" });
  call.debug("hidden");
  root.level = "debug";
  call.debug("shown");
  quiet.error("still silent");
  assert.deepEqual(
    records.map((r) => [r.level, r.msg, r.fields]),
    [["debug", "shown", { thread: 1, call: "c1" }]],
  );
});

test("a field that cannot cross a thread boundary goes as JSON would write it, and the line is not lost", () => {
  const { port1 } = new MessageChannel();
  const sent: LogRecord[] = [];
  const log = planeLogger({
    level: "info",
    post: (r) => {
      port1.postMessage(r); // throws DataCloneError for a function
      sent.push(r);
    },
  });
  log.info({ call: "c1", onDone: () => undefined, n: 2 }, "with a callback");
  port1.close();
  assert.deepEqual(sent.map((r) => [r.msg, r.fields]), [["with a callback", { call: "c1", n: 2 }]]);
});
