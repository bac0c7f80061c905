// Candidate and pair priorities (RFC 8445 §5.1.2, §6.1.2.3) with the local
// preferences of a multihomed, dual-stack host (RFC 8421).
//
// Local preference (RFC 8445 §5.1.2.1): our host addresses are ranked by
// RFC 6724 source precedence (ip-address.ts: ULA of our own site, then
// global IPv6, then IPv4, ...), and the two families are interleaved
// (RFC 8421 §4): the best IPv6 address, then the best IPv4 one, then the
// second IPv6 ... so that IPv6 is tried first, as browsers do, yet a host
// with many IPv6 addresses and a broken IPv6 path does not check every one
// of them before its first IPv4 pair. Link-local IPv6 (only when
// configured) comes after all others. A server-reflexive candidate takes the
// local preference of its base (§5.1.2.1: the same interface and family).
import { ipFamily, isLinkLocalV6, sourcePrecedence } from "./ip-address.js";

/** RFC 8445 §5.1.2.2 type preferences. */
export const TYPE_PREFERENCE = { host: 126, prflx: 110, srflx: 100, relay: 0 } as const;
export type CandidateType = keyof typeof TYPE_PREFERENCE;

const MAX_LOCAL_PREFERENCE = 65535;

/** RFC 8445 §5.1.2.1: priority = 2^24 * type pref + 2^8 * local pref + (256 - component). */
export function candidatePriority(type: CandidateType, localPreference: number, component = 1): number {
  return TYPE_PREFERENCE[type] * 2 ** 24 + localPreference * 2 ** 8 + (256 - component);
}

/**
 * Our host addresses in the order they are preferred (see the top of this
 * file), each with its local preference (65535, 65534, ...). Addresses of
 * equal precedence keep the order they were given in.
 */
export function rankHostAddresses(addresses: readonly string[]): { address: string; localPreference: number }[] {
  const byPrecedence = (list: string[]) =>
    list
      .map((address, i) => ({ address, i, p: sourcePrecedence(address) }))
      .sort((a, b) => b.p - a.p || a.i - b.i)
      .map((x) => x.address);
  const linkLocal = addresses.filter((a) => isLinkLocalV6(a));
  const v6 = byPrecedence(addresses.filter((a) => ipFamily(a) === 6 && !isLinkLocalV6(a)));
  const v4 = byPrecedence(addresses.filter((a) => ipFamily(a) === 4));
  // The family whose best address ranks higher goes first (IPv6 unless it only has 6to4/Teredo/deprecated ones).
  const v6First = v6.length > 0 && (v4.length === 0 || sourcePrecedence(v6[0]!) >= sourcePrecedence(v4[0]!));
  const [first, second] = v6First ? [v6, v4] : [v4, v6];
  const ordered: string[] = [];
  for (let i = 0; i < Math.max(first.length, second.length); i++) {
    if (i < first.length) ordered.push(first[i]!);
    if (i < second.length) ordered.push(second[i]!);
  }
  ordered.push(...byPrecedence(linkLocal));
  return ordered.map((address, i) => ({ address, localPreference: Math.max(0, MAX_LOCAL_PREFERENCE - i) }));
}

/**
 * RFC 8445 §6.1.2.3: pair priority = 2^32 * MIN(G, D) + 2 * MAX(G, D) +
 * (G > D ? 1 : 0), G the controlling agent's candidate priority, D the
 * controlled agent's. A bigint: the value needs 63 bits, beyond a double's
 * 53 (and werift-ice computes 2^32 as `1 << 32`, which is 1 in JavaScript).
 */
export function pairPriority(local: number, remote: number, controlling: boolean): bigint {
  const g = BigInt(controlling ? local : remote);
  const d = BigInt(controlling ? remote : local);
  const [min, max] = g < d ? [g, d] : [d, g];
  return (1n << 32n) * min + 2n * max + (g > d ? 1n : 0n);
}
