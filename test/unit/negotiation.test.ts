// Codec offer/answer: telephone-event next to the codecs, the offerer's
// payload-type numbers kept, the peer's ptime and Opus fmtp honoured.
import { test } from "node:test";
import assert from "node:assert/strict";
import { answerOffer, applyAnswer, choosePtime, encoderOptionsFor, offerPayloadTypes } from "../../src/app/call/negotiation.js";
import { findCodec, listCodecs } from "../../src/media/codecs/index.js";
import { buildRtpDescription, parseRtpDescription, type PayloadType } from "../../src/jingle/protocol/index.js";
import { mediaFrameMs } from "../../src/media/media-session.js";
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

test("10 ms ptime asked for in an answer (XEP-0167 ptime, RFC 4566 §6): the offerer sends it, both run 10 ms frames; maxptime 10 caps 20 ms", () => {
  // alice offers with the default (no ptime announced); bob, configured for 10 ms, answers.
  const offer = parseRtpDescription(buildRtpDescription({ media: "audio", payloadTypes: offerPayloadTypes([opus, pcmu]), rtcpMux: true, headerExtensions: [] }));
  assert.equal(offer.payloadTypes[0]!.ptime, undefined);
  const bob = answerOffer(offer.payloadTypes, [opus, pcmu], { ptimeMs: 10 })!;
  assert.equal(bob.chosen.ptimeMs, 10, "bob sends his own preference: alice asked for none");
  const answer = parseRtpDescription(buildRtpDescription({ media: "audio", payloadTypes: bob.payloadTypes, rtcpMux: true, headerExtensions: [] }));
  assert.equal(answer.payloadTypes[0]!.ptime, 10, "bob's answer carries ptime='10' on the wire");
  assert.ok(buildRtpDescription({ media: "audio", payloadTypes: bob.payloadTypes, rtcpMux: true, headerExtensions: [] }).toString().includes('ptime="10"'));
  const alice = applyAnswer(answer.payloadTypes, [opus, pcmu])!;
  assert.equal(alice.ptimeMs, 10, "alice sends what bob asked for, though she prefers 20");
  assert.equal(mediaFrameMs(alice.ptimeMs), 10, "and runs 10 ms media frames");
  assert.equal(mediaFrameMs(20), 20);
  assert.equal(mediaFrameMs(40), 20, "longer packets are built from 20 ms frames");
  // PCMU the same; a maxptime of 10 caps our 20 ms preference (a peer that says only maxptime).
  const pcmuOnly = answerOffer([{ id: 0, name: "PCMU", clockrate: 8000, channels: 1, parameters: [], maxptime: 10 }], [pcmu])!;
  assert.equal(pcmuOnly.chosen.ptimeMs, 10);
  // Chromium's Opus: minptime=10 with no ptime leaves 20 ms unless asked.
  const chromium = answerOffer([{ id: 111, name: "opus", clockrate: 48000, channels: 2, parameters: [{ name: "minptime", value: "10" }, { name: "useinbandfec", value: "1" }] }], [opus])!;
  assert.equal(chromium.chosen.ptimeMs, 20);
  assert.equal(answerOffer([{ id: 111, name: "opus", clockrate: 48000, channels: 2, ptime: 10, parameters: [{ name: "minptime", value: "10" }] }], [opus])!.chosen.ptimeMs, 10);
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
  const clean = eModel({ impairment: opus.impairment, delayMs: 40, lossPercent: 0 });
  assert.ok(clean.r > 90 && clean.mos > 4.3, JSON.stringify(clean));
  const lossy = eModel({ impairment: pcmu.impairment, delayMs: 40, lossPercent: 5 });
  assert.ok(lossy.r < clean.r - 10, JSON.stringify(lossy));
  const slow = eModel({ impairment: opus.impairment, delayMs: 400, lossPercent: 0 });
  assert.ok(slow.r < 70, JSON.stringify(slow));
  assert.equal(mosFromR(0), 1);
  assert.equal(mosFromR(100), 4.5);
  assert.ok(Math.abs(mosFromR(93.2) - 4.41) < 0.01);
});

const pcma = findCodec("PCMA", 8000)!;
const g722 = findCodec("G722", 8000)!;
const every = listCodecs().filter((c) => ["opus", "G722", "PCMU", "PCMA"].includes(c.name));

test("offer with every codec: registry order, static payload types, G722 at its 8000 clock rate, one telephone-event per rate", () => {
  assert.deepEqual(
    offerPayloadTypes(every).map((p) => `${p.id} ${p.name}/${p.clockrate}/${p.channels}`),
    ["111 opus/48000/2", "9 G722/8000/1", "0 PCMU/8000/1", "8 PCMA/8000/1", "126 telephone-event/48000/1", "101 telephone-event/8000/1"],
  );
});

/** Offers as peers send them: [payload types], our codecs -> the chosen codec and payload type, or none. */
const table: { name: string; offer: PayloadType[]; ours: typeof every; chosen: string | undefined }[] = [
  { name: "browser offer, jingled restricted to G722", offer: browserOffer, ours: [g722], chosen: "G722 9" },
  {
    name: "browser offer with PCMA, jingled restricted to PCMA",
    offer: [...browserOffer, { id: 8, name: "PCMA", clockrate: 8000, channels: 1, parameters: [] }],
    ours: [pcma],
    chosen: "PCMA 8",
  },
  { name: "static types without names (RFC 3551 §6): 8 is PCMA", offer: [{ id: 8, channels: 1, parameters: [] }], ours: every, chosen: "PCMA 8" },
  { name: "static types without names: 9 is G722", offer: [{ id: 9, channels: 1, parameters: [] }, { id: 0, channels: 1, parameters: [] }], ours: [pcmu, g722], chosen: "G722 9" },
  { name: "an A-law-only gateway, every codec of ours", offer: [{ id: 8, name: "PCMA", clockrate: 8000, channels: 1, parameters: [] }], ours: every, chosen: "PCMA 8" },
  { name: "the offerer's order wins over ours", offer: [{ id: 0, name: "PCMU", clockrate: 8000, channels: 1, parameters: [] }, { id: 9, name: "G722", clockrate: 8000, channels: 1, parameters: [] }], ours: [g722, pcmu], chosen: "PCMU 0" },
  { name: "G722 at a 16000 clock rate is not G.722 as RFC 3551 signals it", offer: [{ id: 9, name: "G722", clockrate: 16000, channels: 1, parameters: [] }], ours: [g722], chosen: undefined },
  { name: "PCMU only against PCMA only: nothing in common", offer: [{ id: 0, name: "PCMU", clockrate: 8000, channels: 1, parameters: [] }], ours: [pcma], chosen: undefined },
];

for (const row of table) {
  test(`negotiation: ${row.name}`, () => {
    const a = answerOffer(row.offer, row.ours);
    assert.equal(a ? `${a.chosen.codec.name} ${a.chosen.payloadType}` : undefined, row.chosen);
    if (!a) return;
    // The answerer's reply, applied by the offerer, picks the same codec.
    const back = applyAnswer(a.payloadTypes, every)!;
    assert.equal(back.codec, a.chosen.codec);
  });
}

test("G722 and PCMA: DTMF at 8000 Hz, any 10 ms multiple of ptime, our encoder settings untouched by fmtp", () => {
  const a = answerOffer(browserOffer, [g722])!;
  assert.deepEqual(a.chosen.telephoneEvent, { payloadType: 126, clockRate: 8000 });
  assert.deepEqual(a.payloadTypes.map((p) => `${p.id} ${p.name}/${p.clockrate}`), ["9 G722/8000", "126 telephone-event/8000"]);
  assert.equal(choosePtime(g722, { id: 9, name: "G722", clockrate: 8000, channels: 1, parameters: [], ptime: 30 }), 30);
  assert.equal(choosePtime(pcma, { id: 8, name: "PCMA", clockrate: 8000, channels: 1, parameters: [], ptime: 60 }), 60);
  const n = answerOffer([{ id: 9, name: "G722", clockrate: 8000, channels: 1, parameters: [{ name: "usedtx", value: "1" }] }], [g722])!.chosen;
  assert.deepEqual(encoderOptionsFor(n, { bitrate: 32000 }), { bitrate: 32000 });
  assert.deepEqual(offerPayloadTypes([g722], { encoder: { dtx: true, fec: false } })[0]!.parameters, [], "no Opus fmtp on G.722");
});
