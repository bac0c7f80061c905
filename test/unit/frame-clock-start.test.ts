import { test } from "node:test";
import assert from "node:assert/strict";
import { createFrameClock } from "../../src/util/frame-clock.js";

test("an idle clock's first subscriber gets frame 1 at once, before a period has passed", async () => {
  const clock = createFrameClock(20);
  const events: string[] = [];
  const unsubscribe = clock.subscribe((i) => events.push(`tick ${i}`));
  // Timers fire in order of their due time: a tick a period away would come after this one.
  await new Promise((r) => setTimeout(r, 10));
  events.push("10 ms timer");
  unsubscribe();
  // Frame 1 comes before the 10 ms timer. On a busy machine the timer may fire
  // late, after the ticks due at 20 and 40 ms too: those come later in order.
  assert.equal(events[0], "tick 1");
  const at = events.indexOf("10 ms timer");
  assert.ok(at >= 1, events.join(", "));
  assert.deepEqual(events.slice(0, at), events.slice(0, at).map((_, i) => `tick ${i + 1}`));
});

test("a later subscriber joins the running clock's time line", async () => {
  const clock = createFrameClock(20);
  const first: number[] = [];
  const second: number[] = [];
  const u1 = clock.subscribe((i) => first.push(i));
  await new Promise((r) => setTimeout(r, 5));
  const u2 = clock.subscribe((i) => second.push(i));
  await new Promise<void>((resolve) => {
    const u3 = clock.subscribe((i) => {
      if (i >= 3) {
        u3();
        resolve();
      }
    });
  });
  u1();
  u2();
  assert.equal(first[0], 1);
  assert.ok(second.length > 0 && second[0]! >= 2, `the second subscriber started at frame ${second[0]}`);
  assert.deepEqual(first.slice(first.indexOf(second[0]!)), second.slice(0, first.length - first.indexOf(second[0]!)));
});
