// Presence from a hostile server, through a real Prosody to a real daemon.
// The attacker is an external component (XEP-0114) on Prosody: like a
// malicious federated server it may send stanzas from any JID of its domain,
// with any number of resources and any caps.
//
// 1. A flood of directed presence from strangers and from one contact with
//    tens of thousands of resources: the daemon's memory stays flat (only
//    roster contacts, our account and call peers are kept, 16 resources each).
// 2. Caps cache poisoning (XEP-0115 §5.4): a contact announces the caps ver
//    of another client and answers disco#info with a forged feature list;
//    that list must not be cached under the ver, so the other client's
//    features are still its own.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { freePort } from "../../scripts/lab/ports.js";
import { procFigures, sleep, until } from "../helpers/hostile.js";
import { componentConfig, connectComponent, type Component } from "../helpers/xmpp-component.js";
import { withLab } from "../helpers/with-lab.js";
import { CAPS_NODE, IDENTITY, capsVerification, jingleFeatures } from "../../src/xmpp/caps.js";

const EVIL = "evil.localhost";
const SECRET = "component-secret";

describe("hostile presence through Prosody", { timeout: 240_000 }, () => {
  let prosody: ProsodyServer;
  let alice: Daemon;
  let bob: Daemon;
  let evil: Component;
  let componentPort: number;
  const common = { input: { type: "silence" }, output: { type: "null" }, logLevel: "info" };
  const lab = withLab({
    name: "hostile-presence",
    users: { alice: "a-pw", bob: "b-pw" },
    setup: async () => {
      componentPort = await freePort("tcp", "127.0.0.1");
    },
    prosody: () => ({
      logLevel: "info", // debug would log every stanza of the flood
      ...componentConfig(EVIL, componentPort, SECRET),
    }),
    daemons: { alice: common, bob: common },
    parallel: true,
  });

  before(async () => {
    ({ prosody, daemons: { alice, bob } } = lab);
    evil = lab.adopt(await connectComponent({ port: componentPort, domain: EVIL, secret: SECRET }));
    // mallory@evil is one of alice's contacts (her server is the hostile one).
    await alice.control.request("roster", { action: "add", jid: `mallory@${EVIL}` });
    await until(async () => ((await alice.control.request("roster")) as { items: { jid: string }[] }).items.some((i) => i.jid === `mallory@${EVIL}`), 10_000, "mallory in alice's roster");
  });

  /** Sends `count` presences made by `make(i)` in batches, then waits until alice has handled them all (a ping behind them). */
  async function flood(count: number, make: (i: number) => string, tag: string): Promise<number> {
    const t0 = performance.now();
    for (let i = 0; i < count; i += 500) {
      let batch = "";
      for (let j = i; j < Math.min(count, i + 500); j++) batch += make(j);
      await evil.send(batch);
    }
    await evil.send(`<iq type='get' id='${tag}' from='mallory@${EVIL}/x' to='${alice.jid}'><ping xmlns='urn:xmpp:ping'/></iq>`);
    await evil.expect(new RegExp(`<iq [^>]*id=['"]${tag}['"]`), 120_000);
    return performance.now() - t0;
  }

  const presence = (from: string, i: number) =>
    `<presence from='${from}' to='${alice.jid}'><priority>${i % 100}</priority><status>flood ${i} ${"x".repeat(64)}</status>` +
    `<c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://evil.example/${i}' ver='${String(i).padStart(27, "0")}='/></presence>`;

  test("60,000 presences from 20 strangers and from one contact's 20,000 resources: alice's memory stays flat", async (t) => {
    const pid = alice.process.pid!;
    // A warm-up round, so that what grows later is what the presences leave behind.
    await flood(2000, (i) => presence(`warmup${i % 20}@${EVIL}/r${i}`, i), "warm");
    await sleep(1000);
    const before = procFigures(pid);
    const strangersMs = await flood(40_000, (i) => presence(`stranger${i % 20}@${EVIL}/r${i}`, i), "strangers");
    const contactMs = await flood(20_000, (i) => presence(`mallory@${EVIL}/r${i}`, i), "contact");
    await sleep(2000);
    const after_ = procFigures(pid);
    const grewMiB = (after_.rssKiB - before.rssKiB) / 1024;
    t.diagnostic(
      `alice RSS ${(before.rssKiB / 1024).toFixed(1)} -> ${(after_.rssKiB / 1024).toFixed(1)} MiB (+${grewMiB.toFixed(1)}) after 60,000 presences ` +
        `(strangers ${(strangersMs / 1000).toFixed(1)} s, contact ${(contactMs / 1000).toFixed(1)} s)`,
    );
    // Kept, they cost ~35 MiB (measured without the bounds); bounded, what is left is allocator noise (~0 measured).
    assert.ok(grewMiB < 12, `RSS grew by ${grewMiB.toFixed(1)} MiB`);
    const st = (await alice.control.request("status")) as { account: { state: string } };
    assert.equal(st.account.state, "online", "alice is still online and answering");
  });

  test("a contact that announces another client's caps ver with forged features does not poison the cache", async () => {
    // bob becomes alice's contact; alice sees his presence and caps (jingled with JMI).
    await alice.control.request("roster", { action: "add", jid: `bob@${prosody.domain}` });
    await bob.waitForEvent((e) => e.event === "roster" && e.type === "request", 10_000, "subscription request at bob");
    await bob.control.request("roster", { action: "approve", jid: `alice@${prosody.domain}` });
    await sleep(1000);
    const bobVer = capsVerification([IDENTITY], jingleFeatures({ jingleMessage: true, dtls: true }));

    // eve (another contact on the hostile server) claims bob's caps and says: Jingle audio, but no JMI.
    await alice.control.request("roster", { action: "add", jid: `eve@${EVIL}` });
    await until(async () => ((await alice.control.request("roster")) as { items: { jid: string }[] }).items.some((i) => i.jid === `eve@${EVIL}`), 10_000, "eve in alice's roster");
    const forged = ["http://jabber.org/protocol/disco#info", "urn:xmpp:jingle:1", "urn:xmpp:jingle:apps:rtp:1", "urn:xmpp:jingle:apps:rtp:audio", "urn:xmpp:jingle:transports:ice-udp:1"];
    const jingleSets: string[] = [];
    evil.onIq((iq) => {
      if (iq.type === "get" && iq.xml.includes("disco#info")) {
        return `<iq type='result' id='${iq.id}' from='${iq.to}' to='${iq.from}'><query xmlns='http://jabber.org/protocol/disco#info' node='${CAPS_NODE}#${bobVer}'>` +
          `<identity category='client' type='bot' name='jingled'/>${forged.map((f) => `<feature var='${f}'/>`).join("")}</query></iq>`;
      }
      if (iq.type === "set" && iq.xml.includes("urn:xmpp:jingle:1")) {
        jingleSets.push(iq.xml);
        return `<iq type='error' id='${iq.id}' from='${iq.to}' to='${iq.from}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`;
      }
      return undefined;
    });
    await evil.send(`<presence from='eve@${EVIL}/phone' to='${alice.jid}'><priority>1</priority><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='${CAPS_NODE}' ver='${bobVer}'/></presence>`);
    await sleep(500);

    // Calling eve: alice looks up her features (the forged list: no JMI) and calls her device directly.
    await alice.control.request("call", { jid: `eve@${EVIL}` }).catch(() => undefined);
    await until(() => jingleSets.some((x) => x.includes(`eve@${EVIL}/phone`)), 10_000, "alice's session-initiate at eve's device");

    // Calling bob: his real features (with JMI) decide: a proposal to his bare JID, not a direct call.
    const { callId, peer } = (await alice.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string; peer: string };
    assert.equal(peer, `bob@${prosody.domain}`, "bob was offered a JMI proposal (his own caps), not called from a cache eve filled");
    await alice.control.request("hangup", { callId });
  });
});
