// Codec interface and registry. A codec module describes itself with a
// CodecDescriptor and registers it by name (one line in ./index.ts); the
// media pipeline and the Jingle/SDP offer code look codecs up here.
// Names compare case-insensitively: "PCMU" and "pcmu" are the same encoding
// (RFC 4855 §3, media type names are case-insensitive).

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

export interface CodecDescriptor {
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
}

const registry = new Map<string, CodecDescriptor>();

const keyOf = (name: string, clockRate: number): string => `${name.toLowerCase()}/${clockRate}`;

/** Add a codec; registering the same name/clock rate again replaces it. */
export function registerCodec(c: CodecDescriptor): void {
  registry.set(keyOf(c.name, c.clockRate), c);
}

export function findCodec(name: string, clockRate: number): CodecDescriptor | undefined {
  return registry.get(keyOf(name, clockRate));
}

/** In registration order, which is our order of preference. */
export function listCodecs(): CodecDescriptor[] {
  return [...registry.values()];
}
