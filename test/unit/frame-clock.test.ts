// The shared media clock: a subscriber that throws is reported and the
// others keep ticking (one broken call must not silence every call).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createFrameClock } from "../../src/util/frame-clock.js";

test("a throwing subscriber does not stop the clock for the others", async () => {
  const errors: unknown[] = [];
  const clock = createFrameClock(5, undefined, (err) => errors.push(err));
  let good = 0;
  const offBad = clock.subscribe(() => {
    throw new Error("decoder out of memory");
  });
  const offGood = clock.subscribe(() => good++);
  await new Promise((r) => setTimeout(r, 100));
  offBad();
  offGood();
  assert.ok(good >= 5, `the healthy subscriber ticked ${good} times`);
  assert.ok(errors.length >= 5, "every failure was reported");
});
