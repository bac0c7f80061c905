// The calls that exist now, by id and by Jingle sid (= XEP-0353 propose id):
// the one place that holds them. A call is added when it is made and leaves
// when it ends.
import { sameBareJid, sameJid } from "../util/jid.js";
import type { Call } from "./call/call.js";

export class CallBook {
  readonly #byId = new Map<string, Call>();
  readonly #bySid = new Map<string, Call>();
  #seq = 0;

  /** The id for the next call: c1, c2, ... */
  nextId(): string {
    return `c${++this.#seq}`;
  }

  add(call: Call): void {
    this.#byId.set(call.id, call);
    this.#bySid.set(call.sid, call);
  }

  remove(call: Call): void {
    this.#byId.delete(call.id);
    this.#bySid.delete(call.sid);
  }

  bySid(sid: string): Call | undefined {
    return this.#bySid.get(sid);
  }

  all(): Call[] {
    return [...this.#byId.values()];
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Our XEP-0353 proposal to this bare JID that no device has answered yet. */
  ownProposalTo(bare: string): Call | undefined {
    return this.all().find((c) => c.role === "initiator" && c.phase === "proposed" && sameBareJid(c.peer, bare));
  }

  /** Our answered, not yet ended call with this bare JID (XEP-0353 §4.2: a new proposal from it continues that call). */
  answeredCallWith(bare: string): Call | undefined {
    return this.all().find((c) => c.answered && c.state !== "ended" && sameBareJid(c.peer, bare));
  }

  /** The calls with this peer (a full JID). */
  withPeer(jid: string): Call[] {
    return this.all().filter((c) => sameJid(c.peer, jid));
  }

  /** Whether a call's peer has this bare JID. */
  hasPeer(bare: string): boolean {
    return this.all().some((c) => sameBareJid(c.peer, bare));
  }
}
