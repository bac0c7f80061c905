// Codec offer/answer over XEP-0167 payload types. The answer is the
// intersection in the offerer's order with the offerer's payload-type
// numbers; both sides then use the first common codec. Next to the audio
// codecs: RFC 4733 telephone-event at each codec clock rate (DESIGN: 101/8000,
// 126/48000), used for DTMF at the chosen codec's rate. The peer's ptime
// (XEP-0167 payload-type attribute, RFC 4566 a=ptime) and the codec's fmtp
// (Opus: RFC 7587 §6.1, in its descriptor) shape what we send.
import type { PayloadType } from "../../jingle/protocol/index.js";
import { findCodecByStaticPayloadType, type CodecDescriptor, type EncoderOptions } from "../../media/codecs/codec.js";
import { TELEPHONE_EVENT, TELEPHONE_EVENT_FMTP, TELEPHONE_EVENT_PAYLOAD_TYPES } from "../../media/codecs/telephone-event.js";

export const DEFAULT_PTIME_MS = 20;

export interface Negotiated {
  codec: CodecDescriptor;
  payloadType: number;
  /** telephone-event at the codec's clock rate, when both sides have it (RFC 4733 §2.1) */
  telephoneEvent?: { payloadType: number; clockRate: number };
  /** audio per packet we send: the peer's ptime when the codec can do it */
  ptimeMs: number;
  /** the peer's fmtp parameters for the chosen codec */
  peerParameters: Record<string, string>;
}

export interface OfferOptions {
  /** encoder settings a codec announces in its fmtp (Opus: usedtx when DTX is on, useinbandfec) */
  encoder?: Pick<EncoderOptions, "dtx" | "fec">;
  /** ptime we ask the peer for; announced when it is not the default 20 ms */
  ptimeMs?: number;
}

export function payloadTypeFor(codec: CodecDescriptor, opts: OfferOptions = {}): PayloadType {
  const own = codec.parameters.map((p) => ({ ...p }));
  const parameters = codec.offerParameters ? codec.offerParameters(own, opts.encoder ?? {}) : own;
  const pt: PayloadType = { id: codec.defaultPayloadType, name: codec.name, clockrate: codec.clockRate, channels: codec.channels, parameters };
  if (opts.ptimeMs !== undefined && opts.ptimeMs !== DEFAULT_PTIME_MS) pt.ptime = opts.ptimeMs;
  return pt;
}

function telephoneEventType(id: number, clockRate: number): PayloadType {
  return { id, name: TELEPHONE_EVENT, clockrate: clockRate, channels: 1, parameters: [{ name: "events", value: TELEPHONE_EVENT_FMTP }] };
}

/** Our codecs in order of preference, then telephone-event at each of their clock rates. */
export function offerPayloadTypes(codecs: CodecDescriptor[], opts: OfferOptions = {}): PayloadType[] {
  const out = codecs.map((c) => payloadTypeFor(c, opts));
  const rates = new Set(codecs.map((c) => c.clockRate));
  for (const { clockRate, payloadType } of TELEPHONE_EVENT_PAYLOAD_TYPES) {
    if (rates.has(clockRate)) out.push(telephoneEventType(payloadType, clockRate));
  }
  return out;
}

function nameOf(pt: PayloadType): { name: string; clockrate: number | undefined } | undefined {
  if (pt.name) return { name: pt.name, clockrate: pt.clockrate };
  // RFC 3551 §6: a static payload type may come without a name.
  const c = findCodecByStaticPayloadType(pt.id);
  return c && { name: c.name, clockrate: c.clockRate };
}

function matches(pt: PayloadType, codec: CodecDescriptor): boolean {
  const known = nameOf(pt);
  if (!known?.name) return false;
  if (known.name.toLowerCase() !== codec.name.toLowerCase()) return false;
  return (known.clockrate ?? codec.clockRate) === codec.clockRate;
}

function isTelephoneEvent(pt: PayloadType): boolean {
  return pt.name?.toLowerCase() === TELEPHONE_EVENT;
}

/**
 * The ptime to send with: the peer's ptime (or, without one, ours)
 * lowered to its maxptime and raised to an Opus minptime, then the largest
 * frame the codec can do that is not above it (the smallest it can do when
 * none is).
 */
export function choosePtime(codec: CodecDescriptor, peer: PayloadType | undefined, preferredMs = DEFAULT_PTIME_MS): number {
  let want = peer?.ptime ?? preferredMs;
  if (peer?.maxptime !== undefined && peer.maxptime > 0) want = Math.min(want, peer.maxptime);
  const minptime = Number(peer?.parameters.find((p) => p.name === "minptime")?.value);
  if (Number.isFinite(minptime) && minptime > want) want = minptime;
  const fits = codec.ptimes.filter((p) => p <= want);
  return fits.length > 0 ? Math.max(...fits) : Math.min(...codec.ptimes);
}

function negotiated(codec: CodecDescriptor, pt: PayloadType, all: PayloadType[], opts: OfferOptions): Negotiated {
  const te = all.find((p) => isTelephoneEvent(p) && (p.clockrate ?? 8000) === codec.clockRate);
  return {
    codec,
    payloadType: pt.id,
    ...(te ? { telephoneEvent: { payloadType: te.id, clockRate: codec.clockRate } } : {}),
    ptimeMs: choosePtime(codec, pt, opts.ptimeMs),
    peerParameters: Object.fromEntries(pt.parameters.map((p) => [p.name.toLowerCase(), p.value])),
  };
}

/** Our answer to an offer, or `undefined` when there is no codec in common. */
export function answerOffer(
  offer: PayloadType[],
  ours: CodecDescriptor[],
  opts: OfferOptions = {},
): { payloadTypes: PayloadType[]; chosen: Negotiated } | undefined {
  const accepted: { pt: PayloadType; codec: CodecDescriptor }[] = [];
  for (const pt of offer) {
    const codec = ours.find((c) => matches(pt, c));
    if (codec) accepted.push({ pt, codec });
  }
  const first = accepted[0];
  if (!first) return undefined;
  const rates = new Set(accepted.map((a) => a.codec.clockRate));
  // Keep the offerer's numbers; describe the codec with our parameters.
  const payloadTypes = accepted.map(({ pt, codec }) => ({ ...payloadTypeFor(codec, opts), id: pt.id }));
  for (const pt of offer) {
    if (isTelephoneEvent(pt) && rates.has(pt.clockrate ?? 8000)) payloadTypes.push(telephoneEventType(pt.id, pt.clockrate ?? 8000));
  }
  return { payloadTypes, chosen: negotiated(first.codec, first.pt, offer, opts) };
}

/** The codec to use given the answerer's payload types. */
export function applyAnswer(answer: PayloadType[], ours: CodecDescriptor[], opts: OfferOptions = {}): Negotiated | undefined {
  for (const pt of answer) {
    const codec = ours.find((c) => matches(pt, c));
    if (codec) return negotiated(codec, pt, answer, opts);
  }
  return undefined;
}

/**
 * Encoder settings for what we send: our configuration, adjusted by the
 * peer's fmtp for the chosen codec where the codec says how (Opus: RFC 7587
 * §6.1, maxaveragebitrate, useinbandfec, usedtx).
 */
export function encoderOptionsFor(n: Negotiated, configured: Omit<EncoderOptions, "ptimeMs"> = {}): Omit<EncoderOptions, "ptimeMs"> {
  return n.codec.encoderOptions ? n.codec.encoderOptions(configured, n.peerParameters) : { ...configured };
}
