// jingled against the second XMPP server implementation people run: a real
// ejabberd 23.01 (Debian's, scripts/lab/ejabberd.ts), one server for the
// whole file. Real daemons log in (SCRAM), manage their roster, call each
// other directly (session-initiate to a full JID) and through XEP-0353 (a bare
// JID, carbons stopping the other device ringing), get STUN/TURN credentials
// from ejabberd's own STUN/TURN service (XEP-0215, mod_stun_disco) and carry
// a call through ejabberd's relay, and resume their stream (XEP-0198) after
// the TCP connection is cut mid-call. A second server beside it logs in with
// SCRAM-SHA-256. Without ejabberd the file skips.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { join } from "node:path";
import { ejabberdUnavailable, startEjabberd, type EjabberdServer } from "../../scripts/lab/ejabberd.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { startTcpCutProxy, type TcpCutProxy } from "../../scripts/lab/tcp-cut-proxy.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudioSegments, readMono16 as mono16 } from "../../scripts/lab/audio-compare.js";
import type { AnyEvent } from "../../src/control/client.js";
import { XmppConnection } from "../../src/xmpp/connection.js";
import { NS_EXTDISCO, buildServicesQuery, parseServices } from "../../src/xmpp/extdisco.js";
import { silentLogger } from "../../src/util/logger.js";

// How long both sides talk, and the speech floor (compareAudioSegments). On a
// busy machine a few packets arrive late (seen: 6 of 151 in 3 s through
// ejabberd's relay; 0.68 for a 3 s direct call with a second copy of this file
// running): a call longer than the phrase and a floor of 0.8 keep one bad
// 250 ms segment from deciding the test. Typical scores are 0.88-0.91.
const TALK_MS = 5000;
const FLOOR = 0.8;
const unavailable = ejabberdUnavailable();

describe("ejabberd: login, roster, calls, carbons, TURN, stream resumption", { skip: unavailable, timeout: 240_000 }, () => {
  let ej: EjabberdServer;
  let proxy: TcpCutProxy;
  let dir: string;
  let alice: Daemon;
  let phone: Daemon;
  let desk: Daemon;
  const speech = { alice: "", bob: "" };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "jingled-ejabberd-"));
    ej = await startEjabberd({
      turn: true,
      users: [
        { username: "alice", password: "a-pw" },
        { username: "bob", password: "b-pw" },
        { username: "carol", password: "c-pw" },
        { username: "dave", password: "d-pw" },
      ],
    });
    // alice reaches the server through a forwarder the stream-resumption test cuts.
    proxy = await startTcpCutProxy({ host: "127.0.0.1", port: ej.port });
    speech.alice = join(dir, "alice-says.wav");
    speech.bob = join(dir, "bob-says.wav");
    await makeSpeechWav("The quick brown fox jumps over the lazy dog near the river bank.", speech.alice);
    await makeSpeechWav("Seven silver swans swim slowly southward under a bright blue sky.", speech.bob, { voice: "en+f3" });
    [alice, phone, desk] = await Promise.all([
      startDaemon({ server: ej, xmppPort: proxy.port, username: "alice", password: "a-pw", dir: join(dir, "alice"), input: { type: "file", path: speech.alice } }),
      // The phone has the higher presence priority: ejabberd delivers a message to
      // bob's bare JID to it alone (RFC 6121 §8.5.2.1.1), the desk gets a carbon.
      startDaemon({
        server: ej, username: "bob", password: "b-pw", resource: "phone", dir: join(dir, "phone"), input: { type: "file", path: speech.bob },
        config: { account: { jid: "bob@localhost", password: "b-pw", resource: "phone", server: `xmpp://127.0.0.1:${ej.port}`, priority: 1 } },
      }),
      startDaemon({ server: ej, username: "bob", password: "b-pw", resource: "desk", dir: join(dir, "desk"), input: { type: "tone", frequency: 440 }, output: { type: "null" } }),
    ]);
  });

  after(async () => {
    await Promise.all([alice?.stop(), phone?.stop(), desk?.stop()]);
    await proxy?.stop();
    await ej?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  const is = (callId: unknown, type: string) => (e: AnyEvent) => e.event === "call" && e.callId === callId && e.type === type;
  const incoming = (d: Daemon, mark: number) => (e: AnyEvent) => e.event === "call" && e.type === "incoming" && d.events.indexOf(e) >= mark;
  const since = (d: Daemon, mark: number, pred: (e: AnyEvent) => boolean) => (e: AnyEvent) => d.events.indexOf(e) >= mark && pred(e);

  /**
   * Packets ejabberd's TURN allocation on each relay port received, from its
   * log line "Relayed N KiB (in B B / P packets, ...) [..., relay IP:PORT]",
   * written when the allocation is released; only log text after `from`.
   */
  async function relayedPackets(from: number, ports: number[]): Promise<number[]> {
    const counts = (): (number | undefined)[] => {
      const text = readFileSync(ej.logFile, "utf8").slice(from);
      return ports.map((port) => {
        const m = [...text.matchAll(new RegExp(`Relayed \\d+ KiB \\(in \\d+ B / (\\d+) packets.*relay 127\\.0\\.0\\.1:${port}\\]`, "g"))];
        return m.length ? Number(m[m.length - 1]![1]) : undefined;
      });
    };
    for (let i = 0; i < 50 && counts().some((n) => n === undefined); i++) await new Promise((r) => setTimeout(r, 100));
    return counts().map((n) => n ?? 0);
  }

  /** Each recording compared with what the other side played. */
  function assertSpeech(t: { diagnostic(s: string): void }, what: string, pairs: [said: string, heard: string, who: string][], floor = FLOOR): void {
    for (const [said, heard, who] of pairs) {
      const ref = mono16(said);
      const rec = mono16(heard);
      const cmp = compareAudioSegments(ref.pcm, ref.rate, rec.pcm, rec.rate);
      t.diagnostic(`${what} ${who}: correlation ${cmp.correlation.toFixed(3)} (worst segment ${cmp.worst.toFixed(3)}), lag ${cmp.lagMs.toFixed(0)} ms`);
      assert.ok(cmp.correlation >= floor, `${what} ${who}: correlation ${cmp.correlation.toFixed(3)} < ${floor}`);
    }
  }

  test("the daemons log in with SCRAM-SHA-1-PLUS over STARTTLS, bound to the TLS connection by tls-unique (as ejabberd's log says)", async () => {
    const log = ej.logs();
    for (const who of ["alice", "bob"]) {
      assert.match(log, new RegExp(`Accepted c2s SCRAM-SHA-1-PLUS authentication for ${who}@localhost`), `${who} logged in with SCRAM-SHA-1-PLUS`);
    }
    // ejabberd 23.01 announces no XEP-0440 list; it takes tls-unique (from the TLS 1.3 Finished) and checks it.
    // The daemon's "online" event on the control socket can arrive before its log line has come through the pipe.
    await alice.process.waitForLine(/"mechanism":"SCRAM-SHA-1-PLUS","channelBinding":"tls-unique","msg":"online"/, 5000);
    assert.doesNotMatch(log, /Accepted c2s PLAIN authentication/);
    assert.match(alice.jid, /^alice@localhost\/jingled$/);
  });

  test("roster: add, the subscription request, approve", async () => {
    const bobBare = ej.jid("bob");
    const aliceBare = ej.jid("alice");
    const pMark = phone.events.length;
    assert.deepEqual(await alice.control.request("roster", { action: "add", jid: bobBare, name: "Bob" }), { jid: bobBare });
    await alice.waitForEvent((e) => e.event === "roster" && e.type === "changed" && e.jid === bobBare, 5000, "roster push");
    const list = (await alice.control.request("roster")) as { items: { jid: string; name?: string }[] };
    assert.deepEqual(list.items.map((i) => [i.jid, i.name]), [[bobBare, "Bob"]]);
    await phone.waitForEvent(since(phone, pMark, (e) => e.event === "roster" && e.type === "request" && e.jid === aliceBare), 5000, "subscription request");
    await phone.control.request("roster", { action: "approve", jid: aliceBare });
    await alice.waitForEvent(
      (e) => e.event === "roster" && e.type === "changed" && e.jid === bobBare && (e.item as { subscription?: string }).subscription === "to",
      5000,
      "subscription approved",
    );
  });

  test("direct call (session-initiate to a full JID): speech both ways, hang up", async (t) => {
    const pMark = phone.events.length;
    const { callId } = (await alice.control.request("call", { jid: phone.jid, codecs: ["opus"] })) as { callId: string };
    const inc = await phone.waitForEvent(incoming(phone, pMark), 10000, "phone rings");
    assert.equal(inc.peer, alice.jid);
    await phone.control.request("answer", { callId: inc.callId });
    await alice.waitForEvent(is(callId, "active"), 10000, "alice active");
    const media = await alice.waitForEvent((e) => e.event === "media" && e.callId === callId, 5000, "media");
    assert.equal(media.encryption, "dtls-srtp");
    await new Promise((r) => setTimeout(r, TALK_MS));
    await alice.control.request("hangup", { callId });
    const endA = await alice.waitForEvent(is(callId, "ended"), 10000, "alice ended");
    const endB = await phone.waitForEvent(is(inc.callId, "ended"), 10000, "phone ended");
    assert.equal(endB.reason, "success");
    for (const [who, e] of [["alice", endA], ["bob", endB]] as const) t.diagnostic(`${who}'s call stats: ${JSON.stringify(e.stats)}`);
    assertSpeech(t, "direct", [
      [speech.alice, (endB.stats as { recording: string }).recording, "alice -> bob"],
      [speech.bob, (endA.stats as { recording: string }).recording, "bob -> alice"],
    ]);
  });

  test("XEP-0353 to a bare JID the other way: bob's phone calls alice, she answers, audio flows", async () => {
    const aMark = alice.events.length;
    const { callId } = (await phone.control.request("call", { jid: ej.jid("alice"), codecs: ["pcmu"] })) as { callId: string };
    const inc = await alice.waitForEvent(incoming(alice, aMark), 10000, "alice rings");
    assert.equal(inc.peer, phone.jid);
    await phone.waitForEvent(is(callId, "ringing"), 10000, "ringing");
    await alice.control.request("answer", { callId: inc.callId });
    await phone.waitForEvent(is(callId, "active"), 10000, "phone active");
    const media = await phone.waitForEvent((e) => e.event === "media" && e.callId === callId, 5000, "media");
    assert.equal(media.codec, "PCMU");
    await new Promise((r) => setTimeout(r, 1000));
    const calls = (await phone.control.request("calls")) as { peer: string; stats?: { packetsReceived: number } }[];
    assert.equal(calls[0]!.peer, alice.jid, "the session went to the device that proceeded");
    assert.ok((calls[0]!.stats?.packetsReceived ?? 0) > 20, "media flows");
    await alice.control.request("hangup", { callId: inc.callId });
    assert.equal((await phone.waitForEvent(is(callId, "ended"), 10000, "phone ended")).reason, "success");
  });

  test("XEP-0353 to bob's bare JID: the desk (lower priority) rings through a received carbon; alice cancels; the retract reaches both", async () => {
    const [pMark, dMark] = [phone.events.length, desk.events.length];
    const { callId } = (await alice.control.request("call", { jid: ej.jid("bob") })) as { callId: string };
    const onPhone = await phone.waitForEvent(incoming(phone, pMark), 10000, "phone rings");
    const onDesk = await desk.waitForEvent(incoming(desk, dMark), 10000, "desk rings");
    await alice.control.request("hangup", { callId });
    assert.equal((await alice.waitForEvent(is(callId, "ended"), 10000, "alice ended")).reason, "cancel");
    for (const [d, c] of [[phone, onPhone.callId], [desk, onDesk.callId]] as const) {
      assert.equal((await d.waitForEvent(is(c, "ended"), 10000, "retracted")).reason, "cancel");
    }
  });

  test("XEP-0353 to bob's bare JID: both devices ring; the phone answers; carbons stop the desk ringing", async () => {
    const [pMark, dMark] = [phone.events.length, desk.events.length];
    const { callId } = (await alice.control.request("call", { jid: ej.jid("bob") })) as { callId: string };
    const onPhone = await phone.waitForEvent(incoming(phone, pMark), 10000, "phone rings");
    const onDesk = await desk.waitForEvent(incoming(desk, dMark), 10000, "desk rings");
    await alice.waitForEvent(is(callId, "ringing"), 10000, "alice hears ringing");
    await phone.control.request("answer", { callId: onPhone.callId });
    const deskEnd = await desk.waitForEvent(is(onDesk.callId, "ended"), 10000, "desk stops ringing");
    assert.equal(deskEnd.text, "answered on another device");
    await alice.waitForEvent(is(callId, "active"), 10000, "alice active");
    const calls = (await alice.control.request("calls")) as { peer: string }[];
    assert.equal(calls[0]!.peer, phone.jid);
    await alice.control.request("hangup", { callId });
    assert.equal((await phone.waitForEvent(is(onPhone.callId, "ended"), 10000, "phone ended")).reason, "success");
  });

  test("XEP-0215: ejabberd's own STUN/TURN with short-lived credentials; a relay-only call carries audio through it", async (t) => {
    // What mod_stun_disco answers.
    const conn = new XmppConnection({
      jid: ej.jid("carol"), password: "c-pw", resource: "probe", service: `xmpp://127.0.0.1:${ej.port}`,
      allowPlaintext: false, caFile: ej.caFile, priority: 0, features: [], logger: silentLogger(),
    });
    await conn.start();
    let services;
    try {
      services = parseServices((await conn.iq(buildServicesQuery(ej.domain), 5000)).getChild("services", NS_EXTDISCO));
    } finally {
      await conn.stop();
    }
    t.diagnostic(`services: ${JSON.stringify(services.map((s) => ({ ...s, password: s.password ? "***" : undefined })))}`);
    const turn = services.find((s) => s.type === "turn" && s.transport === "udp");
    assert.ok(services.some((s) => s.type === "stun" && s.host === "127.0.0.1" && s.port === ej.stunPort), "the STUN listener is offered");
    assert.ok(turn && turn.host === "127.0.0.1" && turn.port === ej.stunPort, "the TURN listener is offered");
    assert.ok(turn.username && turn.password, "with credentials");
    assert.ok(turn.expires && turn.expires > Date.now(), "that expire");

    // Two daemons restricted to relay candidates, the relay learnt from ejabberd.
    const logMark = readFileSync(ej.logFile, "utf8").length;
    const relayPortsUsed: number[] = [];
    const relayOnly = { ice: { addresses: ["127.0.0.1"], policy: "relay", connectTimeoutMs: 15000 } };
    const [carol, dave] = await Promise.all([
      startDaemon({ server: ej, username: "carol", password: "c-pw", dir: join(dir, "carol"), input: { type: "file", path: speech.alice }, config: relayOnly }),
      startDaemon({ server: ej, username: "dave", password: "d-pw", dir: join(dir, "dave"), input: { type: "file", path: speech.bob }, config: relayOnly }),
    ]);
    try {
      const dMark = dave.events.length;
      const { callId } = (await carol.control.request("call", { jid: dave.jid, codecs: ["opus"] })) as { callId: string };
      const inc = await dave.waitForEvent(incoming(dave, dMark), 10000, "dave rings");
      await dave.control.request("answer", { callId: inc.callId });
      const media = await carol.waitForEvent((e) => e.event === "media" && e.callId === callId, 20000, "media at carol");
      const mediaD = await dave.waitForEvent((e) => e.event === "media" && e.callId === inc.callId, 20000, "media at dave");
      const [lo, hi] = ej.relayPorts!;
      for (const [who, m] of [["carol", media], ["dave", mediaD]] as const) {
        const l = m.localCandidate as { type: string; ip: string; port: number };
        const r = m.remoteCandidate as { type: string; ip: string; port: number };
        t.diagnostic(`${who}: ${l.type} ${l.ip}:${l.port} <-> ${r.type} ${r.ip}:${r.port}`);
        assert.equal(l.type, "relay");
        assert.equal(r.type, "relay");
        assert.ok(l.port >= lo && l.port <= hi, `${who}'s relay port ${l.port} is one of ejabberd's (${lo}-${hi})`);
        relayPortsUsed.push(l.port);
      }
      await new Promise((r) => setTimeout(r, TALK_MS));
      await carol.control.request("hangup", { callId });
      const endC = await carol.waitForEvent(is(callId, "ended"), 10000, "carol ended");
      const endD = await dave.waitForEvent(is(inc.callId, "ended"), 10000, "dave ended");
      assert.equal(endD.reason, "success");
      // ejabberd's TURN logs what each allocation carried when it is released (after the call).
      const relayed = await relayedPackets(logMark, relayPortsUsed);
      t.diagnostic(`ejabberd relayed ${relayed.join(" and ")} packets on ports ${relayPortsUsed.join(" and ")}`);
      assert.ok(relayed.every((n) => n > 100), `both sides' audio went through ejabberd's relay (${relayed.join(", ")} packets)`);
      assertSpeech(t, "relayed", [
        [speech.alice, (endD.stats as { recording: string }).recording, "carol -> dave"],
        [speech.bob, (endC.stats as { recording: string }).recording, "dave -> carol"],
      ]);
    } finally {
      await Promise.all([carol.stop(), dave.stop()]);
    }
  });

  test("XEP-0198: alice's TCP connection is cut mid-call; the stream resumes, the call goes on, a stanza sent meanwhile arrives", async (t) => {
    const pMark = phone.events.length;
    const { callId } = (await alice.control.request("call", { jid: phone.jid, codecs: ["opus"] })) as { callId: string };
    const inc = await phone.waitForEvent(incoming(phone, pMark), 10000, "phone rings");
    await phone.control.request("answer", { callId: inc.callId });
    await alice.waitForEvent(is(callId, "active"), 10000, "alice active");
    await alice.waitForEvent((e) => e.event === "media" && e.callId === callId, 5000, "media");
    await new Promise((r) => setTimeout(r, 500));

    const aMark = alice.events.length;
    const logMark = alice.process.mark();
    const packetsBefore = ((await alice.control.request("stats", { callId })) as { packetsReceived: number }).packetsReceived;
    assert.equal(proxy.cut(), 1, "one connection cut");
    await alice.waitForEvent(since(alice, aMark, (e) => e.event === "account" && e.state === "reconnecting"), 5000, "alice notices");
    // While alice is away, bob mutes: ejabberd keeps the session-info for the resumed stream.
    await phone.control.request("mute", { callId: inc.callId });
    await alice.waitForEvent(since(alice, aMark, (e) => e.event === "account" && e.state === "online"), 20000, "alice back online");
    const muted = await alice.waitForEvent(since(alice, aMark, (e) => is(callId, "muted")(e) && e.by === "peer"), 10000, "bob's mute reaches alice");
    assert.ok(muted);
    // Resumed (XEP-0198 <resumed/>), not replaced by a new session: jingled logs it, and so does ejabberd.
    await alice.process.waitForLine(/"stream resumed"/, 5000, { after: logMark });
    assert.match(ej.logs(), /waiting \d+ seconds for stream resumption[\s\S]*Resumed session for alice@localhost\/jingled/, "ejabberd resumed alice's session");
    const stats = (await alice.control.request("stats", { callId })) as { state: string; packetsReceived: number };
    assert.equal(stats.state, "active", "the call survived");
    assert.ok(stats.packetsReceived > packetsBefore + 25, `media went on (${packetsBefore} -> ${stats.packetsReceived} packets)`);
    t.diagnostic(`cut after ${packetsBefore} packets; ${stats.packetsReceived} after resumption; proxy saw ${proxy.accepted} connections`);
    await alice.control.request("hangup", { callId });
    assert.equal((await phone.waitForEvent(is(inc.callId, "ended"), 10000, "phone ended")).reason, "success");
    assert.equal((await alice.waitForEvent(is(callId, "ended"), 10000, "alice ended")).reason, "success");
  });

  test("a second server runs beside the first (its own node name and distribution port, no epmd); SCRAM-SHA-256-PLUS there", async (t) => {
    // Passwords stored as SHA-256 SCRAM: ejabberd offers SCRAM-SHA-256 (and -PLUS, PLAIN), not SCRAM-SHA-1.
    const other = await startEjabberd({ scramHash: "sha256", users: [{ username: "zed", password: "z-pw" }] });
    try {
      const zed = new XmppConnection({
        jid: other.jid("zed"), password: "z-pw", resource: "probe", service: `xmpp://127.0.0.1:${other.port}`,
        allowPlaintext: false, caFile: other.caFile, priority: 0, features: [], logger: silentLogger(),
      });
      await zed.start();
      await zed.stop();
      assert.match(other.logs(), /Accepted c2s SCRAM-SHA-256-PLUS authentication for zed@localhost/);
      assert.notEqual(other.node, ej.node);
      assert.notEqual(other.distPort, ej.distPort);
      // Each server's control commands reach that server only.
      assert.deepEqual((await other.ctl("registered_users", other.domain)).split("\n").sort(), ["zed"]);
      assert.deepEqual((await ej.ctl("registered_users", ej.domain)).split("\n").sort(), ["alice", "bob", "carol", "dave"]);
      // Neither node registered with an epmd (none needs to run; one that runs for something else does not know them).
      const epmdRuns = await new Promise<boolean>((resolve) => {
        const sock = connect(4369, "127.0.0.1");
        sock.once("connect", () => (sock.destroy(), resolve(true)));
        sock.once("error", () => resolve(false));
      });
      if (epmdRuns) {
        const names = await new Promise<string>((resolve) => execFile("epmd", ["-names"], (_err, out) => resolve(String(out))));
        for (const node of [ej.node, other.node]) assert.ok(!names.includes(` ${node.split("@")[0]} `), `${node} is not registered with epmd`);
      }
      t.diagnostic(`second server: started in ${Math.round(other.timings.startMs)} ms, user created in ${Math.round(other.timings.usersMs)} ms; an epmd ${epmdRuns ? "runs (not ours)" : "does not run"}`);
    } finally {
      const t0 = performance.now();
      await other.stop();
      t.diagnostic(`stopped in ${Math.round(performance.now() - t0)} ms`);
    }
  });
});
