// A NAT lab made of network namespaces, for the NAT traversal tests and by
// hand (scripts/nat-lab.sh). Only test addresses (RFC 5737, RFC 1918) inside
// namespaces made here are used; nothing is routed out of the machine.
//
//   "public" segment 203.0.113.0/24: a bridge in the namespace the caller runs
//   in (a test file re-runs itself in a fresh one, see runSelfInNetns), with
//     203.0.113.1   Prosody (c2s) and two coturns: one for STUN, one for TURN
//     203.0.113.10  NAT router a (WAN)  ── LAN 10.0.1.0/24, host a = 10.0.1.2
//     203.0.113.20  NAT router b (WAN)  ── LAN 10.0.2.0/24, host b = 10.0.2.2
//     203.0.113.30  host p, public (no NAT)
//
// NAT kinds (iptables in the router's namespace):
//   cone       MASQUERADE: endpoint-independent mapping (the port is kept),
//              address-and-port-dependent filtering (conntrack)
//   symmetric  MASQUERADE --random-fully: a new random port per destination
// Every router also drops unsolicited inbound packets (NEW on the WAN side),
// like a home router's firewall; without that, a peer's first check reaching
// the router before our own packet leaves would make conntrack pick another
// port for our mapping and spoil hole punching.
//
// The daemons run in the hosts' namespaces (their interface is always
// `eth0`); the caller's namespace holds the servers.
import { execFile } from "node:child_process";

import { createNetns, type Netns } from "./netns.js";
import { startCoturn, type Coturn } from "./coturn.js";
import { startProsody, type ProsodyServer } from "./prosody.js";
import { startDaemon, type Daemon } from "./daemon.js";
import { startProcess, type ManagedProcess } from "./process.js";
import { compareAudioSegments } from "./audio-compare.js";
import { tcpAccepts } from "./ports.js";
import type { AnyEvent } from "../../src/control/client.js";
import { readMono16 } from "./audio-compare.js";
export const mono16 = readMono16;

export type NatKind = "cone" | "symmetric";

export const LAB = {
  serverIp: "203.0.113.1",
  prefix: 24,
  wan: { a: "203.0.113.10", b: "203.0.113.20" },
  lan: { a: "10.0.1", b: "10.0.2" },
  publicHost: "203.0.113.30",
  iface: "eth0",
} as const;

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, encoding: "utf8" }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(" ")} failed: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/** Why the lab cannot be built here (iptables missing), or undefined. netnsAvailable() covers root and `ip`. */
export async function natLabUnavailable(): Promise<string | undefined> {
  try {
    await run("iptables", ["--version"]);
  } catch {
    return "iptables is not installed: run scripts/bootstrap.sh as root";
  }
  try {
    await run("conntrack", ["--version"]);
  } catch {
    return "conntrack (conntrack-tools) is not installed: run scripts/bootstrap.sh as root";
  }
  return undefined;
}

/** A machine in the lab where a daemon runs. */
export interface LabHost {
  readonly name: string;
  readonly ns: Netns;
  /** Its own address (a LAN address behind a NAT, or a public one). */
  ip: string;
  /** What the public segment sees: the router's WAN address, or ip for a public host. */
  readonly publicIp: string;
  /** Runs `cmd args` in the host's namespace (for startDaemon's wrap). */
  wrap(cmd: string, args: string[]): [string, string[]];
  /** Takes the host's link down (the peer "vanishes"). */
  cutLink(): Promise<void>;
  /** Gives the host another address on its LAN (like a new DHCP lease). */
  readdress(ip: string): Promise<void>;
  /** UDP sockets open in the host's namespace (`ss -uan`), to check that a call freed its own. */
  udpSockets(): Promise<string[]>;
}

export interface NatSide extends LabHost {
  readonly router: Netns;
  readonly kind: NatKind;
  /** Replaces the NAT kind (and forgets the router's UDP mappings). */
  setNat(kind: NatKind): Promise<void>;
  /** Adds an iptables rule in the router's FORWARD chain (e.g. ["-p", "udp", "-d", ip, "-j", "DROP"]); returns its remover. */
  block(rule: string[]): Promise<() => Promise<void>>;
  /** Random loss of forwarded UDP in both directions (iptables statistic), 0 removes it. */
  setLoss(probability: number): Promise<void>;
  /** Forgets every NAT mapping (conntrack -F). */
  flushMappings(): Promise<void>;
  /** Forgets the UDP mappings only (conntrack -D -p udp), as when they time out; TCP (XMPP) survives. Resolves with how many were deleted. */
  flushUdpMappings(): Promise<number>;
  /** Shortens the router's UDP binding timeouts (nf_conntrack_udp_timeout[_stream]); false if not permitted. */
  setUdpTimeouts(seconds: number): Promise<boolean>;
}

export interface NatLab {
  readonly a: NatSide;
  readonly b: NatSide;
  readonly p: LabHost;
  /** iptables in the servers' namespace, e.g. to take a server off the network; returns the remover. */
  blockServer(rule: string[]): Promise<() => Promise<void>>;
  destroy(): Promise<void>;
}

const ip = (args: string[]) => run("ip", args);

async function makeHost(name: string, ns: Netns, addr: string, gateway: string | undefined, publicIp: string | undefined): Promise<LabHost> {
  const self: LabHost = {
    name,
    ns,
    ip: addr,
    publicIp: publicIp ?? addr,
    wrap: (cmd, args) => ns.exec(cmd, args),
    cutLink: async () => {
      await ip(["-n", ns.name, "link", "set", LAB.iface, "down"]);
    },
    readdress: async (next) => {
      // The only address of the subnet goes first (deleting a primary address drops its secondaries), then the route.
      await ip(["-n", ns.name, "addr", "del", `${self.ip}/${LAB.prefix}`, "dev", LAB.iface]);
      await ip(["-n", ns.name, "addr", "add", `${next}/${LAB.prefix}`, "dev", LAB.iface]);
      if (gateway) await ip(["-n", ns.name, "route", "replace", "default", "via", gateway]);
      self.ip = next;
    },
    udpSockets: async () => {
      const out = await ns.run("ss", ["-Huan"]);
      return out.split("\n").filter((l) => l.trim());
    },
  };
  await ip(["-n", ns.name, "addr", "add", `${addr}/${LAB.prefix}`, "dev", LAB.iface]);
  await ip(["-n", ns.name, "link", "set", LAB.iface, "up"]);
  if (gateway) await ip(["-n", ns.name, "route", "add", "default", "via", gateway]);
  return self;
}

async function makeSide(side: "a" | "b", kind: NatKind, namespaces: Netns[]): Promise<NatSide> {
  const router = await createNetns(`jl-nat${side}`);
  namespaces.push(router);
  const hostNs = await createNetns(`jl-lan${side}`);
  namespaces.push(hostNs);
  const wan = LAB.wan[side];
  const lan = LAB.lan[side];
  // WAN: a veth from the bridge (in our namespace) to the router.
  await ip(["link", "add", `lab-${side}`, "type", "veth", "peer", "name", "wan", "netns", router.name]);
  await ip(["link", "set", `lab-${side}`, "master", "lab-br", "up"]);
  await ip(["-n", router.name, "addr", "add", `${wan}/${LAB.prefix}`, "dev", "wan"]);
  await ip(["-n", router.name, "link", "set", "wan", "up"]);
  // LAN: router <-> host.
  await ip(["-n", router.name, "link", "add", "lan", "type", "veth", "peer", "name", LAB.iface, "netns", hostNs.name]);
  await ip(["-n", router.name, "addr", "add", `${lan}.1/${LAB.prefix}`, "dev", "lan"]);
  await ip(["-n", router.name, "link", "set", "lan", "up"]);
  await ip(["-n", router.name, "route", "add", "default", "via", LAB.serverIp]);
  await router.run("sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
  const ipt = (args: string[]) => router.run("iptables", ["-w", "5", ...args]);
  // The router's firewall: nothing unsolicited from the WAN side.
  await ipt(["-A", "INPUT", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"]);
  await ipt(["-A", "FORWARD", "-i", "wan", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP"]);
  const host = await makeHost(side, hostNs, `${lan}.2`, `${lan}.1`, wan);
  let current: NatKind = kind;
  let lossRule: string[] | undefined;
  const nat = async (k: NatKind) => {
    await ipt(["-t", "nat", "-F", "POSTROUTING"]);
    await ipt(["-t", "nat", "-A", "POSTROUTING", "-o", "wan", "-j", "MASQUERADE", ...(k === "symmetric" ? ["--random-fully"] : [])]);
    // UDP only: the daemons' TCP connections to Prosody must survive a change of NAT kind.
    await router.run("conntrack", ["-D", "-p", "udp"]).catch(() => undefined);
    current = k;
  };
  await nat(kind);
  return Object.assign(host, {
    router,
    get kind() {
      return current;
    },
    setNat: nat,
    block: async (rule: string[]) => {
      await ipt(["-I", "FORWARD", ...rule]);
      return async () => {
        await ipt(["-D", "FORWARD", ...rule]).catch(() => undefined);
      };
    },
    setLoss: async (p: number) => {
      if (lossRule) await ipt(["-D", "FORWARD", ...lossRule]).catch(() => undefined);
      lossRule = undefined;
      if (p <= 0) return;
      lossRule = ["-p", "udp", "-m", "statistic", "--mode", "random", "--probability", String(p), "-j", "DROP"];
      await ipt(["-I", "FORWARD", ...lossRule]);
    },
    flushMappings: async () => {
      await router.run("conntrack", ["-F"]).catch(() => undefined);
    },
    flushUdpMappings: async () => {
      // conntrack prints "N flow entries have been deleted" on stderr (and exits 1 when there were none).
      const out = await new Promise<string>((resolve) => {
        const [cmd, args] = router.exec("conntrack", ["-D", "-p", "udp"]);
        execFile(cmd, args, { timeout: 10_000, encoding: "utf8" }, (_err, stdout, stderr) => resolve(`${stdout}${stderr}`));
      });
      return Number(/(\d+) flow entries/.exec(out)?.[1] ?? 0);
    },
    setUdpTimeouts: async (s: number) => {
      try {
        await router.run("sysctl", ["-qw", `net.netfilter.nf_conntrack_udp_timeout=${s}`, `net.netfilter.nf_conntrack_udp_timeout_stream=${s}`]);
        return true;
      } catch {
        return false;
      }
    },
  }) as NatSide;
}

/**
 * Builds the lab around the caller's own namespace (which must be a
 * namespace made for the test: it gets the bridge and the server address).
 * Every namespace is deleted by destroy() and, whatever happens, when this
 * process exits (createNetns registers that).
 */
export async function createNatLab(kinds: { a: NatKind; b: NatKind } = { a: "cone", b: "cone" }): Promise<NatLab> {
  const namespaces: Netns[] = [];
  const destroy = async () => {
    await Promise.all(namespaces.splice(0).map((n) => n.destroy()));
    await ip(["link", "del", "lab-br"]).catch(() => undefined);

  };
  try {
    await ip(["link", "add", "lab-br", "type", "bridge"]);
    await ip(["addr", "add", `${LAB.serverIp}/${LAB.prefix}`, "dev", "lab-br"]);
    await ip(["link", "set", "lab-br", "up"]);
    const a = await makeSide("a", kinds.a, namespaces);
    const b = await makeSide("b", kinds.b, namespaces);
    const pNs = await createNetns("jl-pub");
    namespaces.push(pNs);
    await ip(["link", "add", "lab-p", "type", "veth", "peer", "name", LAB.iface, "netns", pNs.name]);
    await ip(["link", "set", "lab-p", "master", "lab-br", "up"]);
    const p = await makeHost("p", pNs, LAB.publicHost, LAB.serverIp, undefined);
    const iptHere = (args: string[]) => run("iptables", ["-w", "5", ...args]);
    return {
      a,
      b,
      p,
      blockServer: async (rule) => {
        await iptHere(["-I", "INPUT", ...rule]);
        return async () => {
          await iptHere(["-D", "INPUT", ...rule]).catch(() => undefined);
        };
      },
      destroy,
    };
  } catch (err) {
    await destroy();
    throw err;
  }
}

/**
 * Prosody's mod_external_services (XEP-0215) for the lab: STUN from one
 * coturn, TURN (short-lived credentials from the shared secret) from another,
 * so that a test can take the TURN server down and keep STUN.
 */
export function externalServicesConfig(stun: { port: number }, turn: { port: number; secret: string }): string {
  return [
    `external_service_secret = "${turn.secret}"`,
    "external_services = {",
    `  { type = "stun", transport = "udp", host = "${LAB.serverIp}", port = ${stun.port} };`,
    `  { type = "turn", transport = "udp", host = "${LAB.serverIp}", port = ${turn.port}, secret = true, ttl = 3600 };`,
    "}",
  ].join("\n");
}

// ------------------------------------------------------------ servers, daemons, calls in the lab

export interface LabServers {
  prosody: ProsodyServer;
  stun: Coturn;
  turn: Coturn;
  /** Stops Prosody (SIGTERM: every session ends) and starts it again on the same config, port and data; resolves when it accepts connections. */
  restartProsody(): Promise<{ downMs: number }>;
  stop(): Promise<void>;
}

/** Prosody (c2s also on LAB.serverIp) and the two coturns, in the caller's namespace. */
export async function startLabServers(users: { username: string; password: string }[]): Promise<LabServers> {
  // Private peers are refused, as a production coturn should be configured
  // (and coturn ends the whole allocation when a send to a peer fails, as one
  // to a LAN address without a route does here).
  const extraArgs = ["--denied-peer-ip=10.0.0.0-10.255.255.255"];
  const stun = await startCoturn({ listeningIp: LAB.serverIp, extraArgs });
  const turn = await startCoturn({ listeningIp: LAB.serverIp, extraArgs, relayPorts: [49000, 49999] }).catch(async (err: unknown) => {
    await stun.stop();
    throw err;
  });
  const prosody = await startProsody({
    users,
    modules: ["external_services"],
    extraConfig: externalServicesConfig(stun, turn),
    extraInterfaces: [LAB.serverIp],
  }).catch(async (err: unknown) => {
    await Promise.all([stun.stop(), turn.stop()]);
    throw err;
  });
  let replacement: ManagedProcess | undefined;
  return {
    prosody,
    stun,
    turn,
    restartProsody: async () => {
      const t0 = performance.now();
      await (replacement ?? prosody.process).stop("SIGTERM", 5000);
      replacement = await startProcess("prosody", ["-F", "--config", prosody.configFile], { name: "prosody (restarted)", cwd: prosody.dir });
      const deadline = performance.now() + 15_000;
      while (!(await tcpAccepts(LAB.serverIp, prosody.port))) {
        if (performance.now() > deadline || !replacement.running()) throw new Error(`restarted prosody does not accept connections\n${replacement.output()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      return { downMs: performance.now() - t0 };
    },
    stop: async () => {
      await replacement?.stop("SIGTERM", 5000);
      await prosody.stop();
      await Promise.all([stun.stop(), turn.stop()]);
    },
  };
}

/**
 * A jingled in a lab host: host candidates from its interface (ice.interfaces,
 * so a re-addressed LAN is noticed), STUN/TURN from Prosody (XEP-0215).
 */
export function startLabDaemon(
  host: LabHost,
  servers: LabServers,
  o: { username: string; password: string; dir: string; input?: Record<string, unknown>; autoAnswer?: boolean; config?: Record<string, unknown>; ice?: Record<string, unknown> },
): Promise<Daemon> {
  return startDaemon({
    prosody: servers.prosody,
    username: o.username,
    password: o.password,
    dir: o.dir,
    xmppHost: LAB.serverIp,
    wrap: (cmd, args) => host.wrap(cmd, args),
    codecs: ["opus"],
    ...(o.input ? { input: o.input } : {}),
    autoAnswer: o.autoAnswer ?? true,
    logLevel: "debug",
    config: { ice: { interfaces: [LAB.iface], connectTimeoutMs: 20_000, ...o.ice }, ...o.config },
  });
}

export interface CallResult {
  callerCallId: string;
  calleeCallId: string;
  /** From the call command to the caller's media event (signalling, ICE, DTLS). */
  connectMs: number;
  /** The caller's view: "srflx -> prflx" etc. */
  pairText: string;
  pairType: "direct" | "relayed";
  local: { type: string; ip: string; port: number };
  remote: { type: string; ip: string; port: number };
  calleeLocal: { type: string; ip: string; port: number };
}

/** Calls `callee` (auto-answering) and waits until media flows on both sides. */
export async function callAndConnect(caller: Daemon, callee: Daemon, timeoutMs = 25_000): Promise<CallResult> {
  const markB = callee.events.length;
  const markA = caller.events.length;
  const t0 = performance.now();
  const { callId } = (await caller.control.request("call", { jid: callee.jid })) as { callId: string };
  const media = await caller.waitForEvent((e) => e.event === "media" && e.callId === callId && caller.events.indexOf(e) >= markA, timeoutMs, "media at the caller");
  const connectMs = performance.now() - t0;
  const mediaB = await callee.waitForEvent((e) => e.event === "media" && callee.events.indexOf(e) >= markB, timeoutMs, "media at the callee");
  const local = media.localCandidate as CallResult["local"];
  const remote = media.remoteCandidate as CallResult["remote"];
  return {
    callerCallId: callId,
    calleeCallId: String(mediaB.callId),
    connectMs,
    pairText: `${local.type} ${local.ip}:${local.port} -> ${remote.type} ${remote.ip}:${remote.port}`,
    pairType: media.pairType as "direct" | "relayed",
    local,
    remote,
    calleeLocal: mediaB.localCandidate as CallResult["local"],
  };
}

export interface CallStats {
  packetsReceived: number;
  packetsLost?: number;
  recording?: string;
  [k: string]: unknown;
}

export async function callStats(d: Daemon, callId: string): Promise<CallStats | undefined> {
  const r = (await d.control.request("stats", { callId }).catch(() => undefined)) as CallStats | undefined;
  return r;
}

/**
 * Samples a daemon's packetsReceived every `everyMs` until `stop()`; the
 * longest stretch without a new packet is the media gap.
 */
export function watchPackets(d: Daemon, callId: string, everyMs = 50): { stop(): Promise<{ longestGapMs: number; gapStartedAt: number; samples: number; last: number }> } {
  let last = -1;
  let lastChange = performance.now();
  let longest = 0;
  let gapStartedAt = 0;
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const s = await callStats(d, callId);
      const now = performance.now();
      if (s && typeof s.packetsReceived === "number") {
        samples++;
        if (s.packetsReceived !== last) {
          if (last >= 0 && now - lastChange > longest) {
            longest = now - lastChange;
            gapStartedAt = lastChange;
          }
          last = s.packetsReceived;
          lastChange = now;
        }
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      const tail = performance.now() - lastChange;
      if (tail > longest) {
        longest = tail;
        gapStartedAt = lastChange;
      }
      return { longestGapMs: longest, gapStartedAt, samples, last };
    },
  };
}

/** Hangs up from `d` and waits for both sides' ended events; returns the other side's. */
export async function hangupBoth(d: Daemon, callId: string, other: Daemon, otherCallId: string, timeoutMs = 10_000): Promise<AnyEvent> {
  await d.control.request("hangup", { callId });
  await d.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "ended", timeoutMs, "ended (hung up)");
  return other.waitForEvent((e) => e.event === "call" && e.callId === otherCallId && e.type === "ended", timeoutMs, "ended at the peer");
}

/** Segment-aligned correlation of what `reference` said with a recording. */
export function audioScore(reference: string, recording: string): number {
  const ref = mono16(reference);
  const rec = mono16(recording);
  return compareAudioSegments(ref.pcm, ref.rate, rec.pcm, rec.rate).correlation;
}

