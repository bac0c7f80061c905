// XEP-0030 Service Discovery identity/features and XEP-0115 Entity Capabilities
// https://xmpp.org/extensions/xep-0115.html (v1.6) — §5.1 verification string.
import { createHash } from "node:crypto";
import type { Element } from "ltx";

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

/** A XEP-0128 extended information form, as XEP-0115 §5.1 step 6 hashes it. */
export interface CapsForm {
  formType: string;
  fields: { var: string; values: string[] }[];
}

/** "i;octet" collation (RFC 4790 §9.3), as XEP-0115 §5.1 asks: UTF-8 bytes, not UTF-16 units. */
function octets(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * XEP-0115 §5.1: S = identities "category/type/lang/name<" sorted, then
 * features "<" sorted, then each extended form (sorted by FORM_TYPE): its
 * FORM_TYPE "<", then its fields sorted by var, each "var<" and its values
 * sorted "value<"; ver = base64(sha-1(S)).
 */
export function capsVerification(identities: Identity[], features: string[], forms: CapsForm[] = []): string {
  const ids = identities
    .map((i) => `${i.category}/${i.type}/${i.lang ?? ""}/${i.name}`)
    .sort(octets)
    .map((s) => `${s}<`)
    .join("");
  const feats = [...new Set(features)]
    .sort(octets)
    .map((f) => `${f}<`)
    .join("");
  const extended = [...forms]
    .sort((a, b) => octets(a.formType, b.formType))
    .map(
      (f) =>
        `${f.formType}<` +
        [...f.fields]
          .sort((a, b) => octets(a.var, b.var))
          .map((field) => `${field.var}<${[...field.values].sort(octets).map((v) => `${v}<`).join("")}`)
          .join(""),
    )
    .join("");
  return createHash("sha1").update(ids + feats + extended, "utf8").digest("base64");
}

const NS_DATA = "jabber:x:data";

/**
 * The verification string a disco#info <query/> result hashes to, or
 * undefined when XEP-0115 §5.4 step 3 calls it ill-formed (duplicate
 * identities, features or FORM_TYPEs; a FORM_TYPE with differing values).
 * A cache keyed by ver may keep a result only when this equals that ver
 * (§5.4 step 3.7): otherwise anyone could announce a popular client's ver
 * and answer with features of its choosing, for every device with that ver.
 */
export function capsVerificationOf(query: Element): string | undefined {
  const identities: Identity[] = query.getChildren("identity").map((i) => ({
    category: i.attrs.category ?? "",
    type: i.attrs.type ?? "",
    name: i.attrs.name ?? "",
    ...(i.attrs["xml:lang"] ? { lang: i.attrs["xml:lang"] as string } : {}),
  }));
  const features = query.getChildren("feature").map((f) => (f.attrs.var as string | undefined) ?? "");
  const idKeys = identities.map((i) => `${i.category}/${i.type}/${i.lang ?? ""}/${i.name}`);
  if (new Set(idKeys).size !== idKeys.length || new Set(features).size !== features.length) return undefined;
  const forms: CapsForm[] = [];
  for (const x of query.getChildren("x", NS_DATA)) {
    const fields = x.getChildren("field");
    const formTypeField = fields.find((f) => f.attrs.var === "FORM_TYPE");
    if (!formTypeField || formTypeField.attrs.type !== "hidden") continue; // §5.4 3.6: not hashed
    const types = new Set(formTypeField.getChildren("value").map((v) => v.getText()));
    if (types.size !== 1) return undefined;
    const formType = [...types][0]!;
    if (forms.some((f) => f.formType === formType)) return undefined;
    forms.push({
      formType,
      fields: fields
        .filter((f) => f !== formTypeField)
        .map((f) => ({ var: (f.attrs.var as string | undefined) ?? "", values: f.getChildren("value").map((v) => v.getText()) })),
    });
  }
  return capsVerification(identities, features, forms);
}
