// RFC 4733 telephone-event payload (DTMF digits as named events, §2.3, §3.2).
//
//  0                   1                   2                   3
//  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
// |     event     |E|R| volume    |          duration             |
// +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// It is not an audio codec (nothing to encode or decode into PCM), so it is
// not in the codec registry; negotiation offers it next to the audio codecs
// at the clock rates below (RFC 4733 §2.1: the same clock rate as the audio).

export const TELEPHONE_EVENT = "telephone-event";

/** Payload types offered, per clock rate (DESIGN: 101/8000, 126/48000). */
export const TELEPHONE_EVENT_PAYLOAD_TYPES: readonly { clockRate: number; payloadType: number }[] = [
  { clockRate: 48000, payloadType: 126 },
  { clockRate: 8000, payloadType: 101 },
];

/** §3.2: events 0-15; fmtp "0-15" names exactly these. */
export const DTMF_EVENTS = "0123456789*#ABCD";
export const TELEPHONE_EVENT_FMTP = "0-15";

export interface TelephoneEvent {
  /** 0..255; 0-15 are the DTMF digits (§3.2) */
  event: number;
  /** E bit: the last packets of an event */
  end: boolean;
  /** 0..63, the power level as -dBm0 */
  volume: number;
  /** timestamp units since the event began; 16 bits */
  duration: number;
}

export function encodeTelephoneEvent(e: TelephoneEvent): Buffer {
  const b = Buffer.alloc(4);
  b[0] = e.event & 0xff;
  b[1] = (e.end ? 0x80 : 0) | (e.volume & 0x3f); // R bit always 0 (§2.3.3)
  b.writeUInt16BE(Math.max(0, Math.min(0xffff, Math.round(e.duration))), 2);
  return b;
}

/** Undefined for a payload shorter than 4 octets. Only the first event of a (redundant) payload is read. */
export function decodeTelephoneEvent(b: Buffer): TelephoneEvent | undefined {
  if (b.length < 4) return undefined;
  return { event: b[0]!, end: (b[1]! & 0x80) !== 0, volume: b[1]! & 0x3f, duration: b.readUInt16BE(2) };
}

/** "5" -> 5, "*" -> 10, "#" -> 11, "a"/"A" -> 12; undefined for anything else. */
export function dtmfEventOf(digit: string): number | undefined {
  const i = DTMF_EVENTS.indexOf(digit.toUpperCase());
  return i >= 0 && digit.length === 1 ? i : undefined;
}

export function dtmfDigitOf(event: number): string | undefined {
  return event >= 0 && event < DTMF_EVENTS.length ? DTMF_EVENTS[event] : undefined;
}
