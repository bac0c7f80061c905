// XEP-0353: Jingle Message Initiation — https://xmpp.org/extensions/xep-0353.html (v0.6+)
// A call to a bare JID is proposed in a <message/>, so every device of the
// callee rings (and offline/MAM/push delivery works); the device that answers
// sends <proceed/>, and the Jingle session then starts with sid = propose id.
import { createElement, type Element } from "ltx";
import { NS } from "./namespaces.js";
import { JingleParseError, checkAttributeLengths, childElements } from "./errors.js";
import { buildReason, parseReason, type JingleReason } from "./xep0166.js";

export const JmiAction = {
  Propose: "propose",
  Ringing: "ringing",
  Proceed: "proceed",
  Reject: "reject",
  Retract: "retract",
  Finish: "finish",
  /**
   * Not in v0.6: the old namespace's "answered on this device", which
   * Conversations still sends to its own bare JID beside its proceed; read
   * so that our device stops ringing without carbons too.
   */
  Accept: "accept",
} as const;
export type JmiAction = (typeof JmiAction)[keyof typeof JmiAction];
const ACTIONS = new Set<string>(Object.values(JmiAction));

export interface JmiElement {
  action: JmiAction;
  /** The Jingle sid to be. */
  id: string;
  /** propose: the media of each <description/> (e.g. ["audio"]). */
  media?: string[];
  reason?: JingleReason;
  /** reject/retract because both sides proposed at once (§4.1). */
  tieBreak?: boolean;
  /** finish of a session that continues as another one (§4.2 <migrated to=.../>). */
  migratedTo?: string;
}

/**
 * The message id of our proposal of session `sid`: a XEP-0184 receipt
 * names it, and a receipt for our proposal is read as "the device got it"
 * (Conversations uses the same prefix and shows "ringing" on that receipt).
 */
export const PROPOSE_MESSAGE_ID_PREFIX = "jm-propose-";

const MAX_DESCRIPTIONS = 8;

/** Finds the JMI child of a message, if any. */
export function findJmi(message: Element): Element | undefined {
  return childElements(message).find((c) => c.getNS() === NS.jingleMessage && ACTIONS.has(c.getName()));
}

export function parseJmi(el: Element): JmiElement {
  checkAttributeLengths(el);
  const action = el.getName();
  if (!ACTIONS.has(action)) throw new JingleParseError(`unknown jingle-message element <${action}/>`, action);
  const id = el.attrs.id;
  if (!id) throw new JingleParseError(`<${action}/> without id`, action, "id");
  const out: JmiElement = { action: action as JmiAction, id };
  if (action === JmiAction.Propose) {
    const descriptions = el.getChildren("description").filter((d) => d.getNS() === NS.rtp);
    if (descriptions.length > MAX_DESCRIPTIONS) throw new JingleParseError("too many descriptions in <propose/>", "propose");
    out.media = descriptions.map((d) => d.attrs.media ?? "");
  }
  const reason = el.getChild("reason", NS.jingle);
  if (reason) out.reason = parseReason(reason);
  if (el.getChild("tie-break", NS.jingleMessage)) out.tieBreak = true;
  const migrated = el.getChild("migrated", NS.jingleMessage)?.attrs.to;
  if (typeof migrated === "string" && migrated) out.migratedTo = migrated;
  return out;
}

export function buildJmi(j: JmiElement): Element {
  const el = createElement(j.action, { xmlns: NS.jingleMessage, id: j.id });
  for (const media of j.media ?? []) el.c("description", { xmlns: NS.rtp, media });
  if (j.reason) {
    const r = buildReason(j.reason);
    r.attrs.xmlns = NS.jingle;
    el.cnode(r);
  }
  if (j.tieBreak) el.c("tie-break");
  if (j.migratedTo) el.c("migrated", { to: j.migratedTo });
  return el;
}

/**
 * The <message/> carrying a JMI element. Proposals (message id
 * PROPOSE_MESSAGE_ID_PREFIX + sid) ask for a receipt (XEP-0184) and to be stored (XEP-0334) so a device that is offline or
 * asleep (push) still learns of the call.
 */
export function buildJmiMessage(to: string, j: JmiElement, messageId: string): Element {
  const id = j.action === JmiAction.Propose ? PROPOSE_MESSAGE_ID_PREFIX + j.id : messageId;
  const msg = createElement("message", { to, type: "chat", id });
  msg.cnode(buildJmi(j));
  if (j.action === JmiAction.Propose) msg.c("request", { xmlns: "urn:xmpp:receipts" });
  msg.c("store", { xmlns: "urn:xmpp:hints" });
  return msg;
}
