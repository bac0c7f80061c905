// The configuration against this machine: what schema validation cannot
// know because it looks at the file alone (validation stays free of I/O).
// Run at start, by --check-config and on reload (app/runtime-checks.ts).
//
// The rule (config/example.yaml and the README say it too): every
// ice.addresses entry must be an address some interface of this machine
// has now, and every ice.interfaces entry the name of an interface it has
// now. Anything else is a mistake (a typo, a config copied from another
// machine) that would leave calls without the candidates the user asked
// for: refused, exit 78 at start, bad-argument on reload (the running
// configuration stays). An interface that exists but has no usable address
// yet is accepted: the daemon picks its addresses up when they appear.
import { networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import { canonicalIp, isLinkLocalV6, zoneOf } from "./ip-address.js";
import { ConfigError } from "../util/errors.js";

type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

/** What this check reads of the configuration. */
export interface HostSelection {
  addresses?: readonly string[] | undefined;
  interfaces?: readonly string[] | undefined;
}

const LISTED = 8;

function listOf(items: string[]): string {
  return items.length > LISTED ? `${items.slice(0, LISTED).join(", ")} and ${items.length - LISTED} more` : items.join(", ");
}

/** "10.0.0.5 on eth0, ::1 on lo": what the machine has, for the message. */
function ownAddresses(ifaces: Interfaces): string {
  const all = Object.entries(ifaces).flatMap(([name, infos]) => (infos ?? []).map((i) => `${canonicalIp(i.address) ?? i.address} on ${name}`));
  return all.length ? listOf(all) : "none";
}

/** One line per entry of ice.addresses / ice.interfaces that this machine does not have. */
export function hostConfigProblems(ice: HostSelection, ifaces: Interfaces = networkInterfaces()): string[] {
  const problems: string[] = [];
  (ice.addresses ?? []).forEach((address, i) => {
    const key = `ice.addresses.${i}`;
    const c = canonicalIp(address);
    if (c === undefined) return; // not an IP literal: the schema has said so already
    if (c === "0.0.0.0" || c === "::") {
      problems.push(`${key}: ${address} is the unspecified address, which no peer can reach; leave ice.addresses out to use every address of this machine`);
      return;
    }
    const zone = zoneOf(address);
    if (isLinkLocalV6(c) && !zone) {
      problems.push(`${key}: ${address} is link-local and means something only with its interface: write it as ${c}%INTERFACE`);
      return;
    }
    const holders = Object.entries(ifaces)
      .filter(([, infos]) => (infos ?? []).some((info) => canonicalIp(info.address) === c))
      .map(([name]) => name);
    if (holders.length === 0) {
      problems.push(`${key}: ${address} is not an address of this machine (it has ${ownAddresses(ifaces)})`);
    } else if (zone && !/^\d+$/.test(zone) && !holders.includes(zone)) {
      problems.push(`${key}: ${address}: ${c} is on ${holders.join(", ")}, not on ${zone}`);
    }
  });
  const names = Object.keys(ifaces);
  (ice.interfaces ?? []).forEach((name, i) => {
    if (!names.includes(name)) problems.push(`ice.interfaces.${i}: this machine has no interface named ${name} (it has ${names.length ? listOf(names) : "none"})`);
  });
  return problems;
}

/** Throws a ConfigError (exit 78, or bad-argument on reload) naming every entry this machine does not have. */
export function checkHostConfig(cfg: { ice: HostSelection; file?: string | undefined }, ifaces?: Interfaces): void {
  const problems = hostConfigProblems(cfg.ice, ifaces);
  if (problems.length === 0) return;
  throw new ConfigError(`invalid configuration${cfg.file ? ` in ${cfg.file}` : ""} for this machine:\n  ${problems.join("\n  ")}`, problems);
}
