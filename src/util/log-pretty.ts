// Log lines for a person at a terminal: pino's JSON record as
//   12:00:01.234 INFO  call c1: call state state=active
// (time, level, component (or module) and call, message, then the other fields as
// key=value). Strings with spaces, quotes or control characters are quoted
// with JSON escapes, so text a peer chose (a JID, a reason) can never move the
// cursor or fake a line. Used instead of JSON when stderr is a terminal
// (log.format: auto) or when asked (pretty); `jingled ... 2>&1 | pino-pretty`
// does the same with pino's own tool, from the JSON format.
import { Writable } from "node:stream";

const LEVELS: Record<number, [name: string, colour: string]> = {
  10: ["TRACE", "\x1b[90m"],
  20: ["DEBUG", "\x1b[36m"],
  30: ["INFO ", "\x1b[32m"],
  40: ["WARN ", "\x1b[33m"],
  50: ["ERROR", "\x1b[31m"],
  60: ["FATAL", "\x1b[35m"],
};
const RESET = "\x1b[0m";
const DIM = "\x1b[2m";
// Fields every record has, or that go in front of the message.
const SKIP = new Set(["time", "level", "msg", "pid", "hostname", "name", "component", "module", "call"]);

function value(v: unknown): string {
  if (typeof v === "string") return /^[^\s"'=\\\x00-\x1f\x7f-\x9f]+$/.test(v) ? v : JSON.stringify(v);
  if (typeof v === "object" && v !== null) {
    const err = v as { message?: unknown; type?: unknown };
    if (typeof err.message === "string" && typeof err.type === "string") return JSON.stringify(`${err.type}: ${err.message}`);
    return JSON.stringify(v);
  }
  return String(v);
}

function time(ms: unknown): string {
  const d = typeof ms === "number" ? new Date(ms) : new Date();
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** One JSON log record -> one readable line (with its "\n"); a line that is not JSON passes as it is. */
export function prettyLine(json: string, colour = false): string {
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json.endsWith("\n") ? json : `${json}\n`;
  }
  const [name, tint] = LEVELS[rec.level as number] ?? [String(rec.level).toUpperCase().padEnd(5), ""];
  const where = [rec.component ?? rec.module, rec.call].filter((x) => x !== undefined).map(value).join(" ");
  const fields = Object.entries(rec)
    .filter(([k]) => !SKIP.has(k))
    .map(([k, v]) => `${k}=${value(v)}`)
    .join(" ");
  const msg = typeof rec.msg === "string" ? value(rec.msg).replace(/^"(.*)"$/, "$1") : "";
  const head = colour ? `${DIM}${time(rec.time)}${RESET} ${tint}${name}${RESET}` : `${time(rec.time)} ${name}`;
  return `${head} ${where ? `${where}: ` : ""}${msg}${fields ? ` ${colour ? DIM : ""}${fields}${colour ? RESET : ""}` : ""}\n`;
}

/** A destination for pino that writes readable lines to `out` (stderr by default). */
export function prettyDestination(out: NodeJS.WritableStream & { isTTY?: boolean } = process.stderr): Writable {
  const colour = out.isTTY === true && !process.env.NO_COLOR;
  return new Writable({
    write(chunk: Buffer | string, _enc, done) {
      out.write(prettyLine(chunk.toString(), colour));
      done();
    },
  });
}
