// A call to a bare JID whose devices advertise no XEP-0353 support falls back
// to a direct session-initiate to the best device (caps + presence priority).
// bob runs with calls.jingleMessage off: he neither advertises JMI nor takes
// proposals, like a pre-JMI client — so the call only reaches him if alice
// falls back.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Daemon } from "../../scripts/lab/daemon.js";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";

describe("no JMI at the callee: direct session-initiate to its best device", { timeout: 90_000 }, () => {
  let prosody: ProsodyServer;
  let alice: Daemon;
  let bob: Daemon;
  const common = { input: { type: "tone", frequency: 440 }, output: { type: "null" } };
  const lab = withLab({
    name: "jmi-fallback",
    users: { alice: "a-pw", bob: "b-pw" },
    daemons: { alice: common, bob: { ...common, config: { calls: { acceptFrom: "everyone", jingleMessage: false } } } },
  });
  before(() => ({ prosody, daemons: { alice, bob } } = lab));

  test("alice sees bob's presence, finds no jingle-message feature, and calls bob/jingled directly", async () => {
    // alice subscribes to bob's presence; bob approves.
    await alice.control.request("roster", { action: "add", jid: `bob@${prosody.domain}` });
    await bob.waitForEvent((e: AnyEvent) => e.event === "roster" && e.type === "request", 10000, "subscription request at bob");
    await bob.control.request("roster", { action: "approve", jid: `alice@${prosody.domain}` });
    // Give bob's presence (with caps) time to reach alice.
    await new Promise((r) => setTimeout(r, 1000));

    const mark = bob.events.length;
    const { callId, peer } = (await alice.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string; peer: string };
    assert.equal(peer, bob.jid, "the call went to bob's device, not to his bare JID");
    const incoming = await bob.waitForEvent((e) => e.event === "call" && e.type === "incoming" && bob.events.indexOf(e) >= mark, 10000, "incoming at bob");
    await bob.control.request("answer", { callId: incoming.callId });
    await alice.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "active", 10000, "active");
    await alice.control.request("hangup", { callId });
    const end = await bob.waitForEvent((e) => e.event === "call" && e.callId === incoming.callId && e.type === "ended", 10000, "ended");
    assert.equal(end.reason, "success");
  });
});
