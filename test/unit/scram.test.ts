// SCRAM against the example exchanges of RFC 5802 §5 (SHA-1) and RFC 7677 §3 (SHA-256).
import { test } from "node:test";
import assert from "node:assert/strict";
import { ScramSha1, ScramSha256 } from "../../src/xmpp/scram.js";

const cases = [
  {
    name: "RFC 5802 SCRAM-SHA-1",
    Mech: ScramSha1,
    cnonce: "fyko+d2lbbFgONRv9qkxdawL",
    serverFirst: "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
    clientFinal: "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    serverFinal: "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
  },
  {
    name: "RFC 7677 SCRAM-SHA-256",
    Mech: ScramSha256,
    cnonce: "rOprNGfwEbeRWgbNEkqO",
    serverFirst: "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    clientFinal: "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    serverFinal: "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
  },
];

for (const c of cases) {
  test(`${c.name}: the RFC's example exchange`, async () => {
    const m = new c.Mech({ cnonce: c.cnonce });
    const cred = { username: "user", password: "pencil" };
    assert.equal(await m.response(cred), `n,,n=user,r=${c.cnonce}`);
    m.challenge(c.serverFirst);
    assert.equal(await m.response(cred), c.clientFinal);
    assert.doesNotThrow(() => m.challenge(c.serverFinal));
  });

  test(`${c.name}: a wrong server signature is refused`, async () => {
    const m = new c.Mech({ cnonce: c.cnonce });
    const cred = { username: "user", password: "pencil" };
    await m.response(cred);
    m.challenge(c.serverFirst);
    await m.response(cred);
    assert.throws(() => m.challenge("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="), /signature is wrong/);
  });

  test(`${c.name}: a server nonce that does not extend ours is refused`, async () => {
    const m = new c.Mech({ cnonce: c.cnonce });
    const cred = { username: "user", password: "pencil" };
    await m.response(cred);
    m.challenge("r=somebodyelse,s=QSXCR+Q6sek8bf92,i=4096");
    await assert.rejects(m.response(cred), /nonce/);
  });
}

for (const c of cases) {
  const exchange = async () => {
    const m = new c.Mech({ cnonce: c.cnonce });
    const cred = { username: "user", password: "pencil" };
    await m.response(cred);
    m.challenge(c.serverFirst);
    await m.response(cred);
    return m;
  };

  test(`${c.name}: the server-final message as the data of <success/> (RFC 6120 §6.4.6) is verified`, async () => {
    const m = await exchange();
    assert.equal(m.serverVerified, false);
    assert.doesNotThrow(() => m.serverSucceeded(c.serverFinal));
    assert.equal(m.serverVerified, true);
    const wrong = await exchange();
    assert.throws(() => wrong.serverSucceeded("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA="), /signature is wrong/);
  });

  test(`${c.name}: a server that never sends its signature, or one without v=, is refused`, async () => {
    await assert.rejects(exchange().then((m) => m.serverSucceeded("")), /did not prove it knows the password/);
    await assert.rejects(exchange().then((m) => m.challenge("x=whatever")), /carries no signature/);
    await assert.rejects(exchange().then((m) => m.serverSucceeded("e=other-error")), /server error other-error/);
    // The final challenge counted: an empty <success/> after it is fine.
    const m = await exchange();
    m.challenge(c.serverFinal);
    assert.doesNotThrow(() => m.serverSucceeded(""));
  });
}
