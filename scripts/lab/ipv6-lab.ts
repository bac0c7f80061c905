// A lab for calls over IPv6 (test/integration/ipv6.test.ts), made of
// network namespaces. Only test addresses (ULA fd6a::/16, RFC 5737, RFC 1918)
// inside namespaces made here; nothing is routed out of the machine.
//
//   the caller's namespace (a test file re-runs itself in a fresh one): a
//   bridge with 198.51.100.1/24 and fd6a:5::1/64, where Prosody (c2s over
//   IPv4) and one coturn (STUN and TURN on both addresses, relaying in both
//   families) listen;
//
//   hosts a and b, each in a namespace of its own, with
//     eth0   on the bridge: 198.51.100.10 / .20 and fd6a:5::a / fd6a:5::b,
//            the way to the servers;
//     peer   a veth pair between a and b, the media link: fd6a:2::a and
//            fd6a:2::b only (IPv6 only), until addIpv4() gives it 10.6.2.1
//            and 10.6.2.2 as well (dual-stack).
//
// The daemons take host candidates from `peer` only (ice.interfaces). A
// STUN or TURN request from a socket bound to a media-link address leaves
// through eth0; the servers answer it through host routes (fd6a:2::a via
// fd6a:5::a, ...). The caller's namespace does not forward, so the media
// link is the only way between a and b.
//
// Host a also masquerades the IPv6 it sends through eth0 (NAT66, ip6tables):
// the STUN server sees fd6a:5::a there, so a has a server-reflexive IPv6
// candidate distinct from its host candidate.
import { execFile } from "node:child_process";
import { createNetns, type Netns } from "./netns.js";

export const V6LAB = {
  bridge: "v6lab-br",
  server: { v4: "198.51.100.1", v6: "fd6a:5::1" },
  hosts: {
    a: { eth0: { v4: "198.51.100.10", v6: "fd6a:5::a" }, peer: { v6: "fd6a:2::a", v4: "10.6.2.1" } },
    b: { eth0: { v4: "198.51.100.20", v6: "fd6a:5::b" }, peer: { v6: "fd6a:2::b", v4: "10.6.2.2" } },
  },
  /** The media link's interface name in both hosts. */
  peerIface: "peer",
} as const;

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}
const ip = (args: string[]) => run("ip", args);

/**
 * Until `iface` in `ns` has carrier (LOWER_UP). The kernel reports a veth's
 * carrier asynchronously (linkwatch, up to a second after both ends are up),
 * and until then Node's os.networkInterfaces() leaves the interface out, so a
 * daemon started at once would not find it (ice.interfaces is checked at start).
 */
async function waitForCarrier(ns: string, iface: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if ((await ip(["-n", ns, "-o", "link", "show", iface])).includes("LOWER_UP")) return;
    if (Date.now() > until) throw new Error(`ipv6 lab: ${iface} in ${ns} has no carrier after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Why the lab cannot be built here (ip6tables missing or without NAT), or undefined. netnsAvailable() covers root and `ip`. */
export async function ipv6LabUnavailable(): Promise<string | undefined> {
  try {
    await run("ip6tables", ["--version"]);
  } catch {
    return "ip6tables is not installed: run scripts/bootstrap.sh as root";
  }
  return undefined;
}

export interface V6Host {
  readonly name: "a" | "b";
  readonly ns: Netns;
  wrap(cmd: string, args: string[]): [string, string[]];
}

export interface Ipv6Lab {
  readonly a: V6Host;
  readonly b: V6Host;
  /** Gives the media link IPv4 addresses too (dual-stack). */
  addIpv4(): Promise<void>;
  /** Drops UDP over IPv6 on host a's media link, both ways (IPv6 "works" on paper only); returns the remover. */
  blockIpv6Media(): Promise<() => Promise<void>>;
  /** Drops UDP on host a's media link except between link-local IPv6 addresses (fe80::/10); returns the remover. */
  onlyLinkLocalMedia(): Promise<() => Promise<void>>;
  destroy(): Promise<void>;
}

/**
 * Builds the lab around the caller's own namespace (which must be one made
 * for the test). Every namespace is deleted by destroy() and, whatever
 * happens, when this process exits (createNetns registers that).
 */
export async function createIpv6Lab(): Promise<Ipv6Lab> {
  const namespaces: Netns[] = [];
  const destroy = async () => {
    await Promise.all(namespaces.splice(0).map((n) => n.destroy()));
    await ip(["link", "del", V6LAB.bridge]).catch(() => undefined);
  };
  try {
    await ip(["link", "add", V6LAB.bridge, "type", "bridge"]);
    await ip(["addr", "add", `${V6LAB.server.v4}/24`, "dev", V6LAB.bridge]);
    // nodad: usable at once (duplicate address detection would hold it "tentative" for a second or two).
    await ip(["addr", "add", `${V6LAB.server.v6}/64`, "dev", V6LAB.bridge, "nodad"]);
    await ip(["link", "set", V6LAB.bridge, "up"]);
    const hosts = {} as Record<"a" | "b", V6Host>;
    for (const name of ["a", "b"] as const) {
      const ns = await createNetns(`jl-v6${name}`);
      namespaces.push(ns);
      const h = V6LAB.hosts[name];
      await ip(["link", "add", `v6lab-${name}`, "type", "veth", "peer", "name", "eth0", "netns", ns.name]);
      await ip(["link", "set", `v6lab-${name}`, "master", V6LAB.bridge, "up"]);
      await ip(["-n", ns.name, "addr", "add", `${h.eth0.v4}/24`, "dev", "eth0"]);
      await ip(["-n", ns.name, "addr", "add", `${h.eth0.v6}/64`, "dev", "eth0", "nodad"]);
      await ip(["-n", ns.name, "link", "set", "eth0", "up"]);
      // The servers' answers to what a host sends from its media-link addresses.
      await ip(["-6", "route", "add", `${h.peer.v6}/128`, "via", h.eth0.v6]);
      await ip(["route", "add", `${h.peer.v4}/32`, "via", h.eth0.v4]);
      hosts[name] = { name, ns, wrap: (cmd, args) => ns.exec(cmd, args) };
    }
    const [a, b] = [hosts.a, hosts.b];
    await ip(["-n", a.ns.name, "link", "add", V6LAB.peerIface, "type", "veth", "peer", "name", V6LAB.peerIface, "netns", b.ns.name]);
    for (const h of [a, b]) {
      await ip(["-n", h.ns.name, "addr", "add", `${V6LAB.hosts[h.name].peer.v6}/64`, "dev", V6LAB.peerIface, "nodad"]);
      await ip(["-n", h.ns.name, "link", "set", V6LAB.peerIface, "up"]);
    }
    for (const h of [a, b]) for (const iface of ["eth0", V6LAB.peerIface]) await waitForCarrier(h.ns.name, iface);
    // Host a behind NAT66 on its way to the servers.
    await a.ns.run("ip6tables", ["-w", "5", "-t", "nat", "-A", "POSTROUTING", "-o", "eth0", "-j", "MASQUERADE"]);
    return {
      a,
      b,
      addIpv4: async () => {
        for (const h of [a, b]) await ip(["-n", h.ns.name, "addr", "add", `${V6LAB.hosts[h.name].peer.v4}/24`, "dev", V6LAB.peerIface]);
      },
      blockIpv6Media: async () => {
        const rules = [
          ["INPUT", "-i", V6LAB.peerIface, "-p", "udp", "-j", "DROP"],
          ["OUTPUT", "-o", V6LAB.peerIface, "-p", "udp", "-j", "DROP"],
        ];
        for (const r of rules) await a.ns.run("ip6tables", ["-w", "5", "-I", ...r]);
        return async () => {
          for (const r of rules) await a.ns.run("ip6tables", ["-w", "5", "-D", ...r]).catch(() => undefined);
        };
      },
      onlyLinkLocalMedia: async () => {
        const v6 = [
          ["INPUT", "-i", V6LAB.peerIface, "-p", "udp", "!", "-s", "fe80::/10", "-j", "DROP"],
          ["OUTPUT", "-o", V6LAB.peerIface, "-p", "udp", "!", "-d", "fe80::/10", "-j", "DROP"],
        ];
        const v4 = [
          ["INPUT", "-i", V6LAB.peerIface, "-p", "udp", "-j", "DROP"],
          ["OUTPUT", "-o", V6LAB.peerIface, "-p", "udp", "-j", "DROP"],
        ];
        for (const r of v6) await a.ns.run("ip6tables", ["-w", "5", "-I", ...r]);
        for (const r of v4) await a.ns.run("iptables", ["-w", "5", "-I", ...r]);
        return async () => {
          for (const r of v6) await a.ns.run("ip6tables", ["-w", "5", "-D", ...r]).catch(() => undefined);
          for (const r of v4) await a.ns.run("iptables", ["-w", "5", "-D", ...r]).catch(() => undefined);
        };
      },
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}

/** Prosody's mod_external_services (XEP-0215) for the lab: STUN and TURN at both of the server's addresses. */
export function v6ExternalServices(turn: { port: number; secret: string }): string {
  const entries = [V6LAB.server.v4, V6LAB.server.v6].flatMap((host) => [
    `  { type = "stun", transport = "udp", host = "${host}", port = ${turn.port} };`,
    `  { type = "turn", transport = "udp", host = "${host}", port = ${turn.port}, secret = true, ttl = 3600 };`,
  ]);
  return [`external_service_secret = "${turn.secret}"`, "external_services = {", ...entries, "}"].join("\n");
}
