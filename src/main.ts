// jingled: load config -> build the app -> run until a signal.
//   jingled --config FILE
//   jingled --check-config FILE
// Exit codes: util/exit-codes.ts (0 stopped cleanly or the config is valid,
// 64 usage, 69 server unreachable, 75 control socket in use, 76 server not
// trusted, 77 login refused, 78 bad configuration; listed in the README).
import { loadConfigFile } from "./config/load.js";
import { effectiveConfigText } from "./config/effective.js";
import { App, VERSION } from "./app/app.js";
import { checkRuntime } from "./app/runtime-checks.js";
import { createLogger, type LogFormat } from "./util/logger.js";
import { ConfigError, errorMessage } from "./util/errors.js";
import { EXIT, exitCodeFor } from "./util/exit-codes.js";

const USAGE = `usage: jingled --config FILE [--log-format auto|pretty|json]
       jingled --check-config FILE

Logs into the XMPP account in FILE, places and answers Jingle audio calls,
and is controlled through a local socket (see jinglectl --help).

  --config FILE        YAML configuration (see config/example.yaml)
  --check-config FILE  validate FILE and print the configuration it gives
                       (defaults filled in, secrets masked); exit 0, or 78
  --log-format F       auto (readable on a terminal, else JSON lines), pretty,
                       json; overrides log.format
  --version            print the version
  --help               this text

The password may come from JINGLED_PASSWORD instead of the file.
Signals: SIGTERM/SIGINT hang up every call and exit 0; SIGHUP reloads FILE.
Exit codes: 0 stopped, 64 usage, 69 server unreachable, 75 control socket in
use, 76 server not trusted (TLS, SCRAM), 77 login refused (wrong password),
78 bad configuration, 1 anything else.`;

const LOG_FORMATS: readonly string[] = ["auto", "pretty", "json"];

export async function main(argv: string[]): Promise<number> {
  let configFile: string | undefined;
  let checkFile: string | undefined;
  let logFormat: LogFormat | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const [flag, inline] = a.startsWith("--") && a.includes("=") ? [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)] : [a, undefined];
    if (flag === "--check-config") {
      checkFile = inline ?? argv[++i];
      if (!checkFile) {
        process.stderr.write(`jingled: --check-config needs a FILE\n${USAGE}\n`);
        return EXIT.usage.code;
      }
      continue;
    }
    if (flag === "--log-format") {
      const f = inline ?? argv[++i];
      if (f === undefined || !LOG_FORMATS.includes(f)) {
        process.stderr.write(`jingled: --log-format must be one of ${LOG_FORMATS.join(", ")}\n`);
        return EXIT.usage.code;
      }
      logFormat = f as LogFormat;
      continue;
    }
    if (a === "--help" || a === "-h") {
      process.stdout.write(`${USAGE}\n`);
      return 0;
    }
    if (a === "--version") {
      process.stdout.write(`jingled ${VERSION}\n`);
      return 0;
    }
    if (a === "--config" || a === "-c") configFile = argv[++i];
    else if (a.startsWith("--config=")) configFile = a.slice("--config=".length);
    else {
      process.stderr.write(`jingled: unknown argument ${a}\n${USAGE}\n`);
      return EXIT.usage.code;
    }
  }
  if (checkFile !== undefined) return checkConfig(checkFile);
  if (!configFile) {
    process.stderr.write(`jingled: --config FILE is required\n${USAGE}\n`);
    return EXIT.usage.code;
  }

  // The password leaves the process environment once read: no child process
  // inherits it (helpers get a minimal environment anyway: util/child-env.ts).
  // Reloads read the config with the value read here.
  const configEnv: NodeJS.ProcessEnv = {};
  if (process.env.JINGLED_PASSWORD !== undefined) configEnv.JINGLED_PASSWORD = process.env.JINGLED_PASSWORD;
  delete process.env.JINGLED_PASSWORD;

  let cfg;
  try {
    cfg = loadConfigFile(configFile, configEnv);
    checkRuntime(cfg);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`jingled: ${err.message}\n`);
      return EXIT.config.code;
    }
    throw err;
  }

  const log = createLogger({ level: cfg.log.level, format: logFormat ?? cfg.log.format });
  const app = new App(cfg, log, { configEnv, logFormat: logFormat ?? cfg.log.format });
  let stopping: Promise<void> | undefined;
  const stop = (signal: string) => {
    stopping ??= (async () => {
      log.info({ signal }, "stopping");
      await app.stop().catch((err: unknown) => log.error({ err: errorMessage(err) }, "stop"));
    })();
    return stopping;
  };
  const done = new Promise<number>((resolve) => {
    process.once("SIGTERM", () => void stop("SIGTERM").then(() => resolve(0)));
    process.once("SIGINT", () => void stop("SIGINT").then(() => resolve(0)));
    app.onShutdownRequest = () => void stop("shutdown command").then(() => resolve(0));
  });
  // A bad file changes nothing (reload() says why); the daemon goes on either way.
  process.on("SIGHUP", () =>
    void app.reload().then(
      (plan) => log.info({ signal: "SIGHUP", ...plan }, "reloaded"),
      (err: unknown) => log.error({ signal: "SIGHUP", err: errorMessage(err) }, "reload failed"),
    ),
  );
  // Never let a stray error from a library take every call down with it.
  process.on("uncaughtException", (err) => log.error({ err }, "uncaught exception"));
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection"));

  try {
    await app.start();
  } catch (err) {
    const msg = errorMessage(err);
    await app.stop().catch(() => undefined);
    process.stderr.write(`jingled: ${msg}\n`);
    log.flush();
    return exitCodeFor(err);
  }
  return done;
}

/** --check-config: 0 and the effective config on stdout, or 78 and the problems on stderr. */
function checkConfig(file: string): number {
  try {
    const cfg = loadConfigFile(file);
    checkRuntime(cfg);
    process.stdout.write(effectiveConfigText(cfg, process.env));
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`jingled: ${err.message}\n`);
      return EXIT.config.code;
    }
    throw err;
  }
}
