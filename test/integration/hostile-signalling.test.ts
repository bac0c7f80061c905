// Adversarial signalling through a real Prosody against real daemons (issue 8
// item 2): a third party acting on someone else's session, JMI messages from
// JIDs never proposed to, session-initiate floods from strangers under the
// default roster-only policy, and stanzas that are huge, odd or out of order.
// Each must be refused with the right XEP-0166 error and leave the real call
// (media included) and the daemon's memory and responsiveness alone.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { audioContent, candidate, iqError, jingleIq, latencyProbe, procFigures, rawClient, sleep, until, PCMU, type StanzaErrorInfo } from "../helpers/hostile.js";
import { withLab } from "../helpers/with-lab.js";
import type { XmppConnection } from "../../src/xmpp/connection.js";
import { NS, parseJingle, type Jingle } from "../../src/jingle/protocol/index.js";
import type { AnyEvent } from "../../src/control/client.js";

const isCall = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;
const incomingAfter = (d: Daemon, mark: number) => (e: AnyEvent) => e.event === "call" && e.type === "incoming" && d.events.indexOf(e) >= mark;
const UNKNOWN_SESSION = { type: "cancel", condition: "item-not-found", jingle: "unknown-session" };
const OUT_OF_ORDER = { type: "wait", condition: "unexpected-request", jingle: "out-of-order" };

type CallRow = { id: string; state: string; stats?: { packetsReceived: number } };

describe("hostile signalling through Prosody", { timeout: 120_000 }, () => {
  let prosody: ProsodyServer;
  let alice: Daemon;
  let bob: Daemon;
  let mallory: XmppConnection;
  /** Jingle IQs the daemons sent to mallory (she acknowledges every one). */
  const toMallory: Jingle[] = [];
  const common = { input: { type: "tone", frequency: 440 }, output: { type: "null" }, codecs: ["pcmu"], logLevel: "info" };
  const lab = withLab({
    name: "hostile-sig",
    users: { alice: "a-pw", bob: "b-pw", mallory: "m-pw", eve: "e-pw", trudy: "t-pw" },
    // alice takes calls from everyone (mallory plays a peer for the protocol tests); bob keeps the default: roster only.
    daemons: {
      alice: { ...common, config: { calls: { acceptFrom: "everyone" } } },
      bob: { ...common, config: { calls: { acceptFrom: "roster", maxCalls: 4 } } },
    },
    parallel: true,
  });

  before(async () => {
    ({ prosody, daemons: { alice, bob } } = lab);
    await bob.control.request("roster", { action: "add", jid: `alice@${prosody.domain}` });
    await until(async () => ((await bob.control.request("roster")) as { items: { jid: string }[] }).items.some((i) => i.jid.startsWith("alice@")), 10_000, "alice in bob's roster");
    mallory = lab.adopt(await rawClient(prosody, "mallory", "m-pw", "evil"));
    mallory.onIqSet(NS.jingle, "jingle", async (iq: Element, el: Element) => {
      try {
        toMallory.push(parseJingle(el));
      } catch {
        /* not ours to judge here */
      }
      await mallory.sendIqResult(iq);
    });
  });

  async function received(d: Daemon, callId: string): Promise<number> {
    const calls = (await d.control.request("calls")) as CallRow[];
    return calls.find((c) => c.id === callId)?.stats?.packetsReceived ?? 0;
  }

  test("a third party's transport-info, session-info and session-terminate for a live call's sid: unknown-session; the call and its media go on", async (t) => {
    const mark = bob.events.length;
    const { callId, sid } = (await alice.control.request("call", { jid: bob.jid })) as { callId: string; sid: string };
    const inc = await bob.waitForEvent(incomingAfter(bob, mark), 10_000, "bob rings");
    await bob.control.request("answer", { callId: inc.callId });
    await alice.waitForEvent(isCall(callId, "active"), 10_000, "alice active");
    await bob.waitForEvent(isCall(inc.callId, "active"), 10_000, "bob active");
    await sleep(500);
    const before = { alice: await received(alice, callId), bob: await received(bob, inc.callId as string) };
    const marks = { alice: alice.events.length, bob: bob.events.length };

    const attacks: [string, Jingle][] = [
      ["transport-info", { action: "transport-info", sid, contents: [{ creator: "initiator", name: "audio", transport: { ufrag: "evil", pwd: "0123456789abcdefghijklmn", candidates: [candidate(9)] } }] }],
      ["session-info hold", { action: "session-info", sid, contents: [], info: { type: "hold" } }],
      ["session-info mute", { action: "session-info", sid, contents: [], info: { type: "mute" } }],
      ["session-accept", { action: "session-accept", sid, responder: "mallory@x/evil", contents: [audioContent({ creator: "initiator" })] }],
      ["session-terminate", { action: "session-terminate", sid, contents: [], reason: { condition: "success" } }],
    ];
    for (const [what, j] of attacks) {
      for (const target of [alice, bob]) {
        assert.deepEqual(await iqError(mallory, jingleIq(target.jid, j)), UNKNOWN_SESSION, `${what} to ${target === alice ? "alice" : "bob"}`);
      }
    }
    // Same sid, but as a new session-initiate: refused, not a second call on that sid.
    const dup = await iqError(mallory, jingleIq(bob.jid, { action: "session-initiate", sid, initiator: "mallory@x/evil", contents: [audioContent()] }));
    assert.ok(dup?.type === "cancel" || dup?.type === "wait", `session-initiate on a live sid: ${JSON.stringify(dup)}`);

    await sleep(1500);
    const after_ = { alice: await received(alice, callId), bob: await received(bob, inc.callId as string) };
    t.diagnostic(`packetsReceived during the attack: alice ${before.alice} -> ${after_.alice}, bob ${before.bob} -> ${after_.bob}`);
    assert.ok(after_.alice - before.alice > 50 && after_.bob - before.bob > 50, "media kept flowing both ways");
    for (const [name, d, m] of [["alice", alice, marks.alice], ["bob", bob, marks.bob]] as const) {
      const changed = d.events.slice(m).filter((e) => e.event === "call" && ["ended", "held", "muted"].includes(String(e.type)));
      assert.deepEqual(changed, [], `${name}: the attack changed the call`);
    }
    await alice.control.request("hangup", { callId });
    const end = await bob.waitForEvent(isCall(inc.callId, "ended"), 10_000, "bob ended");
    assert.equal(end.reason, "success");
  });

  test("JMI retract, reject, proceed and a spoofed carbon from a JID never proposed to are ignored", async () => {
    const mark = bob.events.length;
    const { callId, sid } = (await alice.control.request("call", { jid: `bob@${prosody.domain}` })) as { callId: string; sid: string };
    const inc = await bob.waitForEvent(incomingAfter(bob, mark), 10_000, "bob rings");
    const jmi = (action: string) => xml(action, { xmlns: NS.jingleMessage, id: sid });
    // To the callee: "the caller withdrew"; to the caller: "the callee declined / answered".
    await mallory.send(xml("message", { to: bob.jid, type: "chat" }, jmi("retract")));
    await mallory.send(xml("message", { to: `bob@${prosody.domain}`, type: "chat" }, jmi("retract")));
    await mallory.send(xml("message", { to: alice.jid, type: "chat" }, jmi("reject")));
    await mallory.send(xml("message", { to: alice.jid, type: "chat" }, jmi("proceed")));
    // A carbon claims bob answered on another device; it comes from mallory, not bob's own account.
    await mallory.send(
      xml("message", { to: bob.jid, type: "chat" }, xml("sent", { xmlns: "urn:xmpp:carbons:2" }, xml("forwarded", { xmlns: "urn:xmpp:forward:0" }, xml("message", { to: alice.jid, from: bob.jid, type: "chat" }, jmi("proceed"))))),
    );
    await sleep(700);
    const a = (await alice.control.request("calls")) as CallRow[];
    const b = (await bob.control.request("calls")) as CallRow[];
    assert.equal(a.find((c) => c.id === callId)?.state ?? "gone", "ringing", "alice still ringing");
    assert.equal(b.find((c) => c.id === inc.callId)?.state ?? "gone", "incoming", "bob still ringing");
    await bob.control.request("answer", { callId: inc.callId });
    await alice.waitForEvent(isCall(callId, "active"), 10_000, "alice active");
    await alice.control.request("hangup", { callId });
    await bob.waitForEvent(isCall(inc.callId, "ended"), 10_000, "bob ended");
  });

  test("500 session-initiates and 200 JMI proposals from strangers: refused by the roster-only policy, bounded memory and CPU, control socket stays prompt", async (t) => {
    const pid = bob.process.pid;
    // Three accounts bob has never heard of, one with two devices.
    const strangers = [mallory, await rawClient(prosody, "eve", "e-pw", "x"), await rawClient(prosody, "trudy", "t-pw", "y"), await rawClient(prosody, "trudy", "t-pw", "z")];
    try {
      await sleep(300);
      const before = procFigures(pid);
      const refusedBefore = bob.events.filter((e) => e.event === "refused").length;
      const probe = latencyProbe(() => bob.control.request("status"));
      const t0 = performance.now();
      const N = 500;
      // Sent raw, as fast as the connections take them: @xmpp/iq's caller loses a reply that arrives before its own
      // send() resolved (an unhandled rejection), so only a sample goes through iq(), sequentially, to read the answer.
      const initiate = (i: number) => jingleIq(bob.jid, { action: "session-initiate", sid: `flood-${i}-${Math.random().toString(36).slice(2)}`, initiator: "x", contents: [audioContent()] });
      const SAMPLED = 10;
      for (let i = SAMPLED; i < N; i++) await strangers[i % strangers.length]!.send(initiate(i));
      for (let i = 0; i < 200; i++) {
        await strangers[i % strangers.length]!.send(xml("message", { to: `bob@${prosody.domain}`, type: "chat" }, xml("propose", { xmlns: NS.jingleMessage, id: `p-flood-${i}` }, xml("description", { xmlns: NS.rtp, media: "audio" }))));
      }
      const errors: (StanzaErrorInfo | undefined)[] = [];
      for (let i = 0; i < SAMPLED; i++) errors.push(await iqError(strangers[i % strangers.length]!, initiate(i)));
      await until(() => bob.events.filter((e) => e.event === "refused").length - refusedBefore >= N + 200, 15_000, "every refusal announced");
      const floodMs = performance.now() - t0;
      const latency = await probe.stop();
      await sleep(1000);
      const afterFlood = procFigures(pid);
      const calls = (await bob.control.request("calls")) as unknown[];
      const conditions = new Map<string, number>();
      for (const e of errors) conditions.set(e?.condition ?? "accepted", (conditions.get(e?.condition ?? "accepted") ?? 0) + 1);
      t.diagnostic(`flood: ${N} initiates + 200 proposals, all refused within ${Math.round(floodMs)} ms; sampled answers ${JSON.stringify(Object.fromEntries(conditions))}`);
      t.diagnostic(`bob RSS ${before.rssKiB} KiB -> ${afterFlood.rssKiB} KiB (${afterFlood.rssKiB - before.rssKiB >= 0 ? "+" : ""}${afterFlood.rssKiB - before.rssKiB}); CPU ${afterFlood.cpuMs - before.cpuMs} ms; fds ${before.fds} -> ${afterFlood.fds}`);
      t.diagnostic(`status latency during the flood: n=${latency.count} p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms`);
      assert.deepEqual(Object.fromEntries(conditions), { "service-unavailable": SAMPLED }, "initiates refused as if the daemon were not there");
      assert.equal(calls.length, 0, "no call was created");
      assert.ok(afterFlood.rssKiB - before.rssKiB < 40 * 1024, "RSS grew by less than 40 MiB");
      assert.ok(afterFlood.fds - before.fds <= 2, "no sockets or files left open");
      assert.ok(latency.failures === 0 && latency.max < 1500, `control socket answered promptly (max ${latency.max} ms)`);
    } finally {
      await Promise.all(strangers.slice(1).map((s) => s.stop()));
    }
  });

  test("a thousand candidates or payload types, huge attributes, unknown actions and namespaces: bad-request; unknown session-info: unsupported-info", async () => {
    // 1200 candidates are ~200 KB: under Prosody's 256 KiB stanza limit (c2s_stanza_size_limit), which bounds everything before us.
    const many = Array.from({ length: 1200 }, (_, i) => candidate(10000 + (i % 50000), i));
    const cases: [string, Element, string][] = [
      ["1200 candidates", jingleIq(alice.jid, { action: "session-initiate", sid: "big-1", initiator: "x", contents: [audioContent({ candidates: many })] }), "bad-request"],
      ["1000 payload types", jingleIq(alice.jid, { action: "session-initiate", sid: "big-2", initiator: "x", contents: [audioContent({ payloadTypes: Array.from({ length: 1000 }, (_, i) => ({ ...PCMU, id: i % 128 })) })] }), "bad-request"],
      ["a 100 KB attribute", jingleIq(alice.jid, { action: "session-initiate", sid: "big-3", initiator: "x".repeat(100_000), contents: [audioContent()] }), "bad-request"],
    ];
    for (const [what, iq, condition] of cases) assert.equal((await iqError(mallory, iq))?.condition, condition, what);
    const unknownAction = xml("iq", { type: "set", to: alice.jid }, xml("jingle", { xmlns: NS.jingle, action: "session-explode", sid: "u1" }));
    assert.equal((await iqError(mallory, unknownAction))?.condition, "bad-request", "unknown action");
    // Unknown children in unknown namespaces are ignored; an unknown application is refused politely (unsupported-applications).
    const mark = alice.events.length;
    const before = toMallory.length;
    const ft = xml(
      "iq",
      { type: "set", to: alice.jid },
      xml("jingle", { xmlns: NS.jingle, action: "session-initiate", sid: "ft-1", initiator: "mallory@x/evil" }, xml("x", { xmlns: "urn:example:unknown" }), xml("content", { creator: "initiator", name: "file" }, xml("description", { xmlns: "urn:xmpp:jingle:apps:file-transfer:5" }), xml("transport", { xmlns: "urn:xmpp:jingle:transports:s5b:1" }))),
    );
    assert.equal(await iqError(mallory, ft), undefined, "acknowledged");
    await until(() => toMallory.slice(before).some((j) => j.sid === "ft-1" && j.action === "session-terminate"), 10_000, "session-terminate for the file transfer");
    assert.equal(toMallory.slice(before).find((j) => j.sid === "ft-1")?.reason?.condition, "unsupported-applications");
    const ended = await alice.waitForEvent((e) => e.event === "call" && e.type === "ended" && alice.events.indexOf(e) >= mark, 5000, "ended");
    assert.equal(ended.reason, "unsupported-applications");

    // A live incoming session from mallory: a payload we do not know in session-info, then a session-accept from the initiator.
    const mark2 = alice.events.length;
    assert.equal(await iqError(mallory, jingleIq(alice.jid, { action: "session-initiate", sid: "s-1", initiator: "mallory@localhost/evil", contents: [audioContent()] })), undefined);
    const inc = await alice.waitForEvent(incomingAfter(alice, mark2), 10_000, "alice rings");
    const odd = xml("iq", { type: "set", to: alice.jid }, xml("jingle", { xmlns: NS.jingle, action: "session-info", sid: "s-1" }, xml("warp", { xmlns: "urn:example:unknown" })));
    assert.deepEqual(await iqError(mallory, odd), { type: "modify", condition: "feature-not-implemented", jingle: "unsupported-info" }, "unknown session-info payload");
    assert.equal(await iqError(mallory, jingleIq(alice.jid, { action: "session-info", sid: "s-1", contents: [] })), undefined, "an empty session-info is a ping");
    assert.deepEqual(await iqError(mallory, jingleIq(alice.jid, { action: "session-accept", sid: "s-1", responder: "x", contents: [audioContent()] })), OUT_OF_ORDER, "session-accept from the initiator");
    await alice.control.request("reject", { callId: inc.callId });
    await alice.waitForEvent(isCall(inc.callId, "ended"), 5000, "rejected");
    assert.deepEqual(await iqError(mallory, jingleIq(alice.jid, { action: "session-terminate", sid: "s-1", contents: [], reason: { condition: "success" } })), UNKNOWN_SESSION, "terminate after the end");
  });

  test("the peer of a call names 300 candidates in 5 transport-infos: connectivity checks go to at most 100 of them", async (t) => {
    // 300 listening UDP sockets stand for 300 addresses; each counts the STUN checks it receives.
    const socks = await Promise.all(
      Array.from({ length: 300 }, async () => {
        const s = createSocket("udp4");
        await new Promise<void>((r) => s.bind(0, "127.0.0.1", () => r()));
        return s;
      }),
    );
    const hit = new Set<number>();
    socks.forEach((s, i) => s.on("message", (m: Buffer) => m.length >= 20 && m.readUInt16BE(0) === 0x0001 && hit.add(i)));
    try {
      const before = toMallory.length;
      const { callId, sid } = (await alice.control.request("call", { jid: `mallory@${prosody.domain}/evil` })) as { callId: string; sid: string };
      await until(() => toMallory.slice(before).some((j) => j.sid === sid && j.action === "session-initiate"), 10_000, "session-initiate to mallory");
      const cands = socks.map((s, i) => candidate(s.address().port, i + 1));
      assert.equal(await iqError(mallory, jingleIq(alice.jid, { action: "session-accept", sid, responder: `mallory@${prosody.domain}/evil`, contents: [audioContent({ candidates: cands.slice(0, 60) })] })), undefined);
      for (let k = 1; k < 5; k++) {
        const j: Jingle = { action: "transport-info", sid, contents: [{ creator: "initiator", name: "audio", transport: { ufrag: "m4ll", pwd: "0123456789abcdefghijklmn", candidates: cands.slice(60 * k, 60 * (k + 1)) } }] };
        assert.equal(await iqError(mallory, jingleIq(alice.jid, j)), undefined, `transport-info ${k}`);
      }
      await sleep(6000);
      t.diagnostic(`checks reached ${hit.size} of 300 named addresses`);
      assert.ok(hit.size > 0, "checks were sent (the test sees them)");
      assert.ok(hit.size <= 100, `checks went to ${hit.size} addresses`);
      await alice.control.request("hangup", { callId });
      await alice.waitForEvent(isCall(callId, "ended"), 5000, "ended");
    } finally {
      for (const s of socks) s.close();
    }
  });

  test("duplicate session-accept and actions out of order on a call the daemon placed: out-of-order / unknown-session", async () => {
    assert.deepEqual(await iqError(mallory, jingleIq(alice.jid, { action: "transport-info", sid: "never-started", contents: [audioContent()] })), UNKNOWN_SESSION, "transport-info before any session");
    const before = toMallory.length;
    const { callId, sid } = (await alice.control.request("call", { jid: `mallory@${prosody.domain}/evil` })) as { callId: string; sid: string };
    await until(() => toMallory.slice(before).some((j) => j.sid === sid && j.action === "session-initiate"), 10_000, "session-initiate to mallory");
    const accept: Jingle = { action: "session-accept", sid, responder: `mallory@${prosody.domain}/evil`, contents: [audioContent({ candidates: [candidate(9)] })] };
    assert.equal(await iqError(mallory, jingleIq(alice.jid, accept)), undefined, "the first session-accept");
    assert.deepEqual(await iqError(mallory, jingleIq(alice.jid, accept)), OUT_OF_ORDER, "the second session-accept");
    assert.deepEqual(await iqError(mallory, jingleIq(alice.jid, { action: "session-initiate", sid, initiator: "x", contents: [audioContent()] })), { type: "cancel", condition: "conflict" }, "session-initiate on our own sid");
    assert.equal(await iqError(mallory, jingleIq(alice.jid, { action: "session-terminate", sid, contents: [], reason: { condition: "decline" } })), undefined);
    const end = await alice.waitForEvent(isCall(callId, "ended"), 5000, "ended");
    assert.equal(end.reason, "decline");
    assert.deepEqual(await iqError(mallory, jingleIq(alice.jid, accept)), UNKNOWN_SESSION, "session-accept after the end");
    assert.equal(((await alice.control.request("calls")) as unknown[]).length, 0);
  });
});
