// Codec offer/answer over XEP-0167 payload types. The answer is the
// intersection in the offerer's order with the offerer's payload-type
// numbers; both sides then use the first common codec.
import type { PayloadType } from "../jingle/protocol/index.js";
import type { CodecDescriptor } from "../media/codecs/codec.js";

/** RFC 3551 static payload types that peers may send without a name. */
const STATIC: Record<number, { name: string; clockrate: number }> = {
  0: { name: "PCMU", clockrate: 8000 },
  8: { name: "PCMA", clockrate: 8000 },
  9: { name: "G722", clockrate: 8000 },
};

export interface Negotiated {
  codec: CodecDescriptor;
  payloadType: number;
}

export function payloadTypeFor(codec: CodecDescriptor): PayloadType {
  return {
    id: codec.defaultPayloadType,
    name: codec.name,
    clockrate: codec.clockRate,
    channels: codec.channels,
    parameters: codec.parameters.map((p) => ({ ...p })),
  };
}

export function offerPayloadTypes(codecs: CodecDescriptor[]): PayloadType[] {
  return codecs.map(payloadTypeFor);
}

function matches(pt: PayloadType, codec: CodecDescriptor): boolean {
  const known = pt.name ? { name: pt.name, clockrate: pt.clockrate } : STATIC[pt.id];
  if (!known?.name) return false;
  if (known.name.toLowerCase() !== codec.name.toLowerCase()) return false;
  return (known.clockrate ?? codec.clockRate) === codec.clockRate;
}

/** Our answer to an offer, or `undefined` when there is no codec in common. */
export function answerOffer(offer: PayloadType[], ours: CodecDescriptor[]): { payloadTypes: PayloadType[]; chosen: Negotiated } | undefined {
  const accepted: { pt: PayloadType; codec: CodecDescriptor }[] = [];
  for (const pt of offer) {
    const codec = ours.find((c) => matches(pt, c));
    if (codec) accepted.push({ pt, codec });
  }
  const first = accepted[0];
  if (!first) return undefined;
  return {
    // Keep the offerer's numbers; describe the codec with our parameters.
    payloadTypes: accepted.map(({ pt, codec }) => ({ ...payloadTypeFor(codec), id: pt.id })),
    chosen: { codec: first.codec, payloadType: first.pt.id },
  };
}

/** The codec to use given the answerer's payload types. */
export function applyAnswer(answer: PayloadType[], ours: CodecDescriptor[]): Negotiated | undefined {
  for (const pt of answer) {
    const codec = ours.find((c) => matches(pt, c));
    if (codec) return { codec, payloadType: pt.id };
  }
  return undefined;
}
