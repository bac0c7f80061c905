// Incoming calls: what becomes of a new call placed to us, once its Jingle
// session-initiate or XEP-0353 proposal is allowed (jingle/). In this order:
//
//   1. may it ring at all, is there room (./policy.ts)?  no: refused or busy,
//      told as a `refused` event (the composition root answers the peer)
//   2. calls.forward   it rings a ring group (./dialer.ts), its audio bridged
//                      with the one who answers (./call-forward.ts)
//   3. calls.echo      answered at once by the echo service (./echo-service.ts)
//   4. auto-answer     answered at once, or after calls.autoAnswerDelaySec if
//                      it still rings
//   5. else it rings;  left ringing, calls.voicemail may take it (./voicemail.ts)
//   (a forwarded call the group leaves unanswered goes to calls.voicemail too)
//
// A call the peer continues (XEP-0353 §4.2) or that crossed our own proposal
// to it (tie-break lost) is answered at once: the policy is not asked.
import type { ForwardConfig } from "../config/forward-schema.js";
import type { EventBus } from "../control/event-bus.js";
import { errorMessage } from "../util/errors.js";
import type { Logger } from "../util/logger.js";
import type { Roster } from "../xmpp/roster.js";
import { By, type Call } from "./call/call.js";
import type { CallBook } from "./call-book.js";
import { forwardCall } from "./call-forward.js";
import { resolveCodecs } from "./call-settings.js";
import type { RingGroupOptions } from "./dialer.js";
import { serveEcho } from "./echo-service.js";
import { decideIncoming, type CallPolicy, type IncomingDecision } from "./policy.js";
import type { RingGroup } from "./ring-group.js";
import type { Voicemail } from "./voicemail.js";

/** The policy let the call ring (./policy.ts). */
export type RingDecision = Extract<IncomingDecision, { action: "ring" }>;

/** Where a new incoming call goes. */
export type IncomingRoute =
  /** calls.forward: a ring group rings; the call is answered when someone there answers. */
  | { to: "forward" }
  /** calls.echo: answered at once by the echo service. */
  | { to: "echo" }
  /** Answered at once: auto-answer without delay, or a call the peer continues. */
  | { to: "answer" }
  /** It rings, and is answered after delayMs if it still rings. */
  | { to: "auto-answer"; delayMs: number }
  /** It rings for the user (and the voicemail, when calls.voicemail is on). */
  | { to: "ring" };

/**
 * Where a new incoming call goes: `d` is the policy's decision to let it
 * ring, or undefined for a call the peer continues or won a tie-break for
 * (answered at once, never forwarded).
 */
export function routeIncoming(d: RingDecision | undefined, s: { forward: boolean; echo: boolean }): IncomingRoute {
  if (!d) return { to: "answer" };
  if (s.forward) return { to: "forward" };
  if (s.echo) return { to: "echo" };
  if (!d.autoAnswer) return { to: "ring" };
  return d.delayMs === 0 ? { to: "answer" } : { to: "auto-answer", delayMs: d.delayMs };
}

export interface IncomingDeps {
  /** calls.* as the policy (./policy.ts). */
  policy(): CallPolicy;
  /** The config in force (reload changes it): calls.forward, calls.echo, calls.echoDelayMs, media.codecs. */
  settings(): { forward: ForwardConfig | undefined; echo: boolean; echoDelayMs: number; codecs: string[] };
  /** Our full JID once bound, else the configured one. */
  self(): string;
  roster: Pick<Roster, "has">;
  calls: Pick<CallBook, "size">;
  /** A ring group for calls.forward (./dialer.ts). */
  ringGroup(o: RingGroupOptions): RingGroup;
  voicemail: Pick<Voicemail, "watch" | "takeUnanswered">;
  /** The echo service's report to the caller. */
  sendChat(to: string, body: string): Promise<void>;
  events: Pick<EventBus, "publish">;
  logger: Logger;
}

export class IncomingCalls {
  readonly #d: IncomingDeps;

  constructor(deps: IncomingDeps) {
    this.#d = deps;
  }

  /** calls.* for a new incoming call from `peer`; a refusal is announced as a `refused` event. */
  admit(peer: string): IncomingDecision {
    // A call that will be forwarded needs a call per ring-group target besides itself: calls.maxCalls counts them all.
    const legs = this.#d.settings().forward?.to.length ?? 0;
    const d = decideIncoming(this.#d.policy(), { jid: peer, inRoster: this.#d.roster.has(peer) }, this.#d.self(), this.#d.calls.size + legs);
    if (d.action === "refuse" || d.action === "busy") {
      this.#d.logger.info({ peer, decision: d.action }, "incoming call refused by policy");
      this.#d.events.publish("refused", { peer, reason: d.action === "busy" ? "busy" : "not-allowed" });
    }
    return d;
  }

  /**
   * Sends a new incoming call its way (routeIncoming). True: answer it at
   * once; otherwise it rings, and may be answered later (auto-answer with a
   * delay, the voicemail, a forwarding target).
   */
  take(call: Call, d: RingDecision | undefined): boolean {
    const s = this.#d.settings();
    const route = routeIncoming(d, { forward: Boolean(s.forward), echo: s.echo });
    switch (route.to) {
      case "forward":
        this.#forward(call, s.forward!, resolveCodecs(s.codecs));
        return false;
      case "echo":
        serveEcho(call, {
          delayMs: () => this.#d.settings().echoDelayMs,
          sendChat: (to, body) => this.#d.sendChat(to, body),
          logger: this.#d.logger,
          event: (e) => this.#d.events.publish("echo", e),
        });
        return true;
      case "answer":
        return true;
      case "auto-answer":
        setTimeout(() => {
          if (call.state === "incoming") void call.answer(By.AutoAnswer).catch((err: unknown) => this.#d.logger.warn({ err: errorMessage(err) }, "auto-answer"));
        }, route.delayMs).unref();
        return false;
      case "ring":
        this.#d.voicemail.watch(call);
        return false;
    }
  }

  /** calls.forward: the new incoming call rings a ring group, its audio bridged with the one who answers (./call-forward.ts). */
  #forward(call: Call, f: ForwardConfig, codecs: RingGroupOptions["codecs"]): void {
    const group = this.#d.ringGroup({
      targets: f.to,
      strategy: f.strategy,
      ringMs: f.ringSec * 1000,
      codecs,
      placedBy: `forwarding of call ${call.id}`,
      startedAt: new Date(),
      bridgedWith: call.id,
    });
    forwardCall({ incoming: call, group, voicemail: this.#d.voicemail, events: this.#d.events, logger: this.#d.logger });
    // A caller who gives up while the group rings leaves a missed call (calls.voicemail on); the voicemail
    // takes the call only once the group found nobody (call-forward.ts).
    this.#d.voicemail.watch(call, { answer: false });
    // After the incoming call's own events: it rings first, then the group.
    setImmediate(() => {
      if (call.state === "ended") return void group.hangup("cancel", "forwarding: the caller hung up").catch(() => undefined);
      group.start().catch((err: unknown) => this.#d.logger.info({ call: call.id, err: errorMessage(err) }, "forwarding found nobody to ring"));
    });
  }
}
