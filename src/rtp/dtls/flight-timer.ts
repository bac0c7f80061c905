// When to (re)send our current flight: RFC 6347 §4.2.4's state machine,
// with timer values for real-time calls as libwebrtc uses them.
//
//   PREPARING -> SENDING -> WAITING --timer--> retransmit, interval doubled
//                              |  --peer repeats its flight--> retransmit
//                              |  --peer's next flight--> stop (PREPARING)
//                           FINISHED (our final flight, no timer) --peer repeats--> retransmit
//
// The first timeout is 50 ms, libwebrtc's default (rtc_base/
// openssl_stream_adapter.h, dtls_handshake_timeout_ms_; with an ICE RTT it
// uses 2 x RTT clamped to 50..3000 ms, p2p/base/dtls_transport.cc), not
// RFC 6347's 1 s; it doubles up to 1 s, so a lossy path gets a try every
// second until the handshake timeout instead of waiting up to 60 s. A
// retransmission prompted by the peer comes at most once per 20 ms: the
// datagrams of one repeated flight arrive together, and replayed datagrams
// must not make us send at their rate.
import type { Clock, TimerHandle } from "../../util/clock.js";

export const INITIAL_RETRANSMIT_MS = 50;
export const MAX_RETRANSMIT_MS = 1000;
const REPEAT_GUARD_MS = 20;

export interface FlightTimerOptions {
  clock: Clock;
  /** Puts the current flight on the wire (again). */
  send: () => void;
  initialMs?: number;
  maxMs?: number;
}

export class FlightTimer {
  readonly #o: Required<FlightTimerOptions>;
  #interval: number;
  #timer: TimerHandle | undefined;
  #lastSent = -Infinity;
  #active = false;
  #retransmissions = 0;

  constructor(o: FlightTimerOptions) {
    this.#o = { initialMs: INITIAL_RETRANSMIT_MS, maxMs: MAX_RETRANSMIT_MS, ...o };
    this.#interval = this.#o.initialMs;
  }

  /** Retransmissions so far (timer and peer-prompted), for the log. */
  get retransmissions(): number {
    return this.#retransmissions;
  }

  /** A new flight: sent now; with `expectReply` it is resent on the timer until stop(). */
  start(expectReply: boolean): void {
    this.#clear();
    this.#active = true;
    this.#interval = this.#o.initialMs;
    this.#transmit();
    if (expectReply) this.#arm();
  }

  /** The peer sent an old flight again: it has not seen ours (or all of it). */
  peerRepeated(): void {
    if (!this.#active || this.#o.clock.now() - this.#lastSent < REPEAT_GUARD_MS) return;
    this.#retransmissions++;
    this.#transmit();
    if (this.#timer !== undefined) this.#arm();
  }

  /** The peer's next flight arrived (or the handshake ended): no more retransmissions. */
  stop(): void {
    this.#clear();
    this.#active = false;
  }

  #transmit(): void {
    this.#lastSent = this.#o.clock.now();
    this.#o.send();
  }

  #arm(): void {
    this.#clear();
    this.#timer = this.#o.clock.setTimeout(() => {
      this.#timer = undefined;
      this.#retransmissions++;
      this.#interval = Math.min(this.#interval * 2, this.#o.maxMs);
      this.#transmit();
      this.#arm();
    }, this.#interval);
  }

  #clear(): void {
    if (this.#timer !== undefined) this.#o.clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
