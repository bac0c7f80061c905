#!/usr/bin/env node
// Builds the native Opus backend (native/opus/opus_addon.c -> native/opus/build/jingled_opus.node)
// when the system libopus headers and Node's own headers are there, and the
// system helper (native/system/system_addon.c -> native/system/build/jingled_system.node:
// glibc's malloc_trim for src/util/release-memory.ts, a thread's scheduling policy
// for src/util/thread-priority.ts; it needs no library). An N-API
// addon needs nothing but node_api.h and a C compiler, so this calls the
// compiler directly (no node-gyp, no downloads).
//
// It never fails the build: without libopus-dev (or a compiler) it prints one
// line saying why, and Opus runs on opusscript (WASM) instead; without the
// system helper the daemon does not give freed malloc memory back, and its
// media threads get at most a raised nice value (os.setPriority), never a
// real-time policy.
//
//   node scripts/build-native.mjs            build if the output is missing or older than its sources
//   node scripts/build-native.mjs --force    build anyway
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const srcDir = join(root, "native", "opus");
const source = join(srcDir, "opus_addon.c");
const outDir = join(srcDir, "build");
const output = join(outDir, "jingled_opus.node");
const force = process.argv.includes("--force");

const say = (msg) => process.stdout.write(`build-native: ${msg}\n`);

/** Directory holding node_api.h: npm's nodedir, Node's install prefix, or node-gyp's cache. */
function nodeHeaders() {
  const candidates = [];
  if (process.env.npm_config_nodedir) candidates.push(join(process.env.npm_config_nodedir, "include", "node"));
  candidates.push(join(dirname(dirname(process.execPath)), "include", "node"));
  const home = process.env.HOME;
  if (home) candidates.push(join(home, ".cache", "node-gyp", process.versions.node, "include", "node"));
  return candidates.find((d) => existsSync(join(d, "node_api.h")));
}

/** Compiler and linker flags for libopus: pkg-config, else Debian's paths. */
function opusFlags() {
  try {
    const cflags = execFileSync("pkg-config", ["--cflags", "opus"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const libs = execFileSync("pkg-config", ["--libs", "opus"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const flags = { cflags: cflags.split(/\s+/).filter(Boolean), libs: libs.split(/\s+/).filter(Boolean) };
    // pkg-config may know the library while its headers are gone.
    const dirs = [...flags.cflags.filter((f) => f.startsWith("-I")).map((f) => f.slice(2)), "/usr/include", "/usr/local/include"];
    return dirs.some((d) => existsSync(join(d, "opus.h"))) ? flags : undefined;
  } catch {
    if (existsSync("/usr/include/opus/opus.h")) return { cflags: ["-I/usr/include/opus"], libs: ["-lopus"] };
    return undefined;
  }
}

function upToDate() {
  if (force || !existsSync(output)) return false;
  return statSync(output).mtimeMs >= statSync(source).mtimeMs;
}

/** Loads the addon in this process: proves it links against libopus and Node. */
function check() {
  const addon = createRequire(import.meta.url)(output);
  return addon.version();
}

function main() {
  if (upToDate()) {
    try {
      say(`native Opus backend up to date (${check()}): ${join("native", "opus", "build", "jingled_opus.node")}`);
      return;
    } catch {
      // Built here before but no longer loads (libopus removed?): build again.
    }
  }
  const headers = nodeHeaders();
  if (!headers) {
    say("no native Opus backend: Node's headers (node_api.h) not found; Opus runs on opusscript (WASM)");
    return;
  }
  const opus = opusFlags();
  if (!opus) {
    say("no native Opus backend: libopus headers not found (Debian: apt-get install libopus-dev); Opus runs on opusscript (WASM)");
    return;
  }
  const cc = process.env.CC || "cc";
  mkdirSync(outDir, { recursive: true });
  const tmp = `${output}.${process.pid}.tmp`;
  const args = [
    "-std=c11", "-O2", "-Wall", "-Wextra", "-fPIC", "-shared", "-fvisibility=hidden",
    `-I${headers}`, ...opus.cflags, source, "-o", tmp, ...opus.libs,
  ];
  const r = spawnSync(cc, args, { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    rmSync(output, { force: true }); // an older build would not match the sources
    const why = r.error ? r.error.message : (r.stderr || "").trim().split("\n").slice(0, 3).join(" | ") || `exit status ${r.status}`;
    say(`no native Opus backend: ${cc} failed (${why}); Opus runs on opusscript (WASM)`);
    return;
  }
  // Rename into place: a test loading the addon meanwhile never sees half a file.
  renameSync(tmp, output);
  try {
    say(`built the native Opus backend (${check()}): ${join("native", "opus", "build", "jingled_opus.node")}`);
  } catch (err) {
    rmSync(output, { force: true });
    say(`no native Opus backend: the built addon does not load (${err.message.split("\n")[0]}); Opus runs on opusscript (WASM)`);
  }
}

const systemSource = join(root, "native", "system", "system_addon.c");
const systemOutput = join(root, "native", "system", "build", "jingled_system.node");

function buildSystemHelper() {
  const name = join("native", "system", "build", "jingled_system.node");
  if (!force && existsSync(systemOutput) && statSync(systemOutput).mtimeMs >= statSync(systemSource).mtimeMs) {
    say(`system helper up to date: ${name}`);
    return;
  }
  const headers = nodeHeaders();
  if (!headers) {
    say("no system helper: Node's headers (node_api.h) not found");
    return;
  }
  const cc = process.env.CC || "cc";
  mkdirSync(dirname(systemOutput), { recursive: true });
  const tmp = `${systemOutput}.${process.pid}.tmp`;
  const r = spawnSync(cc, ["-std=c11", "-O2", "-Wall", "-Wextra", "-fPIC", "-shared", "-fvisibility=hidden", `-I${headers}`, systemSource, "-o", tmp], { encoding: "utf8" });
  if (r.error || r.status !== 0) {
    rmSync(tmp, { force: true });
    rmSync(systemOutput, { force: true });
    const why = r.error ? r.error.message : (r.stderr || "").trim().split("\n").slice(0, 3).join(" | ") || `exit status ${r.status}`;
    say(`no system helper: ${cc} failed (${why})`);
    return;
  }
  renameSync(tmp, systemOutput);
  try {
    createRequire(import.meta.url)(systemOutput).trim(); // loads, and the C library answers
    say(`built the system helper: ${name}`);
  } catch (err) {
    rmSync(systemOutput, { force: true });
    say(`no system helper: the built addon does not load (${err.message.split("\n")[0]})`);
  }
}

try {
  main();
} catch (err) {
  // Whatever went wrong here, the build goes on without the native backend.
  say(`no native Opus backend: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}; Opus runs on opusscript (WASM)`);
}
try {
  buildSystemHelper();
} catch (err) {
  say(`no system helper: ${err instanceof Error ? err.message.split("\n")[0] : String(err)}`);
}
