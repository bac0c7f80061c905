// Sliding-window replay list (RFC 3711 §3.3.2) for one SSRC, over packet
// indices (RTP: 2^16 * ROC + SEQ, up to 48 bits; RTCP: the 31-bit SRTCP
// index). A ring of flags: no allocation per packet.
//
// check() before authenticating (a replayed packet costs no HMAC), accept()
// only after the packet proved authentic, so forged packets cannot move the
// window.

/** RFC 3711 §3.3.2 asks for at least 64; libsrtp uses 128. */
export const REPLAY_WINDOW = 128;

export class ReplayWindow {
  #top = -1;
  readonly #seen = new Uint8Array(REPLAY_WINDOW);

  /** Highest index accepted so far; -1 before the first. */
  get top(): number {
    return this.#top;
  }

  /** True when `index` is new and not too old to judge. */
  check(index: number): boolean {
    if (index > this.#top) return true;
    const back = this.#top - index;
    return back < REPLAY_WINDOW && this.#seen[index % REPLAY_WINDOW] === 0;
  }

  /** Marks `index` seen (after check() and authentication). */
  accept(index: number): void {
    if (index > this.#top) {
      const shift = this.#top < 0 ? REPLAY_WINDOW : index - this.#top;
      if (shift >= REPLAY_WINDOW) this.#seen.fill(0);
      else for (let i = this.#top + 1; i < index; i++) this.#seen[i % REPLAY_WINDOW] = 0;
      this.#top = index;
    }
    this.#seen[index % REPLAY_WINDOW] = 1;
  }
}
