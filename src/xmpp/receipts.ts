// XEP-0184 Message Delivery Receipts (https://xmpp.org/extensions/xep-0184.html,
// v1.4): a message that carries <request/> and an id is acknowledged by the
// recipient with a message carrying <received id=.../>.
//
// Calls use it: a XEP-0353 proposal asks for a receipt, and Conversations up
// to 2.12 shows "ringing" only when the callee's receipt arrives (it never
// reads <ringing/>); from 2.13 on it reads either.
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";

export const NS_RECEIPTS = "urn:xmpp:receipts";

/** The id a receipt for this message must name, when the sender asked for one (§5: a request needs an id). */
export function receiptRequested(message: Element): string | undefined {
  const id = message.attrs.id;
  return typeof id === "string" && id !== "" && message.getChild("request", NS_RECEIPTS) ? id : undefined;
}

/**
 * The receipt for message `id` to `to` (§5: to the sender's full JID), of
 * the original's type, with a store hint (XEP-0334) as Conversations sends it.
 */
export function buildReceipt(to: string, id: string, type: string, messageId: string): Element {
  return xml("message", { to, type, id: messageId }, xml("received", { xmlns: NS_RECEIPTS, id }), xml("store", { xmlns: "urn:xmpp:hints" }));
}
