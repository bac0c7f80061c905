// A throwaway DNS server (Debian's dnsmasq) for tests that need real DNS:
// SRV, A and AAAA records for test domains, nothing forwarded anywhere.
// It listens on 127.0.0.1:53, so it belongs inside a network namespace the
// test made (scripts/lab/netns.ts: inOwnNetns with resolv.conf pointing at
// it), where port 53 is free and the resolver of every process is it.
//
//   const dns = await startDnsmasq({ srv: [...], hosts: [...] });
//   ... dns.queries() ...
//   await dns.stop();
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startProcess, type ManagedProcess } from "./process.js";

export const DNSMASQ = "/usr/sbin/dnsmasq";

export interface SrvRecordSpec {
  /** _service._proto.domain */
  name: string;
  /** Omitted: the target "." (the service is decidedly not offered, RFC 2782). */
  target?: string;
  port?: number;
  priority?: number;
  weight?: number;
}

export interface DnsmasqOptions {
  srv?: SrvRecordSpec[];
  /** A and AAAA records: a name and its addresses. */
  hosts?: { name: string; addresses: string[] }[];
  /** Domains answered here only (NXDOMAIN for names not listed). */
  localDomains?: string[];
  listen?: string;
}

export interface Dnsmasq {
  readonly process: ManagedProcess;
  /** The queries it answered so far, as logged ("query[SRV] _xmpp-client._tcp.x.test from 127.0.0.1"). */
  queries(): string[];
  stop(): Promise<void>;
}

/** Why dnsmasq cannot run here, or undefined. */
export function dnsmasqUnavailable(): string | undefined {
  return existsSync(DNSMASQ) ? undefined : "dnsmasq is not installed (Debian package dnsmasq-base; scripts/bootstrap.sh installs it as root)";
}

export async function startDnsmasq(o: DnsmasqOptions): Promise<Dnsmasq> {
  const dir = mkdtempSync(join(tmpdir(), "jingled-dnsmasq-"));
  const logFile = join(dir, "dnsmasq.log");
  const args = [
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--no-resolv",
    "--no-hosts",
    "--no-negcache",
    "--bind-interfaces",
    `--listen-address=${o.listen ?? "127.0.0.1"}`,
    "--user=root",
    `--pid-file=${join(dir, "dnsmasq.pid")}`,
    "--log-queries",
    `--log-facility=${logFile}`,
    ...(o.localDomains ?? []).map((d) => `--local=/${d}/`),
    ...(o.srv ?? []).map((r) =>
      r.target === undefined ? `--srv-host=${r.name}` : `--srv-host=${r.name},${r.target},${r.port ?? 0},${r.priority ?? 0},${r.weight ?? 0}`,
    ),
    ...(o.hosts ?? []).map((h) => `--host-record=${h.name},${h.addresses.join(",")}`),
  ];
  const proc = await startProcess(DNSMASQ, args, { name: "dnsmasq" });
  // Listening once it logs that it started (its log goes to the file).
  const deadline = Date.now() + 10_000;
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  while (!/started, version/.test(log())) {
    if (!proc.running()) throw new Error(`dnsmasq exited: ${proc.output()}\n${log()}`);
    if (Date.now() > deadline) {
      await proc.stop("SIGTERM", 2000);
      throw new Error(`dnsmasq did not start within 10 s: ${proc.output()}\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  let stopped: Promise<void> | undefined;
  return {
    process: proc,
    queries: () => log().split("\n").filter((l) => /query\[/.test(l)).map((l) => l.replace(/^.*?dnsmasq\[\d+\]: /, "")),
    stop: () =>
      (stopped ??= (async () => {
        await proc.stop("SIGTERM", 3000);
        if (!process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
      })()),
  };
}
