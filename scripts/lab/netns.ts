// Network namespaces for tests whose ICE agents must not see the host's
// interfaces (a browser sends connectivity checks to every address it finds).
// A namespace made here has only `lo`, up; it is deleted by destroy() and,
// whatever happens, when this Node process exits.
//
//   const ns = await createNetns("jingled-browser");
//   const [cmd, args] = ns.exec("prosody", ["-F"]);    // ip netns exec NAME prosody -F
//   await ns.destroy();
//
// `ip netns exec` execs the command, so the PID of the spawned process is the
// PID of the command itself (signals reach it directly).
//
// runSelfInNetns() re-runs the current test file inside a namespace: every
// server, daemon and browser the file then starts is in the namespace with no
// change to the shared helpers, and the node:test output (inherited stdout)
// reaches the test runner unchanged.
import { execFile, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { onExitCleanup } from "./process.js";

export const IP = "ip";
/** Set in the environment of a process started by runSelfInNetns (the namespace's name). */
export const NETNS_ENV = "JINGLED_TEST_NETNS";

export interface Netns {
  readonly name: string;
  /** The command line that runs `cmd args` inside the namespace (for spawn/startProcess). */
  exec(cmd: string, args: string[]): [string, string[]];
  /** Runs a command inside the namespace and resolves with its output (bounded in time). */
  run(cmd: string, args: string[], timeoutMs?: number): Promise<string>;
  /** Deletes the namespace. Idempotent. Processes still inside keep it alive until they exit. */
  destroy(): Promise<void>;
}

function ip(args: string[], timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(IP, args, { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`ip ${args.join(" ")} failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

let availability: Promise<{ ok: boolean; reason?: string }> | undefined;

/** Whether this process can create network namespaces (root and iproute2), with the reason when not. */
export function netnsAvailable(): Promise<{ ok: boolean; reason?: string }> {
  availability ??= (async () => {
    if (process.platform !== "linux") return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
    if (process.getuid?.() !== 0) return { ok: false, reason: "creating a network namespace (ip netns add) needs root" };
    try {
      await ip(["-V"]);
    } catch {
      return { ok: false, reason: "`ip` (iproute2) is not installed: run scripts/bootstrap.sh as root" };
    }
    // Creating one is the only real test (a container may forbid it).
    try {
      const probe = await createNetns("jingled-probe");
      await probe.destroy();
    } catch (err) {
      return { ok: false, reason: `cannot create a network namespace: ${(err as Error).message}` };
    }
    return { ok: true };
  })();
  return availability;
}

/** A fresh namespace named PREFIX-PID-RANDOM with only `lo`, up. */
export async function createNetns(prefix: string): Promise<Netns> {
  if (!/^[A-Za-z0-9_-]{1,40}$/.test(prefix)) throw new Error(`createNetns: invalid prefix ${JSON.stringify(prefix)}`);
  const name = `${prefix}-${process.pid}-${randomBytes(3).toString("hex")}`;
  await ip(["netns", "add", name]);
  let deleted = false;
  const delSync = (): void => {
    if (deleted) return;
    deleted = true;
    try {
      execFileSync(IP, ["netns", "del", name], { stdio: "ignore", timeout: 5000 });
    } catch {
      /* already gone */
    }
  };
  const unregister = onExitCleanup(delSync);
  try {
    await ip(["-n", name, "link", "set", "lo", "up"]);
  } catch (err) {
    delSync();
    unregister();
    throw err;
  }
  const exec = (cmd: string, args: string[]): [string, string[]] => [IP, ["netns", "exec", name, cmd, ...args]];
  return {
    name,
    exec,
    run: (cmd, args, timeoutMs = 15000) => ip(["netns", "exec", name, cmd, ...args], timeoutMs),
    destroy: async () => {
      if (deleted) return;
      deleted = true;
      unregister();
      await ip(["netns", "del", name]).catch(() => undefined);
    },
  };
}

/** The name of the namespace this process was started in by runSelfInNetns, if any. */
export function currentTestNetns(): string | undefined {
  return process.env[NETNS_ENV] || undefined;
}

/** Non-loopback interface addresses this process sees (none inside a namespace made here). */
export function nonLoopbackAddresses(): string[] {
  const out: string[] = [];
  for (const [ifname, addrs] of Object.entries(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal) out.push(`${ifname}:${a.address}`);
  }
  return out;
}

/**
 * Runs this same script (same node flags, same arguments, same environment
 * plus NETNS_ENV) inside `ns`, with stdio inherited, and resolves with its
 * exit code. SIGINT/SIGTERM/SIGHUP are passed on to the child (whose own
 * exit hooks stop what it started), SIGKILL follows 10 s later; after
 * `timeoutMs` it gets SIGTERM, then SIGKILL 10 s later. If this process
 * exits first, the child gets SIGTERM.
 */
export function runSelfInNetns(ns: Netns, timeoutMs: number): Promise<number> {
  const script = process.argv[1];
  if (!script) return Promise.reject(new Error("runSelfInNetns: no script path in process.argv"));
  const [cmd, args] = ns.exec(process.execPath, [...process.execArgv, script, ...process.argv.slice(2)]);
  const child = spawn(cmd, args, { stdio: "inherit", env: { ...process.env, [NETNS_ENV]: ns.name } });
  const alive = (): boolean => child.pid !== undefined && child.exitCode === null && child.signalCode === null;
  const kill = (sig: NodeJS.Signals): void => {
    if (!alive()) return;
    try {
      process.kill(child.pid!, sig);
    } catch {
      /* gone */
    }
  };
  let killTimer: NodeJS.Timeout | undefined;
  const terminate = (sig: NodeJS.Signals): void => {
    kill(sig);
    killTimer ??= setTimeout(() => kill("SIGKILL"), 10_000);
  };
  const onExit = (): void => kill("SIGTERM");
  process.on("exit", onExit);
  // Prepended: process.ts's own handlers (kill its children, exit) only exit
  // when nobody else listens, so this process waits for the child.
  const forwarded = (["SIGINT", "SIGTERM", "SIGHUP"] as const).map((s) => [s, () => terminate(s)] as const);
  for (const [s, fn] of forwarded) process.prependListener(s, fn);
  const timer = setTimeout(() => {
    process.stderr.write(`runSelfInNetns: ${script} still running after ${timeoutMs} ms: SIGTERM\n`);
    terminate("SIGTERM");
  }, timeoutMs);
  const done = (): void => {
    clearTimeout(timer);
    clearTimeout(killTimer);
    process.removeListener("exit", onExit);
    for (const [s, fn] of forwarded) process.removeListener(s, fn);
  };
  return new Promise((resolve, reject) => {
    child.once("error", (err) => {
      done();
      reject(err);
    });
    child.once("exit", (code, signal) => {
      done();
      resolve(code ?? (signal ? 128 + (signal === "SIGKILL" ? 9 : 15) : 1));
    });
  });
}

/**
 * The outer half of a test file that runs in a namespace of its own. Outside
 * one it checks that namespaces work and asks `unavailable` (a reason, or
 * undefined when the file can run); then it creates a namespace, re-runs the
 * file inside it (runSelfInNetns, bounded by `limitMs`), sets the exit code
 * and returns false — or, when the file cannot run, registers one skipped
 * test named `what` that gives the reason. Inside the namespace it returns
 * true: the file then defines its tests.
 *
 *   if (await inOwnNetns({ prefix: "jingled-nat", what: "NAT traversal lab", limitMs })) {
 *     describe(...);
 *   }
 */
export async function inOwnNetns(o: {
  prefix: string;
  what: string;
  limitMs: number;
  unavailable?: () => Promise<string | undefined> | string | undefined;
  /** Put before the reason in the skip message. */
  skipPrefix?: string;
  /**
   * Files `ip netns exec` bind-mounts over /etc inside the namespace (it
   * takes them from /etc/netns/NAME/), e.g. { "resolv.conf": "nameserver 127.0.0.1\n" }
   * for a DNS server of the test's own. Removed with the namespace.
   */
  etc?: Record<string, string>;
}): Promise<boolean> {
  if (currentTestNetns()) return true;
  const ns = await netnsAvailable();
  const why = !ns.ok ? ns.reason : await o.unavailable?.();
  if (why) {
    test(o.what, { skip: `${o.skipPrefix ?? ""}${why}` }, () => {});
    return false;
  }
  const netns = await createNetns(o.prefix);
  const etcDir = `/etc/netns/${netns.name}`;
  const removeEtc = (): void => rmSync(etcDir, { recursive: true, force: true });
  const unregister = o.etc ? onExitCleanup(removeEtc) : () => true;
  try {
    if (o.etc) {
      mkdirSync(etcDir, { recursive: true });
      for (const [file, text] of Object.entries(o.etc)) writeFileSync(join(etcDir, file), text);
    }
    process.exitCode = await runSelfInNetns(netns, o.limitMs);
  } finally {
    if (o.etc) {
      removeEtc();
      unregister();
    }
    await netns.destroy();
  }
  return false;
}
