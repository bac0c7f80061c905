// The peer's handshake messages, put back together (RFC 6347 §4.2.2,
// §4.2.3): fragments in any order, duplicated or overlapping, messages
// ahead of the one we wait for buffered, messages from before it reported
// as a sign that the peer is retransmitting its previous flight (§4.2.4).
// Complete messages come out in message_seq order, each exactly once: the
// transcript is built from them.
//
// A fragment that disagrees with the type, length or epoch of what is
// buffered for its message_seq replaces it while that message is
// incomplete (a stray fragment must not block the genuine message), and
// is dropped once it is complete — unless it came in a later epoch: a
// protected fragment outranks plaintext ones. A complete forgery then
// makes its flight fail verification, discard() forgets it, and the
// peer's retransmission fills the place again.
import type { HandshakeFragment, ReceivedMessage } from "./handshake-messages.js";

/** Messages buffered beyond the next one we wait for. */
const MAX_AHEAD = 16;
/** A handshake message we will reassemble (certificate chains of self-signed peers are far smaller). */
export const MAX_MESSAGE_LENGTH = 32 * 1024;

interface Partial {
  type: number;
  epoch: number;
  body: Buffer;
  /** One flag per octet received. */
  have: Uint8Array;
  missing: number;
}

export type FragmentOutcome = "new" | "old" | "dropped";

export class HandshakeReassembler {
  /** message_seq of the next message the handshake needs. */
  #next = 0;
  /** Fragments dropped because they disagreed with a complete message: two versions of a flight are around. */
  #conflicts = 0;
  readonly #partial = new Map<number, Partial>();

  get next(): number {
    return this.#next;
  }

  get conflicts(): number {
    return this.#conflicts;
  }

  add(f: HandshakeFragment, epoch: number): FragmentOutcome {
    if (f.seq < this.#next) return "old";
    if (f.seq >= this.#next + MAX_AHEAD || f.length > MAX_MESSAGE_LENGTH) return "dropped";
    let p = this.#partial.get(f.seq);
    if (p && (p.type !== f.type || p.body.length !== f.length || p.epoch !== epoch)) {
      if ((p.missing > 0 && epoch >= p.epoch) || epoch > p.epoch) p = undefined;
      else {
        this.#conflicts++;
        return "dropped";
      }
    }
    if (!p) {
      p = { type: f.type, epoch, body: Buffer.alloc(f.length), have: new Uint8Array(f.length), missing: f.length };
      this.#partial.set(f.seq, p);
    }
    for (let i = 0; i < f.body.length; i++) {
      const at = f.offset + i;
      if (p.have[at]) continue;
      p.have[at] = 1;
      p.body[at] = f.body[i]!;
      p.missing--;
    }
    return "new";
  }

  /** The complete messages from `next` on, in order, up to the first gap (not consumed). */
  complete(): ReceivedMessage[] {
    const out: ReceivedMessage[] = [];
    for (let seq = this.#next; ; seq++) {
      const p = this.#partial.get(seq);
      if (!p || p.missing > 0) return out;
      out.push({ type: p.type, seq, body: p.body, epoch: p.epoch });
    }
  }

  /** The handshake took `n` messages: they are gone, the next one is awaited. */
  consume(n: number): void {
    for (let i = 0; i < n; i++) this.#partial.delete(this.#next + i);
    this.#next += n;
  }

  /** Forgets everything buffered (a flight that failed verification). */
  discard(): void {
    this.#partial.clear();
  }
}
