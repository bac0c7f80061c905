// XEP-0353 messages in (directly or as carbons, XEP-0280), and the bounces
// of our own proposals: what each does to our calls. The routing rules are
// jingle/message-initiation.ts and jingle/proposal-bounce.ts (pure); here
// their verdicts reach the calls, and a proposal to us becomes an incoming
// call the way a session-initiate does (./incoming.ts):
//
//   a bounce of our proposal   the call command fails, the call ends (./dialer.ts)
//   propose                    tie-break (§4.1), continuation (§4.2), policy, then a call
//   proceed                    our proposal's session starts with that device
//   ringing, reject, retract, finish, accept by another device   to that call
import { randomBytes } from "node:crypto";
import type { Element } from "ltx";
import type { EventBus } from "../control/event-bus.js";
import { decideProposal, routeJmiMessage, type ProposalContext } from "../jingle/message-initiation.js";
import { proposalBounce } from "../jingle/proposal-bounce.js";
import type { JmiElement } from "../jingle/protocol/index.js";
import { bareJid } from "../util/jid.js";
import type { Logger } from "../util/logger.js";
import { buildReceipt, receiptRequested } from "../xmpp/receipts.js";
import { By, type Call } from "./call/call.js";
import type { CallBook } from "./call-book.js";
import { resolveCodecs } from "./call-settings.js";
import type { Dialer, NewCall } from "./dialer.js";
import type { IncomingCalls } from "./incoming.js";

const newStanzaId = (): string => randomBytes(8).toString("hex");

export interface JmiMessagesDeps {
  /** Our full JID once bound, else the configured one. */
  self(): string;
  calls: Pick<CallBook, "bySid" | "ownProposalTo" | "answeredCallWith">;
  /** The config in force: calls.jingleMessage, calls.videoProposals ("audio-only"), media.codecs. */
  settings(): { jingleMessage: boolean; audioOnlyForVideo: boolean; codecs: string[] };
  dialer: Pick<Dialer, "bounced">;
  incoming: Pick<IncomingCalls, "admit" | "take">;
  /** Makes, registers and publishes a call (the composition root). */
  newCall(o: NewCall): Call;
  /** The Jingle session of our proposal once a device proceeded (jingle/session-manager.ts createOutgoing). */
  createSession(sid: string, peer: string): void;
  sendJmi(to: string, el: JmiElement): Promise<void>;
  /** Sends a stanza as it is (the XEP-0184 receipt). */
  send(stanza: Element): Promise<void>;
  /** A call's step failed: logged as the composition root does for every call. */
  callFailed(call: Call, what: string, err: unknown): void;
  events: Pick<EventBus, "publish">;
  logger: Logger;
}

export class JmiMessages {
  readonly #d: JmiMessagesDeps;

  constructor(deps: JmiMessagesDeps) {
    this.#d = deps;
  }

  /** What XEP-0353 routing and the proposal rules ask of our calls (jingle/message-initiation.ts). */
  #context(audioOnlyForVideo: boolean): ProposalContext {
    const self = this.#d.self();
    return {
      self: bareJid(self),
      fullJid: self,
      call: (sid) => this.#d.calls.bySid(sid),
      ownProposalTo: (bare) => this.#d.calls.ownProposalTo(bare),
      answeredCallWith: (bare) => this.#d.calls.answeredCallWith(bare),
      audioOnlyForVideo,
    };
  }

  /** A message stanza from the server: a bounce of our proposal, or a XEP-0353 message (direct or a carbon). */
  onMessage(stanza: Element): void {
    const s = this.#d.settings();
    const ctx = this.#context(s.audioOnlyForVideo);
    const bounce = proposalBounce(stanza, ctx);
    if (bounce) {
      this.#d.dialer.bounced(bounce.sid, bounce.text);
      void this.#d.calls.bySid(bounce.sid)?.unreachable(bounce.text);
      return;
    }
    const r = routeJmiMessage(stanza, ctx);
    switch (r.kind) {
      case "ignore":
        return;
      case "malformed":
        this.#d.logger.warn({ from: r.from, err: r.error }, "malformed jingle-message ignored");
        return;
      case "bounced":
        void this.#d.calls.bySid(r.sid)?.hangup("general-error", By.Server).catch(() => undefined);
        return;
      case "handled-elsewhere":
        void this.#d.calls.bySid(r.sid)?.handledElsewhere(r.action);
        return;
      case "proposal":
        if (s.jingleMessage) this.#onProposal(r.el, r.from, r.message, ctx, s.codecs);
        return;
      case "delivered":
        // Conversations up to 2.12 says it got our proposal only with this receipt (no <ringing/>).
        void this.#d.calls.bySid(r.sid)?.jmiReceived({ action: "ringing", id: r.sid }, r.from);
        return;
      case "unknown-call":
        // Usually the peer's finish or retract for a call that already ended here: nothing to note.
        this.#d.logger.debug({ from: r.from, action: r.el.action, id: r.el.id }, "jingle-message for no known call ignored");
        return;
      case "proceed-refused":
        this.#d.logger.warn({ from: r.from, id: r.sid }, "proceed from a JID never proposed to ignored");
        return;
      case "proceeded": {
        const call = this.#d.calls.bySid(r.sid)!;
        this.#d.createSession(call.sid, r.from);
        void call.proceeded(r.from).catch((err: unknown) => this.#d.callFailed(call, "session start after proceed", err));
        return;
      }
      case "to-call":
        void this.#d.calls.bySid(r.sid)?.jmiReceived(r.el, r.from);
        return;
    }
  }

  #onProposal(el: JmiElement, from: string, message: Element, ctx: ProposalContext, codecs: string[]): void {
    const d = decideProposal(el, from, ctx);
    switch (d.kind) {
      case "duplicate":
        return;
      case "refuse":
        // Nothing goes back: a device of our account that does this media answers it.
        this.#d.logger.info({ peer: from, id: el.id, media: d.media }, "proposal for media we do not support left to other devices");
        this.#d.events.publish("refused", { peer: from, reason: d.reason });
        return;
      case "reject":
        // XEP-0353 §4.1: we hold the lower id; the peer retracts this one and proceeds ours.
        void this.#d.sendJmi(from, { action: "reject", id: el.id, reason: { condition: d.reason, text: "Tie-Break" }, tieBreak: true });
        return;
    }
    // Tie-break lost, or a continuation: the peer wants this call as much as we do, whatever the policy says.
    const wanted = d.crossing !== undefined || d.migrate !== undefined;
    const admission = wanted ? undefined : this.#d.incoming.admit(from);
    if (admission?.action === "refuse") return; // no answer at all: a stranger learns nothing
    if (admission?.action === "busy") {
      void this.#d.sendJmi(from, { action: "reject", id: el.id, reason: { condition: "busy" } });
      return;
    }
    if (d.crossing) void this.#d.calls.bySid(d.crossing)?.giveWay().catch(() => undefined);
    const call = this.#d.newCall({ sid: el.id, peer: from, role: "responder", codecs: resolveCodecs(codecs) });
    if (d.migrate) void this.#d.calls.bySid(d.migrate)?.migrate(el.id, `the peer continues in call ${call.id} (XEP-0353 session ${el.id})`).catch(() => undefined);
    this.#d.events.publish("call", { callId: call.id, type: "incoming", peer: from });
    // XEP-0184: the caller learns the proposal reached a device that rings (older Conversations waits for this).
    const receiptId = receiptRequested(message);
    if (receiptId) void this.#d.send(buildReceipt(from, receiptId, message.attrs.type ?? "chat", newStanzaId())).catch(() => undefined);
    void call.proposed(this.#d.incoming.take(call, admission)).catch((err: unknown) => this.#d.callFailed(call, "propose", err));
  }
}
