// XEP-0167: Jingle RTP Sessions — https://xmpp.org/extensions/xep-0167.html (v1.2.3)
// Also read here: XEP-0293 rtcp-fb (payload-level, kept raw) and XEP-0294
// rtp-hdrext. The <description/> element <-> RtpDescription, and the
// session-info payloads of §8 (urn:xmpp:jingle:apps:rtp:info:1).

import { createElement, type Element } from "ltx";
import { NS } from "./namespaces.js";
import {
  JingleParseError,
  LIMITS,
  checkCount,
  optAttr,
  optEnum,
  optUint,
  reqAttr,
  reqUint,
} from "./errors.js";

export type Senders = "both" | "initiator" | "responder" | "none";
export const SENDERS: readonly Senders[] = ["both", "initiator", "responder", "none"];

/** XEP-0293 <rtcp-fb type subtype?/>: kept as given; the media layer decides. */
export interface RtcpFeedback {
  type: string;
  subtype?: string;
}

export interface PayloadType {
  /** RTP payload type, 0..127 (RFC 3551). */
  id: number;
  name?: string;
  clockrate?: number;
  /** Defaults to 1 (XEP-0167 §4); a bogus 0 from old libjingle clients reads as 1. */
  channels: number;
  ptime?: number;
  maxptime?: number;
  /** <parameter name value/> in document order: fmtp order can matter to peers. */
  parameters: { name: string; value: string }[];
  rtcpFeedback?: RtcpFeedback[];
}

/** XEP-0294 <rtp-hdrext id uri senders?/>. */
export interface HeaderExtension {
  id: number;
  uri: string;
  senders?: Senders;
}

export interface RtpDescription {
  media: string;
  ssrc?: string;
  payloadTypes: PayloadType[];
  rtcpMux: boolean;
  headerExtensions: HeaderExtension[];
}

// ---------------------------------------------------------------- description

function parsePayloadType(el: Element): PayloadType {
  // XEP-0167 §4: id is REQUIRED, everything else optional.
  const name = optAttr(el, "name");
  const clockrate = optUint(el, "clockrate", 1);
  const channels = optUint(el, "channels", 0, 255);
  const ptime = optUint(el, "ptime");
  const maxptime = optUint(el, "maxptime");
  const pt: PayloadType = {
    id: reqUint(el, "id", 0, 127),
    ...(name !== undefined && { name }),
    ...(clockrate !== undefined && { clockrate }),
    channels: channels !== undefined && channels > 0 ? channels : 1,
    ...(ptime !== undefined && { ptime }),
    ...(maxptime !== undefined && { maxptime }),
    parameters: [],
  };

  const params = el.getChildren("parameter");
  checkCount(params.length, LIMITS.parameters, "parameter", "payload-type");
  for (const p of params) {
    // <parameter/> inherits the rtp namespace; anything else is not ours.
    if (p.getNS() !== NS.rtp) continue;
    pt.parameters.push({ name: reqAttr(p, "name"), value: optAttr(p, "value") ?? "" });
  }

  const fbs = el.getChildren("rtcp-fb", NS.rtcpFb);
  checkCount(fbs.length, LIMITS.listItems, "rtcp-fb", "payload-type");
  if (fbs.length > 0) {
    pt.rtcpFeedback = fbs.map((fb) => {
      const out: RtcpFeedback = { type: reqAttr(fb, "type") };
      const subtype = optAttr(fb, "subtype");
      if (subtype !== undefined) out.subtype = subtype;
      return out;
    });
  }
  return pt;
}

function parseHeaderExtension(el: Element): HeaderExtension {
  const ext: HeaderExtension = { id: reqUint(el, "id", 1, 255), uri: reqAttr(el, "uri") };
  const senders = optEnum(el, "senders", SENDERS);
  if (senders !== undefined) ext.senders = senders;
  return ext;
}

/**
 * <description xmlns="urn:xmpp:jingle:apps:rtp:1"/> -> RtpDescription.
 * <source/>, <ssrc-group/>, <encryption/>, <bandwidth/> and unknown children
 * are ignored: they must not make a call fail.
 */
export function parseRtpDescription(el: Element): RtpDescription {
  if (!el.is("description", NS.rtp)) {
    throw new JingleParseError(`expected <description xmlns='${NS.rtp}'>, got <${el.getName()} xmlns='${el.getNS() ?? ""}'>`, el.getName());
  }
  const pts = el.getChildren("payload-type", NS.rtp);
  checkCount(pts.length, LIMITS.payloadTypes, "payload-type", "description");
  const exts = el.getChildren("rtp-hdrext", NS.rtpHdrext);
  checkCount(exts.length, LIMITS.listItems, "rtp-hdrext", "description");

  const ssrc = optAttr(el, "ssrc");
  return {
    media: reqAttr(el, "media"),
    ...(ssrc !== undefined && { ssrc }),
    payloadTypes: pts.map(parsePayloadType),
    rtcpMux: el.getChild("rtcp-mux", NS.rtp) !== undefined,
    headerExtensions: exts.map(parseHeaderExtension),
  };
}

function buildPayloadType(pt: PayloadType): Element {
  const el = createElement("payload-type", { id: String(pt.id) });
  if (pt.name !== undefined) el.attrs.name = pt.name;
  if (pt.clockrate !== undefined) el.attrs.clockrate = String(pt.clockrate);
  // channels defaults to 1; only write it when it says something.
  if (pt.channels !== 1) el.attrs.channels = String(pt.channels);
  if (pt.ptime !== undefined) el.attrs.ptime = String(pt.ptime);
  if (pt.maxptime !== undefined) el.attrs.maxptime = String(pt.maxptime);
  for (const p of pt.parameters) el.c("parameter", { name: p.name, value: p.value });
  for (const fb of pt.rtcpFeedback ?? []) {
    el.c("rtcp-fb", fb.subtype === undefined ? { xmlns: NS.rtcpFb, type: fb.type } : { xmlns: NS.rtcpFb, type: fb.type, subtype: fb.subtype });
  }
  return el;
}

export function buildRtpDescription(d: RtpDescription): Element {
  const el = createElement("description", { xmlns: NS.rtp, media: d.media });
  if (d.ssrc !== undefined) el.attrs.ssrc = d.ssrc;
  for (const pt of d.payloadTypes) el.cnode(buildPayloadType(pt));
  // XEP-0167 §4 schema order: payload-type*, …, rtp-hdrext*, rtcp-mux?
  for (const ext of d.headerExtensions) {
    const attrs: Record<string, string> = { xmlns: NS.rtpHdrext, id: String(ext.id), uri: ext.uri };
    if (ext.senders !== undefined) attrs.senders = ext.senders;
    el.c("rtp-hdrext", attrs);
  }
  if (d.rtcpMux) el.c("rtcp-mux");
  return el;
}

// --------------------------------------------------------------- session-info

export const SESSION_INFO_TYPES = ["active", "hold", "unhold", "mute", "unmute", "ringing"] as const;
export type RtpInfoType = (typeof SESSION_INFO_TYPES)[number];

/**
 * A session-info payload. An empty session-info is a ping (XEP-0166 §6.8).
 * A payload this layer does not know is `unsupported`, so the session layer
 * can answer feature-not-implemented + <unsupported-info/> rather than
 * bad-request.
 */
export type SessionInfo =
  | { type: "ping" }
  | { type: "ringing" }
  | { type: "active" }
  | { type: "hold" }
  | { type: "unhold" }
  | { type: "mute"; creator?: string; name?: string }
  | { type: "unmute"; creator?: string; name?: string }
  | { type: "unsupported"; element: string; xmlns: string };

/** Reads the session-info payload among the given children of <jingle/>. */
export function parseSessionInfo(payloads: Element[]): SessionInfo {
  if (payloads.length === 0) return { type: "ping" };
  for (const el of payloads) {
    if (el.getNS() !== NS.rtpInfo) continue;
    const name = el.getName();
    switch (name) {
      case "active":
      case "hold":
      case "unhold":
      case "ringing":
        return { type: name };
      case "mute":
      case "unmute": {
        const info: { type: "mute" | "unmute"; creator?: string; name?: string } = { type: name };
        const creator = optEnum(el, "creator", ["initiator", "responder"] as const);
        if (creator !== undefined) info.creator = creator;
        const n = optAttr(el, "name");
        if (n !== undefined) info.name = n;
        return info as SessionInfo;
      }
    }
  }
  const first = payloads[0] as Element;
  return { type: "unsupported", element: first.getName(), xmlns: first.getNS() ?? "" };
}

/** The payload element for a session-info, or undefined for a ping. */
export function buildSessionInfo(info: SessionInfo): Element | undefined {
  switch (info.type) {
    case "ping":
      return undefined;
    case "unsupported":
      throw new Error(`cannot build an unsupported session-info payload <${info.element}>`);
    case "mute":
    case "unmute": {
      const el = createElement(info.type, { xmlns: NS.rtpInfo });
      if (info.creator !== undefined) el.attrs.creator = info.creator;
      if (info.name !== undefined) el.attrs.name = info.name;
      return el;
    }
    default:
      return createElement(info.type, { xmlns: NS.rtpInfo });
  }
}
