// Packet indices for every SRTP transform (RFC 3711 §3.3.1, Appendix A;
// RFC 7714 uses the same): the sender's rollover counter, and the receiver's
// estimate of a packet's index with the replay check (§3.3.2), committed
// only for packets that proved authentic — so a forged, replayed or
// damaged packet changes nothing, and a loss burst across a SEQ wrap or a
// replay cannot desynchronise the stream.
//
//   index = 2^16 * ROC + SEQ (RTP); the 31-bit SRTCP index (RTCP)
import { ReplayWindow } from "./replay-window.js";

/** RFC 3711 §3.3.1 (Appendix A): the ROC a received SEQ most likely belongs to. */
export function guessRoc(roc: number, highestSeq: number, seq: number): number {
  if (highestSeq < 0x8000) return seq - highestSeq > 0x8000 ? roc - 1 : roc;
  return highestSeq - 0x8000 > seq ? roc + 1 : roc;
}

interface Stream {
  roc: number;
  /** s_l: the highest SEQ seen with this ROC. */
  seq: number;
}

/** The sender's ROC per SSRC: it counts wraps of its own SEQ; a resent older packet keeps its ROC. */
export class SendIndex {
  readonly #streams = new Map<number, Stream>();

  /** The ROC to protect this packet with (and the count moves on at a wrap). */
  next(ssrc: number, seq: number): number {
    const s = this.#streams.get(ssrc);
    if (!s) {
      this.#streams.set(ssrc, { roc: 0, seq });
      return 0;
    }
    const roc = guessRoc(s.roc, s.seq, seq);
    if (roc === s.roc + 1) {
      s.roc = roc;
      s.seq = seq;
    } else if (roc === s.roc && seq > s.seq) s.seq = seq;
    return roc < 0 ? 0 : roc;
  }

  rolloverCounter(ssrc: number): number {
    return this.#streams.get(ssrc)?.roc ?? 0;
  }
}

interface ReceiveStream extends Stream {
  replay: ReplayWindow;
}

/** A receiver's view of one SRTP session's RTP streams. */
export class ReceiveIndex {
  readonly #streams = new Map<number, ReceiveStream>();

  /**
   * The ROC this packet most likely has, or -1 when it must be refused
   * without authenticating: seen before, too old for the window, or from
   * before the first packet we took. Changes nothing.
   */
  estimate(ssrc: number, seq: number): number {
    const s = this.#streams.get(ssrc);
    if (!s) return 0;
    const roc = guessRoc(s.roc, s.seq, seq);
    if (roc < 0 || !s.replay.check(roc * 0x10000 + seq)) return -1;
    return roc;
  }

  /** The packet (SEQ, and the ROC estimate() gave) was authentic. */
  commit(ssrc: number, seq: number, roc: number): void {
    const index = roc * 0x10000 + seq;
    const s = this.#streams.get(ssrc);
    if (!s) {
      const replay = new ReplayWindow();
      replay.accept(index);
      this.#streams.set(ssrc, { roc, seq, replay });
      return;
    }
    if (roc === s.roc + 1) {
      s.roc = roc;
      s.seq = seq;
    } else if (roc === s.roc && seq > s.seq) s.seq = seq;
    s.replay.accept(index);
  }

  rolloverCounter(ssrc: number): number {
    return this.#streams.get(ssrc)?.roc ?? 0;
  }
}

/** SRTCP replay check (RFC 3711 §3.4): the index is sent; check first, accept once authentic. */
export class RtcpReplay {
  readonly #windows = new Map<number, ReplayWindow>();

  check(ssrc: number, index: number): boolean {
    return this.#windows.get(ssrc)?.check(index) ?? true;
  }

  accept(ssrc: number, index: number): void {
    let w = this.#windows.get(ssrc);
    if (!w) this.#windows.set(ssrc, (w = new ReplayWindow()));
    w.accept(index);
  }
}
