// jinglectl: the command-line control client. It is just another socket
// client (protocol in src/control/protocol.ts): every command is one typed
// request, printed for people by default or as the raw JSON result with --json.
// The command line is read in ./usage.ts, results and events are printed by ./format.ts.
import { resolve as resolvePath } from "node:path";
import { ClientErrorCode, ControlRequestError, connectControl, type AnyEvent, type ControlClient } from "../control/client.js";
import type { CallArgs, CallEvent, CallIdArgs, CallStartResult, PresenceShow, RejectArgs, RosterListResult, VoicemailDeleteResult, VoicemailListResult } from "../control/protocol.js";
import { defaultSocketPath } from "../control/socket-path.js";
import { escapeControl, formatAccount, formatCall, formatDevices, formatEvent, formatReload, formatRoster, formatSpec, formatStats, formatVoicemail, printable, printableJson } from "./format.js";
import { ExitCode, UsageError, globalHelp, commandHelp, parseCommandLine, parseDeviceSpec, type Parsed } from "./usage.js";
import { bashCompletion, zshCompletion } from "./completion.js";
import { PROTOCOL_VERSION } from "../control/protocol.js";
import { VERSION } from "../version.js";

export { ExitCode, formatCall, formatEvent, parseDeviceSpec };

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

// ---------------------------------------------------------------- running

/** Codes jinglectl reports itself in --json mode, next to the daemon's (protocol.ts ErrorCode) and the client's (ClientErrorCode). */
export const LocalErrorCode = { Usage: "usage" } as const;

/**
 * An error in --json mode: one line on stderr, `{"ok":false,"error":{code,
 * message}}` like a protocol error reply (without an id); stdout carries
 * results and events only. Raw, like every --json line.
 */
export function jsonError(code: string, message: string): string {
  return JSON.stringify({ ok: false, error: { code, message } });
}

interface Context {
  client: ControlClient;
  parsed: Parsed;
  out: (line: string) => void;
  err: (line: string) => void;
  fail: (code: string, message: string, exit: ExitCode, ...hints: string[]) => ExitCode;
  socketPath: string;
  signal: AbortSignal;
}

export async function main(argv: string[], io: MainIo = {}): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  const env = io.env ?? process.env;
  const out = (line: string): void => void stdout.write(line + "\n");
  const err = (line: string): void => void stderr.write(line + "\n");
  // --json before the command line is read (a usage error) still means JSON.
  const json = argv.includes("--json");
  /** A failure: one JSON line on stderr with --json, else the text lines. */
  const fail = (code: string, message: string, exit: ExitCode, ...hints: string[]): ExitCode => {
    if (json) err(jsonError(code, message));
    else for (const line of [message, ...hints]) err(line);
    return exit;
  };

  let parsed: Parsed;
  try {
    parsed = parseCommandLine(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    return fail(LocalErrorCode.Usage, `jinglectl: ${e.message}`, ExitCode.Usage, 'Try "jinglectl --help".');
  }
  if (parsed.help) {
    stdout.write(parsed.word ? commandHelp(parsed.word) : globalHelp());
    return ExitCode.Ok;
  }
  if (parsed.version) {
    out(`jinglectl ${VERSION} (control protocol ${PROTOCOL_VERSION})`);
    return ExitCode.Ok;
  }
  if (parsed.word === "completion") {
    stdout.write(parsed.positionals[0] === "zsh" ? zshCompletion() : bashCompletion());
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
      return fail(LocalErrorCode.Usage, `jinglectl: raw: json-args is not valid JSON: ${(e as Error).message}`, ExitCode.Usage);
    }
    if (typeof rawArgs !== "object" || rawArgs === null || Array.isArray(rawArgs)) {
      return fail(LocalErrorCode.Usage, "jinglectl: raw: json-args must be a JSON object", ExitCode.Usage);
    }
  }

  const socketPath = parsed.socket ?? (env.JINGLED_SOCKET || defaultSocketPath(env));
  let client: ControlClient;
  try {
    client = await connectControl(socketPath);
  } catch (e) {
    // The client's message names the path and the reason.
    const code = e instanceof ControlRequestError ? e.code : ClientErrorCode.ConnectFailed;
    const message = `jinglectl: ${escapeControl(e instanceof ControlRequestError ? e.message : `cannot connect to jingled at ${socketPath}: ${String(e)}`)}`;
    const hint = code === ClientErrorCode.Untrusted ? [] : ["Is the daemon running? Choose its socket with --socket PATH or JINGLED_SOCKET."];
    return fail(code, message, ExitCode.NoDaemon, ...hint);
  }

  // `jinglectl events | grep -m1 ringing`: a reader that goes away ends us quietly, not with EPIPE.
  const stdoutGone = new AbortController();
  const onStdoutError = (e: NodeJS.ErrnoException): void => {
    if (e.code === "EPIPE") stdoutGone.abort();
  };
  if (!io.stdout) process.stdout.on("error", onStdoutError);
  const signal = io.signal ? AbortSignal.any([io.signal, stdoutGone.signal]) : stdoutGone.signal;
  const ctx: Context = { client, parsed, out, err, fail, socketPath, signal };
  try {
    return await run(ctx, rawArgs);
  } catch (e) {
    if (e instanceof UsageError) return fail(LocalErrorCode.Usage, `jinglectl: ${e.message}`, ExitCode.Usage);
    if (e instanceof ControlRequestError) {
      if (e.code === ClientErrorCode.Disconnected || e.code === ClientErrorCode.BadReply) {
        return fail(e.code, `jinglectl: lost connection to jingled at ${socketPath}: ${escapeControl(e.message)}`, ExitCode.NoDaemon);
      }
      // --json: the daemon's own code and message, as its reply had them.
      if (json) return fail(e.code, e.message, ExitCode.CommandFailed);
      err(`error ${escapeControl(e.code)}: ${escapeControl(e.message)}`);
      return ExitCode.CommandFailed;
    }
    throw e;
  } finally {
    if (!io.stdout) process.stdout.off("error", onStdoutError);
    await client.close();
  }
}

/** The client, with every result made printable (format.ts): for output meant for people. */
function printableClient(client: ControlClient): Pick<ControlClient, "request"> {
  return { request: ((cmd: string, args?: Record<string, unknown>) => client.request(cmd, args).then((r) => printable(r))) as ControlClient["request"] };
}

async function run(ctx: Context, rawArgs: Record<string, unknown> | undefined): Promise<number> {
  const { parsed, out } = ctx;
  // Text from the network (JIDs, reason texts, names) reaches people with control characters escaped.
  const client = parsed.json ? ctx.client : printableClient(ctx.client);
  const [arg0] = parsed.positionals;
  const print = (result: unknown, human: () => string): void => out(parsed.json ? JSON.stringify(result) : human());
  const callIdArgs: CallIdArgs = arg0 === undefined ? {} : { callId: arg0 };

  switch (parsed.word!) {
    case "status": {
      const s = await client.request("status");
      print(s, () => [formatAccount(s.account), ...(s.media ? [`codecs ${s.media.codecs.join(", ")}`] : []), ...(s.calls.length ? s.calls.map(formatCall) : ["no calls"])].join("\n"));
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
    case "hold":
    case "resume":
    case "mute":
    case "unmute": {
      const word = parsed.word;
      const r = await client.request(word, callIdArgs);
      const done = { hold: "held", resume: "resumed", mute: "muted", unmute: "unmuted" }[word];
      print(r, () => `call ${r.callId} ${done}`);
      return ExitCode.Ok;
    }
    case "dtmf": {
      const [digits, callId] = parsed.positionals;
      const r = await client.request("dtmf", {
        digits: digits!,
        ...(callId ? { callId } : {}),
        ...(parsed.duration !== undefined ? { durationMs: parsed.duration } : {}),
      });
      print(r, () => `sent ${r.digits} to call ${r.callId}`);
      return ExitCode.Ok;
    }
    case "play": {
      const [file, callId] = parsed.positionals;
      const r = await client.request("play", { file: resolvePath(file!), ...(callId ? { callId } : {}) });
      print(r, () => `playing ${r.file} into call ${r.callId}`);
      return ExitCode.Ok;
    }
    case "record": {
      const [action, ...rest] = parsed.positionals;
      if (action === "start") {
        const [file, callId] = rest;
        const r = await client.request("record", { action: "start", file: resolvePath(file!), ...(callId ? { callId } : {}), ...(parsed.overwrite ? { overwrite: true } : {}) });
        print(r, () => `recording call ${r.callId} to ${r.file}`);
      } else {
        const [callId] = rest;
        const r = await client.request("record", { action: "stop", ...(callId ? { callId } : {}) });
        print(r, () => `recording of call ${r.callId} finished: ${r.file}`);
      }
      return ExitCode.Ok;
    }
    case "stats": {
      const r = await client.request("stats", callIdArgs);
      print(r, () => formatStats(r));
      return ExitCode.Ok;
    }
    case "set-input":
    case "set-output": {
      const word = parsed.word;
      const [text, callId] = parsed.positionals;
      const spec = parseDeviceSpec(text!, word === "set-input" ? "source" : "sink", parsed.loop);
      if (parsed.overwrite && spec.type !== "file") throw new UsageError("--overwrite is only for a file sink (file:PATH)");
      const args = { ...(callId ? { callId } : {}) };
      const r =
        word === "set-input"
          ? await client.request("set-input", { ...args, source: spec })
          : await client.request("set-output", { ...args, sink: spec, ...(parsed.overwrite ? { overwrite: true } : {}) });
      print(r, () => `call ${r.callId} ${word === "set-input" ? "input" : "output"}: ${formatSpec(spec)}`);
      return ExitCode.Ok;
    }
    case "devices": {
      const r = await client.request("devices");
      print(r, () => formatDevices(r));
      return ExitCode.Ok;
    }
    case "presence": {
      const [show, ...words] = parsed.positionals;
      const text = words.join(" ");
      const r = await client.request("presence", { show: show as PresenceShow, ...(text ? { text } : {}) });
      print(r, () => `presence ${r.show}${r.text ? `: ${r.text}` : ""}`);
      return ExitCode.Ok;
    }
    case "roster": {
      const [action, jid] = parsed.positionals;
      if (action === undefined || action === "list") {
        const r = (await client.request("roster", { action: "list" })) as RosterListResult;
        print(r, () => formatRoster(r));
        return ExitCode.Ok;
      }
      const r = await client.request("roster", {
        action: action as "add" | "approve" | "remove",
        jid: jid!,
        ...(parsed.name !== undefined ? { name: parsed.name } : {}),
      });
      const done = { add: "added (presence requested)", approve: "approved", remove: "removed" }[action as "add" | "approve" | "remove"];
      print(r, () => `${jid} ${done}`);
      return ExitCode.Ok;
    }
    case "voicemail": {
      const [action, name] = parsed.positionals;
      if (action === undefined || action === "list") {
        const r = (await client.request("voicemail", { action: "list" })) as VoicemailListResult;
        print(r, () => formatVoicemail(r));
        return ExitCode.Ok;
      }
      const r = (await client.request("voicemail", { action: "delete", ...(name !== undefined ? { name } : { olderThanDays: parsed.olderThan! }) })) as VoicemailDeleteResult;
      print(r, () => (r.deleted.length ? r.deleted.map((n) => `deleted ${n}`).join("\n") : "nothing to delete"));
      return ExitCode.Ok;
    }
    case "reload": {
      const r = await client.request("reload");
      print(r, () => formatReload(r));
      return ExitCode.Ok;
    }
    case "shutdown": {
      const r = await client.request("shutdown");
      print(r, () => "jingled is stopping: every call ends");
      return ExitCode.Ok;
    }
    case "events":
      return followEvents(ctx);
    case "completion":
      return ExitCode.Ok; // answered before connecting
    case "raw": {
      const result = await ctx.client.request(arg0!, rawArgs);
      out(parsed.json ? JSON.stringify(result) : printableJson(result));
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
  out(parsed.json ? JSON.stringify(client.hello) : formatEvent(printable(client.hello as unknown as AnyEvent)));
  const iterator = client.events();
  const stop = aborted(ctx.signal);
  for (;;) {
    const next = await Promise.race([iterator.next(), stop]);
    if (next === "aborted") {
      await iterator.return?.();
      return ExitCode.Ok;
    }
    if (next.done) break;
    out(parsed.json ? JSON.stringify(next.value) : formatEvent(printable(next.value)));
  }
  return ctx.fail(ClientErrorCode.Disconnected, `jinglectl: jingled at ${socketPath} closed the connection`, ExitCode.NoDaemon);
}

async function placeCall(ctx: Context): Promise<number> {
  const { client, parsed, out } = ctx;
  const jids = parsed.positionals;
  const jid = jids[0]!;
  // Subscribe before asking: the daemon may announce the call before it replies.
  const iterator = parsed.wait ? client.events() : undefined;
  // Several JIDs, or a strategy or ring time: one call to a ring group.
  const group = jids.length > 1 || parsed.strategy !== undefined || parsed.ringSec !== undefined;
  const args: CallArgs = {
    ...(group ? { jids, ...(parsed.strategy ? { strategy: parsed.strategy } : {}), ...(parsed.ringSec !== undefined ? { ringSec: parsed.ringSec } : {}) } : { jid }),
    ...(parsed.codecs.length ? { codecs: parsed.codecs } : {}),
  };
  let reply: CallStartResult;
  try {
    reply = await client.request("call", args);
  } catch (e) {
    await iterator?.return?.();
    throw e;
  }
  const { callId } = reply;
  // --json: the whole reply (callId, the Jingle sid, the JID called).
  out(parsed.json ? JSON.stringify(reply) : `call ${callId} outgoing to ${reply.targets ? `ring group ${reply.targets.join(", ")}` : (reply.peer ?? jid)}`);
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
    if ((e.event !== "call" && e.event !== "group") || e.callId !== callId) continue;
    if (e.event === "group") {
      // A ring group: who rings, who stopped ringing, who answered.
      out(parsed.json ? JSON.stringify(e) : formatEvent(printable(e)));
      continue;
    }
    const ce = e as unknown as CallEvent;
    // "outgoing" was already printed from the reply.
    if (ce.type !== "outgoing" || parsed.json) out(parsed.json ? JSON.stringify(e) : formatEvent(printable(e)));
    if (ce.type === "ended") {
      await iterator.return?.();
      return ce.reason === "success" ? ExitCode.Ok : ExitCode.CallUnsuccessful;
    }
  }
}
