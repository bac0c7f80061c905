// What a peer's transport-info means for ICE (XEP-0176 §8, RFC 8445 §9), as
// a pure rule. A transport-info whose ufrag/pwd differ from the ones in
// force is a restart; its shape says which half:
//
//   new credentials, no candidates     an offer: the peer restarts ICE
//   new credentials and candidates     an answer to our restart
//
// This is how Conversations reads them (JingleRtpConnection: "zero
// candidates + modified credentials are an ICE restart offer"), so our
// answer must carry candidates, or it is taken for a new offer and the two
// sides restart each other in turn.
//
// Two offers cross (glare) when each side restarted before it saw the
// other's: the peer's offer then arrives before the peer acknowledged ours
// (one stream, in order: it sent its offer before it took ours). They are
// settled as Conversations settles them: the session initiator's restart
// stands and it refuses the responder's with a Jingle <tie-break/> error;
// the responder drops its own and answers the initiator's. Once the peer
// has acknowledged our offer, new credentials from it are its answer, with
// candidates or without (an answer that trickles its candidates after).

export type TransportInfoMeaning =
  /** Candidates (and credentials) of the generation in force. */
  | "candidates"
  /** Late candidates of a generation we left: dropped. */
  | "stale"
  /** The peer restarts ICE: we answer with our new credentials and candidates. */
  | "offer"
  /** The peer's answer to our restart. */
  | "answer"
  /** The peer's offer crossed ours and we initiated the session: ours stands; refuse theirs (XEP-0166 §9 tie-break). */
  | "tie-break";

export interface IceRestartState {
  /** The session initiator's restart wins a glare. */
  role: "initiator" | "responder";
  /** ICE connected at least once (before that there is nothing to restart). */
  connected: boolean;
  /** The peer's ufrag in force. */
  remoteUfrag: string | undefined;
  /** The peer's ufrag before its last restart. */
  staleUfrag: string | undefined;
  /**
   * Our restart offer: none pending; sent and not yet acknowledged;
   * acknowledged (its answer has not come); or refused with tie-break (we
   * are the responder: the initiator's crossing offer is, or is about to be,
   * answered from our new generation).
   */
  offer: "none" | "sent" | "acked" | "refused";
}

export function readTransportInfo(s: IceRestartState, t: { ufrag?: string | undefined; pwd?: string | undefined; candidates: number }): TransportInfoMeaning {
  if (!t.ufrag || !t.pwd || !s.remoteUfrag || !s.connected) return "candidates";
  // While our offer is out, the peer's candidates of the old generation are of no use.
  if (t.ufrag === s.remoteUfrag) return s.offer === "none" ? "candidates" : "stale";
  if (t.ufrag === s.staleUfrag) return "stale";
  if (s.offer === "none") return "offer";
  if (s.offer === "refused") return "offer";
  if (s.offer === "acked" || t.candidates > 0) return "answer";
  return s.role === "initiator" ? "tie-break" : "offer";
}
