// A throwaway coturn (TURN/STUN, RFC 8656) on 127.0.0.1 with the TURN REST
// shared secret that Prosody's mod_external_services also uses. Loopback
// peers are allowed (coturn refuses them by default) because every test
// endpoint lives on 127.0.0.1.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createHmac, randomBytes } from "node:crypto";
import { freePort } from "./ports.js";
import { startProcess, type ManagedProcess } from "./process.js";

export interface Coturn {
  readonly host: "127.0.0.1";
  readonly port: number;
  readonly secret: string;
  readonly realm: string;
  readonly process: ManagedProcess;
  /** Short-lived credentials from the shared secret, as Prosody hands them out (XEP-0215). */
  credentials(user: string, ttlSec?: number): { username: string; password: string };
  /** Lua for Prosody's global section: mod_external_services pointing here. */
  prosodyConfig(): string;
  logs(): string;
  stop(): Promise<void>;
}

export async function startCoturn(opts: { realm?: string; /** One address, or several (e.g. an IPv4 and an IPv6 one: it then relays in both families). */ listeningIp?: string | string[]; /** More turnserver options, e.g. --denied-peer-ip=... */ extraArgs?: string[]; /** Relay ports (default: 10 of its own); each call holds one per side until the allocation is deleted. */ relayPorts?: [number, number]; /** false: TCP only (--no-udp), as a TURN server behind a UDP-hostile firewall looks. */ udp?: boolean } = {}): Promise<Coturn> {
  const dir = mkdtempSync(join(tmpdir(), "jingled-coturn-"));
  const port = await freePort("udp");
  const realm = opts.realm ?? "localhost";
  const secret = randomBytes(16).toString("hex");
  const ips = typeof opts.listeningIp === "string" ? [opts.listeningIp] : (opts.listeningIp ?? ["127.0.0.1"]);
  const ip = ips[0]!;
  // A relay port range of its own, away from the ephemeral range the daemons use.
  const minPort = 40000 + (port % 2000) * 10;
  const proc = await startProcess(
    "turnserver",
    [
      "-n", // no config file
      ...ips.flatMap((a) => [`--listening-ip=${a}`, `--relay-ip=${a}`]),
      `--listening-port=${port}`,
      `--min-port=${opts.relayPorts?.[0] ?? minPort}`,
      `--max-port=${opts.relayPorts?.[1] ?? minPort + 9}`,
      "--use-auth-secret",
      `--static-auth-secret=${secret}`,
      `--realm=${realm}`,
      "--allow-loopback-peers",
      "--no-tls",
      "--no-dtls",
      "--no-cli",
      "--no-software-attribute",
      `--pidfile=${join(dir, "turnserver.pid")}`,
      "--log-file=stdout",
      "--simple-log",
      "--verbose",
      ...(opts.udp === false ? ["--no-udp"] : []),
      ...(opts.extraArgs ?? []),
    ],
    { name: "coturn", readyPattern: opts.udp === false ? /IPv4\. TCP listener opened on/ : /(IPv4\. UDP listener opened on|Total UDP servers)/, readyTimeoutMs: 10000 },
  );
  return {
    host: "127.0.0.1",
    port,
    secret,
    realm,
    process: proc,
    credentials(user: string, ttlSec = 3600) {
      // TURN REST API (draft-uberti-behave-turn-rest): expiry:user, HMAC-SHA1 of it with the shared secret.
      const username = `${Math.floor(Date.now() / 1000) + ttlSec}:${user}`;
      return { username, password: createHmac("sha1", secret).update(username).digest("base64") };
    },
    prosodyConfig() {
      return [
        `external_service_secret = "${secret}"`,
        "external_services = {",
        `  { type = "stun", transport = "udp", host = "${ip}", port = ${port} };`,
        `  { type = "turn", transport = "udp", host = "${ip}", port = ${port}, secret = true, ttl = 3600 };`,
        "}",
      ].join("\n");
    },
    logs: () => proc.output(),
    async stop() {
      await proc.stop("SIGTERM", 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
