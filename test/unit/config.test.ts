// Configuration validation: every bad value is reported with its key, what
// was found and what was expected; the daemon refuses it with exit 78 and no
// stack trace. Also where the password comes from.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadConfigFile, validateConfig } from "../../src/config/load.js";
import { configSchema } from "../../src/config/schema.js";
import { parse } from "yaml";
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
  ["unknown key, with the nearest known one", { ...ok, calls: { autoanswer: true } }, /^calls: unknown key autoanswer \(did you mean autoAnswer\?\)$/],
  ["misspelt key in a nested section", { ...ok, media: { opus: { bitrat: 24000 } } }, /^media\.opus: unknown key bitrat \(did you mean bitrate\?\)$/],
  ["misspelt key at the top level", { ...ok, acount: {} }, /^\(top level\): unknown key acount \(did you mean account\?\)$/],
  ["snake_case for camelCase", { ...ok, calls: { auto_answer_delay_sec: 3 } }, /^calls: unknown key auto_answer_delay_sec \(did you mean autoAnswerDelaySec\?\)$/],
  ["misspelt key in a list item", { ...ok, ice: { turn: [{ uri: "turn:t.example", username: "u", pasword: "p" }] } }, /^ice\.turn\.0: unknown key pasword \(did you mean password\?\)$/],
  ["misspelt key of one source type", { ...ok, media: { input: { type: "file", path: "/a.wav", lop: true } } }, /^media\.input: unknown key lop \(did you mean loop\?\)$/],
  ["a key of another source type", { ...ok, media: { output: { type: "file", path: "/a.wav", loop: true } } }, /^media\.output: unknown key loop \(known here: type, path\)$/],
  ["nothing near: the known keys are listed", { ...ok, tls: { verify: false } }, /^tls: unknown key verify \(known here: allowPlaintext, caFile\)$/],
  ["a host name where an IP address belongs", { ...ok, ice: { addresses: ["door.local"] } }, /^ice\.addresses\.0: found string "door\.local"; door\.local is a host name, not an IP address \(names are not looked up here\); expected an IP address of this machine/],
  ["an address with its prefix length", { ...ok, ice: { addresses: ["192.168.1.20/24"] } }, /^ice\.addresses\.0: .*expected an IP address without a prefix length: 192\.168\.1\.20, not 192\.168\.1\.20\/24$/],
  ["an address with a port", { ...ok, ice: { addresses: ["192.168.1.20:5000"] } }, /without a port: 192\.168\.1\.20$/],
  ["a bracketed IPv6 address", { ...ok, ice: { addresses: ["[2001:db8::1]"] } }, /without brackets: 2001:db8::1$/],
  ["not an address at all", { ...ok, ice: { addresses: ["300.1.2.3"] } }, /^ice\.addresses\.0: found string "300\.1\.2\.3"; expected an IP address of this machine/],
  ["wrong type", { ...ok, calls: { maxCalls: "many" } }, /^calls\.maxCalls: found string "many"; expected number/],
  ["out of range", { ...ok, calls: { ringTimeoutSec: 0 } }, /^calls\.ringTimeoutSec: found number 0; .*>=\s?1/],
  ["enum", { ...ok, calls: { acceptFrom: "friends" } }, /^calls\.acceptFrom: found string "friends"; expected one of "roster"\|"allowlist"\|"everyone"$/],
  ["auto-answer mode", { ...ok, calls: { autoAnswer: "sometimes" } }, /^calls\.autoAnswer: found string "sometimes"/],
  ["allowlist entry", { ...ok, calls: { allowlist: ["bob@x/phone"] } }, /^calls\.allowlist\.0: found string "bob@x\/phone"; expected a bare JID or \*@domain$/],
  ["source type", { ...ok, media: { input: { type: "microphone" } } }, /^media\.input\.type: found string "microphone"/],
  ["a list where a mapping belongs", { ...ok, control: ["x"] }, /^control: found a list; expected object/],
  ["stats interval", { ...ok, control: { statsIntervalSec: -1 } }, /^control\.statsIntervalSec: found number -1/],
  ["log level", { ...ok, log: { level: "loud" } }, /^log\.level: found string "loud"/],
  ["log format", { ...ok, log: { format: "colour" } }, /^log\.format: found string "colour"/],
  ["MQTT credentials in the URL", { ...ok, mqtt: { url: "mqtt://user:pw@broker" } }, /^mqtt\.url: found string .*without credentials$/],
  ["MQTT over plain HTTP", { ...ok, mqtt: { url: "http://broker" } }, /^mqtt\.url: /],
  ["MQTT topic wildcard", { ...ok, mqtt: { topicPrefix: "home/+/door" } }, /^mqtt\.topicPrefix: found string "home\/\+\/door"; expected topic levels/],
  ["MQTT topic empty level", { ...ok, mqtt: { topicPrefix: "home//door" } }, /^mqtt\.topicPrefix: /],
  ["MQTT unknown command", { ...ok, mqtt: { commands: ["call", "dial"] } }, /^mqtt\.commands\.1: found string "dial"/],
  ["MQTT protocol 3", { ...ok, mqtt: { protocolVersion: 3 } }, /^mqtt\.protocolVersion: found number 3/],
  ["MQTT client certificate without key", { ...ok, mqtt: { certFile: "/c.pem" } }, /^mqtt\.certFile: .*certFile and keyFile go together/],
  ["MQTT password twice", { ...ok, mqtt: { password: "a", passwordFile: "/p" } }, /^mqtt\.password: .*not both/],
  ["Home Assistant node id", { ...ok, mqtt: { homeAssistant: { nodeId: "front door" } } }, /^mqtt\.homeAssistant\.nodeId: found string "front door"/],
  ["hook event unknown", { ...ok, hooks: { run: [{ events: ["ring"], command: ["/bin/true"] }] } }, /^hooks\.run\.0\.events\.0: found string "ring"; expected "\*", an event \(account, call/],
  ["hook call type unknown", { ...ok, hooks: { run: [{ events: ["call.answered"] , command: ["/bin/true"] }] } }, /^hooks\.run\.0\.events\.0: .*call events have the types outgoing, incoming/],
  ["hook without a command", { ...ok, hooks: { run: [{ events: ["call"], command: [] }] } }, /^hooks\.run\.0\.command: found a list; .*>=\s?1/],
  ["hook command as a string (no shell)", { ...ok, hooks: { run: [{ events: ["call"], command: "notify --x" }] } }, /^hooks\.run\.0\.command: found string "notify --x"; expected array/],
  ["metrics address", { ...ok, metrics: { address: "localhost" } }, /^metrics\.address: found string "localhost"; localhost is a host name, not an IP address .*expected an IP address like 127\.0\.0\.1$/],
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
  const { voicemail, echo, echoDelayMs, ...policy } = cfg.calls;
  assert.deepEqual(policy, { acceptFrom: "roster", allowlist: [], autoAnswer: "off", autoAnswerDelaySec: 0, maxCalls: 4, ringTimeoutSec: 60, jingleMessage: true, videoProposals: "ignore" });
  // Voicemail and echo are off (test/unit/voicemail-config.test.ts has their defaults).
  assert.equal(voicemail.enabled, false);
  assert.equal(echo, false);
  assert.equal(echoDelayMs, 1500);
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

test("config: MQTT, hooks and metrics are off by default; metrics listen on 127.0.0.1", () => {
  const cfg = validateConfig(ok, { env: {} });
  assert.equal(cfg.mqtt.enabled, false);
  assert.equal(cfg.mqtt.homeAssistant.enabled, false);
  assert.deepEqual(cfg.hooks.run, []);
  assert.deepEqual(cfg.metrics, { enabled: false, address: "127.0.0.1", port: 9464 });
  assert.equal(cfg.log.format, "auto");
  assert.ok(!cfg.mqtt.commands.includes("shutdown") && !cfg.mqtt.commands.includes("record"), "no command touching files or stopping the daemon by default");
  assert.ok(!cfg.mqtt.commands.includes("voicemail"), "no deleting recordings over MQTT by default");
  assert.deepEqual(validateConfig({ ...ok, mqtt: { commands: ["status", "voicemail"] } }, { env: {} }).mqtt.commands, ["status", "voicemail"], "but it may be named");
  assert.equal(cfg.mqttSecret, undefined);
});

test("config: the MQTT password from JINGLED_MQTT_PASSWORD, then mqtt.passwordFile, then mqtt.password", () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-config-"));
  try {
    const file = join(dir, "mqtt-pw");
    writeFileSync(file, "from-file\n");
    const withFile = { ...ok, mqtt: { enabled: true, username: "u", passwordFile: file } };
    assert.equal(validateConfig(withFile, { env: { JINGLED_MQTT_PASSWORD: "from-env" } }).mqttSecret, "from-env");
    assert.equal(validateConfig(withFile, { env: {} }).mqttSecret, "from-file");
    assert.equal(validateConfig({ ...ok, mqtt: { enabled: true, password: "inline" } }, { env: {} }).mqttSecret, "inline");
    assert.match(issuesOf({ ...ok, mqtt: { enabled: true, passwordFile: join(dir, "none") } })[0]!, /mqtt\.passwordFile: cannot read/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("config/example.yaml is valid and names every key of the schema in its section", () => {
  const file = fileURLToPath(new URL("../../../config/example.yaml", import.meta.url));
  // Its passwordFile is an example path: the environment stands in.
  const cfg = loadConfigFile(file, { JINGLED_PASSWORD: "x" });
  assert.equal(cfg.mqtt.enabled, false);
  const text = readFileSync(file, "utf8").split("\n");
  const missing = schemaKeys(configSchema).filter((path) => !documented(text, path));
  assert.deepEqual(missing, [], "keys config/example.yaml does not mention (as a key or a commented-out key)");
});

/** Dotted paths of every key in a zod object schema, through defaults, optionals, transforms and arrays of objects. */
function schemaKeys(schema: unknown, prefix: string[] = []): string[][] {
  const def = (schema as { def: { type: string; innerType?: unknown; in?: unknown; element?: unknown; shape?: Record<string, unknown> } }).def;
  if (def.innerType) return schemaKeys(def.innerType, prefix);
  if (def.type === "pipe") return schemaKeys(def.in, prefix);
  if (def.type === "array") return schemaKeys(def.element, prefix);
  if (def.type !== "object") return [];
  return Object.entries(def.shape!).flatMap(([k, v]) => {
    const nested = schemaKeys(v, [...prefix, k]);
    return nested.length && !["input", "output"].includes(k) ? nested : [[...prefix, k]];
  });
}

/** Whether `a.b.c` appears as nested keys (commented out or not) under its section's header. */
function documented(lines: string[], path: string[]): boolean {
  let from = 0;
  let to = lines.length;
  let indent = -1;
  for (const key of path) {
    // A key on its own line (commented out or not, maybe a list item), or the last key inside a {flow: mapping}.
    const re = new RegExp(`^[\\s#-]*${key}:|[{,]\\s*${key}:`);
    let found = -1;
    for (let i = from; i < to; i++) {
      const m = re.exec(lines[i]!);
      const column = m ? lines[i]!.indexOf(`${key}:`) : -1;
      if (m && column > indent) {
        found = i;
        indent = column;
        break;
      }
    }
    if (found < 0) return false;
    from = found + 1;
    // The section ends at the next line indented no deeper than its header (comments aside).
    to = lines.findIndex((l, i) => i > found && /^\S/.test(l) && !l.startsWith("#"));
    if (to < 0) to = lines.length;
  }
  return true;
}

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

test("jingled --check-config prints the effective config with secrets masked (exit 0), or the problems (exit 78)", () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-config-"));
  try {
    const bin = fileURLToPath(new URL("../../../bin/jingled.js", import.meta.url));
    const file = join(dir, "jingled.yaml");
    writeFileSync(join(dir, "mqtt-pw"), "broker-secret\n");
    writeFileSync(
      file,
      "account: {jid: a@example.org, password: account-secret}\n" +
        "ice: {turn: [{uri: 'turn:turn.example.org', username: u, password: turn-secret}]}\n" +
        "mqtt: {enabled: true, username: door, passwordFile: mqtt-pw}\n",
    );
    const env = { ...process.env, JINGLED_PASSWORD: "", JINGLED_MQTT_PASSWORD: "" };
    const r = spawnSync(process.execPath, [bin, "--check-config", file], { encoding: "utf8", env, timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    for (const secret of ["account-secret", "turn-secret", "broker-secret"]) assert.ok(!r.stdout.includes(secret), `${secret} is not printed`);
    assert.match(r.stdout, /is valid/);
    assert.match(r.stdout, /^# account password: from account\.password$/m);
    assert.match(r.stdout, /^# MQTT password: from mqtt\.passwordFile \(.*mqtt-pw\)$/m);
    const printed = parse(r.stdout) as { account: { password: string }; ice: { turn: { password: string }[] }; mqtt: { passwordFile: string; url: string }; calls: { maxCalls: number } };
    assert.equal(printed.account.password, "********");
    assert.equal(printed.ice.turn[0]!.password, "********");
    assert.equal(printed.mqtt.passwordFile, join(dir, "mqtt-pw"), "paths as the daemon uses them");
    assert.equal(printed.mqtt.url, "mqtt://127.0.0.1:1883", "defaults filled in");
    assert.equal(printed.calls.maxCalls, 4);

    writeFileSync(file, "account: {jid: nobody, password: x}\n");
    const bad = spawnSync(process.execPath, [bin, "--check-config", file], { encoding: "utf8", env, timeout: 20_000 });
    assert.equal(bad.status, 78);
    assert.equal(bad.stdout, "");
    assert.match(bad.stderr, /account\.jid: found string "nobody"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("validating a configuration loads no native code (the Opus addon is checked when the daemon starts)", () => {
  // In a fresh process: this one may have loaded the addon already.
  const load = new URL("../../src/config/load.js", import.meta.url).href;
  const script = `
    import { createRequire } from "node:module";
    const { validateConfig } = await import(${JSON.stringify(load)});
    const cfg = validateConfig({ account: { jid: "a@example.org", password: "x" }, media: { opus: { backend: "native" } } });
    const addons = Object.keys(createRequire(import.meta.url).cache).filter((k) => k.endsWith(".node"));
    process.stdout.write(JSON.stringify({ backend: cfg.media.opus.backend, addons }));
  `;
  const r = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), { backend: "native", addons: [] });
});
