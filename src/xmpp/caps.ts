// XEP-0030 Service Discovery identity/features and XEP-0115 Entity Capabilities
// https://xmpp.org/extensions/xep-0115.html (v1.6) — §5.1 verification string.
import { createHash } from "node:crypto";

export const NS_DISCO_INFO = "http://jabber.org/protocol/disco#info";
export const NS_CAPS = "http://jabber.org/protocol/caps";
export const CAPS_NODE = "urn:jingled:caps";

export interface Identity {
  category: string;
  type: string;
  name: string;
  lang?: string;
}

export const IDENTITY: Identity = { category: "client", type: "bot", name: "jingled" };

/**
 * Features of the Jingle audio stack that is actually implemented. DTLS
 * (urn:xmpp:jingle:apps:dtls:0) and JMI (urn:xmpp:jingle-message:0) join the
 * list only when they are enabled: advertising them without support makes
 * Conversations-style peers start calls that must fail.
 */
export function jingleFeatures(opts: { dtls?: boolean; jingleMessage?: boolean } = {}): string[] {
  const features = [
    NS_DISCO_INFO,
    NS_CAPS,
    "urn:xmpp:ping",
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:rtp:1",
    "urn:xmpp:jingle:apps:rtp:audio",
    "urn:xmpp:jingle:transports:ice-udp:1",
    "urn:xmpp:jingle:apps:rtp:info:1",
  ];
  if (opts.dtls) features.push("urn:xmpp:jingle:apps:dtls:0");
  if (opts.jingleMessage) features.push("urn:xmpp:jingle-message:0");
  return features;
}

/** XEP-0115 §5.1: S = identities "category/type/lang/name<" sorted, then features "<" sorted; ver = base64(sha-1(S)). */
export function capsVerification(identities: Identity[], features: string[]): string {
  const ids = identities
    .map((i) => `${i.category}/${i.type}/${i.lang ?? ""}/${i.name}`)
    .sort()
    .map((s) => `${s}<`)
    .join("");
  const feats = [...new Set(features)]
    .sort()
    .map((f) => `${f}<`)
    .join("");
  return createHash("sha1").update(ids + feats, "utf8").digest("base64");
}
