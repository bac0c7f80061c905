// Our XEP-0353 proposal came back: the server could deliver the propose
// message to no device (https://xmpp.org/extensions/xep-0353.html, v0.6;
// RFC 6120 §8.3 stanza errors, RFC 6121 §8.5). Pure: a message stanza in, the
// call it ends and the sentence a person reads out.
//
// A server's error reply carries the id of the message it answers (RFC 6120
// §8.3.1) but need not carry its payload: Prosody 0.12 bounces a message to
// an account that does not exist with <service-unavailable/> and nothing
// else, and one to an unknown domain with <remote-server-not-found/> (or,
// without server-to-server, <not-allowed/>). So a proposal's message id names
// its session (protocol/xep0353.ts builds it: Conversations uses the same
// "jm-propose-" ids), and a bounce is recognised by that id, from the JID proposed to or
// its domain only.
import type { Element } from "ltx";
import { bareJid, domainOf, sameAddress, sameBareJid } from "../util/jid.js";
import type { JmiContext } from "./message-initiation.js";
import { PROPOSE_MESSAGE_ID_PREFIX } from "./protocol/index.js";

const NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas";

/** The message id of the proposal for session `sid`. */
export function proposeStanzaId(sid: string): string {
  return `${PROPOSE_MESSAGE_ID_PREFIX}${sid}`;
}

export interface ProposalBounce {
  /** The call whose proposal bounced. */
  sid: string;
  /** The RFC 6120 §8.3.3 condition, e.g. service-unavailable. */
  condition: string;
  /** Why, for people: "nobody@example.org: no such account, or ...". */
  text: string;
}

/** A message error answering our proposal, while it is still out; anything else is undefined. */
export function proposalBounce(stanza: Element, ctx: Pick<JmiContext, "call">): ProposalBounce | undefined {
  const id = stanza.attrs.id;
  if (stanza.name !== "message" || stanza.attrs.type !== "error" || typeof id !== "string" || !id.startsWith(PROPOSE_MESSAGE_ID_PREFIX)) return undefined;
  const sid = id.slice(PROPOSE_MESSAGE_ID_PREFIX.length);
  const call = ctx.call(sid);
  if (!call || call.role !== "initiator" || call.phase !== "proposed") return undefined;
  // The callee's server answers for the callee (from its bare or a full JID) or for its domain; nobody else may end our call.
  const from = stanza.attrs.from ?? "";
  const callee = bareJid(call.peer);
  if (!sameBareJid(from, callee) && !sameAddress(from, domainOf(callee))) return undefined;
  const error = stanza.getChild("error");
  const condition = error?.children.find((c): c is Element => typeof c !== "string" && c.attrs.xmlns === NS_STANZAS && c.name !== "text")?.name ?? "undefined-condition";
  const said = error?.getChildText("text", NS_STANZAS)?.trim().slice(0, 200);
  return { sid, condition, text: unreachable(callee, condition, said) };
}

/** A sentence for a bounced proposal. */
function unreachable(callee: string, condition: string, said: string | undefined): string {
  const domain = domainOf(callee);
  let why: string;
  switch (condition) {
    case "service-unavailable":
    case "item-not-found":
    case "recipient-unavailable":
      why = `${callee} cannot take calls: there is no such account, or no device of it can be reached`;
      break;
    case "remote-server-not-found":
      why = `${callee} cannot be reached: no server for ${domain} was found`;
      break;
    case "remote-server-timeout":
      why = `${callee} cannot be reached: the server for ${domain} did not answer`;
      break;
    case "jid-malformed":
      why = `${callee} is not a valid address`;
      break;
    default:
      why = `${callee} cannot be reached`;
  }
  return `${why} (${condition}${said ? `: ${said}` : ""})`;
}
