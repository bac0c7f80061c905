// Jingle ICE-UDP candidate (XEP-0176 §5.3) <-> werift-ice Candidate.
import { Candidate } from "werift-ice";
import type { IceCandidate } from "../jingle/protocol/index.js";
import { addressKind, canonicalIp } from "./ip-address.js";

const TYPES = new Set(["host", "srflx", "prflx", "relay"]);

export function toJingleCandidate(c: Candidate, id: string): IceCandidate {
  const out: IceCandidate = {
    component: c.component,
    foundation: c.foundation,
    generation: c.generation ?? 0,
    id,
    ip: canonicalIp(c.host) ?? c.host,
    network: 0,
    port: c.port,
    priority: c.priority,
    protocol: c.transport.toLowerCase(),
    type: c.type as IceCandidate["type"],
  };
  if (c.relatedAddress !== undefined) out.relAddr = canonicalIp(c.relatedAddress) ?? c.relatedAddress;
  if (c.relatedPort !== undefined) out.relPort = c.relatedPort;
  if (c.tcptype !== undefined) out.tcptype = c.tcptype;
  return out;
}

/** Addresses no check may be sent to: nobody (0.0.0.0, ::), everybody (multicast, broadcast). */
const UNUSABLE = new Set(["unspecified", "multicast", "broadcast"]);

/**
 * Returns undefined for candidates the agent cannot use: not UDP, not an IP
 * literal (mDNS names would make us query the LAN for an attacker), an
 * address no check may go to, another component (we do rtcp-mux or no
 * RTCP), or an unknown type. IPv4 and IPv6 literals in any spelling are
 * taken in one text form (ip-address.ts): the library compares the source
 * of every check and answer with the candidate's address as a string.
 */
export function fromJingleCandidate(c: IceCandidate): Candidate | undefined {
  if (c.protocol.toLowerCase() !== "udp") return undefined;
  const ip = canonicalIp(c.ip);
  if (ip === undefined || UNUSABLE.has(addressKind(ip)!)) return undefined;
  if (c.component !== 1) return undefined;
  if (!TYPES.has(c.type)) return undefined;
  if (!(c.port > 0 && c.port < 65536)) return undefined;
  // werift drops signalled prflx candidates; they are reachable addresses like srflx.
  const type = c.type === "prflx" ? "srflx" : c.type;
  return new Candidate(
    c.foundation,
    c.component,
    "udp",
    c.priority,
    ip,
    c.port,
    type,
    c.relAddr ? canonicalIp(c.relAddr) : undefined,
    c.relPort,
    undefined,
    c.generation,
  );
}
