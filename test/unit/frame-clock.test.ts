// The shared media clock: a subscriber that throws is reported and the
// others keep ticking (one broken call must not silence every call).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createSocket, type Socket } from "node:dgram";
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

test("after a stall the clock catches up only once the sockets were read: a packet that came during the stall is there for the late ticks", async () => {
  // The stall is a long I/O callback (a burst of work on the media thread); the
  // peer's packet reaches another socket meanwhile. Node runs timers before it
  // polls again, so ticks run straight from the late timer would find the packet
  // not yet read (concealed, then late).
  const bound = async (s: Socket) => new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
  const [media, trigger, peer] = [createSocket("udp4"), createSocket("udp4"), createSocket("udp4")];
  await Promise.all([bound(media), bound(trigger), bound(peer)]);
  const clock = createFrameClock(20);
  const seen: string[] = [];
  let stalled = false;
  media.on("message", () => seen.push("packet"));
  trigger.on("message", () => {
    peer.send(Buffer.from("rtp"), media.address().port, "127.0.0.1");
    const until = performance.now() + 120;
    while (performance.now() < until) {
      // six frames' worth of work
    }
    stalled = true;
  });
  let ticks = 0;
  const off = clock.subscribe(() => {
    if (stalled) seen.push("tick");
    if (++ticks === 3) peer.send(Buffer.from("go"), trigger.address().port, "127.0.0.1");
  });
  try {
    for (let i = 0; i < 100 && seen.filter((x) => x === "tick").length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  } finally {
    off();
    for (const s of [media, trigger, peer]) s.close();
  }
  assert.ok(seen.includes("packet"), "the packet arrived");
  assert.equal(seen[0], "packet", `the packet was read before the first tick after the stall (${seen.join(", ")})`);
});
