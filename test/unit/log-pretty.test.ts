// Logs for people: readable lines on a terminal, JSON lines otherwise or when asked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { prettyLine } from "../../src/util/log-pretty.js";

const bin = fileURLToPath(new URL("../../../bin/jingled.js", import.meta.url));

test("prettyLine: time, level, component and call, message, then fields", () => {
  const t = new Date(2026, 0, 2, 12, 0, 1, 234).getTime();
  const line = prettyLine(JSON.stringify({ level: 30, time: t, pid: 7, name: "jingled", component: "call", call: "c1", msg: "call state", state: "active", rttMs: 12 }));
  assert.equal(line, "12:00:01.234 INFO  call c1: call state state=active rttMs=12\n");
  const err = prettyLine(JSON.stringify({ level: 50, time: t, msg: "failed", err: { type: "Error", message: "boom", stack: "Error: boom\n    at x" } }));
  assert.equal(err, '12:00:01.234 ERROR failed err="Error: boom"\n');
  assert.equal(prettyLine("not json"), "not json\n");
});

test("prettyLine: text a peer chose cannot reach the terminal raw (escape sequences, newlines)", () => {
  const hostile = "bob@example.org/\x1b[2J\x1b[1;1Hfake\nINFO all good";
  const line = prettyLine(JSON.stringify({ level: 40, time: 0, msg: `from ${hostile}`, peer: hostile }));
  assert.doesNotMatch(line, /\x1b|\r/, "no control character");
  assert.equal(line.split("\n").length, 2, "one line");
  assert.match(line, /peer="bob@example.org\/\\u001b\[2J/);
});

// A daemon whose server refuses the connection logs a few lines and exits 69: enough to see the format.
function runDaemon(args: string[], tty: boolean): { status: number | null; out: string } {
  const dir = mkdtempSync(join(tmpdir(), "jingled-log-"));
  try {
    const cfg = join(dir, "jingled.yaml");
    writeFileSync(cfg, `account: {jid: a@localhost, password: x, server: "xmpp://127.0.0.1:1"}\ncontrol: {socket: ${join(dir, "c.sock")}}\nice: {addresses: [127.0.0.1]}\n`);
    const cmd = [process.execPath, bin, "--config", cfg, ...args];
    // script(1) gives the daemon a terminal as stdout and stderr.
    const r = tty
      ? spawnSync("script", ["-qec", cmd.map((a) => `'${a}'`).join(" "), "/dev/null"], { encoding: "utf8", timeout: 30_000, env: { ...process.env, NO_COLOR: "1" } })
      : spawnSync(cmd[0]!, cmd.slice(1), { encoding: "utf8", timeout: 30_000 });
    return { status: r.status, out: tty ? r.stdout : r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("jingled logs readable lines on a terminal and JSON lines otherwise or with --log-format json", (t) => {
  if (spawnSync("script", ["--version"]).status !== 0) {
    t.skip("script(1) (util-linux) is not installed");
    return;
  }
  const onTty = runDaemon([], true);
  assert.equal(onTty.status, 69, onTty.out);
  assert.match(onTty.out, /^\d\d:\d\d:\d\d\.\d{3} INFO  jingled started, control socket listening version=/m);
  assert.doesNotMatch(onTty.out, /^\{"level"/m);

  const piped = runDaemon([], false);
  assert.equal(piped.status, 69, piped.out);
  const first = JSON.parse(piped.out.split("\n").find((l) => l.startsWith("{"))!) as { level: number; msg: string };
  assert.equal(typeof first.level, "number");

  const asked = runDaemon(["--log-format", "json"], true);
  assert.match(asked.out, /^\{"level":30,/m, "JSON on a terminal when asked");
});
