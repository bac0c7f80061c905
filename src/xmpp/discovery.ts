// Where an account's XMPP service is: DNS SRV, RFC 6120 §3.2 and XEP-0368.
//
//   _xmpps-client._tcp.DOMAIN   Direct TLS (XEP-0368)
//   _xmpp-client._tcp.DOMAIN    STARTTLS (RFC 6120 §3.2.1)
//
// Both sets are one list for RFC 2782 ordering (XEP-0368 §3 rule 1: "all
// priorities and weights are mixed"): lowest priority first, and within a
// priority a weighted random choice. A service whose only record has the
// target "." is not offered (RFC 2782, RFC 6120 §3.2.1 step 3); when that
// leaves nothing, the domain has no XMPP service and there is no A/AAAA
// fallback (XEP-0368 §5). Only when neither name has any record is the
// domain itself tried on port 5222 (RFC 6120 §3.2.2).
//
// node:dns (c-ares, the system's resolv.conf) rather than @xmpp/resolve
// 0.14: see docs/interop.md "Finding the server" for what that package does
// differently. Addresses of each target are resolved when it is dialled
// (dial.ts), both families at once (RFC 8305).
import { promises as dnsPromises } from "node:dns";
import { AccountError } from "../util/errors.js";

/** One place to try: a host name (or address) and port, with TLS from the first byte or by STARTTLS. */
export interface Endpoint {
  host: string;
  port: number;
  directTls: boolean;
}

export interface SrvRecord {
  name: string;
  port: number;
  priority: number;
  weight: number;
}

/** What discovery needs of DNS (node:dns's promises API has it). */
export interface SrvResolver {
  resolveSrv(name: string): Promise<SrvRecord[]>;
}

export interface Discovery {
  endpoints: Endpoint[];
  /** "srv": from the records; "fallback": the domain on 5222 because there were none. */
  source: "srv" | "fallback";
  /** Lookups that failed for another reason than "no such record" (they count as none). */
  dnsErrors: string[];
}

export const XMPP_CLIENT_PORT = 5222;
export const XMPPS_CLIENT_PORT = 5223;

/** RFC 2782: a target of "." (c-ares reports it as "") means the service is decidedly not available. */
function isNoService(records: SrvRecord[]): boolean {
  return records.length === 1 && (records[0]!.name === "" || records[0]!.name === ".");
}

/**
 * RFC 2782 "Usage rules": sort by priority; within a priority, repeatedly
 * pick a record at random with probability proportional to its weight
 * (weight-0 records first in the running sum, so they are picked rarely but
 * can be). `random` returns [0, 1).
 */
export function orderSrv<T extends { priority: number; weight: number }>(records: T[], random: () => number = Math.random): T[] {
  const out: T[] = [];
  const priorities = [...new Set(records.map((r) => r.priority))].sort((a, b) => a - b);
  for (const p of priorities) {
    const left = records.filter((r) => r.priority === p).sort((a, b) => (a.weight === 0 ? -1 : 0) - (b.weight === 0 ? -1 : 0));
    while (left.length > 0) {
      const total = left.reduce((sum, r) => sum + r.weight, 0);
      const pick = Math.floor(random() * (total + 1)); // 0..total inclusive
      let running = 0;
      let i = left.findIndex((r) => (running += r.weight) >= pick);
      if (i < 0) i = left.length - 1;
      out.push(left.splice(i, 1)[0]!);
    }
  }
  return out;
}

const NO_RECORD = new Set(["ENOTFOUND", "ENODATA"]);

/** The records of one SRV name; "none" for NXDOMAIN/NODATA, "error" for a failed lookup. */
async function lookup(resolver: SrvResolver, name: string): Promise<SrvRecord[] | { error: string }> {
  try {
    return await resolver.resolveSrv(name);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code && NO_RECORD.has(code)) return [];
    return { error: `${name}: ${code ?? (err as Error).message}` };
  }
}

/**
 * The endpoints to try for `domain`, best first. Throws AccountError
 * "no-service" when the domain's DNS says it offers no XMPP service.
 */
export async function discover(domain: string, o: { resolver?: SrvResolver; random?: () => number } = {}): Promise<Discovery> {
  const resolver = o.resolver ?? dnsPromises;
  const [tls, starttls] = await Promise.all([
    lookup(resolver, `_xmpps-client._tcp.${domain}`),
    lookup(resolver, `_xmpp-client._tcp.${domain}`),
  ]);
  const dnsErrors = [tls, starttls].flatMap((r) => ("error" in r ? [r.error] : []));
  const sets = [
    { records: "error" in tls ? [] : tls, directTls: true },
    { records: "error" in starttls ? [] : starttls, directTls: false },
  ];
  const declined = sets.filter((s) => isNoService(s.records));
  const offered = sets.filter((s) => !isNoService(s.records)).flatMap((s) => s.records.map((r) => ({ ...r, directTls: s.directTls })));
  if (offered.length > 0) {
    const endpoints = orderSrv(offered, o.random).map((r) => ({ host: r.name, port: r.port, directTls: r.directTls }));
    return { endpoints, source: "srv", dnsErrors };
  }
  if (declined.length > 0) {
    throw new AccountError(
      "no-service",
      `${domain} has no XMPP service: its DNS SRV record${declined.length > 1 ? "s" : ""} (${declined
        .map((s) => (s.directTls ? "_xmpps-client" : "_xmpp-client"))
        .join(", ")}) name the target "." (RFC 6120 §3.2.1); check the JID's domain`,
    );
  }
  return { endpoints: [{ host: domain, port: XMPP_CLIENT_PORT, directTls: false }], source: "fallback", dnsErrors };
}

/**
 * account.server: xmpp://HOST[:PORT] (STARTTLS, port 5222 by default) or
 * xmpps://HOST[:PORT] (Direct TLS, port 5223 by default). IPv6 addresses in brackets.
 */
export function parseService(service: string): Endpoint {
  const m = /^(xmpps?):\/\/(\[[0-9A-Fa-f:.]+\]|[^\s/:[\]]+)(?::(\d{1,5}))?$/.exec(service);
  if (!m) throw new AccountError("bad-service", `account.server ${JSON.stringify(service)}: expected xmpp://HOST[:PORT] or xmpps://HOST[:PORT]`);
  const directTls = m[1] === "xmpps";
  const host = m[2]!.startsWith("[") ? m[2]!.slice(1, -1) : m[2]!;
  const port = m[3] ? Number(m[3]) : directTls ? XMPPS_CLIENT_PORT : XMPP_CLIENT_PORT;
  if (port < 1 || port > 65535) throw new AccountError("bad-service", `account.server ${JSON.stringify(service)}: port ${port} is out of range`);
  return { host, port, directTls };
}

/** xmpp://host:port or xmpps://host:port, for logs and status. */
export function endpointUri(e: Endpoint): string {
  return `${e.directTls ? "xmpps" : "xmpp"}://${e.host.includes(":") ? `[${e.host}]` : e.host}:${e.port}`;
}
