// The daemon's exit codes (src/util/exit-codes.ts): every one is in the
// README's table with the same meaning, and start errors map to them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { EXIT, exitCodeFor } from "../../src/util/exit-codes.js";
import { AccountError, ConfigError } from "../../src/util/errors.js";

const readme = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");

test("the README's exit code table lists every code, with its meaning and whether the unit restarts it", () => {
  const section = readme.slice(readme.indexOf("### Exit codes"));
  const rows = [...section.matchAll(/^\| (\d+) \| (.+) \| (yes|no) \|$/gm)].map((m) => ({ code: Number(m[1]), meaning: m[2], restart: m[3] === "yes" }));
  assert.deepEqual(
    rows,
    Object.values(EXIT).map((e) => ({ code: e.code, meaning: e.meaning, restart: e.restartHelps })),
  );
});

test("start errors -> exit codes: a wrong password is not 'server unreachable'", () => {
  const cases: [unknown, number][] = [
    [new AccountError("not-authorized", "the server refused the password for door@home.test (not-authorized)"), 77],
    [new AccountError("unreachable", "cannot reach the XMPP service of home.test"), 69],
    [new AccountError("no-service", "dot.test has no XMPP service"), 69],
    [new AccountError("tls-failed", "TLS with home.test failed"), 76],
    [new AccountError("server-not-verified", "refusing the server"), 76],
    [new AccountError("channel-binding", "x"), 76],
    [new Error("control socket /x is already listening"), 75],
    [new ConfigError("bad"), 1],
    [new Error("boom"), 1],
  ];
  for (const [err, code] of cases) assert.equal(exitCodeFor(err), code, String((err as Error).message));
});
