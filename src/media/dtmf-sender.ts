// Sends DTMF digits as RFC 4733 telephone events, one packet per media tick
// (pure: the media session calls tick() with the RTP timestamp the next
// audio packet would carry, and sends what it returns instead of audio).
//
// Per digit (§2.5.1):
//   - every packet of an event carries the timestamp of the event's start;
//     the first has the marker bit (§2.5.1.1);
//   - the duration field grows with each update, covering the time from the
//     start to the end of the packet's period (§2.5.1.2);
//   - the final packet has the E bit and the full duration and is sent three
//     times at the update interval (§2.5.1.4);
//   - audio is not sent while an event is on (§2.5.1.2: the event replaces it);
//   - a pause of normal audio separates digits, so that a repeated digit is
//     seen as two events (they also differ by timestamp);
//   - a tone longer than the 16-bit duration field can express is sent in
//     segments (§2.5.1.3): each new segment's timestamp is the previous one's
//     plus its duration, and durations start again from there.
import { dtmfEventOf, encodeTelephoneEvent } from "./codecs/telephone-event.js";

export interface DtmfSenderOptions {
  /** the telephone-event clock rate (= the audio clock rate) */
  clockRate: number;
  /** interval of tick() calls, ms (the media frame) */
  tickMs?: number;
  /** tone length per digit, ms; rounded up to whole ticks (default 100; ITU-T Q.24 asks for at least 40) */
  toneMs?: number;
  /** audio between digits, ms (default 60) */
  gapMs?: number;
  /** -dBm0, 0..63 (default 10) */
  volume?: number;
}

export interface DtmfPacket {
  payload: Buffer;
  marker: boolean;
  /** RTP timestamp: the event's start */
  timestamp: number;
}

/** How many times the final (E) packet goes out (§2.5.1.4). */
export const END_PACKET_REPEATS = 3;

interface Queued {
  event: number;
  toneTicks: number;
  /** called after the digit's last end packet */
  done?: (sent: boolean) => void;
}

interface Active extends Queued {
  startTs: number;
  /** ticks of tone sent so far */
  ticks: number;
  /** end packets sent so far */
  ends: number;
}

export class DtmfSender {
  readonly clockRate: number;
  readonly tickMs: number;
  readonly toneTicks: number;
  readonly gapTicks: number;
  readonly volume: number;
  readonly #queue: Queued[] = [];
  #active: Active | undefined;
  #gapLeft = 0;
  /** digits whose end packets have all been sent */
  sent = 0;

  constructor(opts: DtmfSenderOptions) {
    this.clockRate = opts.clockRate;
    this.tickMs = opts.tickMs ?? 20;
    this.toneTicks = Math.max(2, Math.ceil((opts.toneMs ?? 100) / this.tickMs));
    this.gapTicks = Math.max(1, Math.ceil((opts.gapMs ?? 60) / this.tickMs));
    this.volume = opts.volume ?? 10;
  }

  /** True while digits are queued or being sent. */
  get busy(): boolean {
    return this.#active !== undefined || this.#queue.length > 0 || this.#gapLeft > 0;
  }

  /**
   * Queue digits (0-9, *, #, A-D). Throws a RangeError naming the first
   * character that is not a DTMF digit; nothing is queued then.
   * `done` is called once, after the last digit's end packets (true) or when
   * the queue is cancelled (false). `toneMs` overrides the tone length.
   */
  enqueue(digits: string, done?: (sent: boolean) => void, toneMs?: number): void {
    const toneTicks = toneMs !== undefined ? Math.max(2, Math.ceil(toneMs / this.tickMs)) : this.toneTicks;
    const events: number[] = [];
    for (const ch of digits) {
      const ev = dtmfEventOf(ch);
      if (ev === undefined) throw new RangeError(`"${ch}" is not a DTMF digit (0-9, *, #, A-D)`);
      events.push(ev);
    }
    if (events.length === 0) {
      done?.(true);
      return;
    }
    events.forEach((event, i) => this.#queue.push(i === events.length - 1 && done ? { event, toneTicks, done } : { event, toneTicks }));
  }

  /** Drop everything queued; the pending callbacks get false. */
  cancel(): void {
    const pending = [...(this.#active ? [this.#active] : []), ...this.#queue];
    this.#active = undefined;
    this.#queue.length = 0;
    this.#gapLeft = 0;
    for (const p of pending) p.done?.(false);
  }

  /**
   * One media tick. `nextTs` is the RTP timestamp the next audio packet would
   * carry. Returns the event packet to send instead of audio, or undefined
   * (send audio as usual).
   */
  tick(nextTs: number): DtmfPacket | undefined {
    if (!this.#active) {
      if (this.#gapLeft > 0) {
        this.#gapLeft--;
        return undefined;
      }
      const q = this.#queue.shift();
      if (!q) return undefined;
      this.#active = { ...q, startTs: nextTs >>> 0, ticks: 0, ends: 0 };
    }
    const a = this.#active;
    const tickTs = this.#tickTs();
    const segment = this.#segmentTs();
    if (a.ticks < a.toneTicks) {
      a.ticks++;
      if (a.ticks < a.toneTicks) return this.#packet(a, a.ticks * tickTs, false, segment);
    }
    // The final packet, END_PACKET_REPEATS times, with the full duration.
    a.ends++;
    const pkt = this.#packet(a, a.toneTicks * tickTs, true, segment);
    if (a.ends >= END_PACKET_REPEATS) {
      this.#active = undefined;
      this.#gapLeft = this.gapTicks;
      this.sent++;
      a.done?.(true);
    }
    return pkt;
  }

  /** The packet for `elapsed` timestamp units into the event, in its segment (§2.5.1.3). */
  #packet(a: Active, elapsed: number, end: boolean, segment: number): DtmfPacket {
    const index = Math.floor((elapsed - 1) / segment);
    const duration = elapsed - index * segment;
    return {
      payload: encodeTelephoneEvent({ event: a.event, end, volume: this.volume, duration }),
      marker: !end && elapsed === this.#tickTs(), // the first packet of the event (§2.5.1.1)
      timestamp: (a.startTs + index * segment) >>> 0,
    };
  }

  /** Longest segment: whole ticks that fit the 16-bit duration field. */
  #segmentTs(): number {
    const t = this.#tickTs();
    return Math.floor(0xffff / t) * t;
  }

  #tickTs(): number {
    return Math.round((this.tickMs * this.clockRate) / 1000);
  }
}
