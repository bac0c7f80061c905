// jinglectl: the command-line control client. It is just another socket
// client (protocol in src/control/protocol.ts): every command is one typed
// request, printed for people by default or as the raw JSON result with --json.
import { parseArgs } from "node:util";
import { ControlRequestError, connectControl, type AnyEvent, type ControlClient } from "../control/client.js";
import {
  CodecName,
  RejectReason,
  type AccountInfo,
  type CallEvent,
  type CallIdArgs,
  type RejectArgs,
  type CallInfo,
  type CandidateSummary,
  type CodecName as Codec,
  type HelloEvent,
  type MediaEvent,
  type Snapshot,
} from "../control/protocol.js";
import { defaultSocketPath } from "../control/server.js";

export const ExitCode = {
  Ok: 0,
  CommandFailed: 1,
  CallUnsuccessful: 2,
  NoDaemon: 3,
  Usage: 64, // EX_USAGE from sysexits.h
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface Writer {
  write(text: string): unknown;
}

export interface MainIo {
  stdout?: Writer;
  stderr?: Writer;
  env?: NodeJS.ProcessEnv;
  /** Stops `events` and `call --wait` (exit 0; the call itself goes on); for embedding and tests. */
  signal?: AbortSignal;
}

interface CommandSpec {
  usage: string;
  summary: string;
  details?: string;
  /** Command-specific options this command accepts. */
  options: readonly LocalOption[];
  minArgs: number;
  maxArgs: number;
}

type LocalOption = "codec" | "wait" | "reason";

const COMMANDS = {
  status: { usage: "status", summary: "account state and every call", options: [], minArgs: 0, maxArgs: 0 },
  calls: { usage: "calls", summary: "list the calls", options: [], minArgs: 0, maxArgs: 0 },
  call: {
    usage: "call <jid> [--codec opus|pcmu]... [--wait]",
    summary: "call a bare JID (every device rings) or a full JID",
    details:
      "  --codec NAME  codec preference, repeatable or comma-separated (default: the daemon's)\n" +
      "  --wait        follow the call and return when it ends:\n" +
      "                exit 0 when it ended normally (reason success), 2 otherwise",
    options: ["codec", "wait"],
    minArgs: 1,
    maxArgs: 1,
  },
  answer: {
    usage: "answer [callId]",
    summary: "answer an incoming call",
    options: [],
    minArgs: 0,
    maxArgs: 1,
  },
  reject: {
    usage: "reject [callId] [--reason decline|busy]",
    summary: "refuse an incoming call (default reason decline)",
    options: ["reason"],
    minArgs: 0,
    maxArgs: 1,
  },
  hangup: { usage: "hangup [callId]", summary: "end a call", options: [], minArgs: 0, maxArgs: 1 },
  events: {
    usage: "events",
    summary: "follow the event stream, one line per event (JSON lines with --json)",
    details: "  The first line is the daemon's hello with its snapshot. Runs until the daemon goes away (exit 3).",
    options: [],
    minArgs: 0,
    maxArgs: 0,
  },
  raw: {
    usage: "raw <cmd> [json-args]",
    summary: "send any command, e.g. raw call '{\"jid\":\"bob@example.org\"}'",
    options: [],
    minArgs: 1,
    maxArgs: 2,
  },
} as const satisfies Record<string, CommandSpec>;
type CommandWord = keyof typeof COMMANDS;

const CALL_ID_NOTE = "  callId may be left out when exactly one call exists.";

function globalHelp(): string {
  const width = Math.max(...Object.values(COMMANDS).map((c) => c.usage.length));
  const lines = Object.values(COMMANDS).map((c) => `  ${c.usage.padEnd(width)}  ${c.summary}`);
  return `Usage: jinglectl [--socket PATH] [--json] <command> [args]

Control a running jingled.

Commands:
${lines.join("\n")}

Options:
  --socket PATH  control socket (default: $JINGLED_SOCKET, else ${defaultSocketPath()})
  --json         print raw JSON results and events, for scripts
  -h, --help     this help; "jinglectl <command> --help" for one command

Exit codes:
  0   ok
  1   the daemon refused the command (prints "error <code>: <message>" to stderr)
  2   call --wait: the call ended unsuccessfully (declined, busy, timeout, failure)
  3   cannot connect to the daemon, or the connection was lost
  64  usage error
`;
}

function commandHelp(word: CommandWord): string {
  const spec: CommandSpec = COMMANDS[word];
  const parts = [`Usage: jinglectl [--socket PATH] [--json] ${spec.usage}`, "", spec.summary];
  if (spec.details) parts.push("", spec.details);
  if (spec.usage.includes("[callId]")) parts.push("", CALL_ID_NOTE);
  return parts.join("\n") + "\n";
}

class UsageError extends Error {}

interface Parsed {
  word: CommandWord | undefined;
  positionals: string[];
  socket: string | undefined;
  json: boolean;
  help: boolean;
  codecs: Codec[];
  wait: boolean;
  reason: RejectReason | undefined;
}

function parseCommandLine(argv: string[]): Parsed {
  let values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        socket: { type: "string" },
        json: { type: "boolean" },
        help: { type: "boolean", short: "h" },
        codec: { type: "string", multiple: true },
        wait: { type: "boolean" },
        reason: { type: "string" },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const [first, ...rest] = positionals;
  let word: CommandWord | undefined;
  let help = values.help ?? false;
  if (first === "help") {
    // "jinglectl help [command]" reads naturally too.
    help = true;
    if (rest[0] !== undefined) word = checkWord(rest[0]);
    rest.length = 0;
  } else if (first !== undefined) {
    word = checkWord(first);
  }
  if (word && !help) {
    const spec: CommandSpec = COMMANDS[word];
    for (const opt of ["codec", "wait", "reason"] as const) {
      if (values[opt] !== undefined && !spec.options.includes(opt)) {
        throw new UsageError(`${word} does not take --${opt}`);
      }
    }
    if (rest.length < spec.minArgs || rest.length > spec.maxArgs) {
      throw new UsageError(`usage: jinglectl ${spec.usage}`);
    }
  }
  const knownCodecs = Object.values(CodecName) as string[];
  const codecs = (values.codec ?? []).flatMap((v) => v.split(",")).map((v) => v.trim().toLowerCase());
  for (const c of codecs) {
    if (!knownCodecs.includes(c)) throw new UsageError(`unknown codec "${c}" (known: ${knownCodecs.join(", ")})`);
  }
  const knownReasons = Object.values(RejectReason) as string[];
  if (values.reason !== undefined && !knownReasons.includes(values.reason)) {
    throw new UsageError(`--reason must be one of ${knownReasons.join(", ")}`);
  }
  return {
    word,
    positionals: rest,
    socket: values.socket,
    json: values.json ?? false,
    help,
    codecs: codecs as Codec[],
    wait: values.wait ?? false,
    reason: values.reason as RejectReason | undefined,
  };
}

function checkWord(word: string): CommandWord {
  if (Object.hasOwn(COMMANDS, word)) return word as CommandWord;
  throw new UsageError(`unknown command "${word}"`);
}

// ---------------------------------------------------------------- human output

function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  const text = hms.map((n) => String(n).padStart(2, "0")).join(":");
  return hms[0] === 0 ? text.slice(3) : text;
}

function formatAccount(a: AccountInfo): string {
  return `account ${a.jid} ${a.state}${a.reason ? `: ${a.reason}` : ""}`;
}

export function formatCall(c: CallInfo): string {
  let line = `call ${c.id} ${c.state} with ${c.peer}`;
  if (c.codec) line += ` (${c.codec})`;
  if (c.reason) line += `: ${c.reason}`;
  return line;
}

function formatCandidate(c: CandidateSummary): string {
  const host = c.ip.includes(":") ? `[${c.ip}]` : c.ip;
  return `${c.type} ${host}:${c.port}${c.protocol === "tcp" ? "/tcp" : ""}`;
}

/** One line per event; unknown events still print, with their fields as JSON. */
export function formatEvent(e: AnyEvent): string {
  switch (e.event) {
    case "hello": {
      const h = e as unknown as HelloEvent;
      const calls = h.snapshot?.calls ?? [];
      const lines = [`connected to jingled ${h.version} (protocol ${h.protocol})`];
      if (h.snapshot?.account) lines.push(formatAccount(h.snapshot.account));
      lines.push(...calls.map(formatCall));
      return lines.join("\n");
    }
    case "account":
      return `account ${String(e.state)}${e.reason ? `: ${String(e.reason)}` : ""}`;
    case "call": {
      const c = e as unknown as CallEvent;
      let line = `call ${c.callId} ${c.type} with ${c.peer}`;
      if (c.codec && c.type !== "ended") line += ` (${c.codec})`;
      if (c.reason) line += `: ${c.reason}`;
      if (c.text) line += ` (${c.text})`;
      if (c.type === "ended" && typeof c.durationMs === "number") line += ` after ${formatDuration(c.durationMs)}`;
      return line;
    }
    case "media": {
      const m = e as unknown as MediaEvent;
      let line = `media ${m.callId} ${m.codec}`;
      if (m.localCandidate && m.remoteCandidate) {
        line += `, ${formatCandidate(m.localCandidate)} <-> ${formatCandidate(m.remoteCandidate)}`;
      }
      return m.pairType ? `${line} (${m.pairType})` : line;
    }
    default: {
      const { event, seq: _seq, time: _time, ...fields } = e;
      return `${event} ${JSON.stringify(fields)}`;
    }
  }
}

// ---------------------------------------------------------------- running

interface Context {
  client: ControlClient;
  parsed: Parsed;
  out: (line: string) => void;
  err: (line: string) => void;
  socketPath: string;
  signal: AbortSignal;
}

export async function main(argv: string[], io: MainIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const out = (line: string): void => void stdout.write(line + "\n");
  const err = (line: string): void => void stderr.write(line + "\n");

  let parsed: Parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`jinglectl: ${e.message}`);
    err('Try "jinglectl --help".');
    return ExitCode.Usage;
  }
  if (parsed.help) {
    stdout.write(parsed.word ? commandHelp(parsed.word) : globalHelp());
    return ExitCode.Ok;
  }
  if (!parsed.word) {
    stderr.write(globalHelp());
    return ExitCode.Usage;
  }
  let rawArgs: Record<string, unknown> | undefined;
  if (parsed.word === "raw" && parsed.positionals[1] !== undefined) {
    try {
      rawArgs = JSON.parse(parsed.positionals[1]) as Record<string, unknown>;
    } catch (e) {
      err(`jinglectl: raw: json-args is not valid JSON: ${(e as Error).message}`);
      return ExitCode.Usage;
    }
    if (typeof rawArgs !== "object" || rawArgs === null || Array.isArray(rawArgs)) {
      err("jinglectl: raw: json-args must be a JSON object");
      return ExitCode.Usage;
    }
  }

  const socketPath = parsed.socket ?? (env.JINGLED_SOCKET || defaultSocketPath(env));
  let client: ControlClient;
  try {
    client = await connectControl(socketPath);
  } catch (e) {
    // The client's message names the path and the reason.
    err(`jinglectl: ${e instanceof ControlRequestError ? e.message : `cannot connect to jingled at ${socketPath}: ${String(e)}`}`);
    err("Is the daemon running? Choose its socket with --socket PATH or JINGLED_SOCKET.");
    return ExitCode.NoDaemon;
  }

  // `jinglectl events | grep -m1 ringing`: a reader that goes away ends us quietly, not with EPIPE.
  const stdoutGone = new AbortController();
  const onStdoutError = (e: NodeJS.ErrnoException): void => {
    if (e.code === "EPIPE") stdoutGone.abort();
  };
  if (!io.stdout) process.stdout.on("error", onStdoutError);
  const signal = io.signal ? AbortSignal.any([io.signal, stdoutGone.signal]) : stdoutGone.signal;
  const ctx: Context = { client, parsed, out, err, socketPath, signal };
  try {
    return await run(ctx, rawArgs);
  } catch (e) {
    if (e instanceof ControlRequestError) {
      if (e.code === "disconnected" || e.code === "bad-reply") {
        err(`jinglectl: lost connection to jingled at ${socketPath}: ${e.message}`);
        return ExitCode.NoDaemon;
      }
      err(`error ${e.code}: ${e.message}`);
      return ExitCode.CommandFailed;
    }
    throw e;
  } finally {
    if (!io.stdout) process.stdout.off("error", onStdoutError);
    await client.close();
  }
}

async function run(ctx: Context, rawArgs: Record<string, unknown> | undefined): Promise<number> {
  const { client, parsed, out } = ctx;
  const [arg0] = parsed.positionals;
  const print = (result: unknown, human: () => string): void => out(parsed.json ? JSON.stringify(result) : human());
  const callIdArgs: CallIdArgs = arg0 === undefined ? {} : { callId: arg0 };

  switch (parsed.word!) {
    case "status": {
      const s: Snapshot = await client.request("status");
      print(s, () => [formatAccount(s.account), ...(s.calls.length ? s.calls.map(formatCall) : ["no calls"])].join("\n"));
      return ExitCode.Ok;
    }
    case "calls": {
      const calls = await client.request("calls");
      print(calls, () => (calls.length ? calls.map(formatCall).join("\n") : "no calls"));
      return ExitCode.Ok;
    }
    case "call":
      return placeCall(ctx);
    case "answer": {
      const r = await client.request("answer", callIdArgs);
      print(r, () => `answered call ${r.callId}`);
      return ExitCode.Ok;
    }
    case "reject": {
      const args: RejectArgs = parsed.reason ? { ...callIdArgs, reason: parsed.reason } : callIdArgs;
      const r = await client.request("reject", args);
      print(r, () => `rejected call ${r.callId}`);
      return ExitCode.Ok;
    }
    case "hangup": {
      const r = await client.request("hangup", callIdArgs);
      print(r, () => `hung up call ${r.callId}`);
      return ExitCode.Ok;
    }
    case "events":
      return followEvents(ctx);
    case "raw": {
      const result = await client.request(arg0!, rawArgs);
      out(parsed.json ? JSON.stringify(result) : JSON.stringify(result, null, 2));
      return ExitCode.Ok;
    }
  }
}

function aborted(signal: AbortSignal): Promise<"aborted"> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve("aborted");
    signal.addEventListener("abort", () => resolve("aborted"), { once: true });
  });
}

async function followEvents(ctx: Context): Promise<number> {
  const { client, parsed, out, socketPath } = ctx;
  out(parsed.json ? JSON.stringify(client.hello) : formatEvent(client.hello as unknown as AnyEvent));
  const iterator = client.events();
  const stop = aborted(ctx.signal);
  for (;;) {
    const next = await Promise.race([iterator.next(), stop]);
    if (next === "aborted") {
      await iterator.return?.();
      return ExitCode.Ok;
    }
    if (next.done) break;
    out(parsed.json ? JSON.stringify(next.value) : formatEvent(next.value));
  }
  ctx.err(`jinglectl: jingled at ${socketPath} closed the connection`);
  return ExitCode.NoDaemon;
}

async function placeCall(ctx: Context): Promise<number> {
  const { client, parsed, out } = ctx;
  const jid = parsed.positionals[0]!;
  // Subscribe before asking: the daemon may announce the call before it replies.
  const iterator = parsed.wait ? client.events() : undefined;
  const args = parsed.codecs.length ? { jid, codecs: parsed.codecs } : { jid };
  let callId: string;
  try {
    ({ callId } = await client.request("call", args));
  } catch (e) {
    await iterator?.return?.();
    throw e;
  }
  out(parsed.json ? JSON.stringify({ callId }) : `call ${callId} outgoing to ${jid}`);
  if (!iterator) return ExitCode.Ok;

  const stop = aborted(ctx.signal);
  for (;;) {
    const next = await Promise.race([iterator.next(), stop]);
    if (next === "aborted") {
      await iterator.return?.();
      return ExitCode.Ok;
    }
    if (next.done) throw new ControlRequestError("disconnected", "the daemon closed the connection during the call");
    const e = next.value;
    if (e.event !== "call" || e.callId !== callId) continue;
    const ce = e as unknown as CallEvent;
    // "outgoing" was already printed from the reply.
    if (ce.type !== "outgoing" || parsed.json) out(parsed.json ? JSON.stringify(e) : formatEvent(e));
    if (ce.type === "ended") {
      await iterator.return?.();
      return ce.reason === "success" ? ExitCode.Ok : ExitCode.CallUnsuccessful;
    }
  }
}
