// Outgoing calls: the call command (one JID, or a ring group with `jids`),
// a ring group's legs and calls.forward's group all go through here.
//
//   a full JID         session-initiate at once (XEP-0166)
//   a bare JID         a XEP-0353 proposal to all its devices, unless none of
//                      the devices we see does XEP-0353: then the one that
//                      does Jingle is called directly (jingle/message-initiation.ts)
//   nobody to answer   peer-unavailable at once: a contact whose presence we
//                      receive and who has no device online, or a proposal our
//                      server bounced (README.md, "Calling a bare JID")
//
// The calls themselves are made by the composition root (newCall): this
// file decides whom to call and how, and holds the ring groups and the
// proposals still waiting to learn whether the server bounced them.
import { randomBytes } from "node:crypto";
import type { EventBus } from "../control/event-bus.js";
import type { CallArgs, CallStartResult } from "../control/protocol.js";
import { directDevice } from "../jingle/message-initiation.js";
import type { CodecDescriptor } from "../media/codecs/codec.js";
import { CommandError, errorMessage } from "../util/errors.js";
import { isFullJid, sameBareJid } from "../util/jid.js";
import type { Logger } from "../util/logger.js";
import type { AccountState } from "../util/vocabulary.js";
import type { DiscoCache } from "../xmpp/disco-cache.js";
import type { PresenceBook } from "../xmpp/presence-book.js";
import type { Roster } from "../xmpp/roster.js";
import type { Call } from "./call/call.js";
import type { CallBook } from "./call-book.js";
import { resolveCodecs } from "./call-settings.js";
import { RingGroup, type LegHooks } from "./ring-group.js";

const newSid = (): string => randomBytes(12).toString("base64url");

/** What the composition root needs to make a call (its Call, registered and publishing). */
export interface NewCall {
  sid: string;
  peer: string;
  role: "initiator" | "responder";
  codecs: CodecDescriptor[];
  startedAt?: Date;
  placedBy?: string;
  leg?: LegHooks;
}

/** A ring group to make: the call command's, or calls.forward's (`bridgedWith` the incoming call). */
export interface RingGroupOptions {
  targets: string[];
  strategy: "simultaneous" | "sequential";
  ringMs: number;
  codecs: CodecDescriptor[];
  placedBy: string;
  startedAt: Date;
  bridgedWith?: string;
}

export interface DialerDeps {
  /** The XMPP account: calls are placed only online; a ping's round trip tells a bounce came or not. */
  account: { readonly state: AccountState; roundTrip(timeoutMs: number): Promise<void> };
  /** Our full JID once bound, else the configured one. */
  self(): string;
  roster: Pick<Roster, "items">;
  presence: Pick<PresenceBook, "resources">;
  disco: Pick<DiscoCache, "featuresOf">;
  calls: Pick<CallBook, "size" | "nextId">;
  /** The config in force (reload changes it): calls.maxCalls, calls.ringTimeoutSec, media.codecs. */
  settings(): { maxCalls: number; ringTimeoutSec: number; codecs: string[] };
  /** Makes, registers and publishes a call (the composition root). */
  newCall(o: NewCall): Call;
  /** The Jingle session of a call to a full JID (jingle/session-manager.ts createOutgoing). */
  createSession(sid: string, peer: string): void;
  events: Pick<EventBus, "publish">;
  logger: Logger;
}

export class Dialer {
  readonly #d: DialerDeps;
  /** Ring groups by call id (./ring-group.ts); their legs are calls, but the user sees the group. */
  readonly #groups = new Map<string, RingGroup>();
  /** Bare-JID calls whose call command is still waiting to know whether the server bounced the proposal, by sid. */
  readonly #proposing = new Map<string, { bounce?: string }>();

  constructor(deps: DialerDeps) {
    this.#d = deps;
  }

  /** The ring groups that exist (ended ones leave at once). */
  groups(): RingGroup[] {
    return [...this.#groups.values()];
  }

  /** Our server bounced the proposal of call `sid` (jingle/proposal-bounce.ts): its call command fails with `text`. */
  bounced(sid: string, text: string): void {
    const proposing = this.#proposing.get(sid);
    if (proposing) proposing.bounce = text;
  }

  /**
   * The call command, its arguments checked (control/command-args.ts). A
   * bare JID that nobody can answer fails at once with peer-unavailable: a
   * contact whose presence we receive and who has no device online, or a
   * proposal our server bounced (no such account, unknown domain). One whose
   * presence we do not receive is proposed to: its devices may get the
   * proposal from offline storage or by push (README.md, "Calling a bare JID").
   */
  async placeCall(args: CallArgs, placedBy: string): Promise<CallStartResult> {
    const startedAt = new Date();
    if (this.#d.account.state !== "online") throw new CommandError("not-connected", `the account is ${this.#d.account.state}`);
    const settings = this.#d.settings();
    const codecs = resolveCodecs(args.codecs ?? settings.codecs);
    if (args.jids) {
      const { maxCalls } = settings;
      if (this.#d.calls.size + args.jids.length > maxCalls) {
        throw new CommandError("busy", `call: a ring group of ${args.jids.length} needs as many calls; ${this.#d.calls.size} of ${maxCalls} exist (calls.maxCalls)`);
      }
      const group = this.ringGroup({ targets: args.jids, strategy: args.strategy ?? "simultaneous", ringMs: (args.ringSec ?? settings.ringTimeoutSec) * 1000, codecs, placedBy, startedAt });
      await group.start();
      return { callId: group.id, peer: args.jids[0]!, targets: args.jids };
    }
    const call = await this.dial(args.jid!, { codecs, startedAt, placedBy });
    return { callId: call.id, sid: call.sid, peer: call.peer };
  }

  /** A ring group (./ring-group.ts), registered until it ends; start() it. */
  ringGroup(o: RingGroupOptions): RingGroup {
    const group = new RingGroup({
      id: this.#d.calls.nextId(),
      targets: o.targets,
      strategy: o.strategy,
      ringMs: o.ringMs,
      startedAt: o.startedAt,
      ...(o.bridgedWith ? { bridgedWith: o.bridgedWith } : {}),
      events: this.#d.events,
      logger: this.#d.logger,
      dial: (target, leg) => this.dial(target, { codecs: o.codecs, startedAt: new Date(), placedBy: `${o.placedBy} (ring group)`, leg }),
    });
    this.#groups.set(group.id, group);
    group.on("ended", () => this.#groups.delete(group.id));
    return group;
  }

  /**
   * Places one call (the call command, or a ring group's leg). A bare JID
   * that nobody can answer fails at once with peer-unavailable (see above).
   * A leg's events go through `leg.publish` (the group decides what the user sees).
   */
  async dial(target: string, o: { codecs: CodecDescriptor[]; startedAt: Date; placedBy: string; leg?: LegHooks }): Promise<Call> {
    if (this.#d.account.state !== "online") throw new CommandError("not-connected", `the account is ${this.#d.account.state}`);
    if (!isFullJid(target) && this.#seesPresenceOf(target) && this.#d.presence.resources(target).length === 0) {
      throw new CommandError("peer-unavailable", `${target} has no online device`);
    }
    const direct = !isFullJid(target) ? await this.#directTarget(target) : undefined;
    const publish = o.leg?.publish ?? this.#d.events.publish;
    const make = (peer: string): Call => {
      const call = this.#d.newCall({ sid: newSid(), peer, role: "initiator", codecs: o.codecs, startedAt: o.startedAt, placedBy: o.placedBy, ...(o.leg ? { leg: o.leg } : {}) });
      publish("call", { callId: call.id, type: "outgoing", peer });
      return call;
    };
    if (!isFullJid(target) && !direct) {
      // XEP-0353: propose to every device of the bare JID; the session starts with the one that proceeds.
      const call = make(target);
      const proposing: { bounce?: string } = {};
      this.#proposing.set(call.sid, proposing);
      try {
        await call.propose();
        // Our server handles a stream's stanzas in order: a bounce it makes itself
        // (no such account here, a domain it will not or cannot reach) comes before
        // the answer to a ping sent after the proposal.
        await this.#d.account.roundTrip(2000);
      } finally {
        this.#proposing.delete(call.sid);
      }
      if (proposing.bounce) throw new CommandError("peer-unavailable", proposing.bounce);
      return call;
    }
    const peer = direct ?? target;
    const call = make(peer);
    this.#d.createSession(call.sid, peer);
    try {
      await call.start();
    } catch (err) {
      // The initiate was refused (offline resource, unknown JID): the call is already ended.
      throw new CommandError("peer-unavailable", errorMessage(err));
    }
    return call;
  }

  /** Whether we receive the presence of `bare` (RFC 6121 §3: our own account, or a contact with subscription to or both). */
  #seesPresenceOf(bare: string): boolean {
    if (sameBareJid(bare, this.#d.self())) return true;
    const item = this.#d.roster.items().find((i) => sameBareJid(i.jid, bare));
    return item?.subscription === "to" || item?.subscription === "both";
  }

  /** A bare JID's device to call directly, when none of those we see does XEP-0353 (jingle/message-initiation.ts). */
  async #directTarget(bare: string): Promise<string | undefined> {
    const resources = this.#d.presence.resources(bare).slice(0, 8);
    if (resources.length === 0) return undefined;
    const features = await Promise.all(resources.map((r) => this.#d.disco.featuresOf(r.jid, r.caps)));
    return directDevice(resources.map((r, i) => ({ jid: r.jid, features: features[i] })));
  }
}
