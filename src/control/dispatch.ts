// The command table's one dispatcher, shared by every control front end (the
// Unix socket in ./server.ts, the MQTT bridge in src/mqtt/): a request's text
// in, exactly one reply out. Parsing, the unknown-command check, and turning
// a handler's error into a protocol error code happen here and nowhere else,
// so every front end answers the same request with the same reply (baresip's
// control modules share one command registry the same way).
import type { Logger } from "../util/logger.js";
import { CommandError, JingledError, errorMessage } from "../util/errors.js";
import { errorReply, isErrorCode, okReply, parseRequestLine, type ControlReply, type RequestId } from "./protocol.js";

export interface ClientInfo {
  /** Unique per daemon run and front end; appears in logs. */
  readonly id: number;
  readonly connectedAt: Date;
  /** The front end the request came through ("socket" when absent). */
  readonly via?: string;
}

export type CommandHandler = (args: Record<string, unknown>, client: ClientInfo) => Promise<unknown> | unknown;

export interface DispatchOptions {
  /** Only these commands may run (others get not-allowed); every command when absent. */
  allowed?: ReadonlySet<string>;
}

export interface CommandDispatcher {
  /** One request (a JSON object's text) -> its reply. Never throws. */
  handle(text: string, client: ClientInfo, opts?: DispatchOptions): Promise<ControlReply>;
  /** The command names, sorted. */
  readonly commands: readonly string[];
}

export function createDispatcher(handlers: Record<string, CommandHandler>, logger: Logger): CommandDispatcher {
  const log = logger.child({ component: "control" });
  const commands = Object.keys(handlers).sort();

  async function handle(text: string, client: ClientInfo, opts: DispatchOptions = {}): Promise<ControlReply> {
    const parsed = parseRequestLine(text);
    if (!parsed.ok) return errorReply(parsed.id ?? null, parsed.error.code, parsed.error.message);
    const { id, cmd, args } = parsed.request;
    // hasOwn: a cmd such as "toString" or "__proto__" must not reach Object.prototype.
    const handler = Object.hasOwn(handlers, cmd) ? handlers[cmd] : undefined;
    if (handler === undefined) {
      return errorReply(id, "unknown-command", `unknown command "${cmd.slice(0, 100)}" (known: ${commands.join(", ")})`);
    }
    if (opts.allowed && !opts.allowed.has(cmd)) {
      return errorReply(id, "not-allowed", `${cmd} is not allowed over ${client.via ?? "this front end"} (allowed: ${[...opts.allowed].sort().join(", ")})`);
    }
    try {
      return okReply(id, await handler(args, client));
    } catch (err) {
      return handlerErrorReply(id, cmd, err, client);
    }
  }

  function handlerErrorReply(id: RequestId, cmd: string, err: unknown, client: ClientInfo): ControlReply {
    // Any domain error whose code the protocol defines (CommandError, CallError("invalid-state"), ...) goes out as is.
    if (err instanceof JingledError && isErrorCode(err.code)) return errorReply(id, err.code, err.message);
    if (err instanceof CommandError) {
      // A code outside the protocol's set is a bug in the handler: report it, but as internal.
      log.error({ cmd, code: err.code }, "handler used an error code the protocol does not define");
      return errorReply(id, "internal", `${err.code}: ${err.message}`);
    }
    log.error({ err, cmd, client: client.id, via: client.via }, "control command failed unexpectedly");
    return errorReply(id, "internal", `${cmd} failed: ${errorMessage(err)}`);
  }

  return { handle, commands };
}
