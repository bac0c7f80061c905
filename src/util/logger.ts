// Logging: pino JSON lines to stderr (stdout stays free for programs that pipe
// us), or readable lines (./log-pretty.ts) for a person at a terminal.
import { pino, type Logger as PinoLogger } from "pino";
import { prettyDestination } from "./log-pretty.js";

export type Logger = PinoLogger;
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

// Pino children copy their parent's level when made; remember them (weakly)
// so that a level set at run time (config reload) reaches every module.
const descendants = new WeakMap<Logger, Set<WeakRef<Logger>>>();

/** auto: pretty when stderr is a terminal, else json. */
export type LogFormat = "auto" | "pretty" | "json";

export function createLogger(opts: { level?: LogLevel; name?: string; format?: LogFormat } = {}): Logger {
  const pretty = opts.format === "pretty" || (opts.format === "auto" && process.stderr.isTTY === true);
  const family = new Set<WeakRef<Logger>>();
  const root = pino(
    {
      name: opts.name ?? "jingled",
      level: opts.level ?? "info",
      base: { pid: process.pid },
      onChild: (child) => {
        family.add(new WeakRef(child));
        if (family.size % 256 === 0) for (const r of family) if (!r.deref()) family.delete(r);
      },
    },
    pretty ? prettyDestination() : pino.destination({ dest: 2, sync: false }),
  );
  descendants.set(root, family);
  return root;
}

/** Sets the level of `root` and of every logger derived from it. */
export function setLogLevel(root: Logger, level: LogLevel): void {
  root.level = level;
  for (const r of descendants.get(root) ?? []) {
    const child = r.deref();
    if (child) child.level = level;
  }
}

/** A logger that drops everything: for unit tests and library use without logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
