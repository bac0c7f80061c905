import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CommandError } from "../../src/util/errors.js";
import {
  COMMAND_NAMES,
  CallEventType,
  EVENT_FIELDS,
  Encryption,
  ErrorCode,
  EventName,
  FileEventType,
  IceEventType,
  RefusedReason,
  VoicemailEventType,
  EchoEventType,
  PROTOCOL_VERSION,
  encodeLine,
  errorReply,
  isErrorCode,
  okReply,
  parseCommandArgs,
  parseRequestLine,
  resolveCallId,
  type ParseResult,
} from "../../src/control/protocol.js";

// ---------------------------------------------------------------- parseRequestLine

const parseCases: Array<{ name: string; line: string; expect: ParseResult }> = [
  {
    name: "full request",
    line: '{"id":1,"cmd":"call","args":{"jid":"bob@example.org"}}',
    expect: { ok: true, request: { id: 1, cmd: "call", args: { jid: "bob@example.org" } } },
  },
  {
    name: "string id, args omitted -> {}",
    line: '{"id":"a-7","cmd":"status"}',
    expect: { ok: true, request: { id: "a-7", cmd: "status", args: {} } },
  },
  {
    name: "unknown top-level fields are ignored",
    line: '{"id":0,"cmd":"calls","extra":true}',
    expect: { ok: true, request: { id: 0, cmd: "calls", args: {} } },
  },
  {
    name: "not JSON",
    line: "{id:1",
    expect: { ok: false, error: { code: "bad-json", message: "" } },
  },
  {
    name: "array",
    line: "[1,2]",
    expect: { ok: false, error: { code: "bad-request", message: "" } },
  },
  {
    name: "null",
    line: "null",
    expect: { ok: false, error: { code: "bad-request", message: "" } },
  },
  {
    name: "missing id",
    line: '{"cmd":"status"}',
    expect: { ok: false, error: { code: "bad-request", message: "" } },
  },
  {
    name: "id of wrong type",
    line: '{"id":{"x":1},"cmd":"status"}',
    expect: { ok: false, error: { code: "bad-request", message: "" } },
  },
  {
    name: "id null",
    line: '{"id":null,"cmd":"status"}',
    expect: { ok: false, error: { code: "bad-request", message: "" } },
  },
  {
    name: "missing cmd echoes the id",
    line: '{"id":5}',
    expect: { ok: false, error: { code: "bad-request", message: "" }, id: 5 },
  },
  {
    name: "empty cmd echoes the id",
    line: '{"id":"x","cmd":""}',
    expect: { ok: false, error: { code: "bad-request", message: "" }, id: "x" },
  },
  {
    name: "cmd not a string",
    line: '{"id":6,"cmd":7}',
    expect: { ok: false, error: { code: "bad-request", message: "" }, id: 6 },
  },
  {
    name: "args an array",
    line: '{"id":8,"cmd":"call","args":["bob"]}',
    expect: { ok: false, error: { code: "bad-request", message: "" }, id: 8 },
  },
  {
    name: "args null",
    line: '{"id":9,"cmd":"call","args":null}',
    expect: { ok: false, error: { code: "bad-request", message: "" }, id: 9 },
  },
];

for (const c of parseCases) {
  test(`parseRequestLine: ${c.name}`, () => {
    const got = parseRequestLine(c.line);
    if (c.expect.ok) {
      assert.deepEqual(got, c.expect);
      return;
    }
    assert.equal(got.ok, false);
    if (got.ok) return;
    assert.equal(got.error.code, c.expect.error.code);
    assert.ok(got.error.message.length > 0, "error message says what is wrong");
    assert.equal(got.id, c.expect.id);
  });
}

test("parseRequestLine never throws on odd input", () => {
  for (const line of ["", " ", '"str"', "1e999", "{", "\u0000", '{"__proto__":{"id":1},"cmd":"x"}']) {
    const r = parseRequestLine(line);
    assert.equal(typeof r.ok, "boolean");
  }
});

// ---------------------------------------------------------------- golden wire fixtures
// Exact bytes on the wire: key order and shapes are what clients see.

const goldenReplies: Array<{ name: string; message: object; wire: string }> = [
  {
    name: "ok reply with result",
    message: okReply(1, { callId: "c1" }),
    wire: '{"id":1,"ok":true,"result":{"callId":"c1"}}\n',
  },
  {
    name: "ok reply without result carries null",
    message: okReply("q", undefined),
    wire: '{"id":"q","ok":true,"result":null}\n',
  },
  {
    name: "error reply",
    message: errorReply(2, "unknown-call", "no call with id c9"),
    wire: '{"id":2,"ok":false,"error":{"code":"unknown-call","message":"no call with id c9"}}\n',
  },
  {
    name: "error reply without id",
    message: errorReply(null, "bad-json", "invalid JSON"),
    wire: '{"id":null,"ok":false,"error":{"code":"bad-json","message":"invalid JSON"}}\n',
  },
  {
    name: "newlines inside strings stay escaped",
    message: okReply(3, { text: "a\nb" }),
    wire: '{"id":3,"ok":true,"result":{"text":"a\\nb"}}\n',
  },
];

for (const g of goldenReplies) {
  test(`golden: ${g.name}`, () => {
    assert.equal(encodeLine(g.message), g.wire);
    assert.equal(encodeLine(g.message).split("\n").length, 2, "exactly one line");
  });
}

test("golden: requests from the protocol document parse as documented", () => {
  const docRequests: Array<[string, object]> = [
    ['{"id":1,"cmd":"call","args":{"jid":"bob@example.org"}}', { id: 1, cmd: "call", args: { jid: "bob@example.org" } }],
    ['{"id":2,"cmd":"hangup","args":{"callId":"c9"}}', { id: 2, cmd: "hangup", args: { callId: "c9" } }],
  ];
  for (const [line, request] of docRequests) assert.deepEqual(parseRequestLine(line), { ok: true, request });
});

test("the protocol document and the source header are the same text", () => {
  const root = fileURLToPath(new URL("../../../", import.meta.url));
  const doc = readFileSync(root + "docs/control-protocol.md", "utf8");
  const src = readFileSync(root + "src/control/protocol.ts", "utf8");
  const header = src.slice(src.indexOf("/*") + 2, src.indexOf("*/"));
  const headerText = header
    .split("\n")
    .map((l) => l.replace(/^ \* ?/, "").replace(/^ \*$/, ""))
    .join("\n")
    .replace("(This text is also docs/control-protocol.md; change both together.)\n\n", "")
    .trim();
  const docHeader = doc.slice(0, doc.indexOf("\n## Example session")).trim();
  assert.equal(docHeader, headerText);
});

/** A section of the protocol document: the lines under `title` up to the next underlined title. */
function docSection(title: string): string {
  const root = fileURLToPath(new URL("../../../", import.meta.url));
  const doc = readFileSync(root + "docs/control-protocol.md", "utf8");
  const start = doc.indexOf(`\n${title}\n`);
  assert.ok(start >= 0, `the document has a section ${title}`);
  const body = doc.slice(start + title.length + 2).split("\n").slice(1); // skip the underline
  const end = body.findIndex((l, i) => i > 0 && /^-+$/.test(body[i + 1] ?? "") && l.trim() !== "");
  return (end < 0 ? body : body.slice(0, end)).join("\n");
}

/** The entries of an indented list ("    name  text", continued by deeper lines), by name. */
function entries(section: string): Map<string, string> {
  const out = new Map<string, string>();
  let current: string | undefined;
  for (const line of section.split("\n")) {
    const m = /^ {4}([a-z][a-z-]*)\s/.exec(line);
    if (m) {
      current = m[1]!;
      out.set(current, line);
    } else if (current && /^ {5,}\S/.test(line)) out.set(current, `${out.get(current)}\n${line}`);
    else current = undefined;
  }
  return out;
}

test("the protocol document lists every event the daemon can publish, with each of its fields", () => {
  const events = entries(docSection("Events (besides hello)"));
  assert.deepEqual([...events.keys()].sort(), Object.values(EventName).sort());
  for (const name of Object.values(EventName)) {
    const text = events.get(name)!;
    for (const field of EVENT_FIELDS[name]) assert.match(text, new RegExp(`\\b${field}\\b`), `${name} event: field ${field} is documented`);
  }
  const values: Array<[string, Record<string, string>]> = [
    ["call", CallEventType],
    ["ice", IceEventType],
    ["media", Encryption],
    ["playback", FileEventType],
    ["refused", RefusedReason],
    ["voicemail", VoicemailEventType],
    ["echo", EchoEventType],
  ];
  for (const [name, set] of values) {
    for (const v of Object.values(set)) assert.match(events.get(name)!, new RegExp(`\\b${v}\\b`), `${name} event: ${v} is documented`);
  }
});

test("the protocol document lists every command and every error code", () => {
  const commands = entries(docSection("Commands"));
  assert.deepEqual([...commands.keys()].sort(), [...COMMAND_NAMES].sort());
  const errors = entries(docSection("Error codes"));
  assert.deepEqual([...errors.keys()].sort(), Object.values(ErrorCode).sort());
});

// ---------------------------------------------------------------- error codes

test("error codes are the closed set of the protocol", () => {
  assert.equal(PROTOCOL_VERSION, 1);
  assert.deepEqual(Object.values(ErrorCode).sort(), [
    "ambiguous-call",
    "bad-argument",
    "bad-json",
    "bad-request",
    "busy",
    "internal",
    "invalid-state",
    "line-too-long",
    "not-allowed",
    "not-connected",
    "not-found",
    "not-supported",
    "peer-unavailable",
    "unknown-call",
    "unknown-command",
  ]);
  assert.ok(isErrorCode("busy"));
  assert.ok(!isErrorCode("nope"));
  assert.ok(!isErrorCode(3));
});

// ---------------------------------------------------------------- command arguments

function badArgument(fn: () => unknown, mentions: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CommandError);
    assert.equal(err.code, "bad-argument");
    assert.match(err.message, new RegExp(mentions));
    return true;
  });
}

test("parseCommandArgs: call", () => {
  assert.deepEqual(parseCommandArgs("call", { jid: "bob@example.org" }), { jid: "bob@example.org" });
  assert.deepEqual(parseCommandArgs("call", { jid: "bob@example.org/phone", codecs: ["pcmu", "opus", "pcmu"] }), {
    jid: "bob@example.org/phone",
    codecs: ["pcmu", "opus"],
  });
  badArgument(() => parseCommandArgs("call", {}), '"jid"');
  badArgument(() => parseCommandArgs("call", { jid: 7 }), '"jid"');
  badArgument(() => parseCommandArgs("call", { jid: "bob @example.org" }), "not a valid JID");
  badArgument(() => parseCommandArgs("call", { jid: "bob" }), "not a valid JID");
  badArgument(() => parseCommandArgs("call", { jid: "bob@example.org/" }), "not a valid JID");
  // Ids are the daemon's registry's business: any short encoding name passes here, lower-cased.
  assert.deepEqual(parseCommandArgs("call", { jid: "b@x", codecs: ["G722", "pcma", "g722"] }).codecs, ["g722", "pcma"]);
  badArgument(() => parseCommandArgs("call", { jid: "b@x", codecs: ["no such codec"] }), "not a codec id");
  badArgument(() => parseCommandArgs("call", { jid: "b@x", codecs: [7] }), "not a codec id");
  badArgument(() => parseCommandArgs("call", { jid: "b@x", codecs: ["x".repeat(33)] }), "not a codec id");
  badArgument(() => parseCommandArgs("call", { jid: "b@x", codecs: Array(17).fill("opus") }), "at most 16");
  badArgument(() => parseCommandArgs("call", { jid: "b@x", codecs: [] }), "codecs");
  badArgument(() => parseCommandArgs("call", { jid: "b@x", video: true }), 'unknown argument "video"');
});

test("parseCommandArgs: answer, reject, hangup, status, calls", () => {
  assert.deepEqual(parseCommandArgs("answer", {}), {});
  assert.deepEqual(parseCommandArgs("hangup", { callId: "c1" }), { callId: "c1" });
  assert.deepEqual(parseCommandArgs("reject", { callId: "c1", reason: "busy" }), { callId: "c1", reason: "busy" });
  badArgument(() => parseCommandArgs("reject", { reason: "nope" }), "decline, busy");
  badArgument(() => parseCommandArgs("hangup", { callId: 3 }), '"callId"');
  badArgument(() => parseCommandArgs("status", { verbose: true }), "allowed: none");
  assert.deepEqual(parseCommandArgs("calls", {}), {});
});

test("resolveCallId: explicit, the only call, none, several", () => {
  const one = [{ id: "c1" }];
  const two = [{ id: "c1" }, { id: "c2" }];
  assert.equal(resolveCallId("c2", two), "c2");
  assert.equal(resolveCallId(undefined, one), "c1");
  const code = (fn: () => unknown, expected: string): void =>
    assert.throws(fn, (e: unknown) => e instanceof CommandError && e.code === expected);
  code(() => resolveCallId("c9", two), "unknown-call");
  code(() => resolveCallId(undefined, []), "unknown-call");
  code(() => resolveCallId(undefined, two), "ambiguous-call");
});

test("parseCommandArgs: hold, resume, mute, unmute, stats take only a callId", () => {
  for (const cmd of ["hold", "resume", "mute", "unmute", "stats"] as const) {
    assert.deepEqual(parseCommandArgs(cmd, {}), {});
    assert.deepEqual(parseCommandArgs(cmd, { callId: "c2" }), { callId: "c2" });
    badArgument(() => parseCommandArgs(cmd, { callId: "" }), '"callId"');
    badArgument(() => parseCommandArgs(cmd, { all: true }), 'unknown argument "all"');
  }
});

test("parseCommandArgs: dtmf digits and duration", () => {
  assert.deepEqual(parseCommandArgs("dtmf", { digits: "12*#ab" }), { digits: "12*#AB" });
  assert.deepEqual(parseCommandArgs("dtmf", { callId: "c1", digits: "5", durationMs: 160 }), { callId: "c1", digits: "5", durationMs: 160 });
  badArgument(() => parseCommandArgs("dtmf", {}), '"digits" is required');
  badArgument(() => parseCommandArgs("dtmf", { digits: "12E" }), "0-9, \\*, #, A-D");
  badArgument(() => parseCommandArgs("dtmf", { digits: "1".repeat(65) }), "1 to 64");
  badArgument(() => parseCommandArgs("dtmf", { digits: "1", durationMs: 10 }), "40 to 2000");
});

test("parseCommandArgs: play and record take absolute paths", () => {
  assert.deepEqual(parseCommandArgs("play", { file: "/srv/hello.wav" }), { file: "/srv/hello.wav" });
  badArgument(() => parseCommandArgs("play", { file: "hello.wav" }), "absolute path");
  badArgument(() => parseCommandArgs("play", {}), '"file" is required');
  assert.deepEqual(parseCommandArgs("record", { action: "start", file: "/r/{callId}.wav" }), { action: "start", file: "/r/{callId}.wav" });
  assert.deepEqual(parseCommandArgs("record", { action: "stop", callId: "c1" }), { callId: "c1", action: "stop" });
  badArgument(() => parseCommandArgs("record", { action: "start" }), '"file" is required');
  badArgument(() => parseCommandArgs("record", { action: "stop", file: "/x.wav" }), "only for action start");
  badArgument(() => parseCommandArgs("record", { action: "pause" }), "start, stop");
});

test("parseCommandArgs: overwrite is a boolean, for record start and a file sink only", () => {
  assert.deepEqual(parseCommandArgs("record", { action: "start", file: "/r/a.wav", overwrite: true }), { action: "start", file: "/r/a.wav", overwrite: true });
  assert.deepEqual(parseCommandArgs("record", { action: "start", file: "/r/a.wav", overwrite: false }), { action: "start", file: "/r/a.wav", overwrite: false });
  badArgument(() => parseCommandArgs("record", { action: "start", file: "/r/a.wav", overwrite: "yes" }), '"overwrite" must be true or false');
  badArgument(() => parseCommandArgs("record", { action: "stop", overwrite: true }), '"overwrite" is only for action start');
  const sink = { type: "file", path: "/r/a.wav" };
  assert.deepEqual(parseCommandArgs("set-output", { sink, overwrite: true }), { sink, overwrite: true });
  badArgument(() => parseCommandArgs("set-output", { sink: { type: "null" }, overwrite: true }), '"overwrite" is only for a file sink');
  badArgument(() => parseCommandArgs("set-output", { sink, overwrite: 1 }), '"overwrite" must be true or false');
});

test("parseCommandArgs: set-input / set-output need a spec object with a type", () => {
  assert.deepEqual(parseCommandArgs("set-input", { source: { type: "tone", frequency: 300 } }), { source: { type: "tone", frequency: 300 } });
  assert.deepEqual(parseCommandArgs("set-output", { callId: "c1", sink: { type: "null" } }), { callId: "c1", sink: { type: "null" } });
  badArgument(() => parseCommandArgs("set-input", { source: "mic" }), '"source" must be an object');
  badArgument(() => parseCommandArgs("set-output", { sink: {} }), '"sink" must be an object with a "type"');
});

test("parseCommandArgs: presence and roster", () => {
  assert.deepEqual(parseCommandArgs("presence", { show: "away", text: "lunch" }), { show: "away", text: "lunch" });
  assert.deepEqual(parseCommandArgs("presence", { show: "available", text: "" }), { show: "available" });
  badArgument(() => parseCommandArgs("presence", { show: "busy" }), "available, chat, away, xa, dnd");
  assert.deepEqual(parseCommandArgs("roster", {}), { action: "list" });
  assert.deepEqual(parseCommandArgs("roster", { action: "add", jid: "bob@example.org", name: "Bob" }), { action: "add", jid: "bob@example.org", name: "Bob" });
  assert.deepEqual(parseCommandArgs("roster", { action: "approve", jid: "bob@example.org" }), { action: "approve", jid: "bob@example.org" });
  badArgument(() => parseCommandArgs("roster", { action: "add" }), '"jid" is required');
  badArgument(() => parseCommandArgs("roster", { action: "add", jid: "bob@example.org/phone" }), "bare JID");
  badArgument(() => parseCommandArgs("roster", { action: "approve", jid: "b@x", name: "B" }), "only for action add");
  badArgument(() => parseCommandArgs("roster", { action: "block", jid: "b@x" }), "list, add, approve, remove");
});

test("parseCommandArgs: voicemail list, delete by name or by age", () => {
  const name = "voicemail-2026-12-07T00-35-12-000Z-alice@example.org.wav";
  assert.deepEqual(parseCommandArgs("voicemail", {}), { action: "list" });
  assert.deepEqual(parseCommandArgs("voicemail", { action: "list" }), { action: "list" });
  assert.deepEqual(parseCommandArgs("voicemail", { action: "delete", name }), { action: "delete", name });
  assert.deepEqual(parseCommandArgs("voicemail", { action: "delete", olderThanDays: 0.5 }), { action: "delete", olderThanDays: 0.5 });
  badArgument(() => parseCommandArgs("voicemail", { action: "purge" }), "list, delete");
  badArgument(() => parseCommandArgs("voicemail", { action: "list", name }), 'list takes no "name"');
  badArgument(() => parseCommandArgs("voicemail", { action: "delete" }), 'delete takes "name"');
  badArgument(() => parseCommandArgs("voicemail", { action: "delete", name, olderThanDays: 3 }), 'delete takes "name"');
  badArgument(() => parseCommandArgs("voicemail", { action: "delete", name: 7 }), '"name" is required');
  for (const days of [0, -1, 4000, "3", Number.NaN, Number.POSITIVE_INFINITY]) {
    badArgument(() => parseCommandArgs("voicemail", { action: "delete", olderThanDays: days }), '"olderThanDays" must be');
  }
  badArgument(() => parseCommandArgs("voicemail", { path: "/x" }), "unknown argument");
});

test("parseCommandArgs: a voicemail name is a plain recording name, never a path or a working file", () => {
  const attacks = [
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "/var/lib/jingled/voicemail/voicemail-2026-12-07T00-35-12-000Z-a@b.wav",
    "voicemail-../../../etc/x.wav",
    "voicemail-a/../../b.wav",
    "..",
    ".",
    ".beep.wav",
    ".greeting-0123456789abcdef.wav",
    ".voicemail-2026-12-07T00-35-12-000Z-a@b.wav.recording",
    "voicemail-2026-12-07T00-35-12-000Z-a@b.wav.recording",
    "voicemail-a@b.wav\0",
    "voicemail-a b.wav",
    "voicemail-a\\b.wav",
    "notes.txt",
    `voicemail-${"a".repeat(250)}.wav`,
  ];
  for (const name of attacks) badArgument(() => parseCommandArgs("voicemail", { action: "delete", name }), "is not a recording's file name");
});

test("parseCommandArgs: devices, reload, shutdown take nothing", () => {
  for (const cmd of ["devices", "reload", "shutdown"] as const) {
    assert.deepEqual(parseCommandArgs(cmd, {}), {});
    badArgument(() => parseCommandArgs(cmd, { now: true }), "allowed: none");
  }
});
