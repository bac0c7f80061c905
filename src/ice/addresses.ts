// Host candidate address selection. werift-ice's own selection skips loopback
// and veth interfaces and cannot be restricted to one address, so jingled
// chooses the addresses itself (a real feature: multi-homed hosts, tests that
// must stay on loopback, network namespaces built from veth pairs).
//
// IPv4 and IPv6 alike: global and unique local (ULA, fc00::/7) IPv6
// addresses are host candidates. Link-local IPv6 (fe80::/10) only when
// `linkLocal` is set: such an address means something only on one link and
// only with its zone (the interface), which a candidate cannot carry; it is
// returned scoped ("fe80::1%eth0") so that the socket binds to that link,
// and it is signalled without the zone. The order returned is the order
// found; priority.ts ranks them.
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import { addressKind, canonicalIp, isLinkLocalV6, zoneOf } from "./ip-address.js";

export interface AddressSelection {
  /** Explicit addresses win over everything else (a link-local IPv6 one with its zone: fe80::1%eth0). */
  addresses?: string[];
  /** Interface names whose addresses to use. */
  interfaces?: string[];
  /** Also link-local IPv6 addresses of the interfaces (default false). */
  linkLocal?: boolean;
}

/** Canonical text (ip-address.ts), the zone kept for a link-local IPv6 address. */
function normalise(address: string, zone: string | undefined): string | undefined {
  const c = canonicalIp(address);
  if (c === undefined) return undefined;
  if (!isLinkLocalV6(c)) return c;
  return zone ? `${c}%${zone}` : undefined;
}

export function selectHostAddresses(
  sel: AddressSelection,
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  if (sel.addresses?.length) {
    // A link-local address without its zone cannot be bound to: left out.
    return [...new Set(sel.addresses.map((a) => normalise(a, zoneOf(a))).filter((a): a is string => a !== undefined))];
  }
  const out: string[] = [];
  for (const [name, infos] of Object.entries(ifaces)) {
    if (!infos) continue;
    if (sel.interfaces?.length) {
      if (!sel.interfaces.includes(name)) continue;
    } else if (infos.some((i) => i.internal)) {
      continue; // loopback only when asked for
    }
    for (const info of infos) {
      const kind = addressKind(info.address);
      if (kind === undefined || kind === "unspecified" || kind === "multicast") continue;
      if (info.family === "IPv6" && kind === "link-local" && !sel.linkLocal) continue;
      const address = normalise(info.address, name);
      if (address) out.push(address);
    }
  }
  return [...new Set(out)];
}
