// Configuration validation: every bad value is reported with its key, what
// was found and what was expected; the daemon refuses it with exit 78 and no
// stack trace. Also where the password comes from.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfigFile, validateConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/util/errors.js";

const ok = { account: { jid: "alice@example.org", password: "pw" } };

function issuesOf(input: unknown, env: NodeJS.ProcessEnv = {}): string[] {
  try {
    validateConfig(input, { env });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.length ? err.issues : [err.message];
  }
  assert.fail("expected a ConfigError");
}

const badCases: Array<[name: string, input: Record<string, unknown>, expected: RegExp]> = [
  ["JID without a domain", { account: { jid: "alice", password: "pw" } }, /^account\.jid: found string "alice"; expected a JID like user@example\.org$/],
  ["port range reversed is named", { ...ok, ice: { portRange: [50000, 40000] } }, /^ice\.portRange/],
  ["unknown key", { ...ok, calls: { autoanswer: true } }, /^calls: unknown key autoanswer$/],
  ["wrong type", { ...ok, calls: { maxCalls: "many" } }, /^calls\.maxCalls: found string "many"; expected number/],
  ["out of range", { ...ok, calls: { ringTimeoutSec: 0 } }, /^calls\.ringTimeoutSec: found number 0; .*>=\s?1/],
  ["enum", { ...ok, calls: { acceptFrom: "friends" } }, /^calls\.acceptFrom: found string "friends"; expected one of "roster"\|"allowlist"\|"everyone"$/],
  ["auto-answer mode", { ...ok, calls: { autoAnswer: "sometimes" } }, /^calls\.autoAnswer: found string "sometimes"/],
  ["allowlist entry", { ...ok, calls: { allowlist: ["bob@x/phone"] } }, /^calls\.allowlist\.0: found string "bob@x\/phone"; expected a bare JID or \*@domain$/],
  ["source type", { ...ok, media: { input: { type: "microphone" } } }, /^media\.input\.type: found string "microphone"/],
  ["a list where a mapping belongs", { ...ok, control: ["x"] }, /^control: found a list; expected object/],
  ["stats interval", { ...ok, control: { statsIntervalSec: -1 } }, /^control\.statsIntervalSec: found number -1/],
  ["log level", { ...ok, log: { level: "loud" } }, /^log\.level: found string "loud"/],
];

for (const [name, input, expected] of badCases) {
  test(`config: ${name}`, () => {
    const issues = issuesOf(input);
    assert.ok(issues.some((i) => expected.test(i)), `no issue matches ${expected}: ${JSON.stringify(issues)}`);
  });
}

test("config: several problems are all reported at once", () => {
  const issues = issuesOf({ account: { jid: "x" }, calls: { maxCalls: 0, acceptFrom: 3 } });
  assert.ok(issues.length >= 3, JSON.stringify(issues));
});

test("config: defaults for policy and the control socket", () => {
  const cfg = validateConfig(ok, { env: {} });
  assert.deepEqual(cfg.calls, { acceptFrom: "roster", allowlist: [], autoAnswer: "off", autoAnswerDelaySec: 0, maxCalls: 4, ringTimeoutSec: 60, jingleMessage: true });
  assert.deepEqual(cfg.control, { statsIntervalSec: 0 });
  // true/false stay valid for autoAnswer (older files).
  assert.equal(validateConfig({ ...ok, calls: { autoAnswer: true } }, { env: {} }).calls.autoAnswer, "all");
  assert.equal(validateConfig({ ...ok, calls: { autoAnswer: false } }, { env: {} }).calls.autoAnswer, "off");
});

test("config: the password from JINGLED_PASSWORD, then passwordFile, then password; none is an error", () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-config-"));
  try {
    const file = join(dir, "pw");
    writeFileSync(file, "from-file\n");
    const withFile = { account: { jid: "a@b", passwordFile: file, password: "inline" } };
    assert.equal(validateConfig(withFile, { env: { JINGLED_PASSWORD: "from-env" } }).secret, "from-env");
    assert.equal(validateConfig(withFile, { env: {} }).secret, "from-file");
    assert.equal(validateConfig({ account: { jid: "a@b", password: "inline" } }, { env: {} }).secret, "inline");
    assert.match(issuesOf({ account: { jid: "a@b" } })[0]!, /^account\.password: found nothing; expected a password, a passwordFile or JINGLED_PASSWORD$/);
    assert.match(issuesOf({ account: { jid: "a@b", passwordFile: join(dir, "none") } })[0]!, /account\.passwordFile: cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("config file: not YAML, missing, and relative paths resolved against the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-config-"));
  try {
    const bad = join(dir, "bad.yaml");
    writeFileSync(bad, "account: [unclosed\n");
    assert.throws(() => loadConfigFile(bad, {}), /is not valid YAML/);
    assert.throws(() => loadConfigFile(join(dir, "absent.yaml"), {}), /cannot read config file .*ENOENT/);
    const good = join(dir, "good.yaml");
    writeFileSync(good, "account: {jid: a@b, password: x}\ncontrol: {socket: run/c.sock}\nmedia: {output: {type: file, path: \"rec/{callId}.wav\"}}\n");
    const cfg = loadConfigFile(good, {});
    assert.equal(cfg.control.socket, join(dir, "run", "c.sock"));
    assert.deepEqual(cfg.media.output, { type: "file", path: join(dir, "rec", "{callId}.wav") });
    assert.equal(cfg.file, good);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("jingled refuses a bad config with exit 78, one line per problem, no stack trace", () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-config-"));
  try {
    const file = join(dir, "jingled.yaml");
    writeFileSync(file, "account:\n  jid: nobody\n  password: x\ncalls:\n  maxCalls: lots\n  acceptFrom: friends\n");
    const bin = fileURLToPath(new URL("../../../bin/jingled.js", import.meta.url));
    const r = spawnSync(process.execPath, [bin, "--config", file], { encoding: "utf8", env: { ...process.env, JINGLED_PASSWORD: "" }, timeout: 20_000 });
    assert.equal(r.status, 78, r.stderr);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, new RegExp(`^jingled: invalid configuration in ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:`));
    assert.match(r.stderr, /\n {2}account\.jid: found string "nobody"; expected a JID/);
    assert.match(r.stderr, /\n {2}calls\.maxCalls: found string "lots"; expected number/);
    assert.match(r.stderr, /\n {2}calls\.acceptFrom: found string "friends"; expected one of/);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
