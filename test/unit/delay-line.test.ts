// The echo service's delay line (src/media/delay-line.ts), driven as the
// media tick drives it: one read, then one write, per 20 ms frame.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DelayLine, MAX_SLACK_MS } from "../../src/media/delay-line.js";

const RATE = 8000;
const FRAME = 160;

/** Frame i: every sample is i + 1 (never 0, so silence is told apart). */
const frame = (i: number) => new Int16Array(FRAME).fill(i + 1);

test("what is written comes out delayMs later, silence before", () => {
  const line = new DelayLine(RATE, 100); // 5 frames
  const out: number[] = [];
  for (let i = 0; i < 20; i++) {
    out.push(line.read(FRAME)[0]!);
    line.write(frame(i));
  }
  assert.deepEqual(out.slice(0, 5), [0, 0, 0, 0, 0]);
  assert.deepEqual(out.slice(5), Array.from({ length: 15 }, (_, i) => i + 1));
  assert.equal(line.held, 100 * 8);
  assert.equal(line.underrun, 0);
  assert.equal(line.dropped, 0);
});

test("a 1.5 s line at 48 kHz delays by exactly 75 frames", () => {
  const line = new DelayLine(48000, 1500);
  let first = -1;
  for (let i = 0; i < 100 && first < 0; i++) {
    if (line.read(960)[0] !== 0) first = i;
    line.write(new Int16Array(960).fill(7));
  }
  assert.equal(first, 75);
});

test("memory stays bounded when the writer gets ahead: the oldest audio goes", () => {
  const line = new DelayLine(RATE, 100);
  const cap = 100 * 8 + (MAX_SLACK_MS * RATE) / 1000;
  for (let i = 0; i < 1000; i++) line.write(frame(i));
  assert.equal(line.held, cap);
  assert.ok(line.dropped > 0);
  // What is left is the newest audio, oldest first.
  const next = line.read(FRAME)[0]!;
  assert.equal(next, 1000 - cap / FRAME + 1);
  // One huge write keeps only its tail.
  line.write(new Int16Array(cap * 3).fill(5));
  assert.equal(line.held, cap);
});

test("a reader that finds too little gets silence, and the delay does not grow", () => {
  const line = new DelayLine(RATE, 40); // 2 frames
  for (let i = 0; i < 10; i++) line.read(FRAME); // nothing written (a hold): silence
  assert.equal(line.underrun, 10 * FRAME - 2 * FRAME);
  line.write(frame(0));
  assert.equal(line.read(FRAME)[0], 1, "no delay was added by the gap");
});

test("out-of-range delays are refused; closed lines give silence", () => {
  assert.throws(() => new DelayLine(RATE, -1), RangeError);
  assert.throws(() => new DelayLine(RATE, 60_000), RangeError);
  const line = new DelayLine(RATE, 0);
  line.write(frame(3));
  line.source().close();
  line.sink().write(frame(4));
  assert.equal(line.read(FRAME)[0], 0);
});
