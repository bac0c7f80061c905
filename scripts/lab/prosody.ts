// A throwaway Prosody 0.12 (Debian's) on 127.0.0.1 for tests and the demo.
// No test-framework imports here: the demo imports this module from dist.
//
//   const xmpp = await startProsody({ users: [{ username: "alice", password: "a" }] });
//   ... connect to xmpp.host:xmpp.port, trust readFileSync(xmpp.caFile) ...
//   await xmpp.stop();
//
// Everything lives in a fresh temp dir (config, self-signed certificate, data,
// pidfile, log), which stop() removes. The server runs in the foreground
// (`prosody -F --config FILE`), so it is our child and is killed by PID when
// this Node process exits, whatever happens.
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, tcpAccepts } from "./ports.js";
import { onExitCleanup, pidAlive, startProcess, type ManagedProcess } from "./process.js";

export interface ProsodyUser {
  username: string;
  password: string;
}

export interface ProsodyOptions {
  /** XMPP domain of the single VirtualHost (default "localhost"). */
  domain?: string;
  /** Accounts created once the server accepts connections. */
  users?: ProsodyUser[];
  /**
   * Extra modules for modules_enabled, e.g. "websocket", "external_services",
   * "bosh", "mam". HTTP modules (websocket, bosh, http*) make the server also
   * listen for plain HTTP on a free port on 127.0.0.1 (see httpPort).
   */
  modules?: string[];
  /**
   * The modules every test server has (roster, saslauth, tls, disco, carbons,
   * ping, smacks). [] with no `modules`: no modules_enabled line at all, so
   * that `extraConfig` alone says which modules run (a configuration under test).
   */
  baseModules?: string[];
  /** Lua config text placed in the global section (before the VirtualHost). */
  extraConfig?: string;
  /** Lua config text placed inside the VirtualHost section (of every host, extraHosts included). */
  hostConfig?: string;
  /** Force the HTTP listener even without an HTTP module in `modules`. */
  http?: boolean;
  /** Level of the log file (default "debug": stanzas are logged, handy when a test fails). */
  logLevel?: "debug" | "info" | "warn" | "error";
  /** How long to wait for the c2s port (default 15000 ms). */
  startTimeoutMs?: number;
  /** Keep the temp dir after stop() (also when env KEEP_PROSODY_DIR=1). */
  keepDir?: boolean;
  /** More addresses for c2s besides 127.0.0.1 (e.g. a network namespace's public address, scripts/lab/nat-lab.ts). */
  extraInterfaces?: string[];
  /** Also listen for Direct TLS (XEP-0368; Prosody's c2s_direct_tls_ports) on a free port: directTlsPort. */
  directTls?: boolean;
  /**
   * More VirtualHosts. Each shares the main certificate (its name added to it),
   * unless certNames is given: then it has a self-signed certificate of its
   * own for exactly those names (certFiles[domain]), e.g. a name that is not
   * the host's, to play a server with a certificate for the wrong name.
   */
  extraHosts?: { domain: string; certNames?: string[] }[];
}

export interface ProsodyServer {
  readonly domain: string;
  readonly host: "127.0.0.1";
  /** c2s port (STARTTLS, encryption required). */
  readonly port: number;
  /** Direct TLS c2s port, with the directTls option. */
  readonly directTlsPort: number | undefined;
  /** The certificate of each VirtualHost (the main one's is caFile). */
  readonly certFiles: Readonly<Record<string, string>>;
  /** HTTP port on 127.0.0.1 when an HTTP module is enabled, else undefined. */
  readonly httpPort: number | undefined;
  /** ws://127.0.0.1:PORT/xmpp-websocket when mod_websocket is enabled. */
  readonly websocketUrl: string | undefined;
  /** The self-signed certificate: pass it as `ca` to trust the server. */
  readonly caFile: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly dir: string;
  readonly configFile: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly pid: number;
  readonly process: ManagedProcess;
  /** Milliseconds: cert+config+spawn until the c2s port answered, and for creating the initial users. */
  readonly timings: { startMs: number; usersMs: number };
  /** username@domain */
  jid(username: string): string;
  /** Create (or overwrite) an account with prosodyctl (on `host`, by default the main domain). */
  registerUser(username: string, password: string, host?: string): Promise<void>;
  /** SIGTERM by PID, wait (SIGKILL after 5 s), then remove the temp dir. Idempotent. */
  stop(): Promise<void>;
  /** The server's log file (kept in memory after stop()) plus anything it printed. */
  logs(): string;
}

const HTTP_MODULES = new Set(["websocket", "bosh", "conversejs", "register_web", "invites_page"]);

/** A Lua string literal. */
function lua(s: string): string {
  return '"' + s.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\r/g, "\\r") + '"';
}

function luaList(items: string[]): string {
  return "{ " + items.map(lua).join(", ") + " }";
}

function run(cmd: string, args: string[], timeoutMs = 15000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      const out = `${stdout}${stderr}`.trim();
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${err.message}\n${out}`));
      else resolve(out);
    });
  });
}


const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function checkName(kind: string, value: string): void {
  if (!/^[A-Za-z0-9._-]+$/.test(value)) throw new Error(`startProsody: invalid ${kind} ${JSON.stringify(value)}`);
}

export async function startProsody(opts: ProsodyOptions = {}): Promise<ProsodyServer> {
  const domain = opts.domain ?? "localhost";
  checkName("domain", domain);
  const extraHosts = opts.extraHosts ?? [];
  for (const h of extraHosts) for (const n of [h.domain, ...(h.certNames ?? [])]) checkName("domain", n);
  const sharing = extraHosts.filter((h) => !h.certNames).map((h) => h.domain);
  const users = opts.users ?? [];
  for (const u of users) checkName("username", u.username);
  const modules = opts.modules ?? [];
  const wantHttp =
    opts.http === true || modules.some((m) => HTTP_MODULES.has(m) || m === "http" || m.startsWith("http_"));
  const keepDir = opts.keepDir === true || process.env.KEEP_PROSODY_DIR === "1";
  const startTimeoutMs = opts.startTimeoutMs ?? 15000;
  const t0 = performance.now();

  const dir = mkdtempSync(join(tmpdir(), "jingled-prosody-"));
  let unregisterCleanup = onExitCleanup(() => {
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  });
  const certsDir = join(dir, "certs");
  const dataDir = join(dir, "data");
  const configFile = join(dir, "prosody.cfg.lua");
  const logFile = join(dir, "prosody.log");
  const certFile = join(certsDir, `${domain}.crt`);
  const keyFile = join(certsDir, `${domain}.key`);
  mkdirSync(certsDir);
  mkdirSync(dataDir);

  const fail = (err: unknown): never => {
    unregisterCleanup();
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  };

  // Self-signed certificates (EC P-256, fast): the domain's (also for 127.0.0.1
  // and the hosts that share it), and one per extra host with names of its own.
  const selfSigned = (key: string, cert: string, names: string[], ip: boolean) =>
    run("openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
      "-keyout", key, "-out", cert, "-days", "3650", "-subj", `/CN=${names[0]}`,
      "-addext", `subjectAltName=${[...names.map((n) => `DNS:${n}`), ...(ip ? ["IP:127.0.0.1"] : [])].join(",")}`,
    ]);
  const hostFiles = extraHosts.map((h) =>
    h.certNames ? { ...h, certFile: join(certsDir, `${h.domain}.crt`), keyFile: join(certsDir, `${h.domain}.key`) } : { ...h, certFile, keyFile },
  );
  try {
    await Promise.all([
      selfSigned(keyFile, certFile, [domain, ...sharing], true),
      ...hostFiles.filter((h) => h.certNames).map((h) => selfSigned(h.keyFile, h.certFile, h.certNames!, false)),
    ]);
  } catch (err) {
    fail(err);
  }

  const enabled = [...(opts.baseModules ?? ["roster", "saslauth", "tls", "disco", "carbons", "ping", "smacks"]), ...modules];
  const uniqueModules = [...new Set(enabled)];

  // A taken port (race with another process) makes Prosody log an error and
  // run on without c2s: retry with a fresh port.
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort("tcp", "127.0.0.1");
    const directTlsPort = opts.directTls ? await freePort("tcp", "127.0.0.1") : undefined;
    const httpPort = wantHttp ? await freePort("tcp", "127.0.0.1") : undefined;
    const lines = [
      "-- Generated by scripts/lab/prosody.ts: a throwaway server for tests.",
      ...(process.getuid?.() === 0 ? ["run_as_root = true"] : []),
      `pidfile = ${lua(join(dir, "prosody.pid"))}`,
      `data_path = ${lua(dataDir)}`,
      `certificates = ${lua(certsDir)}`,
      "log = {",
      `  { levels = { min = ${lua(opts.logLevel ?? "debug")} }, to = "file", filename = ${lua(logFile)} };`,
      // Errors also to stdout ("console"; Prosody has no stderr sink, and
      // /dev/stderr cannot be opened when it is a socket, as with Node's pipes).
      `  { levels = { min = "error" }, to = "console" };`,
      "}",
      `interfaces = ${luaList(["127.0.0.1", ...(opts.extraInterfaces ?? [])])}`,
      `c2s_ports = { ${port} }`,
      `c2s_direct_tls_ports = { ${directTlsPort ?? ""} }`,
      "legacy_ssl_ports = {}",
      "s2s_ports = {}",
      "s2s_direct_tls_ports = {}",
      "component_ports = {}",
      "https_ports = {}",
      ...(httpPort !== undefined
        ? [
            `http_ports = { ${httpPort} }`,
            'http_interfaces = { "127.0.0.1" }',
            `http_default_host = ${lua(domain)}`,
            // Plain HTTP on loopback only: treat it as secure so that
            // c2s_require_encryption does not refuse websocket/BOSH logins.
            "consider_websocket_secure = true",
            "consider_bosh_secure = true",
            "cross_domain_websocket = true",
            "cross_domain_bosh = true",
          ]
        : ["http_ports = {}"]),
      'modules_disabled = { "s2s", "s2s_auth_certs" }',
      "c2s_require_encryption = true",
      "allow_unencrypted_plain_auth = false",
      'authentication = "internal_hashed"',
      'storage = "internal"',
      "allow_registration = false",
      ...(uniqueModules.length ? [`modules_enabled = ${luaList(uniqueModules)}`] : []),
      "",
      "-- extraConfig",
      opts.extraConfig ?? "",
      "",
      ...[{ domain, certFile, keyFile }, ...hostFiles].flatMap((h) => [
        `VirtualHost ${lua(h.domain)}`,
        `  ssl = { key = ${lua(h.keyFile)}, certificate = ${lua(h.certFile)} }`,
        "-- hostConfig",
        opts.hostConfig ?? "",
        "",
      ]),
    ];
    writeFileSync(configFile, lines.join("\n"));

    let proc: ManagedProcess;
    try {
      proc = await startProcess("prosody", ["-F", "--config", configFile], { name: `prosody:${port}`, cwd: dir });
    } catch (err) {
      return fail(err);
    }

    const readLog = (): string => {
      try {
        return readFileSync(logFile, "utf8");
      } catch {
        return "";
      }
    };
    // With extraInterfaces the line lists every address: "... on [203.0.113.1]:P, [127.0.0.1]:P".
    const activated = new RegExp(`Activated service 'c2s' on .*\\[127\\.0\\.0\\.1\\]:${port}\\b`);
    const deadline = performance.now() + startTimeoutMs;
    let ready = false;
    let why = "";
    while (!ready) {
      if (!proc.running()) {
        why = `prosody exited (code ${await proc.exited}) before accepting connections`;
        break;
      }
      const log = readLog();
      if (/Failed to open server port|Address already in use/i.test(log + proc.output())) {
        why = `port ${port} was taken`;
        break;
      }
      if (activated.test(log) && (await tcpAccepts("127.0.0.1", port)) && (directTlsPort === undefined || (await tcpAccepts("127.0.0.1", directTlsPort)))) {
        ready = true;
        break;
      }
      if (performance.now() > deadline) {
        why = `prosody did not accept connections on 127.0.0.1:${port} within ${startTimeoutMs} ms`;
        break;
      }
      await sleep(20);
    }
    if (!ready) {
      await proc.stop("SIGTERM", 3000);
      lastError = new Error(
        `startProsody: ${why}\n--- prosody output ---\n${proc.output()}\n--- ${logFile} ---\n${readLog()}`,
      );
      if (/was taken/.test(why)) continue;
      return fail(lastError);
    }
    const startMs = performance.now() - t0;

    let savedLog: string | undefined;
    let stopped: Promise<void> | undefined;
    const server: ProsodyServer = {
      domain,
      host: "127.0.0.1",
      port,
      directTlsPort,
      certFiles: Object.fromEntries([[domain, certFile], ...hostFiles.map((h) => [h.domain, h.certFile])]),
      httpPort,
      websocketUrl:
        httpPort !== undefined && modules.includes("websocket")
          ? `ws://127.0.0.1:${httpPort}/xmpp-websocket`
          : undefined,
      caFile: certFile,
      certFile,
      keyFile,
      dir,
      configFile,
      dataDir,
      logFile,
      pid: proc.pid,
      process: proc,
      timings: { startMs, usersMs: 0 },
      jid: (username) => `${username}@${domain}`,
      registerUser: async (username, password, host = domain) => {
        checkName("username", username);
        await run("prosodyctl", ["--config", configFile, "register", username, host, password]);
      },
      stop: () => {
        stopped ??= (async () => {
          await proc.stop("SIGTERM", 5000);
          // The pid must be gone before the files go.
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
        return (savedLog ?? readLog()) + (out ? `\n--- prosody stdout/stderr ---\n${out}` : "");
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
