// Codec offer/answer: telephone-event next to the codecs, the offerer's
// payload-type numbers kept, the peer's ptime and Opus fmtp honoured.
import { test } from "node:test";
import assert from "node:assert/strict";
import { answerOffer, applyAnswer, choosePtime, encoderOptionsFor, offerPayloadTypes } from "../../src/app/negotiation.js";
import { findCodec } from "../../src/media/codecs/index.js";
import type { PayloadType } from "../../src/jingle/protocol/index.js";
import { eModel, mosFromR } from "../../src/media/e-model.js";

const opus = findCodec("opus", 48000)!;
const pcmu = findCodec("PCMU", 8000)!;

test("offer: codecs in preference order, then telephone-event 126/48000 and 101/8000 (DESIGN)", () => {
  const pts = offerPayloadTypes([opus, pcmu]);
  assert.deepEqual(pts.map((p) => `${p.id} ${p.name}/${p.clockrate}`), ["111 opus/48000", "0 PCMU/8000", "126 telephone-event/48000", "101 telephone-event/8000"]);
  assert.deepEqual(pts[0]!.parameters, [{ name: "minptime", value: "10" }, { name: "useinbandfec", value: "1" }]);
  assert.deepEqual(pts[2]!.parameters, [{ name: "events", value: "0-15" }]);
  assert.equal(pts[0]!.ptime, undefined);
  // Only the rates we offer codecs at.
  assert.deepEqual(offerPayloadTypes([pcmu]).map((p) => p.id), [0, 101]);
  // Configuration shows in the offer: DTX asked for, FEC off, a non-default ptime.
  const custom = offerPayloadTypes([opus], { encoder: { dtx: true, fec: false }, ptimeMs: 40 });
  assert.deepEqual(custom[0]!.parameters, [{ name: "minptime", value: "10" }, { name: "useinbandfec", value: "0" }, { name: "usedtx", value: "1" }]);
  assert.equal(custom[0]!.ptime, 40);
});

/** What a browser (StanzaJS) offers. */
const browserOffer: PayloadType[] = [
  { id: 111, name: "opus", clockrate: 48000, channels: 2, parameters: [{ name: "minptime", value: "10" }, { name: "useinbandfec", value: "1" }] },
  { id: 63, name: "red", clockrate: 48000, channels: 2, parameters: [] },
  { id: 9, name: "G722", clockrate: 8000, channels: 1, parameters: [] },
  { id: 0, name: "PCMU", clockrate: 8000, channels: 1, parameters: [] },
  { id: 110, name: "telephone-event", clockrate: 48000, channels: 1, parameters: [] },
  { id: 126, name: "telephone-event", clockrate: 8000, channels: 1, parameters: [] },
];

test("answer: the offerer's numbers (including telephone-event's), first common codec chosen, DTMF at its rate", () => {
  const a = answerOffer(browserOffer, [opus, pcmu])!;
  assert.deepEqual(a.payloadTypes.map((p) => `${p.id} ${p.name}/${p.clockrate}`), ["111 opus/48000", "0 PCMU/8000", "110 telephone-event/48000", "126 telephone-event/8000"]);
  assert.equal(a.chosen.codec, opus);
  assert.equal(a.chosen.payloadType, 111);
  assert.deepEqual(a.chosen.telephoneEvent, { payloadType: 110, clockRate: 48000 });
  assert.equal(a.chosen.ptimeMs, 20);
  // PCMU preferred by the offerer: DTMF at 8000 with its number.
  const p = answerOffer([browserOffer[3]!, browserOffer[5]!, browserOffer[0]!], [opus, pcmu])!;
  assert.equal(p.chosen.codec, pcmu);
  assert.deepEqual(p.chosen.telephoneEvent, { payloadType: 126, clockRate: 8000 });
  // No telephone-event at the chosen rate: no DTMF.
  assert.equal(answerOffer([browserOffer[0]!, browserOffer[5]!], [opus])!.chosen.telephoneEvent, undefined);
  assert.equal(answerOffer([browserOffer[1]!, browserOffer[2]!], [opus, pcmu]), undefined);
});

test("applyAnswer: the answerer's choice, with its telephone-event", () => {
  const n = applyAnswer(offerPayloadTypes([opus, pcmu]).slice(1), [opus, pcmu])!;
  assert.equal(n.codec, pcmu);
  assert.deepEqual(n.telephoneEvent, { payloadType: 101, clockRate: 8000 });
});

test("ptime: the peer's, within its maxptime and minptime, as the codec can frame it", () => {
  const pt = (o: Partial<PayloadType>): PayloadType => ({ id: 111, name: "opus", clockrate: 48000, channels: 2, parameters: [], ...o });
  assert.equal(choosePtime(opus, pt({})), 20);
  assert.equal(choosePtime(opus, pt({ ptime: 40 })), 40);
  assert.equal(choosePtime(opus, pt({ ptime: 30 })), 20, "Opus has no 30 ms frame: the largest below");
  assert.equal(choosePtime(pcmu, pt({ ptime: 30 })), 30);
  assert.equal(choosePtime(opus, pt({ ptime: 60, maxptime: 40 })), 40);
  assert.equal(choosePtime(opus, pt({ ptime: 5 })), 10, "below the smallest: the smallest");
  assert.equal(choosePtime(opus, pt({ parameters: [{ name: "minptime", value: "40" }] })), 40);
  assert.equal(choosePtime(opus, pt({}), 60), 60, "our preference when the peer has none");
  assert.equal(answerOffer([pt({ ptime: 40 })], [opus])!.chosen.ptimeMs, 40);
});

test("Opus fmtp from the peer shapes the encoder (RFC 7587 §6.1)", () => {
  const n = answerOffer(
    [{ id: 111, name: "opus", clockrate: 48000, channels: 2, parameters: [{ name: "maxaveragebitrate", value: "20000" }, { name: "useinbandfec", value: "0" }, { name: "usedtx", value: "1" }] }],
    [opus],
  )!.chosen;
  assert.deepEqual(encoderOptionsFor(n, { bitrate: 32000, complexity: 5, fec: true }), { bitrate: 20000, complexity: 5, fec: false, dtx: true });
  assert.deepEqual(encoderOptionsFor(n, { dtx: false }).dtx, false, "configured DTX wins over the peer's wish");
});

test("E-model (G.107): no loss and little delay near the top, loss and delay lower R; MOS mapping", () => {
  const clean = eModel({ codec: "opus", delayMs: 40, lossPercent: 0 });
  assert.ok(clean.r > 90 && clean.mos > 4.3, JSON.stringify(clean));
  const lossy = eModel({ codec: "pcmu", delayMs: 40, lossPercent: 5 });
  assert.ok(lossy.r < clean.r - 10, JSON.stringify(lossy));
  const slow = eModel({ codec: "opus", delayMs: 400, lossPercent: 0 });
  assert.ok(slow.r < 70, JSON.stringify(slow));
  assert.equal(mosFromR(0), 1);
  assert.equal(mosFromR(100), 4.5);
  assert.ok(Math.abs(mosFromR(93.2) - 4.41) < 0.01);
});
