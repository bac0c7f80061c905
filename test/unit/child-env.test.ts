// Helper processes (arecord, aplay, parec, pacat through device-process.ts;
// pactl through devices.ts) get a minimal environment: what they need for the
// program and the sound server, never JINGLED_PASSWORD or anything else the
// daemon was given. Fake helpers on PATH write down what they got.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDeviceProcess } from "../../src/media/device-process.js";
import { createSource } from "../../src/media/sources/index.js";
import { listDevices } from "../../src/app/devices.js";
import { helperEnv } from "../../src/util/child-env.js";

/** What a shell adds to its own environment. */
const SHELL_OWN = new Set(["PWD", "OLDPWD", "SHLVL", "_"]);

let bin: string;
const saved = { PATH: process.env.PATH, JINGLED_PASSWORD: process.env.JINGLED_PASSWORD, SECRET_TOKEN: process.env.SECRET_TOKEN };

before(() => {
  bin = mkdtempSync(join(tmpdir(), "jingled-fake-helpers-"));
  // Each fake helper records its environment, then idles (pactl prints nothing).
  for (const name of ["arecord", "aplay", "pactl", "env-dump"]) {
    writeFileSync(join(bin, name), `#!/bin/sh\nenv > "${bin}/${name}.env"\n[ "$(basename "$0")" = pactl ] && exit 0\nexec sleep 20\n`);
    chmodSync(join(bin, name), 0o755);
  }
  process.env.PATH = `${bin}:${process.env.PATH}`;
  process.env.JINGLED_PASSWORD = "hunter2-the-account-password";
  process.env.SECRET_TOKEN = "anything-else-the-daemon-was-given";
  process.env.PULSE_SERVER = "unix:/nonexistent/pulse";
});

after(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  delete process.env.PULSE_SERVER;
  rmSync(bin, { recursive: true, force: true });
});

async function envOf(name: string): Promise<Map<string, string>> {
  const file = join(bin, `${name}.env`);
  for (let i = 0; i < 200 && !existsSync(file); i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 20));
  const map = new Map<string, string>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) map.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return map;
}

function assertMinimal(env: Map<string, string>, what: string): void {
  assert.ok(![...env.values()].some((v) => v.includes("hunter2")), `${what}: the password is not in its environment`);
  assert.equal(env.get("SECRET_TOKEN"), undefined, `${what}: nor anything else of the daemon's`);
  const allowed = new Set(Object.keys(helperEnv({ ...Object.fromEntries([...env].map(([k]) => [k, "x"])) })));
  const extra = [...env.keys()].filter((k) => !allowed.has(k) && !SHELL_OWN.has(k));
  assert.deepEqual(extra, [], `${what}: only what a sound helper needs`);
  assert.equal(env.get("PULSE_SERVER"), "unix:/nonexistent/pulse", `${what}: the sound server is still found`);
  assert.ok(env.get("PATH")?.startsWith(bin), `${what}: PATH is kept`);
}

test("a device helper (device-process.ts) gets a minimal environment", async () => {
  const proc = startDeviceProcess("test helper", "env-dump", [], () => undefined);
  try {
    assertMinimal(await envOf("env-dump"), "env-dump");
  } finally {
    proc.close();
  }
});

test("arecord (the ALSA source) gets a minimal environment", async () => {
  const src = createSource({ type: "alsa", device: "default" }, 8000) as { close?: () => unknown };
  try {
    assertMinimal(await envOf("arecord"), "arecord");
  } finally {
    await src.close?.();
  }
});

test("pactl (the devices command) gets a minimal environment", async () => {
  await listDevices();
  assertMinimal(await envOf("pactl"), "pactl");
});

test("jingled's main() takes JINGLED_PASSWORD out of its environment once read", async () => {
  const { main } = await import("../../src/main.js");
  const cfg = join(bin, "bad.yaml");
  writeFileSync(cfg, "account: {jid: not-a-jid}\n"); // refused (exit 78) right after loading: nothing is started
  process.env.JINGLED_PASSWORD = "hunter2-the-account-password";
  const stderr = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    assert.equal(await main(["--config", cfg]), 78);
  } finally {
    process.stderr.write = stderr;
  }
  assert.equal(process.env.JINGLED_PASSWORD, undefined);
});
