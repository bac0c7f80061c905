// NTP timestamps for RTCP (RFC 3550 §4): 64-bit fixed point, seconds since
// 1900-01-01 in the upper 32 bits, the fraction in the lower 32. Sender
// reports carry all 64 bits; LSR/DLSR in receiver reports use the middle 32
// (16.16 fixed point seconds, §6.4.1).

/** Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix epoch). */
const NTP_UNIX_OFFSET = 2_208_988_800;

/** The 64-bit NTP timestamp for a Unix time in milliseconds. */
export function ntpFromUnixMs(ms: number): bigint {
  const secs = Math.floor(ms / 1000);
  const frac = Math.floor(((ms - secs * 1000) / 1000) * 2 ** 32);
  return (BigInt(secs + NTP_UNIX_OFFSET) << 32n) | BigInt(frac >>> 0);
}

/** The middle 32 bits of a 64-bit NTP timestamp (§6.4.1 "LSR"). */
export function ntpMiddle32(ntp: bigint): number {
  return Number((ntp >> 16n) & 0xffffffffn);
}

/** The middle 32 bits for a Unix time in ms. */
export function ntpMiddle32FromUnixMs(ms: number): number {
  return ntpMiddle32(ntpFromUnixMs(ms));
}

/** 16.16 fixed-point seconds (DLSR, RTT arithmetic) to milliseconds. */
export function compactNtpToMs(v: number): number {
  return (v / 65536) * 1000;
}

/** Milliseconds to 16.16 fixed-point seconds, as §6.4.1 DLSR wants it. */
export function msToCompactNtp(ms: number): number {
  return Math.max(0, Math.round((ms / 1000) * 65536)) >>> 0;
}

/**
 * §6.4.1: round-trip time from a report block about our stream, received at
 * `arrivalMiddle32`: RTT = A - LSR - DLSR, all in 16.16 seconds (mod 2^32).
 * Undefined when the peer has not received a sender report from us yet (LSR 0).
 */
export function roundTripMs(arrivalMiddle32: number, lsr: number, dlsr: number): number | undefined {
  if (lsr === 0) return undefined;
  const rtt = (arrivalMiddle32 - lsr - dlsr) >>> 0;
  // A negative difference (clock weirdness) shows up as a huge unsigned value.
  if (rtt > 0x7fffffff) return 0;
  return compactNtpToMs(rtt);
}
