// Codec interface and registry. A codec module describes itself with a
// CodecDescriptor and registers it by name (one line in ./index.ts); the
// config schema, the control protocol's arguments, the Jingle offer/answer
// (src/app/call/negotiation.ts) and the media pipeline all take their codecs from
// here, so adding a codec is one file plus that line.
// Names compare case-insensitively: "PCMU" and "pcmu" are the same encoding
// (RFC 4855 §3, media type names are case-insensitive); the lower-case name
// is the codec's id in the config file and on the control socket.

export interface EncoderOptions {
  /** frame duration; 20 ms unless stated */
  ptimeMs?: number;
  /** bits per second, for codecs with a variable rate */
  bitrate?: number;
  /** 0 (fastest) .. 10 (best) */
  complexity?: number;
  /** in-band forward error correction */
  fec?: boolean;
  /** discontinuous transmission (send almost nothing during silence) */
  dtx?: boolean;
}

export interface AudioEncoder {
  /** samples (at the descriptor's pcmRate) that encode() takes per call */
  readonly frameSamples: number;
  /** the implementation, when a codec has several (Opus: "native" or "wasm") */
  readonly backend?: string;
  encode(pcm: Int16Array): Buffer;
  close(): void;
}

/**
 * The arrays decode(), conceal() and decodeFec() return belong to the caller:
 * the receive path queues them and sinks may keep them, so a decoder never
 * reuses or writes to them again.
 */
export interface AudioDecoder {
  /** the implementation, when a codec has several (Opus: "native" or "wasm") */
  readonly backend?: string;
  decode(payload: Buffer): Int16Array;
  /** concealment for one lost frame of `samples` samples */
  conceal(samples: number): Int16Array;
  /**
   * Recovers `samples` lost samples from the in-band forward error correction
   * carried by the packet that followed them (Opus LBRR, RFC 6716 §2.1.7);
   * undefined when the packet has none. Absent when the backend cannot.
   */
  decodeFec?(nextPayload: Buffer, samples: number): Int16Array | undefined;
  close(): void;
}

/** ITU-T G.107 E-model figures of a codec (G.113 Appendix I where it lists them). */
export interface CodecImpairment {
  /** equipment impairment factor without loss */
  ie: number;
  /** packet-loss robustness factor */
  bpl: number;
}

/** The fmtp parameters (name -> value, names in lower case) of a payload type. */
export type FmtpParameters = { name: string; value: string }[];

export interface CodecDescriptor {
  /** Encoding name as signalled (XEP-0167 payload-type name, SDP rtpmap); its lower case is the codec's id. */
  name: string;
  clockRate: number;
  channels: number;
  /** PCM rate the encoder takes and the decoder gives */
  pcmRate: number;
  defaultPayloadType: number;
  /** fmtp parameters we offer */
  parameters: { name: string; value: string }[];
  /** Frame durations (ms) the encoder can produce, for the ptime a peer asks for. */
  ptimes: readonly number[];
  /** Audio duration of one RTP payload, in clock-rate units; undefined when it cannot tell. */
  packetSamples(payload: Buffer): number | undefined;
  createEncoder(opts?: EncoderOptions): AudioEncoder;
  createDecoder(): AudioDecoder;
  /** Encoder plus decoder algorithmic delay, ms (part of the one-way delay estimate). */
  algorithmicDelayMs: number;
  impairment: CodecImpairment;
  /** Our fmtp `parameters` as announced with these encoder settings (Opus: FEC off, DTX on). */
  offerParameters?(parameters: FmtpParameters, encoder: Pick<EncoderOptions, "dtx" | "fec">): FmtpParameters;
  /** Encoder settings for what we send, from ours and the peer's fmtp (names in lower case). */
  encoderOptions?(configured: Omit<EncoderOptions, "ptimeMs">, peer: Record<string, string>): Omit<EncoderOptions, "ptimeMs">;
}

const registry = new Map<string, CodecDescriptor>();

/** The codec's id in the config file and on the control socket: its name in lower case ("opus", "pcmu"). */
export const codecId = (c: Pick<CodecDescriptor, "name">): string => c.name.toLowerCase();

/** Add a codec; registering the same name again replaces it (one codec per name: ids must be unique). */
export function registerCodec(c: CodecDescriptor): void {
  registry.set(codecId(c), c);
}

export function findCodec(name: string, clockRate: number): CodecDescriptor | undefined {
  const c = registry.get(name.toLowerCase());
  return c && c.clockRate === clockRate ? c : undefined;
}

/** By id, as written in the config file and in control requests (any case). */
export function findCodecById(id: string): CodecDescriptor | undefined {
  return registry.get(id.toLowerCase());
}

/**
 * The codec of an RFC 3551 static payload type (below 96), which a peer may
 * send without a name (RFC 3551 §6: 0 PCMU, 8 PCMA, 9 G722).
 */
export function findCodecByStaticPayloadType(pt: number): CodecDescriptor | undefined {
  if (pt >= 96) return undefined;
  return [...registry.values()].find((c) => c.defaultPayloadType === pt);
}

/** In registration order, which is our order of preference. */
export function listCodecs(): CodecDescriptor[] {
  return [...registry.values()];
}

/** Every codec's id, in order of preference. */
export function codecIds(): string[] {
  return listCodecs().map(codecId);
}
