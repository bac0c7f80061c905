// Jingle ICE-UDP candidate (XEP-0176 §5.3) <-> werift-ice Candidate.
import { isIP } from "node:net";
import { Candidate } from "werift-ice";
import type { IceCandidate } from "../jingle/protocol/index.js";

const TYPES = new Set(["host", "srflx", "prflx", "relay"]);

export function toJingleCandidate(c: Candidate, id: string): IceCandidate {
  const out: IceCandidate = {
    component: c.component,
    foundation: c.foundation,
    generation: c.generation ?? 0,
    id,
    ip: c.host,
    network: 0,
    port: c.port,
    priority: c.priority,
    protocol: c.transport.toLowerCase(),
    type: c.type as IceCandidate["type"],
  };
  if (c.relatedAddress !== undefined) out.relAddr = c.relatedAddress;
  if (c.relatedPort !== undefined) out.relPort = c.relatedPort;
  if (c.tcptype !== undefined) out.tcptype = c.tcptype;
  return out;
}

/**
 * Returns undefined for candidates the agent cannot use: not UDP, not an IP
 * literal (mDNS names would make us query the LAN for an attacker), another
 * component (we do rtcp-mux or no RTCP), or an unknown type.
 */
export function fromJingleCandidate(c: IceCandidate): Candidate | undefined {
  if (c.protocol.toLowerCase() !== "udp") return undefined;
  if (!isIP(c.ip)) return undefined;
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
    c.ip,
    c.port,
    type,
    c.relAddr && isIP(c.relAddr) ? c.relAddr : undefined,
    c.relPort,
    undefined,
    c.generation,
  );
}
