// Transition table for the Jingle session state machine (XEP-0166 §6, §7.2).
// Case names read "state --action(direction, our role)--> result".

import { test } from "node:test";
import assert from "node:assert/strict";
import { JINGLE_ACTIONS, type JingleAction } from "../../src/jingle/protocol/index.js";
import {
  NO_SESSION,
  nextState,
  type Direction,
  type SessionRole,
  type SessionState,
  type Transition,
} from "../../src/jingle/session-state.js";

type Row = [state: SessionState | undefined, action: JingleAction, direction: Direction, role: SessionRole, expected: SessionState | "out-of-order" | "unexpected" | "unknown-session"];

const rows: Row[] = [
  // §6.2 initiation creates the session.
  [NO_SESSION, "session-initiate", "incoming", "responder", "pending"],
  [NO_SESSION, "session-initiate", "outgoing", "initiator", "pending"],
  [NO_SESSION, "session-initiate", "incoming", "initiator", "unexpected"],
  [NO_SESSION, "session-initiate", "outgoing", "responder", "unexpected"],
  // Nothing else can create one (§6.7 / §9 unknown-session).
  [NO_SESSION, "transport-info", "incoming", "responder", "unknown-session"],
  [NO_SESSION, "session-accept", "incoming", "initiator", "unknown-session"],
  [NO_SESSION, "session-terminate", "incoming", "responder", "unknown-session"],
  [NO_SESSION, "session-info", "outgoing", "initiator", "unknown-session"],
  // A second session-initiate for an existing sid.
  ["pending", "session-initiate", "incoming", "responder", "out-of-order"],
  ["active", "session-initiate", "incoming", "responder", "out-of-order"],
  // §6.4 only the responder accepts, only while pending.
  ["pending", "session-accept", "incoming", "initiator", "active"],
  ["pending", "session-accept", "outgoing", "responder", "active"],
  ["pending", "session-accept", "incoming", "responder", "unexpected"],
  ["pending", "session-accept", "outgoing", "initiator", "unexpected"],
  ["active", "session-accept", "incoming", "initiator", "out-of-order"],
  ["active", "session-accept", "outgoing", "responder", "out-of-order"],
  // §6.7 either side terminates from any live state.
  ["pending", "session-terminate", "incoming", "initiator", "ended"],
  ["pending", "session-terminate", "outgoing", "initiator", "ended"],
  ["pending", "session-terminate", "incoming", "responder", "ended"],
  ["pending", "session-terminate", "outgoing", "responder", "ended"],
  ["active", "session-terminate", "incoming", "initiator", "ended"],
  ["active", "session-terminate", "outgoing", "responder", "ended"],
  // §6.3/§6.8 trickle and info before and after accept.
  ["pending", "transport-info", "incoming", "initiator", "pending"],
  ["pending", "transport-info", "outgoing", "responder", "pending"],
  ["active", "transport-info", "incoming", "responder", "active"],
  ["pending", "session-info", "incoming", "initiator", "pending"],
  ["pending", "session-info", "outgoing", "responder", "pending"],
  ["active", "session-info", "incoming", "responder", "active"],
  ["active", "session-info", "outgoing", "initiator", "active"],
  // Negotiation actions keep the state.
  ["active", "content-modify", "incoming", "initiator", "active"],
  ["pending", "transport-replace", "incoming", "responder", "pending"],
  ["active", "description-info", "outgoing", "initiator", "active"],
  // Nothing after the end.
  ["ended", "session-info", "incoming", "initiator", "out-of-order"],
  ["ended", "transport-info", "incoming", "responder", "out-of-order"],
  ["ended", "session-terminate", "incoming", "initiator", "out-of-order"],
  ["ended", "session-terminate", "outgoing", "responder", "out-of-order"],
  ["ended", "session-accept", "incoming", "initiator", "out-of-order"],
  ["ended", "session-initiate", "incoming", "responder", "out-of-order"],
];

function expectedTransition(expected: Row[4]): Transition {
  return expected === "pending" || expected === "active" || expected === "ended"
    ? { ok: true, state: expected }
    : { ok: false, error: expected };
}

for (const [state, action, direction, role, expected] of rows) {
  const name = `${state ?? "none"} --${action}(${direction === "incoming" ? "in" : "out"}, ${role})--> ${expected}`;
  test(name, () => {
    assert.deepStrictEqual(nextState(state, { action, direction, role }), expectedTransition(expected));
  });
}

test("every action in ended is out-of-order", () => {
  for (const action of JINGLE_ACTIONS) {
    for (const direction of ["incoming", "outgoing"] as const) {
      for (const role of ["initiator", "responder"] as const) {
        assert.deepStrictEqual(nextState("ended", { action, direction, role }), { ok: false, error: "out-of-order" }, `${action} ${direction} ${role}`);
      }
    }
  }
});

test("only session-initiate, session-accept and session-terminate change the state", () => {
  const changing = new Set<JingleAction>(["session-initiate", "session-accept", "session-terminate"]);
  for (const action of JINGLE_ACTIONS.filter((a) => !changing.has(a))) {
    for (const state of ["pending", "active"] as const) {
      assert.deepStrictEqual(nextState(state, { action, direction: "incoming", role: "responder" }), { ok: true, state }, `${state} ${action}`);
    }
  }
});
