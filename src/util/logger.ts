// Logging: pino JSON lines to stderr (stdout stays free for programs that pipe us).
import { pino, type Logger as PinoLogger } from "pino";

export type Logger = PinoLogger;
export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export function createLogger(opts: { level?: LogLevel; name?: string } = {}): Logger {
  return pino(
    { name: opts.name ?? "jingled", level: opts.level ?? "info", base: { pid: process.pid } },
    pino.destination({ dest: 2, sync: false }),
  );
}

/** A logger that drops everything: for unit tests and library use without logs. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}
