// A ring group: one call, from the user's side, to several JIDs (bare or
// full). Each target is rung by a call of its own (a leg: a XEP-0353
// proposal to a bare JID, a session-initiate to a full JID), and the first
// to answer wins:
//
//   simultaneous  every target rings at once for ringMs; when one answers,
//                 every other leg is cancelled at once (a proposal is
//                 retracted, a session terminated with <cancel/>; XEP-0353
//                 §3.2, XEP-0166 §6.7)
//   sequential    one target after the other, each for ringMs; one that
//                 declines or cannot be reached passes on to the next at once
//
// The group has the call id the call command gave. Its legs are calls of
// the daemon like any other (their signalling, ICE and media are theirs),
// but only the winner's events reach the user, under the group's id; what
// happens to the others is told as `group` events (ringing, dropped,
// answered). Once a target answered, the commands (hangup, hold, dtmf, ...)
// apply to its leg. Nobody answering ends the group with timeout (decline
// or busy when every target said so), and the `ended` event's text names
// each target's reason.
import type { EventBus } from "../control/event-bus.js";
import type { CallInfo, CallState, EventFields, EventMap, EventName, RingGroupInfo, RingStrategy } from "../control/protocol.js";
import type { ReasonCondition } from "../jingle/protocol/index.js";
import { CallError, errorMessage } from "../util/errors.js";
import { TypedEmitter } from "../util/events.js";
import type { Logger } from "../util/logger.js";
import type { Call } from "./call/call.js";

/** What the control commands do with a call (commands.ts); a ring group does the same. */
export type CallControl = Pick<
  Call,
  "id" | "state" | "info" | "stats" | "freshStats" | "answer" | "reject" | "hangup" | "setHeld" | "setMuted" | "sendDtmf" | "play" | "setInput" | "setOutput" | "startRecording" | "stopRecording"
>;

/** What the group needs of a leg: a Call (unit tests give a fake). */
export type RingLeg = Pick<Call, "id" | "peer" | "state" | "on" | "bridgeAudio"> & CallControl;

/** Where a leg's events go: the bus's publish, filtered by the group. */
export type Publish = EventBus["publish"];

export interface LegHooks {
  /** The leg's events are published through this (the group passes on only the winner's). */
  publish: Publish;
  /** Called as soon as the leg exists, before anything it says is published. */
  created(leg: RingLeg): void;
}

export interface RingGroupDeps {
  id: string;
  targets: readonly string[];
  strategy: RingStrategy;
  /** Simultaneous: how long the group rings; sequential: how long each target rings. */
  ringMs: number;
  /** Places one leg; rejects when the target cannot be called at all (the error says why). */
  dial(target: string, hooks: LegHooks): Promise<RingLeg>;
  events: Pick<EventBus, "publish">;
  logger: Logger;
  /** A forwarded incoming call: its id (shown in the group's info). */
  bridgedWith?: string;
  startedAt?: Date;
}

export type RingGroupEvents = {
  /** A target answered: its leg is the call from now on. */
  answered: [leg: RingLeg];
  /** The group ended: nobody answered (or it was cancelled), or the answered leg ended. */
  ended: [info: { reason: string; answered: boolean }];
};

/** Why a leg stopped ringing. */
interface Dropped {
  target: string;
  reason: string;
}

/**
 * Why a group nobody answered ended, from why each target stopped ringing:
 * busy when every target was busy, decline when each declined or was busy,
 * general-error when none could be called at all, else timeout.
 */
export function unansweredReason(reasons: readonly string[]): "busy" | "decline" | "general-error" | "timeout" {
  const every = (...r: string[]) => reasons.length > 0 && reasons.every((x) => r.includes(x));
  if (every("busy")) return "busy";
  if (every("decline", "busy")) return "decline";
  if (every("peer-unavailable")) return "general-error";
  return "timeout";
}

/** The events of a leg that are passed on once it won, and those of the call's start that are not (the group said them already). */
const BEFORE_ANSWER = new Set(["outgoing", "ringing"]);

export class RingGroup extends TypedEmitter<RingGroupEvents> implements CallControl {
  readonly #d: RingGroupDeps;
  readonly #log: Logger;
  readonly #startedAt: Date;
  /** Leg by target, while it rings. */
  readonly #ringing = new Map<string, RingLeg>();
  readonly #dropped: Dropped[] = [];
  #next = 0;
  #winner: RingLeg | undefined;
  #answeredBy: string | undefined;
  #rang = false;
  #cancelled = false;
  #ended: { reason: string; endedAt: Date; text?: string } | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Targets being dialled (their dial has not settled). */
  readonly #dialling = new Map<string, { reason: string; text?: string } | undefined>();
  /** Targets whose dial failed: never rang. */
  #unreached = 0;

  constructor(deps: RingGroupDeps) {
    super();
    this.#d = deps;
    this.#startedAt = deps.startedAt ?? new Date();
    this.#log = deps.logger.child({ call: deps.id, ringGroup: deps.strategy });
  }

  get id(): string {
    return this.#d.id;
  }

  get state(): CallState {
    if (this.#ended) return "ended";
    if (this.#winner) return this.#winner.state;
    return this.#rang ? "ringing" : "outgoing";
  }

  /** The leg that answered. */
  get winner(): RingLeg | undefined {
    return this.#winner;
  }

  /**
   * Starts ringing. Resolves once a target rings; rejects with
   * peer-unavailable when no target could be called at all (the group has
   * then ended without any event beyond its own outgoing).
   */
  async start(): Promise<void> {
    const { targets, strategy } = this.#d;
    this.#log.info({ targets, strategy, ringMs: this.#d.ringMs }, "ring group");
    this.#publishCall({ type: "outgoing", peer: targets.join(", ") });
    if (strategy === "simultaneous") {
      this.#armTimer();
      await Promise.all(targets.map(() => this.#dialNext()));
    } else {
      while (this.#ringing.size === 0 && this.#next < targets.length && !this.#ended && !this.#winner) await this.#dialNext();
    }
    this.#maybeFinish();
    if (this.#ended && this.#unreached === this.#d.targets.length) {
      throw new CallError("peer-unavailable", `nobody in the ring group could be called: ${this.#droppedText()}`);
    }
  }

  async #dialNext(): Promise<void> {
    // Nobody left to ring: the group may be over.
    if (this.#next >= this.#d.targets.length || this.#ended || this.#winner || this.#cancelled) return this.#maybeFinish();
    const target = this.#d.targets[this.#next++]!;
    let leg: RingLeg | undefined;
    this.#dialling.set(target, undefined);
    try {
      await this.#d.dial(target, {
        publish: (event, fields) => this.#fromLeg(leg, event, fields),
        created: (l) => {
          leg = l;
          this.#ringing.set(target, l);
          this.#publish("group", { callId: this.id, type: "ringing", peer: target });
          if (this.#d.strategy === "sequential") this.#armTimer();
          l.on("state", (state) => this.#onLegState(l, state));
          l.on("ended", (info) => this.#onLegEnded(target, l, info.reason ?? "success", info.text));
        },
      });
      // It may have ended while it was being placed (a fast decline).
      const ended = this.#dialling.get(target);
      if (ended) this.#drop(target, ended.reason, ended.text);
    } catch (err) {
      // Not even ringing: no such account, an offline full JID, a server that bounced the proposal.
      this.#unreached++;
      this.#ringing.delete(target);
      if (!this.#cancelled || !this.#dropped.some((d) => d.target === target)) this.#drop(target, "peer-unavailable", errorMessage(err));
    } finally {
      this.#dialling.delete(target);
    }
    if (this.#d.strategy === "sequential" && this.#ringing.size === 0) await this.#dialNext();
    this.#maybeFinish();
  }

  /** A leg's event: the winner's go out as the group's; the others' only tell the group something. */
  #fromLeg<E extends EventName>(leg: RingLeg | undefined, event: E, fields: EventFields<EventMap[E]>): void {
    if (!leg) return;
    const f = fields as { callId?: string; type?: string };
    // A leg's answer may be published before its state listener runs: the win is decided here too.
    if (event === "call" && (f.type === "connecting" || f.type === "active")) this.#win(leg);
    if (this.#winner?.id !== leg.id) return;
    if (event === "call" && BEFORE_ANSWER.has(f.type ?? "")) return;
    this.#d.events.publish(event, { ...fields, callId: this.id } as EventFields<EventMap[E]>);
  }

  #onLegState(leg: RingLeg, state: CallState): void {
    if (state === "ringing" && !this.#rang && !this.#winner) {
      this.#rang = true;
      this.#publishCall({ type: "ringing", peer: leg.peer });
    }
    if (state === "connecting" || state === "active") this.#win(leg);
  }

  /** The first leg answered: every other is cancelled at once. */
  #win(leg: RingLeg): void {
    if (this.#winner || this.#ended) return;
    this.#winner = leg;
    this.#answeredBy = leg.peer;
    clearTimeout(this.#timer);
    for (const [target, other] of [...this.#ringing]) {
      if (other.id === leg.id) continue;
      this.#ringing.delete(target);
      this.#drop(target, "cancel", `answered by ${leg.peer}`);
      void other.hangup("cancel", `ring group ${this.id}: answered by ${leg.peer}`).catch(() => undefined);
    }
    this.#ringing.clear();
    this.#log.info({ answeredBy: leg.peer, leg: leg.id }, "ring group answered");
    this.#publish("group", { callId: this.id, type: "answered", peer: leg.peer });
    this.emit("answered", leg);
  }

  #onLegEnded(target: string, leg: RingLeg, reason: string, text: string | undefined): void {
    if (this.#winner?.id === leg.id) {
      // The call the user has: its ended event went out as the group's.
      this.#ended = { reason, endedAt: new Date() };
      this.emit("ended", { reason, answered: true });
      return;
    }
    if (this.#ringing.get(target)?.id !== leg.id) return; // cancelled by the group: already dropped
    this.#ringing.delete(target);
    // Still being placed: #dialNext tells it and goes on to the next target itself.
    if (this.#dialling.has(target)) {
      this.#dialling.set(target, { reason, ...(text ? { text } : {}) });
      return;
    }
    this.#drop(target, reason, text);
    if (this.#d.strategy === "sequential" && !this.#cancelled) {
      void this.#dialNext();
      return;
    }
    this.#maybeFinish();
  }

  #drop(target: string, reason: string, text?: string): void {
    this.#dropped.push({ target, reason });
    this.#publish("group", { callId: this.id, type: "dropped", peer: target, reason, ...(text ? { text } : {}) });
  }

  /** Nothing rings any more and nobody answered: the group ends. */
  #maybeFinish(): void {
    if (this.#ended || this.#winner || this.#ringing.size > 0 || this.#dialling.size > 0) return;
    if (!this.#cancelled && this.#next < this.#d.targets.length) return;
    clearTimeout(this.#timer);
    const reasons = this.#dropped.map((d) => d.reason);
    const reason = this.#cancelled ? "cancel" : unansweredReason(reasons);
    const text = this.#cancelled ? "cancelled while ringing" : `nobody answered: ${this.#droppedText()}`;
    const endedAt = new Date();
    this.#ended = { reason, endedAt, text };
    this.#log.info({ reason, text }, "ring group ended unanswered");
    this.#publishCall({
      type: "ended",
      peer: this.#d.targets.join(", "),
      reason,
      text,
      by: this.#cancelled ? "local" : reasons.some((r) => r === "decline" || r === "busy") ? "peer" : "local",
      durationMs: 0,
      elapsedMs: endedAt.getTime() - this.#startedAt.getTime(),
    });
    this.emit("ended", { reason, answered: false });
  }

  #droppedText(): string {
    return this.#dropped.map((d) => `${d.target} ${d.reason}`).join(", ");
  }

  #armTimer(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      if (this.#winner || this.#ended) return;
      const s = Math.round(this.#d.ringMs / 100) / 10;
      // A snapshot: a leg's end may start the next target's ringing (sequential) at once.
      for (const leg of [...this.#ringing.values()]) void leg.hangup("timeout", `ring group ${this.id}: not answered within ${s} s`).catch(() => undefined);
    }, this.#d.ringMs);
    this.#timer.unref?.();
  }

  #publish<E extends EventName>(event: E, fields: EventFields<EventMap[E]>): void {
    this.#d.events.publish(event, fields);
  }

  #publishCall(fields: Omit<EventFields<EventMap["call"]>, "callId">): void {
    this.#publish("call", { callId: this.id, ...fields });
  }

  // ------------------------------------------------------------ what the commands do

  info(): CallInfo {
    const group: RingGroupInfo = { strategy: this.#d.strategy, targets: [...this.#d.targets], ringing: [...this.#ringing.keys()] };
    if (this.#answeredBy) group.answeredBy = this.#answeredBy;
    if (this.#d.bridgedWith) group.bridgedWith = this.#d.bridgedWith;
    if (this.#winner) {
      const { sid: _sid, ...leg } = this.#winner.info();
      return { ...leg, id: this.id, group };
    }
    const i: CallInfo = { id: this.id, peer: this.#d.targets.join(", "), direction: "outgoing", state: this.state, startedAt: this.#startedAt.toISOString(), group };
    if (this.#ended) {
      i.endedAt = this.#ended.endedAt.toISOString();
      i.reason = this.#ended.reason;
    }
    return i;
  }

  stats(): ReturnType<Call["stats"]> {
    return this.#winner?.stats();
  }

  freshStats(maxAgeMs?: number): ReturnType<Call["freshStats"]> {
    return this.#winner ? this.#winner.freshStats(maxAgeMs) : Promise.resolve(undefined);
  }

  answer(): Promise<void> {
    return Promise.reject(new CallError("invalid-state", `call ${this.id} is an outgoing ring group; only an incoming ringing call can be answered`));
  }

  reject(): Promise<void> {
    return Promise.reject(new CallError("invalid-state", `call ${this.id} is an outgoing ring group; only an incoming ringing call can be rejected (hangup cancels it)`));
  }

  /** Answered: ends the call. Ringing: cancels every leg. */
  async hangup(reason: ReasonCondition = "success", by?: string): Promise<void> {
    if (this.#winner) return this.#winner.hangup(reason, by);
    if (this.#ended) return;
    this.#cancelled = true;
    clearTimeout(this.#timer);
    const legs = [...this.#ringing.entries()];
    this.#ringing.clear();
    for (const [target] of legs) this.#drop(target, "cancel");
    this.#log.info({ by, legs: legs.length }, "ring group cancelled");
    await Promise.allSettled(legs.map(([, leg]) => leg.hangup("cancel", by)));
    this.#maybeFinish();
  }

  #answered(command: string): RingLeg {
    if (!this.#winner) throw new CallError("invalid-state", `${command}: call ${this.id} is ${this.state}; it must be answered first`);
    return this.#winner;
  }

  setHeld(held: boolean): Promise<void> {
    return this.#call(held ? "hold" : "resume", (l) => l.setHeld(held));
  }
  setMuted(muted: boolean): Promise<void> {
    return this.#call(muted ? "mute" : "unmute", (l) => l.setMuted(muted));
  }
  sendDtmf(digits: string, durationMs?: number): Promise<void> {
    return this.#call("dtmf", (l) => l.sendDtmf(digits, durationMs));
  }
  play(file: string): Promise<void> {
    return this.#call("play", (l) => l.play(file));
  }
  setInput(spec: Parameters<Call["setInput"]>[0]): Promise<void> {
    return this.#call("set-input", (l) => l.setInput(spec));
  }
  setOutput(spec: Parameters<Call["setOutput"]>[0], opts?: Parameters<Call["setOutput"]>[1]): Promise<void> {
    return this.#call("set-output", (l) => l.setOutput(spec, opts));
  }
  startRecording(pathTemplate: string, opts?: { overwrite?: boolean }): Promise<string> {
    return this.#call("record", (l) => l.startRecording(pathTemplate, opts));
  }
  stopRecording(): Promise<string> {
    return this.#call("record", (l) => l.stopRecording());
  }

  async #call<T>(command: string, fn: (leg: RingLeg) => Promise<T>): Promise<T> {
    return fn(this.#answered(command));
  }
}
