// JIDs (RFC 7622): how the daemon reads and compares them, in one place.
// A JID splits at its first "/" (the resource after it), then at the first
// "@" (the localpart before it), as @xmpp/jid's parse does; parseJid is that
// parser. What we show and send keeps the text as written; comparisons fold
// case where the rule below says so. Every function is total: JIDs come from
// the network and from users.
import { parse } from "@xmpp/jid";

export interface JidParts {
  /** Lower-cased (XEP-0106 escaping applied by @xmpp/jid); "" for a server JID. */
  local: string;
  /** Lower-cased. */
  domain: string;
  /** As written; "" when there is none. */
  resource: string;
}

/** The parts of a JID, or undefined when it has no domain ("", "a@", "/r"). */
export function parseJid(jid: string): JidParts | undefined {
  try {
    const j = parse(jid);
    return { local: j.local ?? "", domain: j.domain, resource: j.resource ?? "" };
  } catch {
    return undefined;
  }
}

/** A user's JID as written: local@domain, optionally /resource; no whitespace before the resource. */
export const USER_JID_PATTERN = /^[^@/\s]+@[^@/\s]+(\/.+)?$/;

/** local@domain or local@domain/resource (the config's account.jid, the call command's jid). */
export function isUserJid(jid: string): boolean {
  return USER_JID_PATTERN.test(jid);
}

/** Whether the JID names a resource (a device), i.e. has a "/" part. */
export function isFullJid(jid: string): boolean {
  return jid.includes("/");
}

/** "user@domain/resource" -> "user@domain", as written (what we show and send to). */
export function bareJid(jid: string): string {
  const slash = jid.indexOf("/");
  return slash < 0 ? jid : jid.slice(0, slash);
}

/** The lower-cased bare JID: the key under which a contact is filed and compared. */
export function bareKey(jid: string): string {
  return bareJid(jid).toLowerCase();
}

/** Same bare JID, case-insensitively (servers case-fold localpart and domain). */
export function sameBareJid(a: string, b: string): boolean {
  return bareKey(a) === bareKey(b);
}

/**
 * Same JID, wholly case-insensitively: the rule the Jingle session manager
 * (the session's peer) and the XEP-0353 checks apply.
 */
export function sameJid(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

/** JIDs equal as addresses: localpart and domain case-insensitively, the resource exactly (RFC 7622 §3). */
export function sameAddress(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  const split = (j: string): [string, string] => {
    const slash = j.indexOf("/");
    return slash < 0 ? [j.toLowerCase(), ""] : [j.slice(0, slash).toLowerCase(), j.slice(slash)];
  };
  const [ab, ar] = split(a);
  const [bb, br] = split(b);
  return ab === bb && ar === br;
}

/** The domain of a JID (lower-cased), or "" when it has none. */
export function domainOf(jid: string): string {
  return parseJid(jid)?.domain ?? "";
}
