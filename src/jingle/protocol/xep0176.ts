// XEP-0176: Jingle ICE-UDP Transport Method — https://xmpp.org/extensions/xep-0176.html (v1.1.1)
// plus the DTLS fingerprint child of XEP-0320: Use of DTLS-SRTP in Jingle
// Sessions — https://xmpp.org/extensions/xep-0320.html (v1.0.0).
// <transport xmlns="urn:xmpp:jingle:transports:ice-udp:1"/> <-> IceUdpTransport.
//
// Parsing is liberal because real peers differ from the spec: StanzaJS omits
// candidate id/generation/network, sends rel-addr="0.0.0.0" without rel-port,
// may send TCP candidates and a non-standard <gathering-complete/>. What ICE
// cannot work without (ip, port, component, priority, type, protocol) stays
// required.

import { createElement, type Element } from "ltx";
import { NS } from "./namespaces.js";
import { JingleParseError, LIMITS, checkCount, optAttr, optEnum, optUint, reqAttr, reqEnum, reqUint } from "./errors.js";

export const CANDIDATE_TYPES = ["host", "srflx", "prflx", "relay"] as const;
export type CandidateType = (typeof CANDIDATE_TYPES)[number];

/** XEP-0320 / RFC 4145 §4 setup roles. */
export const DTLS_SETUPS = ["actpass", "active", "passive", "holdconn"] as const;
export type DtlsSetup = (typeof DTLS_SETUPS)[number];

export interface DtlsFingerprint {
  /** Hash function name as in RFC 4572 §5, e.g. "sha-256". */
  hash: string;
  /**
   * Absent only when a peer omitted it; the caller then applies the RFC 4145
   * default for its side of the offer/answer rather than this layer guessing.
   */
  setup?: DtlsSetup;
  /** Colon-separated hex, whitespace trimmed. */
  value: string;
}

export interface IceCandidate {
  component: number;
  foundation: string;
  generation: number;
  id: string;
  ip: string;
  network: number;
  port: number;
  priority: number;
  /** Lower-cased: "udp" or "tcp". */
  protocol: string;
  type: CandidateType;
  relAddr?: string;
  relPort?: number;
  /** RFC 6544 tcptype for TCP candidates: active, passive or so. */
  tcptype?: string;
}

export interface IceUdpTransport {
  ufrag?: string;
  pwd?: string;
  candidates: IceCandidate[];
  fingerprint?: DtlsFingerprint;
  /**
   * StanzaJS's non-standard <gathering-complete/> was present. Read only:
   * buildIceUdpTransport does not write it (not in any XEP).
   */
  gatheringComplete?: boolean;
}

/**
 * Stable id for a candidate that came without one: the same candidate sent
 * twice (trickle + session-accept) gets the same id, so it can be de-duplicated.
 */
export function candidateId(c: Pick<IceCandidate, "foundation" | "component" | "protocol" | "ip" | "port">): string {
  return `${c.foundation}-${c.component}-${c.protocol}-${c.ip}-${c.port}`;
}

export function parseCandidate(el: Element): IceCandidate {
  const protocol = reqAttr(el, "protocol").toLowerCase();
  const c: IceCandidate = {
    // RFC 8445 §5.1.2.1: component ID 1..256.
    component: reqUint(el, "component", 1, 256),
    foundation: reqAttr(el, "foundation"),
    generation: optUint(el, "generation") ?? 0,
    id: "",
    ip: reqAttr(el, "ip"),
    network: optUint(el, "network") ?? 0,
    // Port 0/9 appear on TCP active candidates, so 0 is allowed.
    port: reqUint(el, "port", 0, 65535),
    priority: reqUint(el, "priority"),
    protocol,
    type: reqEnum(el, "type", CANDIDATE_TYPES),
  };
  c.id = optAttr(el, "id") || candidateId(c);
  const relAddr = optAttr(el, "rel-addr");
  if (relAddr !== undefined && relAddr !== "") c.relAddr = relAddr;
  const relPort = optUint(el, "rel-port", 0, 65535);
  if (relPort !== undefined) c.relPort = relPort;
  const tcptype = optAttr(el, "tcptype");
  if (tcptype !== undefined && tcptype !== "") c.tcptype = tcptype;
  return c;
}

export function buildCandidate(c: IceCandidate): Element {
  const attrs: Record<string, string> = {
    component: String(c.component),
    foundation: c.foundation,
    generation: String(c.generation),
    id: c.id,
    ip: c.ip,
    network: String(c.network),
    port: String(c.port),
    priority: String(c.priority),
    protocol: c.protocol,
    type: c.type,
  };
  if (c.relAddr !== undefined) attrs["rel-addr"] = c.relAddr;
  if (c.relPort !== undefined) attrs["rel-port"] = String(c.relPort);
  if (c.tcptype !== undefined) attrs.tcptype = c.tcptype;
  return createElement("candidate", attrs);
}

export function parseFingerprint(el: Element): DtlsFingerprint {
  const value = el.getText().trim();
  if (value === "") {
    throw new JingleParseError("<fingerprint> has no fingerprint value", "fingerprint");
  }
  if (value.length > LIMITS.attributeLength) {
    throw new JingleParseError(`<fingerprint> value is ${value.length} characters long; at most ${LIMITS.attributeLength} are accepted`, "fingerprint");
  }
  const setup = optEnum(el, "setup", DTLS_SETUPS);
  return { hash: reqAttr(el, "hash"), ...(setup !== undefined && { setup }), value };
}

export function buildFingerprint(fp: DtlsFingerprint): Element {
  const attrs: Record<string, string> = { xmlns: NS.dtls, hash: fp.hash };
  if (fp.setup !== undefined) attrs.setup = fp.setup;
  return createElement("fingerprint", attrs, fp.value);
}

export function parseIceUdpTransport(el: Element): IceUdpTransport {
  if (!el.is("transport", NS.iceUdp)) {
    throw new JingleParseError(`expected <transport xmlns='${NS.iceUdp}'>, got <${el.getName()} xmlns='${el.getNS() ?? ""}'>`, el.getName());
  }
  const cands = el.getChildren("candidate", NS.iceUdp);
  checkCount(cands.length, LIMITS.candidates, "candidate", "transport");
  const ufrag = optAttr(el, "ufrag");
  const pwd = optAttr(el, "pwd");
  const fp = el.getChild("fingerprint", NS.dtls);
  // <remote-candidate/> (§7.1) and unknown children are tolerated and ignored.
  const gatheringComplete = el.getChild("gathering-complete", NS.iceUdp) !== undefined;
  return {
    ...(ufrag !== undefined && { ufrag }),
    ...(pwd !== undefined && { pwd }),
    ...(fp !== undefined && { fingerprint: parseFingerprint(fp) }),
    candidates: cands.map(parseCandidate),
    ...(gatheringComplete && { gatheringComplete }),
  };
}

export function buildIceUdpTransport(t: IceUdpTransport): Element {
  const el = createElement("transport", { xmlns: NS.iceUdp });
  if (t.ufrag !== undefined) el.attrs.ufrag = t.ufrag;
  if (t.pwd !== undefined) el.attrs.pwd = t.pwd;
  if (t.fingerprint !== undefined) el.cnode(buildFingerprint(t.fingerprint));
  for (const c of t.candidates) el.cnode(buildCandidate(c));
  return el;
}
