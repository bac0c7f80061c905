// Jingle Message Initiation (XEP-0353) between real daemons through Prosody:
// a call to a bare JID rings every device of the callee; the device that
// answers gets the session, the others stop ringing (carbons, XEP-0280).
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";
import { xml } from "@xmpp/xml";
import { XmppConnection } from "../../src/xmpp/connection.js";
import { silentLogger } from "../../src/util/logger.js";

describe("XEP-0353 calls to a bare JID", { timeout: 120_000 }, () => {
  let prosody: ProsodyServer;
  let dir: string;
  let alice: Daemon;
  let phone: Daemon;
  let desk: Daemon;
  const common = { input: { type: "tone", frequency: 440 }, output: { type: "null" } };
  const lab = withLab({
    name: "jmi",
    users: { alice: "a-pw", bob: "b-pw", mallory: "m-pw" },
    daemons: { alice: common, phone: { ...common, username: "bob", resource: "phone" }, desk: { ...common, username: "bob", resource: "desk" } },
  });
  before(() => ({ prosody, dir, daemons: { alice, phone, desk } } = lab));

  /** Until the server has seen `jid` enable carbons (the daemon does it right after coming online). */
  async function waitForCarbons(jid: string): Promise<void> {
    for (let i = 0; i < 100 && !prosody.logs().includes(`${jid} enabled carbons`); i++) await new Promise((r) => setTimeout(r, 50));
  }

  const is = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;
  const incoming = (d: Daemon, mark: number) => (e: AnyEvent) => e.event === "call" && e.type === "incoming" && d.events.indexOf(e) >= mark;

  test("both of bob's devices ring; the phone answers; the desk stops ringing; audio flows; finish", async () => {
    const [mp, md] = [phone.events.length, desk.events.length];
    const { callId } = (await alice.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string };
    const onPhone = await phone.waitForEvent(incoming(phone, mp), 10000, "phone rings");
    const onDesk = await desk.waitForEvent(incoming(desk, md), 10000, "desk rings");
    assert.match(String(onPhone.peer), /^alice@localhost\//);
    await alice.waitForEvent(is(callId, "ringing"), 10000, "alice hears ringing");

    await phone.control.request("answer", { callId: onPhone.callId });
    const deskEnd = await desk.waitForEvent(is(onDesk.callId, "ended"), 10000, "desk stops ringing");
    assert.equal(deskEnd.text, "answered on another device");
    await alice.waitForEvent(is(callId, "active"), 10000, "alice active");
    await phone.waitForEvent(is(onPhone.callId, "active"), 10000, "phone active");
    const media = await alice.waitForEvent((e) => e.event === "media" && e.callId === callId, 5000, "media");
    assert.equal(media.codec, "opus");

    await new Promise((r) => setTimeout(r, 1000));
    const calls = (await alice.control.request("calls")) as { peer: string; stats?: { packetsReceived: number } }[];
    assert.match(calls[0]!.peer, /^bob@localhost\/phone/, "the session went to the device that answered");
    assert.ok((calls[0]!.stats?.packetsReceived ?? 0) > 20, "media flows");
    await alice.control.request("hangup", { callId });
    const end = await phone.waitForEvent(is(onPhone.callId, "ended"), 10000, "phone ended");
    assert.equal(end.reason, "success");
  });

  test("a device declines: alice sees decline, the other device stops ringing", async () => {
    const [mp, md] = [phone.events.length, desk.events.length];
    const { callId } = (await alice.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string };
    const onPhone = await phone.waitForEvent(incoming(phone, mp), 10000, "phone rings");
    const onDesk = await desk.waitForEvent(incoming(desk, md), 10000, "desk rings");
    await desk.control.request("reject", { callId: onDesk.callId, reason: "busy" });
    const end = await alice.waitForEvent(is(callId, "ended"), 10000, "alice ended");
    assert.equal(end.reason, "busy");
    const phoneEnd = await phone.waitForEvent(is(onPhone.callId, "ended"), 10000, "phone stops ringing");
    assert.equal(phoneEnd.text, "declined on another device");
  });

  test("alice hangs up while it rings: the proposal is retracted on every device", async () => {
    const [mp, md] = [phone.events.length, desk.events.length];
    const { callId } = (await alice.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string };
    const onPhone = await phone.waitForEvent(incoming(phone, mp), 10000, "phone rings");
    const onDesk = await desk.waitForEvent(incoming(desk, md), 10000, "desk rings");
    await alice.control.request("hangup", { callId });
    const a = await alice.waitForEvent(is(callId, "ended"), 10000, "alice ended");
    assert.equal(a.reason, "cancel");
    for (const [d, c] of [[phone, onPhone.callId], [desk, onDesk.callId]] as const) {
      const e = await d.waitForEvent(is(c, "ended"), 10000, "retracted");
      assert.equal(e.reason, "cancel");
    }
  });

  test("a device of higher priority gets the proposal; the others ring through received carbons, and the retract reaches them too", async () => {
    // RFC 6121 §8.5.2.1.1: Prosody delivers a message to the bare JID only to
    // the resources of highest priority; XEP-0280 copies it to the others.
    const tablet = await startDaemon({
      prosody, username: "bob", password: "b-pw", resource: "tablet", dir: join(dir, "tablet"), input: { type: "silence" }, output: { type: "null" },
      config: { account: { jid: `bob@${prosody.domain}`, password: "b-pw", resource: "tablet", server: `xmpp://127.0.0.1:${prosody.port}`, priority: 5 } },
    });
    try {
      await waitForCarbons(`bob@${prosody.domain}/tablet`);
      const marks = [phone, desk, tablet].map((d) => d.events.length);
      const { callId } = (await alice.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string };
      const rung = await Promise.all([phone, desk, tablet].map((d, i) => d.waitForEvent(incoming(d, marks[i]!), 10000, "rings")));
      await alice.control.request("hangup", { callId });
      for (const [i, d] of [phone, desk, tablet].entries()) {
        const e = await d.waitForEvent(is(rung[i]!.callId, "ended"), 10000, "retracted");
        assert.equal(e.reason, "cancel");
      }
    } finally {
      await tablet.stop();
    }
  });

  test("a received carbon forged by another account rings nothing", async () => {
    // Received carbons now ring (a proposal delivered to another device of
    // ours); only our own server may send them: mallory wraps a proposal
    // "from alice" in a <received/> carbon and sends it to bob's devices.
    const mallory = new XmppConnection({
      jid: `mallory@${prosody.domain}`, password: "m-pw", resource: "evil", service: `xmpp://127.0.0.1:${prosody.port}`,
      allowPlaintext: false, caFile: prosody.caFile, priority: 0, features: [], logger: silentLogger(),
    });
    await mallory.start();
    try {
      const marks = [phone.events.length, desk.events.length];
      const forged = xml(
        "message", { to: phone.jid, type: "chat" },
        xml("received", { xmlns: "urn:xmpp:carbons:2" },
          xml("forwarded", { xmlns: "urn:xmpp:forward:0" },
            xml("message", { from: alice.jid, to: `bob@${prosody.domain}`, type: "chat" },
              xml("propose", { xmlns: "urn:xmpp:jingle-message:0", id: "forged-carbon-1" }, xml("description", { xmlns: "urn:xmpp:jingle:apps:rtp:1", media: "audio" }))))),
      );
      await mallory.send(forged);
      await mallory.send(xml("message", { to: desk.jid, type: "chat" }, forged.getChildren("received")));
      await new Promise((r) => setTimeout(r, 1000));
      for (const [i, d] of [phone, desk].entries()) {
        assert.deepEqual(d.events.slice(marks[i]).filter((e) => e.event === "call"), [], "no call");
        assert.deepEqual(await d.control.request("calls"), []);
      }
    } finally {
      await mallory.stop();
    }
  });

  test("a proceed from a JID that was never proposed to is ignored", async () => {
    const mallory = new XmppConnection({
      jid: `mallory@${prosody.domain}`, password: "m-pw", resource: "evil", service: `xmpp://127.0.0.1:${prosody.port}`,
      allowPlaintext: false, caFile: prosody.caFile, priority: 0, features: [], logger: silentLogger(),
    });
    await mallory.start();
    try {
      const mp = phone.events.length;
      const { callId, sid } = (await alice.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string; sid: string };
      const onPhone = await phone.waitForEvent(incoming(phone, mp), 10000, "phone rings");
      // Mallory knows the sid (say it leaked) and tries to take the call.
      await mallory.send(xml("message", { to: alice.jid, type: "chat" }, xml("proceed", { xmlns: "urn:xmpp:jingle-message:0", id: sid })));
      await mallory.send(xml("message", { to: alice.jid, type: "chat" }, xml("reject", { xmlns: "urn:xmpp:jingle-message:0", id: sid })));
      await new Promise((r) => setTimeout(r, 500));
      const calls = (await alice.control.request("calls")) as { state: string; peer: string }[];
      assert.equal(calls.length, 1);
      assert.ok(["outgoing", "ringing"].includes(calls[0]!.state), `still ringing, not ${calls[0]!.state}`);
      assert.equal(calls[0]!.peer, `bob@${prosody.domain}`);
      // The real callee can still answer.
      await phone.control.request("answer", { callId: onPhone.callId });
      await alice.waitForEvent(is(callId, "active"), 10000, "alice active");
      await alice.control.request("hangup", { callId });
      await phone.waitForEvent(is(onPhone.callId, "ended"), 10000, "ended");
    } finally {
      await mallory.stop();
    }
  });
});
