// Builds the NAT lab of the tests by hand, starts Prosody, coturn and three
// daemons in it, and keeps it up until Ctrl-C (or --for SECONDS), then tears
// everything down. Root only (network namespaces, iptables).
//
//   npm run build && node dist/scripts/nat-lab.js [--nat-a cone|symmetric] [--nat-b cone|symmetric] [--for SECONDS]
//
// It prints the namespaces and the control sockets; from another terminal:
//   bin/jinglectl.js --socket SOCKET call bob@localhost/jingled
//   ip netns exec NAMESPACE conntrack -L       (the NAT bindings of a router)
//   ip netns exec NAMESPACE iptables -S        (its rules)
// The layout is described in scripts/lab/nat-lab.ts and docs/networking.md.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNetns, currentTestNetns, netnsAvailable, runSelfInNetns } from "./lab/netns.js";
import { LAB, createNatLab, natLabUnavailable, startLabDaemon, startLabServers, type NatKind } from "./lab/nat-lab.js";

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function kind(v: string | undefined): NatKind {
  if (v === undefined || v === "cone" || v === "symmetric") return v ?? "cone";
  process.stderr.write(`nat-lab: NAT kind must be cone or symmetric, not ${v}\n`);
  process.exit(64);
}

const forSec = Number(arg("--for") ?? "0");

if (!currentTestNetns()) {
  const ns = await netnsAvailable();
  const why = !ns.ok ? ns.reason : await natLabUnavailable();
  if (why) {
    process.stderr.write(`nat-lab: ${why}\n`);
    process.exit(69);
  }
  const netns = await createNetns("jingled-natlab");
  let code = 1;
  try {
    code = await runSelfInNetns(netns, forSec > 0 ? (forSec + 60) * 1000 : 24 * 3600 * 1000);
  } finally {
    await netns.destroy();
  }
  process.exit(code);
} else {
  const dir = mkdtempSync(join(tmpdir(), "jingled-natlab-"));
  const lab = await createNatLab({ a: kind(arg("--nat-a")), b: kind(arg("--nat-b")) });
  const servers = await startLabServers([
    { username: "alice", password: "a-pw" },
    { username: "bob", password: "b-pw" },
    { username: "carol", password: "c-pw" },
  ]);
  const daemons = await Promise.all([
    startLabDaemon(lab.a, servers, { username: "alice", password: "a-pw", dir: join(dir, "alice"), input: { type: "tone", frequency: 440 }, autoAnswer: true }),
    startLabDaemon(lab.b, servers, { username: "bob", password: "b-pw", dir: join(dir, "bob"), input: { type: "tone", frequency: 660 }, autoAnswer: true }),
    startLabDaemon(lab.p, servers, { username: "carol", password: "c-pw", dir: join(dir, "carol"), input: { type: "tone", frequency: 880 }, autoAnswer: true }),
  ]);
  const lines = [
    `servers (this namespace, ${currentTestNetns()}): Prosody ${LAB.serverIp}:${servers.prosody.port}, STUN ${LAB.serverIp}:${servers.stun.port}, TURN ${LAB.serverIp}:${servers.turn.port}`,
    `NAT a (${lab.a.kind}): router ${lab.a.router.name} ${LAB.wan.a}, alice in ${lab.a.ns.name} ${lab.a.ip}, socket ${daemons[0].socketPath}`,
    `NAT b (${lab.b.kind}): router ${lab.b.router.name} ${LAB.wan.b}, bob in ${lab.b.ns.name} ${lab.b.ip}, socket ${daemons[1].socketPath}`,
    `public: carol in ${lab.p.ns.name} ${lab.p.ip}, socket ${daemons[2].socketPath}`,
    `logs and recordings: ${dir}`,
    forSec > 0 ? `up for ${forSec} s` : "Ctrl-C tears it down",
  ];
  process.stdout.write(`nat-lab:\n  ${lines.join("\n  ")}\n`);
  await new Promise<void>((resolve) => {
    if (forSec > 0) setTimeout(resolve, forSec * 1000);
    process.once("SIGINT", () => resolve());
    process.once("SIGTERM", () => resolve());
  });
  await Promise.all(daemons.map((d) => d.stop()));
  await servers.stop();
  await lab.destroy();
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write("nat-lab: torn down\n");
}
