// Values and shapes that a layer below produces and the control protocol
// reports as they are: declared once, here, because xmpp/, ice/ and control/
// may share nothing but util/ (DESIGN.md). control/messages.ts re-exports
// them as part of the protocol.

/** The XMPP account's connection state. */
export const AccountState = {
  Connecting: "connecting",
  Online: "online",
  Reconnecting: "reconnecting",
  Offline: "offline",
} as const;
export type AccountState = (typeof AccountState)[keyof typeof AccountState];

/** XMPP presence (RFC 6121 §4.7.2.1 `show`), "available" meaning none. */
export const PresenceShow = { Available: "available", Chat: "chat", Away: "away", Xa: "xa", Dnd: "dnd" } as const;
export type PresenceShow = (typeof PresenceShow)[keyof typeof PresenceShow];

/** RFC 6121 §2.1.2.5: "to" = we see their presence, "from" = they see ours. */
export const Subscription = { None: "none", To: "to", From: "from", Both: "both" } as const;
export type Subscription = (typeof Subscription)[keyof typeof Subscription];

/** A contact in the roster (RFC 6121 §2.1.2). */
export interface RosterItem {
  /** Bare JID, lower-cased. */
  jid: string;
  name?: string;
  subscription: Subscription;
  /** §2.1.2.2 ask="subscribe": we asked for their presence and wait for the answer. */
  pendingOut?: boolean;
  groups: string[];
}

/** RFC 8445 §5.1.1 candidate types. */
export const CandidateType = { Host: "host", Srflx: "srflx", Prflx: "prflx", Relay: "relay" } as const;
export type CandidateType = (typeof CandidateType)[keyof typeof CandidateType];

/** One end of the ICE pair that carries a call's media. */
export interface CandidateSummary {
  type: CandidateType;
  ip: string;
  port: number;
  /** udp when absent. */
  protocol?: "udp" | "tcp";
}

/** The ICE pair (ours, the peer's) that carries a call's media. */
export interface SelectedPair {
  local: CandidateSummary;
  remote: CandidateSummary;
}
