// The control socket server: many local clients, newline-delimited JSON (the
// protocol is documented in ./protocol.ts). It owns framing, ordering, limits
// and socket-file security; requests go to the shared command dispatcher
// (./dispatch.ts) and events come from the daemon's event bus (./event-bus.ts).
import { lstat, mkdir, chmod, unlink, stat } from "node:fs/promises";
import net from "node:net";
import { dirname } from "node:path";
import type { Logger } from "../util/logger.js";
import { errorMessage } from "../util/errors.js";
import { PROTOCOL_VERSION, encodeLine, errorReply, type ControlReply } from "./protocol.js";
import { createDispatcher, type ClientInfo, type CommandDispatcher, type CommandHandler } from "./dispatch.js";
import { createEventBus, type EventBus } from "./event-bus.js";
import { ControlSocketError, directoryProblem } from "./socket-trust.js";

export type { ClientInfo, CommandHandler } from "./dispatch.js";
export { defaultSocketPath } from "./socket-path.js";

export interface ControlServerOptions {
  /** The daemon's command dispatcher, shared with its other front ends ... */
  dispatch?: CommandDispatcher;
  /** ... or, without one, a command table of this server's own. */
  handlers?: Record<string, CommandHandler>;
  path: string;
  logger: Logger;
  /** The daemon's version, sent in hello. */
  version: string;
  /** The daemon's event bus; a bus of its own when absent (fed by broadcast()). */
  events?: EventBus;
  /** State sent in each client's hello (the `status` result). */
  snapshot: () => unknown;
  maxLineBytes?: number;
  maxQueuedBytes?: number;
}

export interface ControlServer {
  listen(): Promise<void>;
  /** Publishes `{event, seq, time, ...fields}` on the event bus, hence to every client. */
  broadcast: EventBus["publish"];
  close(): Promise<void>;
  readonly clientCount: number;
}

// sockaddr_un.sun_path is 108 bytes on Linux, including the terminating NUL.
const MAX_SOCKET_PATH_BYTES = 107;
// Lines read but not yet handled; past this we stop reading the socket so a
// client that pipelines faster than we answer is slowed down, not buffered.
const MAX_PENDING_LINES = 32;
// One read can hold thousands of pipelined lines: a client gets this many
// answered per turn of the event loop, so other clients (and calls' media)
// are not held up behind it.
const LINES_PER_TURN = 8;

export { ControlSocketError };

type QueueItem = { kind: "line"; line: string } | { kind: "too-long" };

export function createControlServer(opts: ControlServerOptions): ControlServer {
  const { path, logger, version, snapshot } = opts;
  const maxLineBytes = opts.maxLineBytes ?? 64 * 1024;
  const maxQueuedBytes = opts.maxQueuedBytes ?? 1024 * 1024;
  const log = logger.child({ component: "control" });
  const dispatch = opts.dispatch ?? createDispatcher(opts.handlers ?? {}, logger);
  const events = opts.events ?? createEventBus(logger);

  const clients = new Set<Client>();
  // Every event goes to every client, encoded once by the bus.
  let unsubscribe: (() => void) | undefined;
  let nextClientId = 1;
  let server: net.Server | undefined;
  // The inode we bound, so close() never removes a socket another daemon put there since.
  let boundIno: number | undefined;

  class Client {
    readonly info: ClientInfo;
    readonly #socket: net.Socket;
    #chunks: Buffer[] = [];
    #chunkBytes = 0;
    /** True while skipping the rest of an over-long line. */
    #discarding = false;
    readonly #queue: QueueItem[] = [];
    #processing = false;
    #closed = false;
    /** The client half-closed: answer what it sent, then close our side. */
    #inputEnded = false;
    /**
     * Lines held while the socket waits to drain, then written as one chunk:
     * a slow reader costs one buffered write, not thousands (each of which
     * Node would fail with its own error, stack trace included, on destroy).
     */
    #backlog: string[] = [];
    #backlogBytes = 0;

    constructor(socket: net.Socket) {
      this.#socket = socket;
      this.info = { id: nextClientId++, connectedAt: new Date() };
      socket.on("data", (chunk: Buffer) => this.#onData(chunk));
      socket.on("error", (err) => log.debug({ client: this.info.id, err: errorMessage(err) }, "client socket error"));
      socket.on("end", () => this.#onEnd());
      socket.on("close", () => this.#onClose());
      socket.on("drain", () => this.#flush());
    }

    get closed(): boolean {
      return this.#closed;
    }

    /** Writes one encoded line, or drops this client if it is not reading fast enough. */
    sendLine(line: string): void {
      if (this.#closed) return;
      // writableLength is what Node still holds for this socket beyond the kernel's buffer.
      const bytes = Buffer.byteLength(line);
      if (this.#socket.writableLength + this.#backlogBytes + bytes > maxQueuedBytes) {
        log.warn(
          { client: this.info.id, queuedBytes: this.#socket.writableLength + this.#backlogBytes, maxQueuedBytes },
          "control client is not reading; disconnecting it",
        );
        this.destroy();
        return;
      }
      if (this.#socket.writableNeedDrain || this.#backlog.length > 0) {
        this.#backlog.push(line);
        this.#backlogBytes += bytes;
        return;
      }
      this.#socket.write(line);
    }

    #flush(): void {
      if (this.#closed || this.#backlog.length === 0) return;
      const data = this.#backlog.join("");
      this.#backlog = [];
      this.#backlogBytes = 0;
      this.#socket.write(data);
    }

    destroy(): void {
      if (this.#closed) return;
      this.#closed = true;
      clients.delete(this);
      this.#queue.length = 0;
      this.#backlog = [];
      this.#socket.destroy();
    }

    #onClose(): void {
      if (!this.#closed) {
        this.#closed = true;
        clients.delete(this);
        this.#queue.length = 0;
      }
      log.debug({ client: this.info.id }, "control client disconnected");
    }

    #onEnd(): void {
      this.#inputEnded = true;
      // A last line without its newline (e.g. `printf ... | nc -U`) still counts.
      if (!this.#discarding && this.#chunkBytes > 0) {
        const line = Buffer.concat(this.#chunks).toString("utf8");
        this.#chunks = [];
        this.#chunkBytes = 0;
        this.#enqueue({ kind: "line", line });
      }
      this.#endIfIdle();
    }

    #endIfIdle(): void {
      if (this.#inputEnded && !this.#processing && this.#queue.length === 0 && !this.#closed) {
        this.#flush();
        this.#closed = true;
        clients.delete(this);
        this.#socket.end();
      }
    }

    #onData(chunk: Buffer): void {
      let start = 0;
      while (start < chunk.length && !this.#closed) {
        const nl = chunk.indexOf(0x0a, start);
        const end = nl === -1 ? chunk.length : nl;
        if (this.#discarding) {
          if (nl !== -1) this.#discarding = false;
        } else if (this.#chunkBytes + (end - start) > maxLineBytes) {
          // Report once, then drop bytes until the newline: memory stays bounded by maxLineBytes.
          this.#chunks = [];
          this.#chunkBytes = 0;
          this.#enqueue({ kind: "too-long" });
          if (nl === -1) this.#discarding = true;
        } else if (nl === -1) {
          // Copy: the slice would otherwise pin the whole (possibly large) read buffer.
          this.#chunks.push(Buffer.from(chunk.subarray(start, end)));
          this.#chunkBytes += end - start;
        } else {
          const tail = chunk.subarray(start, end);
          const line = this.#chunkBytes === 0 ? tail : Buffer.concat([...this.#chunks, tail]);
          this.#chunks = [];
          this.#chunkBytes = 0;
          this.#enqueue({ kind: "line", line: line.toString("utf8") });
        }
        start = end + 1;
      }
    }

    #enqueue(item: QueueItem): void {
      if (item.kind === "line" && item.line.trim() === "") return;
      this.#queue.push(item);
      if (this.#queue.length >= MAX_PENDING_LINES) this.#socket.pause();
      if (!this.#processing) void this.#drain();
    }

    /** Handles queued lines one at a time, so a client's replies keep its request order. */
    async #drain(): Promise<void> {
      this.#processing = true;
      let handled = 0;
      try {
        while (!this.#closed) {
          const item = this.#queue.shift();
          if (item === undefined) break;
          if (this.#queue.length < MAX_PENDING_LINES && this.#socket.isPaused()) this.#socket.resume();
          const reply =
            item.kind === "too-long"
              ? errorReply(null, "line-too-long", `line longer than ${maxLineBytes} bytes; skipped to its end`)
              : await dispatch.handle(item.line.endsWith("\r") ? item.line.slice(0, -1) : item.line, this.info);
          this.sendLine(encodeReply(reply));
          if (++handled % LINES_PER_TURN === 0) await new Promise((r) => setImmediate(r));
        }
      } finally {
        this.#processing = false;
        this.#endIfIdle();
      }
    }
  }

  /** A result JSON cannot carry (a cycle, a BigInt) becomes an internal error, not a stuck client. */
  function encodeReply(reply: ControlReply): string {
    try {
      return encodeLine(reply);
    } catch (err) {
      log.error({ err, id: reply.id }, "control reply is not serialisable");
      return encodeLine(errorReply(reply.id, "internal", `result could not be encoded: ${errorMessage(err)}`));
    }
  }

  function onConnection(socket: net.Socket): void {
    const client = new Client(socket);
    let snap: unknown;
    try {
      snap = snapshot();
    } catch (err) {
      log.error({ err }, "snapshot for hello failed");
      snap = null;
    }
    // Synchronous from here to clients.add: no event can slip between the snapshot and the
    // client joining, so hello.seq + 1 is exactly the first event this client sees.
    const hello = { event: "hello", seq: events.seq, time: new Date().toISOString(), protocol: PROTOCOL_VERSION, version };
    let line: string;
    try {
      line = encodeLine({ ...hello, snapshot: snap });
    } catch (err) {
      log.error({ err }, "snapshot for hello is not serialisable");
      line = encodeLine({ ...hello, snapshot: null });
    }
    client.sendLine(line);
    if (!client.closed) clients.add(client);
    log.debug({ client: client.info.id, clients: clients.size }, "control client connected");
  }

  async function listen(): Promise<void> {
    if (server) throw new ControlSocketError("control server is already listening");
    if (Buffer.byteLength(path) > MAX_SOCKET_PATH_BYTES) {
      throw new ControlSocketError(
        `control socket path is too long (${Buffer.byteLength(path)} bytes, at most ${MAX_SOCKET_PATH_BYTES}): ${path}`,
      );
    }
    await prepareDirectory(dirname(path));
    await clearStaleSocket(path);
    const srv = net.createServer({ allowHalfOpen: true }, onConnection);
    await bindPrivately(srv, path);
    try {
      // umask already made it 0600; chmod as well in case the filesystem ignores umask for sockets.
      await chmod(path, 0o600);
      boundIno = (await stat(path)).ino;
    } catch (err) {
      srv.close();
      throw new ControlSocketError(`cannot secure control socket ${path}: ${errorMessage(err)}`, { cause: err });
    }
    srv.on("error", (err) => log.error({ err }, "control socket error"));
    server = srv;
    unsubscribe = events.subscribe(({ line }) => {
      for (const client of [...clients]) client.sendLine(line);
    });
    // The daemon's start-up line names the socket (app.ts); this one is for whoever embeds the server.
    log.debug({ path }, "control socket listening");
  }

  async function close(): Promise<void> {
    const srv = server;
    if (!srv) return;
    server = undefined;
    unsubscribe?.();
    const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
    for (const client of [...clients]) client.destroy();
    await closed;
    // Node may already have unlinked it; remove it only if it is still the one we bound.
    try {
      if ((await stat(path)).ino === boundIno) await unlink(path);
    } catch {
      /* already gone */
    }
  }

  return {
    listen,
    broadcast: (event, fields) => events.publish(event, fields),
    close,
    get clientCount() {
      return clients.size;
    },
  };
}

/**
 * The socket's directory must be ours and closed to others (socket-trust.ts):
 * the socket file's own mode is not enough on every system, and a directory
 * someone else controls could swap the socket for theirs.
 */
async function prepareDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new ControlSocketError(`cannot create control socket directory ${dir}: ${errorMessage(err)}`, { cause: err });
  }
  const problem = directoryProblem(dir, await lstat(dir));
  if (problem) throw new ControlSocketError(problem);
}

/** Removes a socket left by a crashed daemon; refuses to take over a live one. */
async function clearStaleSocket(path: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  if (!st.isSocket()) {
    throw new ControlSocketError(`${path} exists and is not a socket; refusing to replace it`);
  }
  const alive = await new Promise<boolean>((resolve) => {
    const probe = net.connect(path);
    probe.once("connect", () => {
      probe.destroy();
      resolve(true);
    });
    // ECONNREFUSED: nobody listens. Anything else (ENOENT after a race) is not a live daemon either.
    probe.once("error", () => resolve(false));
  });
  if (alive) throw new ControlSocketError(`another jingled is already listening on ${path}`);
  await unlink(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== "ENOENT") throw err;
  });
}

/** Binds under umask 0177 so the socket is never reachable by others, not even briefly. */
function bindPrivately(srv: net.Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      srv.off("listening", onListening);
      if (err.code === "EADDRINUSE") {
        reject(new ControlSocketError(`another jingled is already listening on ${path}`, { cause: err }));
      } else {
        reject(new ControlSocketError(`cannot listen on ${path}: ${err.message}`, { cause: err }));
      }
    };
    const onListening = (): void => {
      srv.off("error", onError);
      resolve();
    };
    srv.once("error", onError);
    srv.once("listening", onListening);
    // The bind itself happens synchronously inside listen() for Unix sockets, so the umask
    // window is just this call (umask is process-wide).
    const previous = process.umask(0o177);
    try {
      srv.listen(path);
    } finally {
      process.umask(previous);
    }
  });
}

