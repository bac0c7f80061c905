// calls.voicemail and calls.echo (src/config/voicemail-schema.ts): checked
// like every other key, misspellings named with the nearest known key.
import { test } from "node:test";
import assert from "node:assert/strict";
import { validateConfig } from "../../src/config/load.js";
import { ConfigError } from "../../src/util/errors.js";

const ok = { account: { jid: "door@example.org", password: "pw" } };
const vm = { enabled: true, notify: ["family@example.org"], dir: "/var/lib/jingled/voicemail" };

function issuesOf(input: unknown): string[] {
  try {
    validateConfig(input, { env: {} });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.length ? err.issues : [err.message];
  }
  assert.fail("expected a ConfigError");
}

const badCases: Array<[name: string, input: Record<string, unknown>, expected: RegExp]> = [
  ["misspelt voicemail key", { ...ok, calls: { voicemail: { ...vm, afterSecs: 10 } } }, /^calls\.voicemail: unknown key afterSecs \(did you mean afterSec\?\)$/],
  ["misspelt echo delay", { ...ok, calls: { echo: true, echoDelay: 1500 } }, /^calls: unknown key echoDelay \(did you mean echoDelayMs\?\)$/],
  ["snake_case voicemail", { ...ok, calls: { voice_mail: {} } }, /^calls: unknown key voice_mail \(did you mean voicemail\?\)$/],
  ["voicemail with nobody to tell", { ...ok, calls: { voicemail: { enabled: true, dir: "/v" } } }, /^calls\.voicemail\.notify: .*at least one JID/],
  ["voicemail without a directory", { ...ok, calls: { voicemail: { enabled: true, notify: ["a@b"] } } }, /^calls\.voicemail\.dir: .*directory/],
  ["a full JID to notify", { ...ok, calls: { voicemail: { ...vm, notify: ["a@b/phone"] } } }, /^calls\.voicemail\.notify\.0: found string "a@b\/phone"; expected a bare JID/],
  ["greeting twice", { ...ok, calls: { voicemail: { ...vm, greetingFile: "/g.wav", greetingText: "hi" } } }, /^calls\.voicemail\.greetingFile: .*not both/],
  ["voicemail after the ring timeout", { ...ok, calls: { ringTimeoutSec: 30, voicemail: { ...vm, afterSec: 30 } } }, /^calls\.voicemail\.afterSec: .*below calls\.ringTimeoutSec \(30\)/],
  [
    "a forwarding group that rings past the ring timeout, with voicemail",
    { ...ok, calls: { ringTimeoutSec: 30, forward: { to: ["a@b", "c@d"], strategy: "sequential", ringSec: 15 }, voicemail: vm } },
    /^calls\.forward\.ringSec: .*the ring group rings 30 s in all, not below calls\.ringTimeoutSec \(30\)/,
  ],
  ["echo delay out of range", { ...ok, calls: { echo: true, echoDelayMs: 20_000 } }, /^calls\.echoDelayMs: found number 20000/],
  ["echo not a boolean", { ...ok, calls: { echo: "yes" } }, /^calls\.echo: found string "yes"; expected boolean/],
];

for (const [name, input, expected] of badCases) {
  test(`config: ${name}`, () => {
    const issues = issuesOf(input);
    assert.ok(issues.some((i) => expected.test(i)), `no issue matches ${expected}: ${JSON.stringify(issues)}`);
  });
}

test("config: voicemail and echo defaults", () => {
  const cfg = validateConfig({ ...ok, calls: { voicemail: vm, echo: true } }, { env: {} });
  assert.deepEqual(cfg.calls.voicemail, { ...vm, afterSec: 20, maxSec: 120, keepDays: 30, keepCount: 100, allowHttpUpload: false });
  assert.equal(cfg.calls.echo, true);
  assert.equal(cfg.calls.echoDelayMs, 1500);
  const off = validateConfig(ok, { env: {} });
  assert.equal(off.calls.voicemail.enabled, false);
  assert.equal(off.calls.echo, false);
});
