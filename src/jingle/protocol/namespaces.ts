// XML namespaces used by the Jingle protocol layer (XEP-0166, 0167, 0176,
// 0293, 0294, 0320, 0353) and the RFC 6120 stanza error namespace.
// One table so that no other file spells a namespace URN by hand.

export const NS = {
  /** XEP-0166 Jingle envelope. */
  jingle: "urn:xmpp:jingle:1",
  /** XEP-0166 Jingle-specific IQ error conditions. */
  jingleErrors: "urn:xmpp:jingle:errors:1",
  /** XEP-0167 RTP application (description). */
  rtp: "urn:xmpp:jingle:apps:rtp:1",
  /** XEP-0167 session-info payloads (ringing, hold, mute, …). */
  rtpInfo: "urn:xmpp:jingle:apps:rtp:info:1",
  /** XEP-0167 media feature advertised in disco for audio calls. */
  rtpAudio: "urn:xmpp:jingle:apps:rtp:audio",
  /** XEP-0293 RTCP feedback (<rtcp-fb/>), kept raw on payload types. */
  rtcpFb: "urn:xmpp:jingle:apps:rtp:rtcp-fb:0",
  /** XEP-0294 RTP header extensions (<rtp-hdrext/>). */
  rtpHdrext: "urn:xmpp:jingle:apps:rtp:rtp-hdrext:0",
  /** XEP-0176 ICE-UDP transport. */
  iceUdp: "urn:xmpp:jingle:transports:ice-udp:1",
  /** XEP-0320 DTLS-SRTP fingerprint inside the ICE-UDP transport. */
  dtls: "urn:xmpp:jingle:apps:dtls:0",
  /** XEP-0353 Jingle Message Initiation. */
  jingleMessage: "urn:xmpp:jingle-message:0",
  /** RFC 6120 §8.3 stanza error conditions. */
  stanzas: "urn:ietf:params:xml:ns:xmpp-stanzas",
} as const;

export type Namespace = (typeof NS)[keyof typeof NS];

// Flat aliases, for imports that read better as a single name.
export const NS_JINGLE = NS.jingle;
export const NS_JINGLE_ERRORS = NS.jingleErrors;
export const NS_JINGLE_RTP = NS.rtp;
export const NS_JINGLE_RTP_INFO = NS.rtpInfo;
export const NS_JINGLE_RTP_AUDIO = NS.rtpAudio;
export const NS_JINGLE_RTCP_FB = NS.rtcpFb;
export const NS_JINGLE_RTP_HDREXT = NS.rtpHdrext;
export const NS_JINGLE_ICE_UDP = NS.iceUdp;
export const NS_JINGLE_DTLS = NS.dtls;
export const NS_JINGLE_MESSAGE = NS.jingleMessage;
export const NS_STANZAS = NS.stanzas;
