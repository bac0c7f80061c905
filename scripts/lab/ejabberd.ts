// A throwaway ejabberd 23.01 (Debian's) on 127.0.0.1 for tests, like
// ./prosody.ts for Prosody. No test-framework imports here.
//
//   const xmpp = await startEjabberd({ users: [{ username: "alice", password: "a" }] });
//   ... connect to xmpp.host:xmpp.port, trust readFileSync(xmpp.caFile) ...
//   await xmpp.stop();
//
// Everything lives in a fresh temp dir (ejabberd.yml, a self-signed
// certificate, the Mnesia spool, logs), which stop() removes.
//
// Erlang distribution without epmd. ejabberdctl talks to the server over
// Erlang distribution, which normally registers node names with epmd, one
// daemon per machine on port 4369, started by the first node and left
// running after it. Two test files (or two people) would then share one
// epmd, and a name clash or a leftover epmd from a crashed run would decide
// who may start. Instead each server listens for distribution on a free
// port of its own (OTP 23+: -erl_epmd_port PORT -start_epmd false, what
// ejabberdctl's ERL_DIST_PORT does) under a unique node name and cookie, and
// its control commands connect to that port directly (-dist_listen false).
// No epmd is ever started.
//
// Why not the ejabberdctl script itself: as root it switches to the
// `ejabberd` system user (su), and for anyone else but that user it refuses
// to run. So the server and its control commands are started with the
// command lines ejabberdctl builds (`erl ... -s ejabberd` and
// `erl ... -s ejabberd_ctl -extra NODE COMMAND ARGS`, the same ejabberd_ctl
// module ejabberdctl calls), as the current user. The server is our direct
// child (erl execs beam.smp) and is stopped by PID.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { freePort, tcpAccepts } from "./ports.js";
import { onExitCleanup, pidAlive, startProcess, type ManagedProcess } from "./process.js";

export interface EjabberdUser {
  username: string;
  password: string;
}

export interface EjabberdOptions {
  /** XMPP domain (default "localhost"). */
  domain?: string;
  /** Accounts created with ejabberd_ctl `register` once the server runs. */
  users?: EjabberdUser[];
  /**
   * STUN/TURN: an ejabberd_stun listener on a free UDP port with its built-in
   * TURN (use_turn, relay addresses on 127.0.0.1, loopback peers allowed), and
   * mod_stun_disco offering it with short-lived credentials (XEP-0215).
   */
  turn?: boolean;
  /** SCRAM hash the passwords are stored with, which decides the SCRAM mechanism offered (default "sha": SCRAM-SHA-1). */
  scramHash?: "sha" | "sha256" | "sha512";
  /** Extra top-level modules (merged over the defaults), e.g. { mod_offline: {} }. */
  modules?: Record<string, unknown>;
  /** Log level of ejabberd.log (default "info": logins, resumptions, TURN allocations). */
  logLevel?: "debug" | "info" | "warning" | "error";
  /** How long to wait for the server (default 30000 ms). */
  startTimeoutMs?: number;
  /** Keep the temp dir after stop() (also when env KEEP_EJABBERD_DIR=1). */
  keepDir?: boolean;
}

export interface EjabberdServer {
  readonly domain: string;
  readonly host: "127.0.0.1";
  /** c2s port (STARTTLS required). */
  readonly port: number;
  /** UDP port of the STUN/TURN listener when `turn` was asked for. */
  readonly stunPort: number | undefined;
  /** TURN relay ports [min, max] when `turn` was asked for. */
  readonly relayPorts: [number, number] | undefined;
  /** The self-signed certificate: pass it as `ca` to trust the server. */
  readonly caFile: string;
  readonly dir: string;
  readonly configFile: string;
  readonly logFile: string;
  /** Erlang node name (unique per server) and its distribution port. */
  readonly node: string;
  readonly distPort: number;
  readonly pid: number;
  readonly process: ManagedProcess;
  /** Milliseconds: until c2s accepted connections, and for creating the initial users. */
  readonly timings: { startMs: number; usersMs: number };
  /** username@domain */
  jid(username: string): string;
  /** Runs an ejabberd_ctl command (what `ejabberdctl COMMAND ARGS...` runs) and returns its output. */
  ctl(...args: string[]): Promise<string>;
  /** Create an account (ejabberd_ctl register). */
  registerUser(username: string, password: string): Promise<void>;
  /** SIGTERM by PID (Erlang stops cleanly on it), wait (SIGKILL after 8 s), then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** ejabberd.log (kept in memory after stop()) plus anything the VM printed. */
  logs(): string;
}

const EJABBERDCTL = "/usr/sbin/ejabberdctl";

/** Why ejabberd cannot be started here, or undefined when it can. */
export function ejabberdUnavailable(): string | undefined {
  if (!existsSync(EJABBERDCTL) || !existsSync("/usr/bin/erl")) return "ejabberd is not installed (apt-get install ejabberd; scripts/bootstrap.sh does it as root)";
  if (!erlLibs()) return `cannot find ejabberd's Erlang library directory (ERL_LIBS in ${EJABBERDCTL})`;
  return undefined;
}

/** Where Debian puts ejabberd's Erlang applications: the ERL_LIBS ejabberdctl sets. */
function erlLibs(): string | undefined {
  try {
    return /^ERL_LIBS='([^']+)'/m.exec(readFileSync(EJABBERDCTL, "utf8"))?.[1];
  } catch {
    return undefined;
  }
}

function run(cmd: string, args: string[], env: Record<string, string>, timeoutMs = 30000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8", env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`.trim();
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${out}`));
      else resolve(out);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function checkName(kind: string, value: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(value)) throw new Error(`startEjabberd: invalid ${kind} ${JSON.stringify(value)}`);
}

/** The ejabberd.yml for one throwaway server. */
function configYaml(o: {
  domain: string;
  certFile: string;
  port: number;
  stunPort: number | undefined;
  relayPorts: [number, number] | undefined;
  scramHash: string;
  logLevel: string;
  modules: Record<string, unknown>;
}): string {
  const listen: Record<string, unknown>[] = [
    { port: o.port, ip: "127.0.0.1", module: "ejabberd_c2s", starttls_required: true, max_stanza_size: 262144 },
  ];
  if (o.stunPort !== undefined && o.relayPorts) {
    listen.push({
      port: o.stunPort,
      ip: "127.0.0.1",
      transport: "udp",
      module: "ejabberd_stun",
      use_turn: true,
      // The address relayed candidates get; every test endpoint is on loopback.
      turn_ipv4_address: "127.0.0.1",
      turn_min_port: o.relayPorts[0],
      turn_max_port: o.relayPorts[1],
      // ejabberd refuses to relay to loopback by default (22.05+); here every peer is on loopback.
      turn_blacklist: [],
    });
  }
  const cfg = {
    loglevel: o.logLevel,
    log_rotate_count: 0,
    hosts: [o.domain],
    certfiles: [o.certFile],
    listen,
    auth_method: "internal",
    auth_password_format: "scram",
    auth_scram_hash: o.scramHash,
    acl: { local: { user_regexp: "" } },
    access_rules: { local: { allow: "local" }, c2s: { allow: "all" } },
    api_permissions: { "console commands": { from: ["ejabberd_ctl"], who: "all", what: "*" } },
    shaper_rules: { max_user_sessions: 10 },
    modules: {
      mod_caps: {},
      mod_carboncopy: {},
      mod_disco: {},
      mod_ping: {},
      mod_roster: {},
      // XEP-0198; a cut connection's session waits this long for a resumption.
      mod_stream_mgmt: { resume_timeout: 300 },
      ...(o.stunPort !== undefined ? { mod_stun_disco: {} } : {}),
      ...o.modules,
    },
  };
  return "# Generated by scripts/lab/ejabberd.ts: a throwaway server for tests.\n" + stringify(cfg);
}

export async function startEjabberd(opts: EjabberdOptions = {}): Promise<EjabberdServer> {
  const unavailable = ejabberdUnavailable();
  if (unavailable) throw new Error(`startEjabberd: ${unavailable}`);
  const domain = opts.domain ?? "localhost";
  checkName("domain", domain);
  const users = opts.users ?? [];
  for (const u of users) checkName("username", u.username);
  const keepDir = opts.keepDir === true || process.env.KEEP_EJABBERD_DIR === "1";
  const startTimeoutMs = opts.startTimeoutMs ?? 30000;
  const t0 = performance.now();

  const dir = mkdtempSync(join(tmpdir(), "jingled-ejabberd-"));
  let unregisterCleanup = onExitCleanup(() => {
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  });
  const fail = (err: unknown): never => {
    unregisterCleanup();
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  };
  const spoolDir = join(dir, "spool");
  const logsDir = join(dir, "logs");
  const configFile = join(dir, "ejabberd.yml");
  const logFile = join(logsDir, "ejabberd.log");
  const caFile = join(dir, `${domain}.crt`);
  const keyFile = join(dir, `${domain}.key`);
  const certFile = join(dir, `${domain}.pem`); // certificate and key in one file, as ejabberd's certfiles take them
  mkdirSync(spoolDir);
  mkdirSync(logsDir);

  try {
    await run("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", keyFile, "-out", caFile, "-days", "3650", "-subj", `/CN=${domain}`,
      "-addext", `subjectAltName=DNS:${domain},IP:127.0.0.1`,
    ], {});
    writeFileSync(certFile, readFileSync(caFile, "utf8") + readFileSync(keyFile, "utf8"), { mode: 0o600 });
  } catch (err) {
    fail(err);
  }

  const libs = erlLibs()!;
  const cookie = randomBytes(12).toString("hex");
  const node = `jt${process.pid}x${randomBytes(3).toString("hex")}@localhost`;
  const env: Record<string, string> = {
    ERL_LIBS: libs,
    EJABBERD_CONFIG_PATH: configFile,
    EJABBERD_LOG_PATH: logFile,
    ERL_CRASH_DUMP: join(logsDir, "erl_crash.dump"),
    ERL_CRASH_DUMP_BYTES: "0",
    // No inetrc: the system's /etc/ejabberd one is not ours to read.
    ERL_INETRC: join(dir, "inetrc"),
  };
  writeFileSync(env.ERL_INETRC!, '{lookup,["file","native"]}.\n{host,{127,0,0,1}, ["localhost"]}.\n');
  const readLog = (): string => {
    try {
      return readFileSync(logFile, "utf8");
    } catch {
      return "";
    }
  };

  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort("tcp");
    const distPort = await freePort("tcp");
    const stunPort = opts.turn ? await freePort("udp") : undefined;
    // A relay range of its own, away from where coturn's helper puts its ranges (40000-59999).
    const relayBase = 30000 + ((stunPort ?? 0) % 250) * 8;
    const relayPorts: [number, number] | undefined = opts.turn ? [relayBase, relayBase + 7] : undefined;
    writeFileSync(configFile, configYaml({ domain, certFile, port, stunPort, relayPorts, scramHash: opts.scramHash ?? "sha", logLevel: opts.logLevel ?? "info", modules: opts.modules ?? {} }));

    const distArgs = ["-setcookie", cookie, "-erl_epmd_port", String(distPort), "-start_epmd", "false"];
    let proc: ManagedProcess;
    try {
      proc = await startProcess(
        "/usr/bin/erl",
        ["-sname", node, ...distArgs, "+K", "true", "+P", "250000", "-mnesia", "dir", `"${spoolDir}"`, "-ejabberd", "log_rotate_count", "0", "-s", "ejabberd", "-noinput"],
        { name: `ejabberd:${port}`, cwd: spoolDir, env },
      );
    } catch (err) {
      return fail(err);
    }

    const deadline = performance.now() + startTimeoutMs;
    let ready = false;
    let why = "";
    while (!ready) {
      if (!proc.running()) {
        why = `ejabberd exited (code ${await proc.exited}) before accepting connections`;
        break;
      }
      const seen = readLog() + proc.output();
      if (/eaddrinuse/i.test(seen)) {
        why = "a port was taken";
        break;
      }
      if (/is started in the node/.test(seen) && (await tcpAccepts("127.0.0.1", port))) {
        ready = true;
        break;
      }
      if (performance.now() > deadline) {
        why = `ejabberd did not accept connections on 127.0.0.1:${port} within ${startTimeoutMs} ms`;
        break;
      }
      await sleep(50);
    }
    if (!ready) {
      await proc.stop("SIGTERM", 5000);
      lastError = new Error(`startEjabberd: ${why}\n--- ejabberd output ---\n${proc.output()}\n--- ${logFile} ---\n${readLog()}`);
      if (/was taken/.test(why)) {
        rmSync(spoolDir, { recursive: true, force: true });
        mkdirSync(spoolDir);
        continue;
      }
      return fail(lastError);
    }
    const startMs = performance.now() - t0;

    const ctl = (...args: string[]): Promise<string> =>
      run(
        "/usr/bin/erl",
        ["-sname", `ctl${randomBytes(4).toString("hex")}@localhost`, ...distArgs, "-dist_listen", "false", "-hidden", "-noinput", "-s", "ejabberd_ctl", "-extra", node, ...args],
        env,
      );

    let savedLog: string | undefined;
    let stopped: Promise<void> | undefined;
    const server: EjabberdServer = {
      domain,
      host: "127.0.0.1",
      port,
      stunPort,
      relayPorts,
      caFile,
      dir,
      configFile,
      logFile,
      node,
      distPort,
      pid: proc.pid,
      process: proc,
      timings: { startMs, usersMs: 0 },
      jid: (username) => `${username}@${domain}`,
      ctl,
      registerUser: async (username, password) => {
        checkName("username", username);
        const out = await ctl("register", username, domain, password);
        if (!/successfully registered/.test(out)) throw new Error(`ejabberd_ctl register ${username}: ${out}`);
      },
      stop: () => {
        stopped ??= (async () => {
          await proc.stop("SIGTERM", 8000);
          for (let i = 0; i < 100 && pidAlive(proc.pid); i++) await sleep(20);
          savedLog = readLog();
          if (!keepDir) rmSync(dir, { recursive: true, force: true });
          unregisterCleanup();
          unregisterCleanup = () => true;
        })();
        return stopped;
      },
      logs: () => {
        const out = proc.output();
        return (savedLog ?? readLog()) + (out ? `\n--- ejabberd stdout/stderr ---\n${out}` : "");
      },
    };

    const tUsers = performance.now();
    try {
      await Promise.all(users.map((u) => server.registerUser(u.username, u.password)));
    } catch (err) {
      await server.stop();
      throw err;
    }
    server.timings.usersMs = performance.now() - tUsers;
    return server;
  }
  return fail(lastError);
}
