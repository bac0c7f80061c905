// Which media thread a call goes to, and when another starts
// (src/app/media-plane/media-plane.ts chooseThread/shouldGrow, and
// PlaneLink.expectedLoad): real PlaneLinks over a fake port that plays the
// thread's "ready" and "stats" messages.
import { test } from "node:test";
import assert from "node:assert/strict";
import { START_NEXT_LOAD, chooseThread, shouldGrow } from "../../src/app/media-plane/media-plane.js";
import { PlaneLink, type PlanePort } from "../../src/app/media-plane/plane-link.js";
import type { OpenCall, PlaneMessage } from "../../src/app/media-plane/plane-protocol.js";

/** A link whose thread the test speaks for. */
function thread() {
  let receive: (m: PlaneMessage) => void = () => undefined;
  const port: PlanePort = {
    postMessage: () => undefined,
    on: (_event, fn) => (receive = fn),
  };
  const link = new PlaneLink(port);
  let n = 0;
  return {
    link,
    ready: () => receive({ kind: "ready" }),
    report: (load: number) => receive({ kind: "stats", calls: [], load }),
    open: () => {
      const callId = `c${++n}`;
      link.open(callId, { callId } as unknown as OpenCall, { event: () => undefined, stats: () => undefined });
    },
  };
}

test("expected load: one call's report counts the thread's fixed cost as one more call, so ten calls read as about a quarter busy", () => {
  const t = thread();
  t.ready();
  assert.equal(t.link.expectedLoad, 0);
  t.open();
  // Before any report: the default cost of a call.
  assert.ok(t.link.expectedLoad > 0.02 && t.link.expectedLoad < 0.04, `${t.link.expectedLoad}`);
  t.report(0.048); // measured: an Opus call's thread at 4.8 % of a core
  for (let i = 0; i < 9; i++) t.open();
  // Measured with ten calls: 25.6 %. Shared by the one call alone (0.048 each), the estimate was 0.48.
  assert.ok(t.link.expectedLoad > 0.2 && t.link.expectedLoad < 0.3, `ten calls: ${t.link.expectedLoad.toFixed(3)}`);
  t.report(0.256);
  assert.equal(t.link.expectedLoad, 0.256, "a report replaces the estimate");
});

test("a burst of 35 calls spreads over two threads: calls go to the starting thread once the ready one is half busy", () => {
  const threads = [thread()];
  threads[0]!.ready();
  threads[0]!.open();
  threads[0]!.report(0.048);
  for (let i = 1; i < 35; i++) {
    const links = threads.map((t) => t.link);
    const at = chooseThread(links);
    assert.ok(at >= 0);
    threads[at]!.open();
    // The plane's check after each call; a second slot at most (two cores).
    if (threads.length < 2 && shouldGrow(threads.map((t) => t.link))) threads.push(thread());
  }
  const calls = threads.map((t) => t.link.calls);
  assert.equal(threads.length, 2, "a second thread started");
  assert.equal(calls[0]! + calls[1]!, 35);
  assert.ok(calls[1]! >= 10, `calls per thread: ${calls.join(" + ")}`);
  assert.ok(threads[0]!.link.expectedLoad >= START_NEXT_LOAD && threads[0]!.link.expectedLoad < START_NEXT_LOAD + 0.05);
  // Once the second is ready, a new call goes to the less busy of the two.
  threads[1]!.ready();
  assert.equal(chooseThread(threads.map((t) => t.link)), 1);
});

test("choosing: the least busy ready thread under half busy; a starting one only past that; -1 when none is live", () => {
  assert.equal(chooseThread([]), -1);
  const r = (expectedLoad: number, calls = 5) => ({ ready: true, calls, expectedLoad });
  const s = (expectedLoad: number) => ({ ready: false, calls: 0, expectedLoad });
  assert.equal(chooseThread([r(0.3), r(0.1)]), 1);
  assert.equal(chooseThread([r(0.3), s(0)]), 0, "a ready thread with room beats a starting one");
  assert.equal(chooseThread([r(0.6), s(0.2)]), 1, "past half busy: the starting thread");
  assert.equal(chooseThread([r(0.9), r(0.7)]), 1, "all past half busy, none starting: the least busy");
  assert.equal(chooseThread([s(0)]), 0, "the first thread, still starting");
  // Growing: every thread ready, with two calls or more, past half busy.
  assert.equal(shouldGrow([r(0.6), r(0.55)]), true);
  assert.equal(shouldGrow([r(0.6), r(0.4)]), false);
  assert.equal(shouldGrow([r(0.9, 1)]), false, "one call cannot be shared");
  assert.equal(shouldGrow([r(0.9), s(0)]), false, "one is starting already");
  assert.equal(shouldGrow([]), false);
});
