// The reconnect rule (src/xmpp/reconnect-policy.ts) as a table: what follows
// each kind of failure, and the backoff.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BACKOFF_MAX_MS, CONFLICT_WINDOW_MS, INITIAL_POLICY, nextStep, online, saslFailureKind, type Failure, type PolicyState } from "../../src/xmpp/reconnect-policy.js";

const JID = "door@home.test/jingled";
const mid = () => 0.5; // no jitter: x1.0

test("table: failure kind (and history) -> retry or stop", () => {
  const cases: { name: string; state: PolicyState; failure: Failure; now: number; expect: "retry" | "stop"; reason?: RegExp }[] = [
    { name: "connection lost -> retry", state: INITIAL_POLICY, failure: { kind: "lost", reason: "connection lost" }, now: 0, expect: "retry" },
    { name: "TLS refused by us -> retry (the server may be fixed)", state: INITIAL_POLICY, failure: { kind: "refused", reason: "x" }, now: 0, expect: "retry" },
    { name: "temporary-auth-failure -> retry", state: INITIAL_POLICY, failure: { kind: "temporary", reason: "x" }, now: 0, expect: "retry" },
    {
      name: "not-authorized -> stop, saying what to do",
      state: INITIAL_POLICY,
      failure: { kind: "not-authorized", reason: "the server refused the password for door@home.test (not-authorized)" },
      now: 0,
      expect: "stop",
      reason: /refused the password .*not trying again: fix the password/,
    },
    { name: "first conflict -> retry once", state: INITIAL_POLICY, failure: { kind: "conflict", reason: "c" }, now: 1000, expect: "retry" },
    {
      name: "second conflict within the window -> stop, naming the JID and account.resource",
      state: { ...INITIAL_POLICY, lastConflictAt: 1000 },
      failure: { kind: "conflict", reason: "c" },
      now: 1000 + 5000,
      expect: "stop",
      reason: /^another client took door@home\.test\/jingled .*set account\.resource/,
    },
    {
      name: "a conflict long after the last one -> retry once more",
      state: { ...INITIAL_POLICY, lastConflictAt: 1000 },
      failure: { kind: "conflict", reason: "c" },
      now: 1000 + CONFLICT_WINDOW_MS + 1,
      expect: "retry",
    },
    {
      name: "a conflict after a lost connection (no earlier conflict) -> retry",
      state: { delayMs: 8000 },
      failure: { kind: "conflict", reason: "c" },
      now: 5,
      expect: "retry",
    },
  ];
  for (const c of cases) {
    const step = nextStep(c.state, c.failure, c.now, JID, mid);
    assert.equal(step.action, c.expect, c.name);
    if (c.reason && step.action === "stop") assert.match(step.reason, c.reason, c.name);
  }
});

test("backoff doubles from 1 s to at most 60 s with ±20 % jitter, and starts again once online", () => {
  let s = INITIAL_POLICY;
  const delays: number[] = [];
  for (let i = 0; i < 9; i++) {
    const step = nextStep(s, { kind: "lost", reason: "x" }, i, JID, mid);
    assert.equal(step.action, "retry");
    if (step.action === "retry") delays.push(step.delayMs);
    s = step.state;
  }
  assert.deepEqual(delays, [2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000, 60000]);
  for (const r of [0, 0.999]) {
    const step = nextStep({ delayMs: 10_000 }, { kind: "lost", reason: "x" }, 0, JID, () => r);
    assert.ok(step.action === "retry" && step.delayMs >= 16_000 && step.delayMs <= 24_000, JSON.stringify(step));
  }
  const back = nextStep(online(s), { kind: "lost", reason: "x" }, 0, JID, mid);
  assert.ok(back.action === "retry" && back.delayMs === 2000);
  assert.ok(BACKOFF_MAX_MS === 60_000);
  // A conflict is remembered across a successful login in between.
  const afterConflict = nextStep(INITIAL_POLICY, { kind: "conflict", reason: "c" }, 0, JID, mid).state;
  assert.equal(nextStep(online(afterConflict), { kind: "conflict", reason: "c" }, 3000, JID, mid).action, "stop");
});

test("SASL <failure/> conditions (RFC 6120 §6.5): which ones no retry can fix", () => {
  for (const c of ["not-authorized", "account-disabled", "credentials-expired"]) assert.equal(saslFailureKind(c), "not-authorized", c);
  assert.equal(saslFailureKind("temporary-auth-failure"), "temporary");
  for (const c of ["aborted", "malformed-request", "mechanism-too-weak", undefined]) assert.equal(saslFailureKind(c), "refused", String(c));
});
