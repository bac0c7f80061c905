// src/app/call/ice-restart.ts: what a peer's transport-info means for ICE,
// by a table with readable case names (state -> transport-info -> meaning).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readTransportInfo, type IceRestartState, type TransportInfoMeaning } from "../../src/app/call/ice-restart.js";

const base: IceRestartState = { role: "initiator", connected: true, remoteUfrag: "peer1", staleUfrag: undefined, offer: "none" };
const creds = (ufrag: string, candidates = 0) => ({ ufrag, pwd: `${ufrag}-password-password`, candidates });

const table: Array<[name: string, state: Partial<IceRestartState>, t: { ufrag?: string; pwd?: string; candidates: number }, want: TransportInfoMeaning]> = [
  ["trickle without credentials", {}, { candidates: 1 }, "candidates"],
  ["trickle with the credentials in force", {}, creds("peer1", 1), "candidates"],
  ["new credentials before ICE ever connected: the peer's first ones, not a restart", { connected: false }, creds("peer2"), "candidates"],
  ["new credentials before any were known", { remoteUfrag: undefined }, creds("peer2"), "candidates"],
  ["stable -> new credentials, no candidate: the peer's restart offer (Conversations' shape)", {}, creds("peer2"), "offer"],
  ["stable -> new credentials with candidates: a restart offer too (peers that send both)", {}, creds("peer2", 2), "offer"],
  ["stable -> the credentials of the generation the peer left", { staleUfrag: "peer0" }, creds("peer0", 1), "stale"],
  ["our offer sent -> new credentials with candidates: the answer (Conversations' shape)", { offer: "sent" }, creds("peer2", 1), "answer"],
  ["our offer acknowledged -> new credentials, no candidate: the answer (its candidates trickle after)", { offer: "acked" }, creds("peer2"), "answer"],
  ["our offer sent, we initiated -> the peer's offer crossed ours: tie-break", { offer: "sent", role: "initiator" }, creds("peer2"), "tie-break"],
  ["our offer sent, we are the responder -> the initiator's offer crossed ours: answer it", { offer: "sent", role: "responder" }, creds("peer2"), "offer"],
  ["our offer refused with tie-break (we are the responder) -> the initiator's offer, processed after the error: answer it", { offer: "refused", role: "responder" }, creds("peer2"), "offer"],
  ["our offer out -> late candidates of the old generation", { offer: "sent" }, creds("peer1", 1), "stale"],
  ["our offer acknowledged -> late candidates of the old generation", { offer: "acked" }, creds("peer1", 1), "stale"],
];

for (const [name, state, t, want] of table) {
  test(`ICE restart rule: ${name}`, () => {
    assert.equal(readTransportInfo({ ...base, ...state }, t), want);
  });
}
