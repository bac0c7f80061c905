// Which incoming STUN Binding requests are connectivity checks of our peer
// (RFC 8445 §7.3, RFC 5389 §10.1.2 short-term credentials). werift-ice
// (0.2.3) answers every Binding request, unauthenticated ones included, and
// then learns a peer-reflexive candidate from its source and sends checks
// there: anyone who can reach the media port gets a signed response and
// triggered checks (a reflector, and a pair list that grows per source).
// It offers a filter, called before it answers; this is that filter.
//
// What the filter sees is the parsed message, not its bytes, so it cannot
// verify MESSAGE-INTEGRITY (werift re-serialises attributes in another
// order). It checks what an off-path sender cannot know: the USERNAME must be
// "<our ufrag>:<their ufrag>" (RFC 8445 §7.2.2), with our current ufrag
// (or, during an ICE restart, one we still answer to), and the request must
// carry MESSAGE-INTEGRITY. Responses to our own checks are verified by werift
// with the peer's password.

/** The USERNAME attribute werift parsed (a string when present). */
export interface StunRequestView {
  username: unknown;
  hasIntegrity: boolean;
}

/**
 * True when the request names one of `ourUfrags` as the local part of its
 * USERNAME and has MESSAGE-INTEGRITY; false for anything else.
 */
export function isOurCheck(req: StunRequestView, ourUfrags: readonly string[]): boolean {
  if (!req.hasIntegrity || typeof req.username !== "string") return false;
  const colon = req.username.indexOf(":");
  if (colon <= 0 || colon === req.username.length - 1) return false;
  return ourUfrags.includes(req.username.slice(0, colon));
}

/** The view of a werift-ice Message (attributesKeys, getAttributeValue). */
export function stunRequestView(msg: { attributesKeys: string[]; getAttributeValue(name: string): unknown }): StunRequestView {
  return { username: msg.getAttributeValue("USERNAME"), hasIntegrity: msg.attributesKeys.includes("MESSAGE-INTEGRITY") };
}
