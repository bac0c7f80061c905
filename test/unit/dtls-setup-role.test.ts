// XEP-0320 / RFC 5763 §5 / RFC 4145 setup -> DTLS role, as tables.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  DtlsSetupError,
  OFFER_SETUP,
  roleForAnswerer,
  roleFromAnswer,
  type AnswererDecision,
  type DtlsRole,
  type DtlsSetupValue,
} from "../../src/rtp/dtls/setup-role.js";

test("our offer says actpass", () => assert.equal(OFFER_SETUP, "actpass"));

const offererTable: Array<[remoteAnswer: DtlsSetupValue | undefined, we: DtlsRole]> = [
  ["active", "server"],
  ["passive", "client"],
  // Not allowed in an answer, read as the answerer connecting.
  ["actpass", "server"],
  [undefined, "server"],
];
for (const [remote, we] of offererTable) {
  test(`offered actpass, answer setup=${remote ?? "(none)"} -> we are ${we}`, () => assert.equal(roleFromAnswer(remote), we));
}

const answererTable: Array<[remoteOffer: DtlsSetupValue | undefined, want: AnswererDecision]> = [
  ["actpass", { answerSetup: "active", role: "client" }],
  ["passive", { answerSetup: "active", role: "client" }],
  ["active", { answerSetup: "passive", role: "server" }],
  [undefined, { answerSetup: "active", role: "client" }],
];
for (const [remote, want] of answererTable) {
  test(`offer setup=${remote ?? "(none)"} -> we answer ${want.answerSetup} and are ${want.role}`, () => {
    const got = roleForAnswerer(remote);
    assert.deepEqual(got, want);
    assert.notEqual(got.answerSetup as string, "actpass");
  });
}

test("holdconn cannot give a role, on either side", () => {
  assert.throws(() => roleFromAnswer("holdconn"), DtlsSetupError);
  assert.throws(() => roleForAnswerer("holdconn"), DtlsSetupError);
});

test("the two sides of one exchange always end up with opposite roles", () => {
  for (const offer of ["actpass", undefined] as const) {
    const answer = roleForAnswerer(offer);
    assert.notEqual(roleFromAnswer(answer.answerSetup), answer.role);
  }
});
