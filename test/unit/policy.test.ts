// Call policy decisions, table-tested: who may ring, busy, auto-answer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decideIncoming, mayPlaceCall, onAllowlist, type CallPolicy, type IncomingDecision } from "../../src/app/policy.js";

const SELF = "alice@example.org/jingled";
const base: CallPolicy = { acceptFrom: "roster", allowlist: [], autoAnswer: "off", autoAnswerDelayMs: 0, maxCalls: 2 };

const contact = { jid: "bob@example.org/phone", inRoster: true };
const stranger = { jid: "mallory@evil.example/x", inRoster: false };
const listed = { jid: "carol@friends.example/pc", inRoster: false };
const myPhone = { jid: "alice@example.org/phone", inRoster: false };

const ring: IncomingDecision = { action: "ring", autoAnswer: false };
const refuse: IncomingDecision = { action: "refuse", reason: "not-allowed" };
const busy: IncomingDecision = { action: "busy" };
const answer = (delayMs: number): IncomingDecision => ({ action: "ring", autoAnswer: true, delayMs });

const cases: Array<[name: string, policy: Partial<CallPolicy>, caller: typeof contact, calls: number, expected: IncomingDecision]> = [
  ["roster (default): a contact rings", {}, contact, 0, ring],
  ["roster: a stranger is refused", {}, stranger, 0, refuse],
  ["roster: our own other resource rings", {}, myPhone, 0, ring],
  ["roster: an allowlisted non-contact is refused", { allowlist: ["carol@friends.example"] }, listed, 0, refuse],
  ["allowlist: a listed JID rings", { acceptFrom: "allowlist", allowlist: ["carol@friends.example"] }, listed, 0, ring],
  ["allowlist: *@domain matches", { acceptFrom: "allowlist", allowlist: ["*@FRIENDS.example"] }, listed, 0, ring],
  ["allowlist: a contact not listed is refused", { acceptFrom: "allowlist", allowlist: ["carol@friends.example"] }, contact, 0, refuse],
  ["everyone: a stranger rings", { acceptFrom: "everyone" }, stranger, 0, ring],
  ["busy: a contact over maxCalls", { maxCalls: 2 }, contact, 2, busy],
  ["busy: one below maxCalls still rings", { maxCalls: 2 }, contact, 1, ring],
  ["busy is never told to a stranger", { maxCalls: 1 }, stranger, 5, refuse],
  ["autoAnswer all", { autoAnswer: "all", autoAnswerDelayMs: 1500 }, contact, 0, answer(1500)],
  ["autoAnswer all, everyone: a stranger is answered", { acceptFrom: "everyone", autoAnswer: "all" }, stranger, 0, answer(0)],
  ["autoAnswer roster: a contact is answered", { autoAnswer: "roster" }, contact, 0, answer(0)],
  ["autoAnswer roster: a stranger (everyone may ring) only rings", { acceptFrom: "everyone", autoAnswer: "roster" }, stranger, 0, ring],
  ["autoAnswer allowlist: listed is answered", { acceptFrom: "everyone", autoAnswer: "allowlist", allowlist: ["carol@friends.example"] }, listed, 0, answer(0)],
  ["autoAnswer allowlist: a contact not listed rings", { autoAnswer: "allowlist", allowlist: ["carol@friends.example"] }, contact, 0, ring],
  ["autoAnswer does not beat busy", { autoAnswer: "all", maxCalls: 1 }, contact, 1, busy],
];

for (const [name, policy, caller, calls, expected] of cases) {
  test(`decideIncoming: ${name}`, () => {
    assert.deepEqual(decideIncoming({ ...base, ...policy }, caller, SELF, calls), expected);
  });
}

test("mayPlaceCall: under and at maxCalls", () => {
  assert.equal(mayPlaceCall({ ...base, maxCalls: 1 }, 0), true);
  assert.equal(mayPlaceCall({ ...base, maxCalls: 1 }, 1), false);
});

test("onAllowlist: bare and full JIDs, case, domains", () => {
  const list = ["Bob@Example.org", "*@corp.example"];
  assert.equal(onAllowlist(list, "bob@example.org/phone"), true);
  assert.equal(onAllowlist(list, "BOB@example.ORG"), true);
  assert.equal(onAllowlist(list, "bobby@example.org"), false);
  assert.equal(onAllowlist(list, "anyone@corp.example/x"), true);
  assert.equal(onAllowlist(list, "anyone@sub.corp.example"), false);
  assert.equal(onAllowlist([], "bob@example.org"), false);
});
