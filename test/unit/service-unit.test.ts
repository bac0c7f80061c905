// scripts/jingled.service: the hardening that fits jingled, reload by SIGHUP,
// the socket in its own runtime directory; systemd-analyze accepts it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { EXIT } from "../../src/util/exit-codes.js";

const unitFile = fileURLToPath(new URL("../../../scripts/jingled.service", import.meta.url));
const text = readFileSync(unitFile, "utf8");

function directives(): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) m.set(match[1]!, [...(m.get(match[1]!) ?? []), match[2]!]);
  }
  return m;
}

test("jingled.service: hardening, socket directory, reload and stop behaviour", () => {
  const d = directives();
  const one = (k: string) => d.get(k)?.at(-1);
  for (const [k, v] of [
    ["NoNewPrivileges", "yes"],
    ["ProtectSystem", "strict"],
    ["ProtectHome", "yes"],
    ["PrivateTmp", "yes"],
    ["RuntimeDirectory", "jingled"],
    ["RuntimeDirectoryMode", "0700"],
    ["Environment", "XDG_RUNTIME_DIR=%t"],
    ["ExecReload", "/bin/kill -HUP $MAINPID"],
    ["KillSignal", "SIGTERM"],
    ["Restart", "on-failure"],
    ["CapabilityBoundingSet", ""],
    ["UMask", "0077"],
  ] as const) {
    assert.equal(one(k), v, k);
  }
  // Node needs netlink to list interface addresses for ICE; nothing else beyond IP and Unix sockets.
  assert.deepEqual(one("RestrictAddressFamilies")!.split(" ").sort(), ["AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"]);
  // V8's JIT needs writable+executable memory.
  assert.equal(one("MemoryDenyWriteExecute"), "no");
  // Media threads: real-time priority 10 at most, nice -10 at most, and the two calls that set a thread's own
  // scheduling allowed back after @resources (src/util/thread-priority.ts).
  assert.equal(one("RestrictRealtime"), "no");
  assert.equal(one("LimitRTPRIO"), "10");
  assert.equal(one("LimitNICE"), "-10");
  const filters = d.get("SystemCallFilter") ?? [];
  assert.ok(filters.indexOf("sched_setattr setpriority") > filters.findIndex((f) => f.includes("@resources")), "sched_setattr and setpriority come after the @resources deny");
  assert.match(one("ExecStart")!, /bin\/jingled\.js --config \/etc\/jingled\/jingled\.yaml$/);
});

test("jingled.service restarts what a restart can fix (server not up yet: 69) and nothing else (wrong password 77, bad config 78, usage 64)", () => {
  const d = directives();
  assert.equal(d.get("Restart")?.at(-1), "on-failure");
  const prevented: number[] = (d.get("RestartPreventExitStatus")?.at(-1) ?? "").split(/\s+/).map(Number).sort((a, b) => a - b);
  const noRestart: number[] = Object.values(EXIT).filter((e) => !e.restartHelps && e.code !== 0).map((e) => e.code).sort((a, b) => a - b);
  assert.deepEqual(prevented, noRestart);
  for (const code of [EXIT.unavailable.code, EXIT.protocol.code, EXIT.failure.code]) assert.ok(!prevented.includes(code), `${code} is restarted`);
  assert.ok(prevented.includes(EXIT.noPermission.code) && prevented.includes(EXIT.config.code));
});

test("jingled.service: systemd-analyze verify reports nothing", (t) => {
  if (spawnSync("systemd-analyze", ["--version"]).status !== 0) {
    t.skip("systemd-analyze is not installed");
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), "jingled-unit-"));
  try {
    // Verify checks that ExecStart's program exists: point it at this node.
    const file = join(dir, "jingled.service");
    writeFileSync(file, text.replace("/usr/bin/node", process.execPath));
    const r = spawnSync("systemd-analyze", ["verify", file], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    const complaints = (r.stderr + r.stdout).split("\n").filter((l) => l.includes("jingled.service"));
    assert.deepEqual(complaints, []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the daemon's V8 flags are the same wherever it is started: shebang, unit, Dockerfile, compose, test helper", async () => {
  const { JINGLED_NODE_FLAGS } = await import("../../scripts/lab/daemon.js");
  const root = fileURLToPath(new URL("../../../", import.meta.url));
  assert.deepEqual(JINGLED_NODE_FLAGS, ["--max-semi-space-size=2"], "the flags the shebang of bin/jingled.js gives");
  const flags = JINGLED_NODE_FLAGS.join(" ");
  const execStart = directives().get("ExecStart")![0]!;
  assert.ok(execStart.includes(`node ${flags} `), `ExecStart: ${execStart}`);
  assert.ok(readFileSync(join(root, "Dockerfile"), "utf8").includes(`"node", ${JINGLED_NODE_FLAGS.map((f) => `"${f}"`).join(", ")}, "bin/jingled.js"`), "Dockerfile CMD");
  const compose = readFileSync(join(root, "docker-compose.yml"), "utf8");
  const commands = compose.split("\n").filter((l) => l.includes("bin/jingled.js"));
  assert.ok(commands.length >= 2 && commands.every((l) => l.includes(`"node", "${flags}", "bin/jingled.js"`)), commands.join("\n"));
});
