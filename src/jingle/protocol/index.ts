// The Jingle protocol layer: <jingle/> element <-> typed Jingle object, with
// the RTP application (XEP-0167) and ICE-UDP transport (XEP-0176) plugged
// into the XEP-0166 envelope. Pure: no I/O, no session state.

import { createElement, type Element } from "ltx";
import { NS } from "./namespaces.js";
import { JingleParseError, LIMITS, checkAttributeLengths, checkCount, childElements, isElementLike, optAttr, reqAttr } from "./errors.js";
import {
  JINGLE_ACTIONS,
  JingleAction,
  buildContentEnvelope,
  buildReason,
  parseContentAttrs,
  parseReason,
  type Jingle,
  type JingleContent,
} from "./xep0166.js";
import { buildRtpDescription, buildSessionInfo, parseRtpDescription, parseSessionInfo } from "./xep0167.js";
import { buildIceUdpTransport, parseIceUdpTransport } from "./xep0176.js";

export * from "./namespaces.js";
export * from "./errors.js";
export * from "./xep0166.js";
export * from "./xep0167.js";
export * from "./xep0176.js";
export * from "./xep0353.js";

function parseContent(el: Element): JingleContent {
  const content = parseContentAttrs(el);
  // A content may name one application and one transport (§7.3). Take the
  // first of each that we understand; remember the namespace otherwise so the
  // session layer can answer unsupported-applications / -transports.
  for (const d of el.getChildren("description")) {
    const ns = d.getNS();
    if (ns === NS.rtp) {
      content.description ??= parseRtpDescription(d);
    } else if (content.description === undefined && ns !== undefined) {
      content.unsupportedDescriptionNs ??= ns;
    }
  }
  if (content.description !== undefined) delete content.unsupportedDescriptionNs;
  for (const t of el.getChildren("transport")) {
    const ns = t.getNS();
    if (ns === NS.iceUdp) {
      content.transport ??= parseIceUdpTransport(t);
    } else if (content.transport === undefined && ns !== undefined) {
      content.unsupportedTransportNs ??= ns;
    }
  }
  if (content.transport !== undefined) delete content.unsupportedTransportNs;
  return content;
}

/**
 * <jingle xmlns="urn:xmpp:jingle:1"/> -> Jingle. Throws JingleParseError
 * (answer it with bad-request) on anything malformed or over the LIMITS.
 * Unknown children (e.g. StanzaJS's XEP-0338 <group/>) are ignored.
 */
export function parseJingle(el: Element): Jingle {
  if (!isElementLike(el)) {
    throw new JingleParseError("expected a <jingle> element", "jingle");
  }
  if (!el.is("jingle", NS.jingle)) {
    throw new JingleParseError(`expected <jingle xmlns='${NS.jingle}'>, got <${el.getName()} xmlns='${el.getNS() ?? ""}'>`, el.getName());
  }
  checkAttributeLengths(el);

  const action = reqAttr(el, "action");
  if (!(JINGLE_ACTIONS as readonly string[]).includes(action)) {
    throw new JingleParseError(`<jingle> attribute 'action' has unknown value '${action}'`, "jingle", "action");
  }
  const contentEls = el.getChildren("content", NS.jingle);
  checkCount(contentEls.length, LIMITS.contents, "content", "jingle");

  const sid = reqAttr(el, "sid");
  const initiator = optAttr(el, "initiator");
  const responder = optAttr(el, "responder");
  const reason = el.getChild("reason", NS.jingle);
  const j: Jingle = {
    action: action as JingleAction,
    sid,
    ...(initiator !== undefined && { initiator }),
    ...(responder !== undefined && { responder }),
    contents: contentEls.map(parseContent),
    ...(reason !== undefined && { reason: parseReason(reason) }),
  };

  if (j.action === JingleAction.SessionInfo) {
    // Payloads are the children that are not part of the envelope.
    const payloads = childElements(el).filter((c) => !(c.getNS() === NS.jingle && (c.getName() === "content" || c.getName() === "reason")));
    j.info = parseSessionInfo(payloads);
  }
  return j;
}

/** Jingle -> <jingle xmlns="urn:xmpp:jingle:1"/> (without the enclosing <iq/>). */
export function buildJingle(j: Jingle): Element {
  const el = createElement("jingle", { xmlns: NS.jingle, action: j.action, sid: j.sid });
  if (j.initiator !== undefined) el.attrs.initiator = j.initiator;
  if (j.responder !== undefined) el.attrs.responder = j.responder;
  for (const c of j.contents) {
    const content = buildContentEnvelope(c);
    if (c.description !== undefined) content.cnode(buildRtpDescription(c.description));
    if (c.transport !== undefined) content.cnode(buildIceUdpTransport(c.transport));
    el.cnode(content);
  }
  if (j.reason !== undefined) el.cnode(buildReason(j.reason));
  if (j.info !== undefined) {
    const payload = buildSessionInfo(j.info);
    if (payload !== undefined) el.cnode(payload);
  }
  return el;
}
