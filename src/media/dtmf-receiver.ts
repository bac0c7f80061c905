// Turns received RFC 4733 telephone-event packets into digits (pure).
//
// An event is identified by its RTP timestamp (§2.5.2.1: all packets of one
// event carry the start timestamp). A digit is reported once: at its first
// end (E) packet, so the duration is known; the repeated end packets and
// anything late are ignored. An event whose end packets were all lost is
// reported when the next event starts or when no packet of it came for
// `timeoutMs` (§2.5.2.2 "the receiver ... when the last packet ... has been
// lost"). A long tone sent in segments (§2.5.1.3: same event, the next
// segment's timestamp = the previous one's + its duration) is one digit.
import { decodeTelephoneEvent, dtmfDigitOf } from "./codecs/telephone-event.js";

export interface DtmfDigit {
  digit: string;
  durationMs: number;
  /** false when the end packets never came (reported by timeout or the next event) */
  ended: boolean;
}

interface Current {
  ts: number;
  event: number;
  /** duration within the current segment */
  duration: number;
  /** duration of the earlier segments */
  base: number;
  lastMs: number;
}

/** Start timestamps of the last events reported, to drop their late packets. */
const REMEMBERED = 8;

export class DtmfReceiver {
  readonly clockRate: number;
  readonly timeoutMs: number;
  #current: Current | undefined;
  readonly #done: number[] = [];
  received = 0;

  constructor(opts: { clockRate: number; timeoutMs?: number }) {
    this.clockRate = opts.clockRate;
    this.timeoutMs = opts.timeoutMs ?? 800;
  }

  /** A telephone-event packet. Returns the digits completed by it (usually none or one). */
  receive(timestamp: number, payload: Buffer, nowMs: number): DtmfDigit[] {
    const ev = decodeTelephoneEvent(payload);
    if (!ev || dtmfDigitOf(ev.event) === undefined) return [];
    const ts = timestamp >>> 0;
    if (this.#done.includes(ts)) return []; // a repeated end packet, or late
    const out: DtmfDigit[] = [];
    const cur = this.#current;
    if (cur && cur.ts !== ts) {
      const step = (ts - cur.ts) >>> 0;
      if (cur.event === ev.event && step >= 0x8000 && step <= 0xffff) {
        // The next segment of the same long event (segments fill the 16-bit duration, so they are long).
        this.#remember(cur.ts);
        cur.base += step;
        cur.ts = ts;
        cur.duration = 0;
      } else {
        out.push(this.#finish(cur, false));
      }
    }
    if (!this.#current) this.#current = { ts, event: ev.event, duration: 0, base: 0, lastMs: nowMs };
    const c = this.#current;
    c.duration = Math.max(c.duration, ev.duration);
    c.lastMs = nowMs;
    if (ev.end) out.push(this.#finish(c, true));
    return out;
  }

  /** Call now and then: reports an event whose end packets never came. */
  tick(nowMs: number): DtmfDigit[] {
    const c = this.#current;
    if (c && nowMs - c.lastMs >= this.timeoutMs) return [this.#finish(c, false)];
    return [];
  }

  #finish(c: Current, ended: boolean): DtmfDigit {
    this.#current = undefined;
    this.#remember(c.ts);
    this.received++;
    return { digit: dtmfDigitOf(c.event)!, durationMs: Math.round(((c.base + c.duration) * 1000) / this.clockRate), ended };
  }

  #remember(ts: number): void {
    this.#done.push(ts);
    if (this.#done.length > REMEMBERED) this.#done.shift();
  }
}
