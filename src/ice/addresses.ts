// Host candidate address selection. werift-ice's own selection skips loopback
// and veth interfaces and cannot be restricted to one address, so jingled
// chooses the addresses itself (a real feature: multi-homed hosts, tests that
// must stay on loopback, network namespaces built from veth pairs).
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";

export interface AddressSelection {
  /** Explicit addresses win over everything else. */
  addresses?: string[];
  /** Interface names whose addresses to use. */
  interfaces?: string[];
}

export function selectHostAddresses(
  sel: AddressSelection,
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  if (sel.addresses?.length) return [...new Set(sel.addresses)];
  const out: string[] = [];
  for (const [name, infos] of Object.entries(ifaces)) {
    if (!infos) continue;
    if (sel.interfaces?.length) {
      if (!sel.interfaces.includes(name)) continue;
    } else if (infos.some((i) => i.internal)) {
      continue; // loopback only when asked for
    }
    for (const info of infos) {
      // Link-local IPv6 needs a scope id that candidates cannot carry.
      if (info.family === "IPv6" && info.address.toLowerCase().startsWith("fe80:")) continue;
      out.push(info.address);
    }
  }
  return [...new Set(out)];
}
