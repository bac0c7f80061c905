// The retained state topics (PREFIX/call_state, PREFIX/last_caller): what a
// door phone's dashboard shows, reduced from the call events. Pure.
import type { BusEvent } from "../control/event-bus.js";
import { bareJid } from "../util/jid.js";

export interface DoorState {
  /** Live calls, oldest first. */
  readonly calls: readonly { id: string; state: string }[];
  /** Bare JID of the last incoming call's peer; "" before the first. */
  readonly lastCaller: string;
}

// Call event types that are states of the call (the others — held, muted, ... — are happenings).
const STATES = new Set(["outgoing", "incoming", "ringing", "connecting", "active"]);

export function initialDoorState(calls: readonly { id: string; state: string; direction?: string; peer?: string }[]): DoorState {
  const live = calls.filter((c) => c.state !== "ended").map((c) => ({ id: c.id, state: c.state }));
  const lastIncoming = [...calls].reverse().find((c) => c.direction === "incoming");
  return { calls: live, lastCaller: lastIncoming?.peer ? bareJid(lastIncoming.peer) : "" };
}

export function nextDoorState(s: DoorState, e: BusEvent): DoorState {
  if (e.event !== "call" || typeof e.callId !== "string" || typeof e.type !== "string") return s;
  const { callId, type } = e;
  if (type === "ended") return { ...s, calls: s.calls.filter((c) => c.id !== callId) };
  if (!STATES.has(type)) return s;
  const lastCaller = type === "incoming" && typeof e.peer === "string" ? bareJid(e.peer) : s.lastCaller;
  const known = s.calls.some((c) => c.id === callId);
  const calls = known ? s.calls.map((c) => (c.id === callId ? { id: c.id, state: type } : c)) : [...s.calls, { id: callId, state: type }];
  return { calls, lastCaller };
}

/** The newest live call's state, or idle. */
export function callStateOf(s: DoorState): string {
  return s.calls.at(-1)?.state ?? "idle";
}
