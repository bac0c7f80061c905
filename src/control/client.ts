// A small client for the control socket (protocol in ./protocol.ts), used by
// jinglectl and tests. It correlates replies by id, surfaces events, and
// turns error replies into a ControlRequestError carrying the protocol code.
import net from "node:net";
import { socketPathProblem } from "./socket-trust.js";
import { TypedEmitter } from "../util/events.js";
import type {
  CommandArgs,
  CommandName,
  CommandResult,
  ControlReply,
  EventEnvelope,
  HelloEvent,
  RequestId,
} from "./protocol.js";

/** Codes the client itself produces, next to the protocol's own error codes. */
export const ClientErrorCode = {
  /** The socket could not be reached (no daemon, wrong path, no permission). */
  ConnectFailed: "connect-failed",
  /** The socket or its directory is not ours alone (another user's, or open to others): not connected. */
  Untrusted: "untrusted-socket",
  /** The connection closed before a reply arrived. */
  Disconnected: "disconnected",
  /** The daemon sent something that is not protocol. */
  BadReply: "bad-reply",
  Timeout: "timeout",
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export class ControlRequestError extends Error {
  constructor(
    /** A protocol ErrorCode from the daemon, or a ClientErrorCode. */
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ControlRequestError";
  }
}

/** Any event: the envelope plus its fields. Narrow on `event` (see KnownEvent in protocol.ts). */
export type AnyEvent = EventEnvelope & Record<string, unknown>;

export interface ConnectOptions {
  /** How long to wait for the connection and its hello; default 5 s. */
  timeoutMs?: number;
  /** Largest line accepted from the daemon; a snapshot can be large. Default 16 MiB. */
  maxLineBytes?: number;
}

type ClientEvents = {
  event: [event: AnyEvent];
  close: [error: ControlRequestError | undefined];
};

interface Pending {
  id: RequestId;
  resolve: (value: unknown) => void;
  reject: (err: ControlRequestError) => void;
}

export class ControlClient extends TypedEmitter<ClientEvents> {
  readonly #socket: net.Socket;
  /** In send order: the daemon answers in that order, which places replies it sends with id null. */
  readonly #pending: Pending[] = [];
  #nextId = 1;
  #closed = false;
  #helloValue: HelloEvent | undefined;

  /** Use connectControl(). */
  constructor(socket: net.Socket) {
    super();
    this.#socket = socket;
  }

  /** The first message from the daemon: protocol version, daemon version and snapshot. */
  get hello(): HelloEvent {
    if (!this.#helloValue) throw new Error("hello not received yet");
    return this.#helloValue;
  }

  get closed(): boolean {
    return this.#closed;
  }

  request<C extends CommandName>(cmd: C, args?: CommandArgs<C>): Promise<CommandResult<C>>;
  request(cmd: string, args?: Record<string, unknown>): Promise<unknown>;
  request(cmd: string, args?: object): Promise<unknown> {
    if (this.#closed) {
      return Promise.reject(new ControlRequestError("disconnected", "the control connection is closed"));
    }
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.push({ id, resolve, reject });
      this.#socket.write(JSON.stringify(args === undefined ? { id, cmd } : { id, cmd, args }) + "\n");
    });
  }

  /**
   * Events from now on, until the connection closes. Events are buffered
   * between reads, so iterate promptly.
   */
  events(): AsyncIterableIterator<AnyEvent> {
    const buffered: AnyEvent[] = [];
    let wake: (() => void) | undefined;
    let done = this.#closed;
    const offEvent = this.on("event", (e) => {
      buffered.push(e);
      wake?.();
    });
    const offClose = this.on("close", () => {
      done = true;
      wake?.();
    });
    const finish = (): IteratorResult<AnyEvent> => {
      done = true;
      offEvent();
      offClose();
      return { done: true, value: undefined };
    };
    const iterator: AsyncIterableIterator<AnyEvent> = {
      async next() {
        while (buffered.length === 0 && !done) await new Promise<void>((r) => (wake = r));
        wake = undefined;
        const value = buffered.shift();
        return value !== undefined ? { done: false, value } : finish();
      },
      async return() {
        return finish();
      },
      [Symbol.asyncIterator]() {
        return iterator;
      },
    };
    return iterator;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => {
      this.#socket.once("close", () => resolve());
      this.#socket.end();
      // Ending waits for the daemon; do not let a stuck peer hold the process.
      setTimeout(() => this.#socket.destroy(), 1000).unref();
    });
  }

  /** Internal: one parsed line from the daemon. */
  handleMessage(msg: unknown): void {
    if (typeof msg !== "object" || msg === null) return this.#fail("bad-reply", "daemon sent a non-object");
    const m = msg as Record<string, unknown>;
    if (typeof m.event === "string") {
      if (m.event === "hello" && !this.#helloValue) this.#helloValue = m as unknown as HelloEvent;
      this.emit("event", m as AnyEvent);
      return;
    }
    if (typeof m.ok !== "boolean") return this.#fail("bad-reply", "daemon sent a message that is neither a reply nor an event");
    const reply = m as unknown as ControlReply;
    const index = reply.id === null ? 0 : this.#pending.findIndex((p) => p.id === reply.id);
    const pending = index >= 0 ? this.#pending.splice(index, 1)[0] : undefined;
    if (!pending) return; // a reply to nothing we still wait for
    if (reply.ok) pending.resolve(reply.result);
    else pending.reject(new ControlRequestError(reply.error.code, reply.error.message));
  }

  /** Internal: the socket closed. */
  handleClose(error?: ControlRequestError): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const p of this.#pending.splice(0)) {
      p.reject(error ?? new ControlRequestError("disconnected", "the daemon closed the control connection"));
    }
    this.emit("close", error);
  }

  #fail(code: ClientErrorCode, message: string): void {
    this.handleClose(new ControlRequestError(code, message));
    this.#socket.destroy();
  }
}

/** Connects and waits for the daemon's hello. Rejects with code connect-failed, timeout or bad-reply. */
export function connectControl(path: string, opts: ConnectOptions = {}): Promise<ControlClient> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const maxLineBytes = opts.maxLineBytes ?? 16 * 1024 * 1024;
  return new Promise((resolve, reject) => {
    // The daemon's own checks on the socket and its directory (socket-trust.ts): a squatter's socket is never spoken to.
    let untrusted: string | undefined;
    try {
      untrusted = socketPathProblem(path);
    } catch (err) {
      untrusted = `cannot check ${path}: ${(err as Error).message}`;
    }
    if (untrusted) return reject(new ControlRequestError(ClientErrorCode.Untrusted, untrusted));
    const socket = net.connect(path);
    const client = new ControlClient(socket);
    let settled = false;
    const settle = (err?: ControlRequestError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        socket.destroy();
        reject(err);
      } else resolve(client);
    };
    const timer = setTimeout(
      () => settle(new ControlRequestError("timeout", `no hello from jingled at ${path} within ${timeoutMs} ms`)),
      timeoutMs,
    );

    socket.once("error", (err: NodeJS.ErrnoException) => {
      const why = connectFailureReason(err);
      settle(new ControlRequestError("connect-failed", `cannot connect to jingled at ${path}: ${why}`, { cause: err }));
    });
    socket.on("error", () => undefined); // reported through close below
    socket.on("close", () => {
      settle(new ControlRequestError("connect-failed", `jingled at ${path} closed the connection before hello`));
      client.handleClose();
    });

    let chunks: Buffer[] = [];
    let bytes = 0;
    const fail = (message: string): void => {
      const err = new ControlRequestError("bad-reply", message);
      settle(err);
      client.handleClose(err);
      socket.destroy();
    };
    const onChunk = (chunk: Buffer): void => {
      let start = 0;
      while (start < chunk.length && !client.closed) {
        const nl = chunk.indexOf(0x0a, start);
        if (nl === -1) {
          chunks.push(chunk.subarray(start));
          bytes += chunk.length - start;
          if (bytes > maxLineBytes) fail(`daemon sent a line over ${maxLineBytes} bytes`);
          return;
        }
        const line = Buffer.concat([...chunks, chunk.subarray(start, nl)]).toString("utf8");
        chunks = [];
        bytes = 0;
        start = nl + 1;
        if (line.trim() === "") continue;
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          return fail("daemon sent invalid JSON");
        }
        if (settled) {
          client.handleMessage(msg);
          continue;
        }
        if ((msg as Partial<HelloEvent> | null)?.event !== "hello") {
          return fail(`expected hello from ${path}; is this a jingled socket?`);
        }
        client.handleMessage(msg);
        settle();
        // Hold what follows hello until the caller's `await connectControl()` has resumed and
        // attached its listeners, so events sent right after hello are not emitted to nobody.
        const rest = chunk.subarray(start);
        socket.pause();
        setImmediate(() => {
          onChunk(rest);
          socket.resume();
        });
        return;
      }
    };
    socket.on("data", onChunk);
  });
}

function connectFailureReason(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case "ENOENT":
      return "no such socket (ENOENT)";
    case "ECONNREFUSED":
      return "nothing is listening; a stale socket? (ECONNREFUSED)";
    case "EACCES":
    case "EPERM":
      return `permission denied (${err.code})`;
    case "ENOTSOCK":
      return "not a socket (ENOTSOCK)";
    default:
      return err.code ?? err.message;
  }
}
