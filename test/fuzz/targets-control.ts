// Fuzz targets for the control socket (docs/control-protocol.md): request
// lines and command arguments, and the server's framing fed a random byte
// stream in random pieces, checked against a model of the protocol (one
// reply per non-blank line, in order; over-long lines get line-too-long).
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { COMMAND_NAMES, encodeLine, errorReply, isErrorCode, parseCommandArgs, parseRequestLine } from "../../src/control/protocol.js";
import { createControlServer, type ControlServer } from "../../src/control/server.js";
import { JingledError } from "../../src/util/errors.js";
import { silentLogger } from "../../src/util/logger.js";
import type { FuzzTarget } from "./target.js";

const ARG_NAMES = ["jid", "codecs", "callId", "reason", "digits", "durationMs", "file", "action", "source", "sink", "show", "text", "name", "type", "path", "loop", "frequency", "device", "__proto__", "constructor"];
const CMDS = [...COMMAND_NAMES, "", "dial", "toString", "__proto__", "hasOwnProperty"];

const hostileJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom("", "x".repeat(300), "/etc/passwd", "relative.wav", "0123456789*#ABCD", "12x", -1, 0, 1e308, 2 ** 53 + 1, "opus", "pcmu", "file", "tone", "null", "start", "stop", "dnd", "list", "add", "bob@example.org", "bob@example.org/x", "a@b@c"),
  fc.array(fc.constantFrom("opus", "pcmu", "speex", 7), { maxLength: 4 }),
  fc.record({ type: fc.constantFrom("file", "tone", "silence", "pipe", "alsa", "pulse", "nope"), path: fc.constantFrom("/tmp/x.wav", "x.wav", ""), frequency: fc.constantFrom(440, -1, 1e9) }, { requiredKeys: ["type"] }),
);

const requestObject = fc.record(
  {
    id: fc.oneof(fc.integer(), fc.string({ maxLength: 10 }), fc.constant("i".repeat(257)), fc.constant(null), fc.double(), fc.constant(true)),
    cmd: fc.oneof(fc.constantFrom(...CMDS), fc.string({ maxLength: 12 }), fc.integer()),
    args: fc.oneof(fc.dictionary(fc.constantFrom(...ARG_NAMES), hostileJson, { maxKeys: 4 }), fc.constant([]), fc.constant(null), fc.string()),
  },
  { requiredKeys: [] },
);

/** Request lines: valid-looking objects, broken JSON, arbitrary text. */
const requestLine: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: requestObject.map((o) => JSON.stringify(o)) },
  { weight: 2, arbitrary: fc.tuple(requestObject.map((o) => JSON.stringify(o)), fc.nat(), fc.string({ maxLength: 3 })).map(([s, at, ins]) => s.slice(0, at % (s.length + 1)) + ins + s.slice(at % (s.length + 1))) },
  { weight: 1, arbitrary: fc.string({ maxLength: 60 }) },
  { weight: 1, arbitrary: fc.json({ maxDepth: 4 }) },
  { weight: 1, arbitrary: fc.constantFrom("[]", "null", "1", '"x"', '{"id":1}', '{"id":1,"cmd":"status","args":[]}', '{"__proto__":{"id":1,"cmd":"status"}}', "{".repeat(5000), "[".repeat(100_000)) },
);

const text = { encode: (s: string) => Buffer.from(s, "utf8"), decode: (b: Buffer) => b.toString("utf8"), ext: "txt" };

/** One request line: parsed without throwing; valid requests have the documented shape; command arguments fail only with a protocol error code. */
export const controlLine: FuzzTarget<string> = {
  name: "control-line",
  description: "request lines -> parseRequestLine, parseCommandArgs (protocol error codes only), one-line replies",
  arbitrary: requestLine,
  runs: 2000,
  ...text,
  check(line) {
    const r = parseRequestLine(line);
    if (!r.ok) {
      assert.ok(isErrorCode(r.error.code), r.error.code);
      const out = encodeLine(errorReply(r.id ?? null, r.error.code, r.error.message));
      assert.equal(out.indexOf("\n"), out.length - 1, "a reply is one line");
      assert.ok(out.length <= 2048, `reply of ${out.length} bytes`);
      return;
    }
    const { id, cmd, args } = r.request;
    assert.ok((typeof id === "string" && id.length <= 256) || (typeof id === "number" && Number.isFinite(id)));
    assert.ok(typeof cmd === "string" && cmd !== "");
    assert.ok(typeof args === "object" && args !== null && !Array.isArray(args));
    if ((COMMAND_NAMES as string[]).includes(cmd)) {
      try {
        parseCommandArgs(cmd as (typeof COMMAND_NAMES)[number], args);
      } catch (err) {
        assert.ok(err instanceof JingledError && isErrorCode(err.code), `parseCommandArgs threw ${String(err)}`);
      }
    }
  },
};

// ----------------------------------------------------------------- the server's framing

const MAX_LINE = 200;

let server: { srv: ControlServer; path: string; dir: string } | undefined;

/** A model of what the server must answer for a byte stream the client then half-closes. */
function expectedReplies(stream: Buffer): { tooLong: boolean; line?: string }[] {
  const out: { tooLong: boolean; line?: string }[] = [];
  let start = 0;
  while (start < stream.length) {
    const nl = stream.indexOf(0x0a, start);
    const end = nl === -1 ? stream.length : nl;
    const bytes = stream.subarray(start, end);
    if (bytes.length > MAX_LINE) out.push({ tooLong: true });
    else {
      const line = bytes.toString("utf8");
      if (line.trim() !== "") out.push({ tooLong: false, line });
    }
    start = end + 1;
  }
  return out;
}

type Stream = { lines: string[]; cuts: number[] };

const streamArb: fc.Arbitrary<Stream> = fc.record({
  lines: fc.array(fc.oneof({ weight: 4, arbitrary: requestLine.map((l) => l.slice(0, 400)) }, { weight: 1, arbitrary: fc.constantFrom("", "\r", "   ", "x".repeat(MAX_LINE + 1), "y".repeat(MAX_LINE), "é".repeat(101)) }), { maxLength: 12 }),
  cuts: fc.array(fc.nat({ max: 4000 }), { maxLength: 8 }),
});

/** A random request stream in random pieces: one reply per non-blank line, in order, matching a model; then a clean close. */
export const controlStream: FuzzTarget<Stream> = {
  name: "control-stream",
  description: "random request streams in random pieces at a real control socket -> replies match the protocol model, in order",
  arbitrary: streamArb,
  runs: 120,
  encode: (s) => Buffer.from(JSON.stringify(s, null, 1)),
  decode: (b) => JSON.parse(b.toString("utf8")) as Stream,
  ext: "json",
  async setup() {
    if (server) return;
    const dir = mkdtempSync(join(tmpdir(), "jingled-fuzz-ctl-"));
    const path = join(dir, "run", "c.sock");
    const srv = createControlServer({
      path,
      logger: silentLogger(),
      version: "fuzz",
      handlers: { status: () => ({ ok: 1 }), calls: () => [], hangup: (a) => parseCommandArgs("hangup", a) },
      snapshot: () => ({}),
      maxLineBytes: MAX_LINE,
    });
    await srv.listen();
    server = { srv, path, dir };
  },
  async teardown() {
    await server?.srv.close();
    if (server) rmSync(server.dir, { recursive: true, force: true });
    server = undefined;
  },
  async check(s) {
    if (!server) await this.setup!();
    const stream = Buffer.from(s.lines.map((l) => `${l}\n`).join(""), "utf8");
    const want = expectedReplies(stream);
    const got: Record<string, unknown>[] = [];
    await new Promise<void>((resolve, reject) => {
      const sock = net.connect(server!.path);
      let buf = "";
      const timer = setTimeout(() => {
        sock.destroy();
        reject(new Error(`no clean close; ${got.length} of ${want.length} replies`));
      }, 5000);
      sock.setEncoding("utf8");
      sock.on("data", (t: string) => {
        buf += t;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          got.push(JSON.parse(buf.slice(0, nl)) as Record<string, unknown>);
          buf = buf.slice(nl + 1);
        }
      });
      sock.on("error", reject);
      sock.on("close", () => {
        clearTimeout(timer);
        resolve();
      });
      sock.on("connect", () => {
        const cuts = [...new Set(s.cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
        let at = 0;
        for (const c of [...cuts, stream.length]) {
          sock.write(stream.subarray(at, c));
          at = c;
        }
        sock.end();
      });
    });
    assert.equal(got[0]?.event, "hello");
    const replies = got.filter((m) => "ok" in m);
    assert.equal(replies.length, want.length, `replies ${replies.length}, expected ${want.length}`);
    want.forEach((w, i) => {
      const r = replies[i] as { id: unknown; ok: boolean; error?: { code: string } };
      if (w.tooLong) {
        assert.equal(r.error?.code, "line-too-long", `reply ${i}`);
        return;
      }
      const p = parseRequestLine(w.line!.endsWith("\r") ? w.line!.slice(0, -1) : w.line!);
      if (!p.ok) {
        assert.equal(r.error?.code, p.error.code, `reply ${i}`);
        assert.equal(r.id, JSON.parse(JSON.stringify(p.id ?? null)), `reply ${i} id`);
      } else {
        // Through JSON, as the wire carries it (-0 becomes 0, 1e400 is not a finite number and never an id).
        assert.equal(r.id, JSON.parse(JSON.stringify(p.request.id)), `reply ${i} id`);
        if (!["status", "calls", "hangup"].includes(p.request.cmd)) assert.equal(r.error?.code, "unknown-command");
      }
    });
  },
};

export const CONTROL_TARGETS = [controlLine, controlStream];
