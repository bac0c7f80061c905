// A media thread's log lines, written by the main thread: the thread's
// logger (planeLogger) posts each line that its level lets through as a
// LogRecord, and the main thread's logger writes it (writePlaneLog), so a
// line reads as it did when the thread had a pino logger of its own: the
// same level, bindings (thread, module, call...), fields and message; only
// its time is when the main thread wrote it (a message's delay, ~ms).
// Without pino the thread loads 1.2-1.5 MiB less (docs/performance.md,
// "Memory"). Lines are rare (set-up, errors, a call's end): never per packet.
//
// The media code takes a pino Logger; planeLogger is what it uses of one:
// child(bindings, { level }), level, and the six level methods called as
// (fields, message), (message) or (error, message).
import type { LogLevel, Logger } from "../../util/logger.js";

export type LineLevel = Exclude<LogLevel, "silent">;

/** An error field as it crosses: what pino's error serializer reads (its class name, message, stack, own fields, cause). */
export interface WireLogError {
  type: string;
  message: string;
  stack?: string;
  fields: Record<string, unknown>;
  cause?: WireLogError;
}

export interface LogRecord {
  level: LineLevel;
  /** The logger's bindings and the line's fields, in that order. */
  fields: Record<string, unknown>;
  /** The fields that were errors (pino serializes `err`; any error-valued field crosses as one). */
  errors?: Record<string, WireLogError>;
  msg?: string;
}

const RANK: Record<LogLevel, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };
const LEVELS: LineLevel[] = ["trace", "debug", "info", "warn", "error", "fatal"];

const isErrorLike = (v: unknown): v is Error => typeof v === "object" && v !== null && typeof (v as { message?: unknown }).message === "string";

function toWireError(err: Error, depth = 0): WireLogError {
  const fields: Record<string, unknown> = {};
  for (const key in err) {
    const value = (err as unknown as Record<string, unknown>)[key];
    if (key !== "cause" && !isErrorLike(value)) fields[key] = value;
  }
  const cause = (err as { cause?: unknown }).cause;
  return {
    type: err.constructor?.name ?? err.name,
    message: err.message,
    ...(err.stack !== undefined ? { stack: err.stack } : {}),
    fields,
    ...(isErrorLike(cause) && depth < 8 ? { cause: toWireError(cause, depth + 1) } : {}),
  };
}

/** An Error again, of a class with the same name, so that the main thread's serializer writes what the thread's would have. */
function fromWireError(w: WireLogError): Error {
  const named = { [w.type]: class extends Error {} }[w.type]!;
  const err = new named(w.message);
  Object.defineProperty(err, "stack", { value: w.stack, writable: true, configurable: true, enumerable: false });
  Object.assign(err, w.fields);
  if (w.cause) Object.defineProperty(err, "cause", { value: fromWireError(w.cause), writable: true, configurable: true, enumerable: false });
  return err;
}

class PlaneLogger {
  readonly #post: (r: LogRecord) => void;
  readonly #bindings: Record<string, unknown>;
  /** Shared with the children that have no level of their own. */
  readonly #shared: { level: LogLevel };
  #own: LogLevel | undefined;

  constructor(post: (r: LogRecord) => void, bindings: Record<string, unknown>, shared: { level: LogLevel }, own?: LogLevel) {
    this.#post = post;
    this.#bindings = bindings;
    this.#shared = shared;
    this.#own = own;
    for (const level of LEVELS) (this as unknown as Record<string, unknown>)[level] = (a?: unknown, b?: unknown) => this.#line(level, a, b);
  }

  get level(): LogLevel {
    return this.#own ?? this.#shared.level;
  }

  /** On the root: the thread's level (its children follow); on a child with a level of its own: that child's. */
  set level(level: LogLevel) {
    if (this.#own !== undefined) this.#own = level;
    else this.#shared.level = level;
  }

  child(bindings: Record<string, unknown>, options?: { level?: LogLevel }): PlaneLogger {
    return new PlaneLogger(this.#post, { ...this.#bindings, ...bindings }, this.#shared, options?.level ?? this.#own);
  }

  #line(level: LineLevel, a: unknown, b: unknown): void {
    if (RANK[level] < RANK[this.level]) return;
    let fields: Record<string, unknown>;
    let msg: string | undefined;
    if (typeof a === "string") {
      fields = {};
      msg = a;
    } else if (a instanceof Error) {
      // pino: an error alone is the line's `err`, its message the line's.
      fields = { err: a };
      msg = typeof b === "string" ? b : a.message;
    } else {
      fields = (a ?? {}) as Record<string, unknown>;
      msg = typeof b === "string" ? b : undefined;
    }
    const all: Record<string, unknown> = { ...this.#bindings };
    let errors: Record<string, WireLogError> | undefined;
    for (const [key, value] of Object.entries(fields)) {
      if (value instanceof Error) (errors ??= {})[key] = toWireError(value);
      else all[key] = value;
    }
    const record: LogRecord = { level, fields: all, ...(errors ? { errors } : {}), ...(msg !== undefined ? { msg } : {}) };
    try {
      this.#post(record);
    } catch {
      // A field that cannot cross (a function, a socket): the line goes as JSON would write it.
      this.#post({ ...record, fields: JSON.parse(JSON.stringify(all, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v))) as Record<string, unknown> });
    }
  }
}

/** The logger of a media thread: its lines go to `post`. */
export function planeLogger(o: { level: LogLevel; post: (r: LogRecord) => void }): Logger {
  return new PlaneLogger(o.post, {}, { level: o.level }) as unknown as Logger;
}

/** Writes a thread's line with the main thread's logger. */
export function writePlaneLog(log: Logger, r: LogRecord): void {
  const fields = { ...r.fields };
  for (const [key, w] of Object.entries(r.errors ?? {})) fields[key] = fromWireError(w);
  log[r.level](fields, r.msg);
}
