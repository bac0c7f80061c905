// Event hooks with real programs (bash scripts): the event on stdin, the
// documented environment and nothing else, matching, bounded concurrency and
// queue, timeouts that end the whole process group, failures logged.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { createEventBus } from "../../src/control/event-bus.js";
import type { Logger } from "../../src/util/logger.js";
import { createHookRunner, eventMatches, type HookRunner, type HooksConfig } from "../../src/hooks/hook-runner.js";

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "jingled-hooks-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function script(name: string, body: string): string {
  const path = join(dir, name);
  writeFileSync(path, `#!/bin/bash\n${body}\n`);
  chmodSync(path, 0o755);
  return path;
}

function capturingLogger(): { logger: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const logger = pino({ level: "debug" }, new Writable({ write: (c: Buffer, _e, cb) => (out.push(c.toString()), cb()) }));
  return { logger, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

async function until(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function setUp(cfg: Partial<HooksConfig> & Pick<HooksConfig, "run">, env: NodeJS.ProcessEnv = process.env) {
  const { logger, lines } = capturingLogger();
  const bus = createEventBus(logger);
  const runner: HookRunner = createHookRunner({ config: () => ({ maxConcurrent: 4, maxQueued: 100, ...cfg }), socketPath: "/run/jingled/control.sock", logger, env, killGraceMs: 500 });
  bus.subscribe(runner.onEvent);
  return { bus, runner, lines };
}

test("eventMatches: *, an event, EVENT.TYPE", () => {
  const e = { event: "call", seq: 1, time: "", type: "incoming" };
  assert.ok(eventMatches("*", e));
  assert.ok(eventMatches("call", e));
  assert.ok(eventMatches("call.incoming", e));
  assert.ok(!eventMatches("call.ended", e));
  assert.ok(!eventMatches("dtmf", e));
});

test("a hook gets the event as JSON on stdin and the documented environment, nothing else", async () => {
  const out = join(dir, "seen");
  const hook = script("record.sh", `cat > "${out}.json"; env > "${out}.env"`);
  const { bus, runner } = setUp({ run: [{ events: ["call.incoming"], command: [hook], timeoutSec: 10 }] }, { PATH: process.env.PATH, HOME: "/home/door", JINGLED_PASSWORD: "account-secret", JINGLED_MQTT_PASSWORD: "broker-secret", SECRET_TOKEN: "t" });
  bus.publish("call", { callId: "c1", type: "ringing", peer: "bob@example.org/phone" });
  bus.publish("call", { callId: "c2", type: "incoming", peer: "bob@example.org/phone" });
  await until(() => existsSync(`${out}.env`) && runner.running === 0, "the hook's output");
  const event = JSON.parse(readFileSync(`${out}.json`, "utf8")) as Record<string, unknown>;
  assert.deepEqual({ ...event, time: undefined }, { event: "call", seq: 2, time: undefined, callId: "c2", type: "incoming", peer: "bob@example.org/phone" });
  const env = Object.fromEntries(readFileSync(`${out}.env`, "utf8").trim().split("\n").map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  assert.equal(env.JINGLED_EVENT, "call");
  assert.equal(env.JINGLED_TYPE, "incoming");
  assert.equal(env.JINGLED_CALL_ID, "c2");
  assert.equal(env.JINGLED_PEER, "bob@example.org/phone");
  assert.equal(env.JINGLED_SEQ, "2");
  assert.equal(env.JINGLED_SOCKET, "/run/jingled/control.sock");
  assert.equal(env.HOME, "/home/door");
  for (const secret of ["JINGLED_PASSWORD", "JINGLED_MQTT_PASSWORD", "SECRET_TOKEN"]) assert.equal(env[secret], undefined, `${secret} is not passed`);
  await runner.stop();
});

test("arguments go to the program as they are: no shell", async () => {
  const out = join(dir, "argv");
  const hook = script("argv.sh", `printf '%s\\n' "$@" > "${out}"`);
  const { bus, runner } = setUp({ run: [{ events: ["dtmf"], command: [hook, "a b", "$(touch /tmp/x)", ";", "*"], timeoutSec: 10 }] });
  bus.publish("dtmf", { callId: "c1", digit: "5" });
  await until(() => existsSync(out) && runner.running === 0, "the hook");
  assert.deepEqual(readFileSync(out, "utf8").split("\n").slice(0, -1), ["a b", "$(touch /tmp/x)", ";", "*"]);
  await runner.stop();
});

test("at most maxConcurrent run at once; maxQueued wait; the rest are dropped and logged", async () => {
  const runningDir = join(dir, "running");
  const counts = join(dir, "counts");
  const hook = script("slow.sh", `mkdir -p "${runningDir}"; touch "${runningDir}/$$"; ls "${runningDir}" | wc -l >> "${counts}"; sleep 0.3; rm "${runningDir}/$$"`);
  const { bus, runner, lines } = setUp({ maxConcurrent: 2, maxQueued: 3, run: [{ events: ["stats"], command: [hook], timeoutSec: 10 }] });
  const t0 = Date.now();
  for (let i = 0; i < 8; i++) bus.publish("stats", { callId: "c1" });
  assert.ok(Date.now() - t0 < 250, "publishing does not wait for hooks");
  assert.equal(runner.running, 2);
  assert.equal(runner.queued, 3);
  await until(() => runner.running === 0 && runner.queued === 0, "all runs");
  const seen = readFileSync(counts, "utf8").trim().split("\n").map(Number);
  assert.equal(seen.length, 5, "2 running + 3 queued ran");
  assert.ok(Math.max(...seen) <= 2, `never more than 2 at once: ${seen.join(",")}`);
  assert.ok(lines().some((l) => l.msg === "hook queue full; run dropped"));
  await runner.stop();
});

test("a hook past its timeout is stopped, with what it started; the next one runs", async () => {
  const pidFile = join(dir, "grandchild.pid");
  const hook = script("hang.sh", `sleep 60 & echo $! > "${pidFile}"; wait`);
  const ok = join(dir, "after-timeout");
  const next = script("next.sh", `touch "${ok}"`);
  const { bus, runner, lines } = setUp({ maxConcurrent: 1, run: [{ events: ["call.ended"], command: [hook], timeoutSec: 0.3 }, { events: ["call.ended"], command: [next], timeoutSec: 5 }] });
  bus.publish("call", { callId: "c1", type: "ended", peer: "bob@example.org/phone", reason: "success" });
  await until(() => existsSync(ok), "the second hook after the first timed out");
  const log = lines();
  assert.ok(log.some((l) => l.msg === "hook timed out; stopping it" && l.timeoutSec === 0.3));
  assert.ok(log.some((l) => l.msg === "hook failed" && l.timedOut === true));
  const grandchild = Number(readFileSync(pidFile, "utf8"));
  // Gone, or a zombie waiting for whoever reaps orphans here (not every PID 1 does it promptly).
  const ended = (): boolean => {
    try {
      return readFileSync(`/proc/${grandchild}/stat`, "utf8").split(") ")[1]!.startsWith("Z");
    } catch {
      return true;
    }
  };
  await until(ended, "the program's own child (sleep) to be stopped too", 3000);
  await runner.stop();
});

test("failures are logged with the program's stderr; a missing program too; nothing else breaks", async () => {
  const bad = script("bad.sh", `cat > /dev/null; echo "no door here" >&2; exit 3`);
  const { bus, runner, lines } = setUp({ run: [{ events: ["*"], command: [bad], timeoutSec: 5 }, { events: ["*"], command: [join(dir, "missing")], timeoutSec: 5 }] });
  bus.publish("account", { state: "online" });
  await until(() => lines().filter((l) => /hook (failed|could not be started)/.test(String(l.msg))).length === 2, "two failures logged");
  const failed = lines().find((l) => l.msg === "hook failed")!;
  assert.equal(failed.exitCode, 3);
  assert.equal(failed.stderr, "no door here");
  assert.match(String(lines().find((l) => l.msg === "hook could not be started")!.err), /ENOENT/);
  assert.equal(runner.running, 0);
  await runner.stop();
  assert.ok(readdirSync(dir).length > 0);
});
