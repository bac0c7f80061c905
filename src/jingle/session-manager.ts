// XEP-0166 session bookkeeping without I/O: incoming Jingle IQs go in, the
// reply to send and the accepted action come out. The caller (app/) owns the
// sockets and the calls. Checks, in order (XEP-0166 §7.2):
//   unparseable -> bad-request; unknown sid or sender not the session's peer
//   -> item-not-found + <unknown-session/>; action not allowed in the state
//   -> unexpected-request + <out-of-order/>; a session-info payload we do not
//   know -> feature-not-implemented + <unsupported-info/>.
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import {
  parseJingle,
  buildJingle,
  buildJingleIqError,
  JingleParseError,
  JINGLE_IQ_ERRORS,
  type Jingle,
} from "./protocol/index.js";
import { nextState, type SessionState } from "./session-state.js";
import { sameJid } from "../util/jid.js";

export type Role = "initiator" | "responder";

export interface SessionRecord {
  readonly sid: string;
  /** The peer's full JID: the only entity allowed to act on this session. */
  readonly peer: string;
  readonly role: Role;
  /** undefined until our session-initiate is sent (XEP-0166 §6.1: no session yet). */
  state: SessionState | undefined;
}

export type IncomingResult =
  | { ok: true; reply: Element; session: SessionRecord; jingle: Jingle; isNew: boolean }
  | { ok: false; reply: Element; error: string };

/** Sessions at most, so that a flood of session-initiates cannot grow memory without bound. */
const MAX_SESSIONS = 256;

export class SessionManager {
  readonly #sessions = new Map<string, SessionRecord>();

  constructor(private readonly maxSessions = MAX_SESSIONS) {}

  get(sid: string): SessionRecord | undefined {
    return this.#sessions.get(sid);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Registers a session we initiate. */
  createOutgoing(sid: string, peer: string): SessionRecord {
    if (this.#sessions.has(sid)) throw new Error(`duplicate sid ${sid}`);
    const rec: SessionRecord = { sid, peer, role: "initiator", state: undefined };
    this.#sessions.set(sid, rec);
    return rec;
  }

  remove(sid: string): void {
    this.#sessions.delete(sid);
  }

  /** Processes an incoming `<iq type="set"><jingle/></iq>`. */
  incoming(iq: Element, jingleEl: Element): IncomingResult {
    const from = iq.attrs.from ?? "";
    let jingle: Jingle;
    try {
      jingle = parseJingle(jingleEl);
    } catch (err) {
      const text = err instanceof JingleParseError ? err.message : "malformed jingle element";
      return { ok: false, error: `bad-request: ${text}`, reply: buildJingleIqError(iq, { type: "modify", condition: "bad-request", text }) };
    }

    const existing = this.#sessions.get(jingle.sid);
    if (jingle.action === "session-initiate") {
      if (existing) {
        return {
          ok: false,
          error: "out-of-order: session-initiate for an existing sid",
          reply: buildJingleIqError(iq, { type: "wait", condition: "unexpected-request", jingleCondition: "out-of-order" }),
        };
      }
      if (this.#sessions.size >= this.maxSessions) {
        return {
          ok: false,
          error: "too many sessions",
          reply: buildJingleIqError(iq, { type: "wait", condition: "resource-constraint" }),
        };
      }
      const rec: SessionRecord = { sid: jingle.sid, peer: from, role: "responder", state: "pending" };
      this.#sessions.set(jingle.sid, rec);
      return { ok: true, reply: this.#result(iq), session: rec, jingle, isNew: true };
    }

    // A third party acting on someone else's sid learns nothing: same answer as for an unknown sid.
    if (!existing || !sameJid(existing.peer, from)) {
      return {
        ok: false,
        error: existing ? `spoofed: ${from} is not the peer of ${jingle.sid}` : `unknown-session ${jingle.sid}`,
        reply: buildJingleIqError(iq, { type: "cancel", condition: "item-not-found", jingleCondition: "unknown-session" }),
      };
    }
    const t = nextState(existing.state, { action: jingle.action, direction: "incoming", role: existing.role });
    if (!t.ok) {
      return {
        ok: false,
        error: `out-of-order: ${jingle.action} in state ${existing.state}`,
        reply: buildJingleIqError(iq, { type: "wait", condition: "unexpected-request", jingleCondition: "out-of-order" }),
      };
    }
    if (jingle.info?.type === "unsupported") {
      // §6.8 / XEP-0167 §7: an informational payload we do not understand.
      return {
        ok: false,
        error: `unsupported-info: <${jingle.info.element.slice(0, 64)} xmlns='${jingle.info.xmlns}'>`,
        reply: buildJingleIqError(iq, JINGLE_IQ_ERRORS["unsupported-info"]),
      };
    }
    existing.state = t.state;
    return { ok: true, reply: this.#result(iq), session: existing, jingle, isNew: false };
  }

  /**
   * Builds the IQ for an action we send, after checking it is allowed in the
   * session's state, and applies the transition. Throws when not allowed.
   */
  outgoing(sid: string, jingle: Omit<Jingle, "sid">, iqId: string): Element {
    const rec = this.#sessions.get(sid);
    if (!rec) throw new Error(`unknown session ${sid}`);
    const t = nextState(rec.state, { action: jingle.action, direction: "outgoing", role: rec.role });
    if (!t.ok) throw new Error(`cannot send ${jingle.action} in state ${rec.state}`);
    rec.state = t.state;
    return xml("iq", { type: "set", to: rec.peer, id: iqId }, buildJingle({ ...jingle, sid } as Jingle));
  }

  #result(iq: Element): Element {
    return xml("iq", { type: "result", to: iq.attrs.from, id: iq.attrs.id });
  }
}
