// Config reload planning: what applies now, what needs a restart.
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateConfig, type LoadedConfig } from "../../src/config/load.js";
import { changedKeys, planReload } from "../../src/app/reload.js";
import { createLogger, setLogLevel } from "../../src/util/logger.js";

const base = { account: { jid: "alice@example.org", password: "pw" }, control: { socket: "/run/j/c.sock" } };
const load = (extra: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}): LoadedConfig =>
  ({ ...validateConfig({ ...base, ...extra }, { env }), file: "/etc/jingled.yaml" });

test("changedKeys: leaves by dotted path; lists compare whole", () => {
  assert.deepEqual(changedKeys({ a: { b: 1, c: [1, 2] }, d: 1 }, { a: { b: 2, c: [1, 2] }, d: 1 }), ["a.b"]);
  assert.deepEqual(changedKeys({ a: { c: [1, 2] } }, { a: { c: [2, 1] } }), ["a.c"]);
  assert.deepEqual(changedKeys({ a: 1 }, { a: 1, b: { c: 2 } }), ["b"]);
  assert.deepEqual(changedKeys({ x: 1 }, { x: 1 }), []);
});

const cases: Array<[name: string, next: Record<string, unknown>, applied: string[], restart: string[]]> = [
  ["nothing changed", {}, [], []],
  ["policy applies now", { calls: { acceptFrom: "everyone", maxCalls: 2 } }, ["calls.acceptFrom", "calls.maxCalls"], []],
  ["media and log level apply now", { media: { codecs: ["pcmu"] }, log: { level: "debug" } }, ["log.level", "media.codecs"], []],
  ["ice applies to new calls", { ice: { addresses: ["127.0.0.1"] } }, ["ice.addresses"], []],
  ["stats interval applies now", { control: { socket: "/run/j/c.sock", statsIntervalSec: 5 } }, ["control.statsIntervalSec"], []],
  ["account and tls need a restart", { account: { jid: "bob@example.org", password: "pw" }, tls: { allowPlaintext: true } }, [], ["account.jid", "tls.allowPlaintext"]],
  ["the socket path needs a restart", { control: { socket: "/tmp/other.sock" } }, [], ["control.socket"]],
  ["DTLS policy needs a restart, other media keys not", { media: { dtls: "off", jitterFrames: 5 } }, ["media.jitterFrames"], ["media.dtls"]],
  ["hooks apply now; mqtt, metrics and the log format need a restart", { hooks: { maxConcurrent: 1 }, mqtt: { enabled: true }, metrics: { enabled: true, port: 9100 }, log: { format: "json" } }, ["hooks.maxConcurrent"], ["log.format", "metrics.enabled", "metrics.port", "mqtt.enabled"]],
  ["mixed", { calls: { ringTimeoutSec: 30 }, account: { jid: "alice@example.org", password: "pw", resource: "desk" } }, ["calls.ringTimeoutSec"], ["account.resource"]],
];

for (const [name, next, applied, restart] of cases) {
  test(`planReload: ${name}`, () => {
    const current = load();
    const { config, plan } = planReload(current, load(next));
    assert.deepEqual(plan, { applied, restartRequired: restart });
    // Restart-only parts keep running as they started; the rest is the new file.
    assert.deepEqual(config.account, current.account);
    assert.deepEqual(config.tls, current.tls);
    assert.equal(config.control.socket, current.control.socket);
    assert.equal(config.secret, current.secret);
    assert.equal(config.file, "/etc/jingled.yaml");
    assert.deepEqual(config.calls, load(next).calls);
    assert.deepEqual(config.media, { ...load(next).media, dtls: current.media.dtls });
    assert.deepEqual(config.mqtt, current.mqtt);
    assert.deepEqual(config.metrics, current.metrics);
    assert.equal(config.log.format, current.log.format);
    assert.deepEqual(config.hooks, load(next).hooks);
  });
}

test("planReload: a new password (e.g. from the environment) needs a restart", () => {
  const { plan } = planReload(load({}, { JINGLED_PASSWORD: "old" }), load({}, { JINGLED_PASSWORD: "new" }));
  assert.deepEqual(plan, { applied: [], restartRequired: ["account.password"] });
});

test("setLogLevel: a reload's log.level reaches loggers made before it (modules, calls)", () => {
  const root = createLogger({ level: "info" });
  const module = root.child({ module: "xmpp" });
  const call = module.child({ call: "c1" });
  setLogLevel(root, "debug");
  assert.deepEqual([root.level, module.level, call.level], ["debug", "debug", "debug"]);
  setLogLevel(root, "warn");
  assert.equal(root.child({ later: true }).level, "warn");
  assert.equal(call.level, "warn");
});
