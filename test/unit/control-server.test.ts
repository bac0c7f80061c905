// The control server through a real Unix socket in a throwaway directory.
import { test, beforeEach, afterEach } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtemp, rm, stat, chmod, writeFile, mkdir } from "node:fs/promises";
import { existsSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { CommandError } from "../../src/util/errors.js";
import { silentLogger } from "../../src/util/logger.js";
import {
  createControlServer,
  defaultSocketPath,
  type ClientInfo,
  type ControlServer,
  type ControlServerOptions,
} from "../../src/control/server.js";
import { connectControl, ControlRequestError } from "../../src/control/client.js";

// ---------------------------------------------------------------- helpers

/** A raw protocol client: writes bytes, reads parsed lines, no help from client.ts. */
class RawClient {
  readonly #messages: Record<string, unknown>[] = [];
  #waiter: (() => void) | undefined;
  #buffer = "";
  closed = false;

  constructor(readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      this.#buffer += text;
      let nl;
      while ((nl = this.#buffer.indexOf("\n")) !== -1) {
        this.#messages.push(JSON.parse(this.#buffer.slice(0, nl)) as Record<string, unknown>);
        this.#buffer = this.#buffer.slice(nl + 1);
      }
      this.#waiter?.();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => {
      this.closed = true;
      this.#waiter?.();
    });
  }

  static connect(path: string): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(path);
      s.once("connect", () => resolve(new RawClient(s)));
      s.once("error", reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  send(obj: object): void {
    this.write(JSON.stringify(obj) + "\n");
  }

  async next(timeoutMs = 2000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.#messages.length === 0) {
      if (this.closed) throw new Error("connection closed");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a message");
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.#waiter = undefined;
    }
    return this.#messages.shift()!;
  }

  /** Skips events until the reply with this id. */
  async reply(id: unknown): Promise<Record<string, unknown>> {
    for (;;) {
      const m = await this.next();
      if ("ok" in m && m.id === id) return m;
    }
  }

  waitClosed(timeoutMs = 2000): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return resolve();
      const t = setTimeout(() => reject(new Error("still connected")), timeoutMs);
      this.socket.once("close", () => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  destroy(): void {
    this.socket.destroy();
  }
}

let dir: string;
let sockPath: string;
const servers: ControlServer[] = [];
const rawClients: RawClient[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "jingled-ctl-"));
  sockPath = join(dir, "run", "control.sock");
});

afterEach(async () => {
  for (const c of rawClients.splice(0)) c.destroy();
  for (const s of servers.splice(0)) await s.close();
  await rm(dir, { recursive: true, force: true });
});

const snapshotValue = { account: { jid: "alice@localhost/jingled", state: "online" }, calls: [] };

async function startServer(overrides: Partial<ControlServerOptions> = {}): Promise<ControlServer> {
  const server = createControlServer({
    path: sockPath,
    logger: silentLogger(),
    version: "9.9.9-test",
    snapshot: () => snapshotValue,
    handlers: {
      echo: (args) => args,
      whoami: (_args, client: ClientInfo) => ({ client: client.id }),
      nothing: () => undefined,
      refuse: () => {
        throw new CommandError("unknown-call", "no call with id c9");
      },
      weird: () => {
        throw new CommandError("not-a-protocol-code", "oops");
      },
      crash: () => {
        throw new TypeError("cannot read properties of undefined");
      },
      crashAsync: async () => {
        await new Promise((r) => setTimeout(r, 5));
        throw new Error("async boom");
      },
      cyclic: () => {
        const o: Record<string, unknown> = {};
        o.self = o;
        return o;
      },
      slow: async (args) => {
        await new Promise((r) => setTimeout(r, Number(args.ms ?? 30)));
        return { slept: args.ms };
      },
    },
    ...overrides,
  });
  await server.listen();
  servers.push(server);
  return server;
}

async function connectRaw(): Promise<{ client: RawClient; hello: Record<string, unknown> }> {
  const client = await RawClient.connect(sockPath);
  rawClients.push(client);
  const hello = await client.next();
  return { client, hello };
}

async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---------------------------------------------------------------- hello, requests, events

test("hello comes first, with protocol, version, seq and snapshot", async () => {
  await startServer();
  const { hello } = await connectRaw();
  assert.equal(hello.event, "hello");
  assert.equal(hello.protocol, 1);
  assert.equal(hello.version, "9.9.9-test");
  assert.equal(hello.seq, 0);
  assert.ok(!Number.isNaN(Date.parse(String(hello.time))));
  assert.deepEqual(hello.snapshot, snapshotValue);
  assert.deepEqual(Object.keys(hello).slice(0, 3), ["event", "seq", "time"]);
});

test("request/reply echoes ids of both types and passes args and client", async () => {
  await startServer();
  const { client } = await connectRaw();
  client.send({ id: 1, cmd: "echo", args: { a: [1, 2], b: "x" } });
  client.send({ id: "two", cmd: "echo" });
  client.send({ id: 3, cmd: "nothing" });
  client.send({ id: 4, cmd: "whoami" });
  assert.deepEqual(await client.next(), { id: 1, ok: true, result: { a: [1, 2], b: "x" } });
  assert.deepEqual(await client.next(), { id: "two", ok: true, result: {} });
  assert.deepEqual(await client.next(), { id: 3, ok: true, result: null });
  const who = await client.next();
  assert.equal(who.id, 4);
  assert.equal(typeof (who.result as { client: number }).client, "number");
});

test("two clients receive the same events with increasing seq; a late client's hello.seq continues it", async () => {
  const server = await startServer();
  const a = await connectRaw();
  const b = await connectRaw();
  assert.equal(server.clientCount, 2);
  server.broadcast("call", { callId: "c1", type: "ringing", peer: "bob@localhost/r" });
  server.broadcast("account", { state: "online" });
  // A field named like the envelope cannot overwrite it.
  (server.broadcast as (event: string, fields: object) => void)("call", { callId: "c1", type: "active", peer: "bob@localhost/r", seq: 999, event: "x" });
  const fromA = [await a.client.next(), await a.client.next(), await a.client.next()];
  const fromB = [await b.client.next(), await b.client.next(), await b.client.next()];
  assert.deepEqual(fromA, fromB);
  assert.deepEqual(
    fromA.map((e) => [e.event, e.seq]),
    [
      ["call", 1],
      ["account", 2],
      ["call", 3],
    ],
  );
  assert.equal(fromA[0]!.type, "ringing");
  assert.deepEqual(Object.keys(fromA[0]!).slice(0, 3), ["event", "seq", "time"]);

  const late = await connectRaw();
  assert.equal(late.hello.seq, 3);
  server.broadcast("account", { state: "offline" });
  assert.equal((await late.client.next()).seq, 4);
  assert.equal((await a.client.next()).seq, 4);
});

test("events and replies interleave in the order they happen", async () => {
  const server = await startServer({
    handlers: {
      dial: () => {
        server.broadcast("call", { callId: "c1", type: "outgoing", peer: "bob@localhost" });
        return { callId: "c1" };
      },
    },
  });
  const { client } = await connectRaw();
  client.send({ id: 1, cmd: "dial" });
  assert.equal((await client.next()).event, "call");
  assert.deepEqual(await client.next(), { id: 1, ok: true, result: { callId: "c1" } });
});

test("requests from one client run one at a time, in order", async () => {
  let running = 0;
  let maxRunning = 0;
  const order: number[] = [];
  await startServer({
    handlers: {
      work: async (args) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await new Promise((r) => setTimeout(r, Number(args.ms)));
        order.push(Number(args.n));
        running--;
        return args.n;
      },
    },
  });
  const { client } = await connectRaw();
  client.write(
    [40, 1, 20, 0].map((ms, n) => JSON.stringify({ id: n, cmd: "work", args: { ms, n } })).join("\n") + "\n",
  );
  const replies = [await client.next(), await client.next(), await client.next(), await client.next()];
  assert.deepEqual(
    replies.map((r) => r.id),
    [0, 1, 2, 3],
  );
  assert.deepEqual(order, [0, 1, 2, 3]);
  assert.equal(maxRunning, 1);
});

// ---------------------------------------------------------------- errors

test("unknown command names the known ones", async () => {
  await startServer();
  const { client } = await connectRaw();
  client.send({ id: 7, cmd: "dial" });
  client.send({ id: 8, cmd: "toString" });
  client.send({ id: 9, cmd: "__proto__" });
  for (const id of [7, 8, 9]) {
    const r = await client.next();
    assert.equal(r.id, id);
    assert.equal(r.ok, false);
    const error = r.error as { code: string; message: string };
    assert.equal(error.code, "unknown-command");
    assert.match(error.message, /known: .*echo/);
  }
});

test("a CommandError becomes that error reply; a code outside the protocol becomes internal", async () => {
  await startServer();
  const { client } = await connectRaw();
  client.send({ id: 1, cmd: "refuse" });
  assert.deepEqual(await client.next(), {
    id: 1,
    ok: false,
    error: { code: "unknown-call", message: "no call with id c9" },
  });
  client.send({ id: 2, cmd: "weird" });
  const r = await client.next();
  assert.equal((r.error as { code: string }).code, "internal");
});

test("a crashing handler gives internal (logged with its stack) and the server keeps serving", async () => {
  const logged: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logged.push(String(chunk));
      cb();
    },
  });
  await startServer({ logger: pino({ level: "error" }, sink) });
  const { client } = await connectRaw();
  client.send({ id: 1, cmd: "crash" });
  client.send({ id: 2, cmd: "crashAsync" });
  client.send({ id: 3, cmd: "cyclic" });
  client.send({ id: 4, cmd: "echo", args: { still: "alive" } });
  const r1 = await client.next();
  assert.equal((r1.error as { code: string }).code, "internal");
  assert.match((r1.error as { message: string }).message, /crash failed: cannot read properties of undefined/);
  const r2 = await client.next();
  assert.match((r2.error as { message: string }).message, /async boom/);
  const r3 = await client.next();
  assert.equal(r3.id, 3);
  assert.equal((r3.error as { code: string }).code, "internal");
  assert.deepEqual(await client.next(), { id: 4, ok: true, result: { still: "alive" } });
  await until(() => logged.some((l) => l.includes("stack") && l.includes("TypeError")));
  // A new client is served too.
  const other = await connectRaw();
  other.client.send({ id: 1, cmd: "nothing" });
  assert.equal((await other.client.next()).ok, true);
});

test("malformed JSON gets bad-json with id null; a bad request echoes the id it could read", async () => {
  await startServer();
  const { client } = await connectRaw();
  client.write('{"id":1,"cmd":\n');
  client.write('{"cmd":"echo","id":[1]}\n');
  client.write('{"id":5,"args":{}}\n');
  client.write("\n   \n"); // blank lines: no reply
  client.write('{"id":6,"cmd":"echo","args":"x"}\r\n');
  client.send({ id: 7, cmd: "echo" });
  const codes = [];
  for (let i = 0; i < 4; i++) {
    const r = await client.next();
    codes.push([r.id, (r.error as { code: string }).code]);
  }
  assert.deepEqual(codes, [
    [null, "bad-json"],
    [null, "bad-request"],
    [5, "bad-request"],
    [6, "bad-request"],
  ]);
  assert.deepEqual(await client.next(), { id: 7, ok: true, result: {} });
});

test("a 200 KB line gets line-too-long, in one write or many, and the connection still works", async () => {
  await startServer();
  const { client } = await connectRaw();
  const big = JSON.stringify({ id: 1, cmd: "echo", args: { blob: "x".repeat(200 * 1024) } });
  client.write(big + "\n");
  client.send({ id: 2, cmd: "echo", args: { after: 1 } });
  const r1 = await client.next();
  assert.equal(r1.id, null);
  assert.equal((r1.error as { code: string }).code, "line-too-long");
  assert.deepEqual(await client.next(), { id: 2, ok: true, result: { after: 1 } });

  // The same over many small writes, with the next request in the same write as the tail.
  for (let i = 0; i < big.length; i += 10_000) {
    client.write(big.slice(i, i + 10_000));
    await new Promise((r) => setImmediate(r));
  }
  client.write('\n{"id":3,"cmd":"echo","args":{"after":2}}\n');
  assert.equal(((await client.next()).error as { code: string }).code, "line-too-long");
  assert.deepEqual(await client.next(), { id: 3, ok: true, result: { after: 2 } });
});

test("a line just under the limit is accepted", async () => {
  await startServer({ maxLineBytes: 1000 });
  const { client } = await connectRaw();
  const base = JSON.stringify({ id: 1, cmd: "echo", args: { s: "" } });
  const line = JSON.stringify({ id: 1, cmd: "echo", args: { s: "y".repeat(1000 - base.length) } });
  assert.equal(Buffer.byteLength(line), 1000);
  client.write(line + "\n");
  assert.equal((await client.next()).ok, true);
  client.write(line.replace('"s":"', '"s":"z') + "\n");
  assert.equal(((await client.next()).error as { code: string }).code, "line-too-long");
});

test("partial lines are buffered until the newline, even mid UTF-8 character", async () => {
  await startServer();
  const { client } = await connectRaw();
  const bytes = Buffer.from(JSON.stringify({ id: "ü", cmd: "echo", args: { text: "grüße ☎" } }) + "\n");
  for (let i = 0; i < bytes.length; i++) {
    client.write(bytes.subarray(i, i + 1));
    if (i % 7 === 0) await new Promise((r) => setTimeout(r, 1));
  }
  assert.deepEqual(await client.next(), { id: "ü", ok: true, result: { text: "grüße ☎" } });
  // Two requests in one write, then a split one.
  client.write('{"id":1,"cmd":"echo"}\n{"id":2,"cmd":"echo"}\n{"id":3,');
  await new Promise((r) => setTimeout(r, 10));
  client.write('"cmd":"echo"}\n');
  assert.deepEqual(
    [(await client.next()).id, (await client.next()).id, (await client.next()).id],
    [1, 2, 3],
  );
});

test("a client that half-closes gets its replies, even for a last line without newline", async () => {
  await startServer();
  const { client } = await connectRaw();
  client.write('{"id":1,"cmd":"slow","args":{"ms":20}}\n{"id":2,"cmd":"echo"}');
  client.socket.end();
  assert.equal((await client.next()).id, 1);
  assert.equal((await client.next()).id, 2);
  await client.waitClosed();
});

// ---------------------------------------------------------------- slow clients

test("a client that never reads is disconnected at the queue limit; others keep getting prompt replies", async () => {
  const server = await startServer({ maxQueuedBytes: 256 * 1024 });
  const stalled = await connectRaw();
  stalled.client.socket.pause(); // stops reading: the kernel buffers fill, then ours
  const good = await connectRaw();
  let goodEvents = 0;
  const chunk = "e".repeat(32 * 1024);

  for (let i = 0; i < 500 && server.clientCount === 2; i++) {
    (server.broadcast as (event: string, fields: object) => void)("filler", { i, chunk });
    // Let the reading client drain between events, as a live daemon would.
    while (true) {
      const m = await good.client.next();
      if (m.event === "filler") {
        goodEvents++;
        break;
      }
    }
  }
  assert.equal(server.clientCount, 1, "the stalled client was dropped");
  assert.ok(goodEvents > 8, `the limit was reached after real traffic (${goodEvents} events)`);

  const started = Date.now();
  good.client.send({ id: "ping", cmd: "echo", args: { ok: 1 } });
  assert.deepEqual(await good.client.reply("ping"), { id: "ping", ok: true, result: { ok: 1 } });
  assert.ok(Date.now() - started < 500, "reply was prompt");

  stalled.client.socket.resume();
  await stalled.client.waitClosed();
});

// ---------------------------------------------------------------- socket file security

test("the directory is created 0700 and the socket is 0600", async () => {
  await startServer();
  assert.equal((await stat(join(dir, "run"))).mode & 0o777, 0o700);
  const st = await stat(sockPath);
  assert.ok(st.isSocket());
  assert.equal(st.mode & 0o777, 0o600);
});

test("the socket is 0600 even under a permissive umask", async () => {
  const previous = process.umask(0);
  try {
    await startServer();
  } finally {
    process.umask(previous);
  }
  assert.equal((await stat(sockPath)).mode & 0o777, 0o600);
});

test("a directory others can enter is refused with a clear error", async () => {
  await mkdir(join(dir, "run"), { mode: 0o755 });
  await chmod(join(dir, "run"), 0o755);
  const server = createControlServer({
    path: sockPath,
    logger: silentLogger(),
    version: "x",
    handlers: {},
    snapshot: () => ({}),
  });
  await assert.rejects(server.listen(), /has mode 755.*chmod 700/);
  assert.equal(existsSync(sockPath), false);
});

test("a non-socket file at the path is not removed", async () => {
  await mkdir(join(dir, "run"), { mode: 0o700 });
  await writeFile(sockPath, "precious");
  const server = createControlServer({
    path: sockPath,
    logger: silentLogger(),
    version: "x",
    handlers: {},
    snapshot: () => ({}),
  });
  await assert.rejects(server.listen(), /exists and is not a socket/);
  assert.ok((await stat(sockPath)).isFile());
});

test("a stale socket from a crashed daemon is replaced", async () => {
  await mkdir(join(dir, "run"), { mode: 0o700 });
  // A real crash: a process binds the path and is killed, leaving the socket file behind.
  const child = spawn(
    process.execPath,
    ["-e", `require("net").createServer().listen(${JSON.stringify(sockPath)}, () => console.log("up"))`],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
  child.kill("SIGKILL");
  await new Promise((r) => child.once("exit", r));
  assert.ok((await stat(sockPath)).isSocket(), "the crashed process left its socket");

  await startServer();
  const { hello } = await connectRaw();
  assert.equal(hello.version, "9.9.9-test");
});

test("a live socket is not stolen: the second server fails clearly and the first keeps serving", async () => {
  await startServer();
  const second = createControlServer({
    path: sockPath,
    logger: silentLogger(),
    version: "second",
    handlers: {},
    snapshot: () => ({}),
  });
  await assert.rejects(second.listen(), (err: Error) => {
    assert.equal(err.message, `another jingled is already listening on ${sockPath}`);
    return true;
  });
  const { hello, client } = await connectRaw();
  assert.equal(hello.version, "9.9.9-test");
  client.send({ id: 1, cmd: "nothing" });
  assert.equal((await client.next()).ok, true);
});

test("close disconnects clients and removes the socket file", async () => {
  const server = await startServer();
  const { client } = await connectRaw();
  await server.close();
  await client.waitClosed();
  assert.equal(existsSync(sockPath), false);
  assert.equal(server.clientCount, 0);
});

test("defaultSocketPath prefers XDG_RUNTIME_DIR", () => {
  assert.equal(defaultSocketPath({ XDG_RUNTIME_DIR: "/run/user/1000" }), "/run/user/1000/jingled/control.sock");
  assert.equal(defaultSocketPath({}), `/tmp/jingled-${process.getuid!()}/control.sock`);
});

// ---------------------------------------------------------------- the client library

test("client: hello, typed requests, error codes, events, and connect failures", async () => {
  const server = await startServer();
  const client = await connectControl(sockPath);
  try {
    assert.equal(client.hello.protocol, 1);
    assert.deepEqual(await client.request("echo", { x: 1 }), { x: 1 });
    await assert.rejects(client.request("refuse"), (err: unknown) => {
      assert.ok(err instanceof ControlRequestError);
      assert.equal(err.code, "unknown-call");
      return true;
    });
    // Concurrent requests resolve to their own replies.
    const [a, b] = await Promise.all([client.request("slow", { ms: 20 }), client.request("echo", { y: 2 })]);
    assert.deepEqual([a, b], [{ slept: 20 }, { y: 2 }]);

    const events = client.events();
    server.broadcast("account", { state: "reconnecting", reason: "stream closed" });
    server.broadcast("account", { state: "online" });
    const e1 = await events.next();
    const e2 = await events.next();
    assert.equal(e1.value!.state, "reconnecting");
    assert.equal(e2.value!.seq, (e1.value!.seq as number) + 1);
    await events.return!();
  } finally {
    await client.close();
  }
  await assert.rejects(connectControl(join(dir, "nope.sock")), (err: unknown) => {
    assert.ok(err instanceof ControlRequestError);
    assert.equal(err.code, "connect-failed");
    assert.match(err.message, /cannot connect to jingled at .*nope\.sock: no such socket \(ENOENT\)/);
    return true;
  });
});

test("client: pending requests fail with disconnected when the daemon goes away", async () => {
  const server = await startServer();
  const client = await connectControl(sockPath);
  const pending = client.request("slow", { ms: 1000 });
  const events = client.events();
  const failed = assert.rejects(
    pending,
    (err: unknown) => err instanceof ControlRequestError && err.code === "disconnected",
  );
  await new Promise((r) => setTimeout(r, 10));
  await server.close();
  await failed;
  assert.equal((await events.next()).done, true);
});

test("client: events sent right after hello are not lost", async () => {
  const server = createControlServer({
    path: sockPath,
    logger: silentLogger(),
    version: "x",
    handlers: {},
    snapshot: () => {
      // Broadcast from inside the snapshot: that event lands right behind hello in the same read.
      setImmediate(() => server.broadcast("account", { state: "online" }));
      return {};
    },
  });
  await server.listen();
  servers.push(server);
  const client = await connectControl(sockPath);
  const events = client.events();
  const first = await events.next();
  assert.equal(first.value!.event, "account");
  await client.close();
});
