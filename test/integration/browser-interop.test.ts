// Interop with a real WebRTC peer: headless Chromium running a StanzaJS
// Jingle client (scripts/lab/browser-client.ts) calls jingled and is called by it,
// through a real Prosody (websocket for the browser, c2s for jingled).
//
// Network: everything runs in a network namespace this file creates, with
// only `lo` up. The file re-runs itself inside it (runSelfInNetns), so
// Prosody, jingled and Chromium all see one loopback and nothing else, and
// no ICE check can leave the namespace. (The IPv6 test adds a veth pair with
// ULA addresses, inside the namespace too, and removes it.) Without root or `ip`, or without
// /usr/bin/chromium, the file skips with the reason.
//
// Chromium requires DTLS-SRTP; the media tests check speech both ways over
// it. The harness baseline (two StanzaJS pages call each other) shows the
// page itself works when a jingled test fails.
// Every test reports what the browser sent and received (one line per Jingle
// stanza) and what StanzaJS and Chromium complained about.
//
// Rerun: node scripts/run-tests.mjs test/integration/browser-interop.test.ts
// (KEEP_TEST_DIR=1 keeps the WAVs: what was played and what each side heard).
import { after, afterEach, before, describe, test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { inOwnNetns, nonLoopbackAddresses } from "../../scripts/lab/netns.js";
import { browserPeerUnavailable, describePeerLog, iqAttrs, startBrowserPeer, type BrowserPeer, type PeerLogEntry, type PeerState } from "../../scripts/lab/browser-peer.js";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { startDaemon, type Daemon } from "../../scripts/lab/daemon.js";
import { onExitCleanup } from "../../scripts/lab/process.js";
import { makeSpeechWav } from "../../scripts/lab/speech.js";
import { compareAudio, compareAudioSegments, readMono16 as mono16 } from "../../scripts/lab/audio-compare.js";
import { bandEnergyShare } from "../helpers/audio-band.js";
import { writeWavFile } from "../../src/media/wav.js";
import { connectControl, type AnyEvent, type ControlClient } from "../../src/control/client.js";

/** Whole file, in the namespace (the runner's per-file limit is longer). */
const FILE_LIMIT_MS = 150_000;
/** How long both sides talk in the media tests (longer than twice the browser's looped phrase). */
const TALK_MS = 5000;
/** compareAudioSegments score (see checkAudio) for Opus through libwebrtc. */
const MIN_CORRELATION = 0.8;
const NS_DTLS = "urn:xmpp:jingle:apps:dtls:0";

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

if (await inOwnNetns({ prefix: "jingled-browser", what: "browser interop (Chromium + StanzaJS <-> jingled)", limitMs: FILE_LIMIT_MS, unavailable: browserPeerUnavailable })) {
  // ------------------------------------------------------------ inside the namespace
  describe("browser interop: Chromium (StanzaJS) <-> jingled through Prosody", { timeout: FILE_LIMIT_MS - 10_000 }, () => {
    let dir: string;
    let prosody: ProsodyServer;
    let alice: Daemon;
    let peer: BrowserPeer;
    let browserJid = "";
    /** Control connections of requests sent with detached(), closed at the end. */
    const detachedClients = new Set<ControlClient>();
    const wav = { jingled: "", browser: "", dave: "" };
    const timings: Record<string, number> = {};

    before(async () => {
      assert.deepEqual(nonLoopbackAddresses(), [], "the test namespace has only loopback");
      dir = mkdtempSync(join(tmpdir(), "jingled-browser-interop-"));
      if (!process.env.KEEP_TEST_DIR) onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
      const t0 = performance.now();
      [prosody] = await Promise.all([
        startProsody({
          modules: ["websocket"],
          users: [
            { username: "alice", password: "alice-pw" },
            { username: "carol", password: "carol-pw" },
            { username: "dave", password: "dave-pw" },
          ],
        }),
        (async () => {
          wav.jingled = join(dir, "jingled-says.wav");
          wav.browser = join(dir, "browser-says.wav");
          await makeSpeechWav("The quick brown fox jumps over the lazy dog.", wav.jingled);
          // Chromium's fake capture reads 16-bit PCM WAV at any rate; 48 kHz mono needs no resampling.
          await makeSpeechWav("Seven silver swans swim south.", wav.browser, { voice: "en+f3", sampleRate: 48000, channels: 1 });
          wav.dave = join(dir, "dave-says.wav");
          await makeSpeechWav("Bright blue birds sing.", wav.dave, { sampleRate: 48000, channels: 1 });
        })(),
      ]);
      timings.prosodyMs = prosody.timings.startMs;
      [alice, peer] = await Promise.all([
        startDaemon({
          prosody,
          username: "alice",
          password: "alice-pw",
          dir: join(dir, "alice"),
          input: { type: "file", path: wav.jingled },
        }),
        startBrowserPeer({ fakeMicWav: wav.browser }),
      ]);
      timings.setupMs = performance.now() - t0;
      timings.chromiumLaunchMs = peer.timings.launchMs;
      timings.pageLoadMs = peer.timings.pageMs;
      timings.bundleMs = peer.timings.bundleMs;
      const tLogin = performance.now();
      browserJid = await peer.connect({ jid: prosody.jid("carol"), password: "carol-pw", wsUrl: prosody.websocketUrl! });
      timings.browserLoginMs = performance.now() - tLogin;
    });

    after(async () => {
      if (peer) {
        writeFileSync(join(dir, "browser-console.log"), peer.console().join("\n"));
        await peer.close();
      }
      // A call still waiting in jingled's queue (see the signalling tests)
      // ends by itself within 15 s; stopping jingled before would hang on it.
      if (alice) await jingledIdle(20000);
      for (const c of detachedClients) await c.close().catch(() => undefined);
      await alice?.stop();
      await prosody?.stop();
      if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    });

    // Every test leaves no call behind: the browser ends its sessions, then
    // jingled's leftovers are hung up, each request on its own connection
    // (a hangup waits for the call's queue; see detached()).
    afterEach(async () => {
      await peer?.hangup().catch(() => undefined);
      if (!alice || (await jingledIdle(2000))) return;
      const left = (await alice.control.request("calls").catch(() => [])) as { id: string }[];
      for (const c of left) void detached("hangup", { callId: c.id }).catch(() => undefined);
    });

    /**
     * A request on a control connection of its own. A client's requests are
     * answered in order, and until DTLS-SRTP jingled's `answer`, `call` and
     * `hangup` can take 15 s (see the signalling tests): on the main
     * connection they would hold up every later request of the test.
     */
    async function detached(cmd: string, args: Record<string, unknown>): Promise<unknown> {
      const c = await connectControl(alice.socketPath);
      detachedClients.add(c);
      try {
        return await c.request(cmd, args);
      } finally {
        detachedClients.delete(c);
        await c.close().catch(() => undefined);
      }
    }

    /** Waits until jingled has no call (true) or the time is up (false). */
    async function jingledIdle(timeoutMs: number): Promise<boolean> {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const calls = (await alice.control.request("calls").catch(() => [undefined])) as unknown[];
        if (calls.length === 0) return true;
        if (performance.now() > deadline) return false;
        await sleep(100);
      }
    }

    const callEvent = (callId: string, type: string, after = 0) => (e: AnyEvent) =>
      e.event === "call" && e.callId === callId && e.type === type && alice.events.indexOf(e) >= after;
    const incomingFrom = (peerPrefix: string, after: number) => (e: AnyEvent) =>
      e.event === "call" && e.type === "incoming" && typeof e.peer === "string" && e.peer.startsWith(peerPrefix) && alice.events.indexOf(e) >= after;

    /** jingled's first reply ("result" or "error CONDITION") to the browser's session-terminate for `sid`. */
    async function terminateAck(sid: string, since: number): Promise<string> {
      const sent = await peer.waitForLog(
        (e) => e.kind === "stanza-out" && /action=["']session-terminate["']/.test(e.text) && e.text.includes(sid),
        5000,
        "the browser's session-terminate",
        since,
      );
      const id = iqAttrs(sent.text).id;
      const reply = await peer.waitForLog(
        (e) => e.kind === "stanza-in" && iqAttrs(e.text).id === id && ["result", "error"].includes(iqAttrs(e.text).type ?? ""),
        5000,
        "jingled's reply to the session-terminate",
        since,
      );
      const a = iqAttrs(reply.text);
      return a.type === "error" ? `error ${a.condition ?? "?"}` : String(a.type);
    }

    /** Chromium needs DTLS-SRTP; a web app checks the peer's features before calling. */
    async function requireDtls(): Promise<void> {
      const features = await peer.discoFeatures(alice.jid);
      assert.ok(features.includes(NS_DTLS), `jingled does not advertise ${NS_DTLS} (DTLS-SRTP), which Chromium requires`);
    }

    /** jingled's call becomes active; fails at once if it ends instead. */
    async function jingledActive(callId: string, after: number): Promise<void> {
      const e = await alice.waitForEvent(
        (x) => x.event === "call" && x.callId === callId && (x.type === "active" || x.type === "ended") && alice.events.indexOf(x) >= after,
        10000,
        "jingled active",
      );
      assert.equal(e.type, "active", `jingled's call ended instead: ${String(e.reason)} ${String(e.text ?? "")}`);
    }

    /** The browser's session is connected (ICE and DTLS); fails at once if it ends or fails instead. */
    const browserConnected = (sid: string) => (s: PeerState) => {
      const x = s.sessions.find((y) => y.sid === sid);
      if (!x) return undefined;
      if (x.pcConnectionState === "connected") return x;
      if (x.remoteMediaRejected) throw new Error(`StanzaJS rejected the audio content of session ${sid} (m=audio 0): no DTLS fingerprint from jingled`);
      if (x.state === "ended" || x.pcConnectionState === "failed" || x.pcConnectionState === "closed") {
        throw new Error(`browser session ${sid} is ${x.state}, peer connection ${x.pcConnectionState} (${x.endReason ?? "no reason"})`);
      }
      return undefined;
    };

    /** The SDP StanzaJS gave Chromium for jingled's side, and what Chromium made of it. */
    async function sdpReport(t: TestContext, sid: string): Promise<void> {
      const sdp = await peer.sdp(sid).catch((err: Error) => ({ error: err.message }));
      for (const [k, v] of Object.entries(sdp)) {
        t.diagnostic(`--- ${k} SDP (browser ${k === "remote" ? "from jingled's stanza" : "own"}) ---`);
        for (const line of String(v).split(/\r?\n/).filter(Boolean)) t.diagnostic(`  ${line}`);
      }
    }

    /** What the browser got and said since `since` (ms on the page clock), as diagnostics. */
    async function report(t: TestContext, since: number, title: string): Promise<PeerLogEntry[]> {
      const entries = await peer.log(since);
      t.diagnostic(`--- ${title}: what the browser sent (->) and received (<-), and its complaints ---`);
      for (const line of describePeerLog(entries.filter((e) => e.kind !== "pc" || /failed|closed|connected/.test(e.text)))) t.diagnostic(line);
      return entries;
    }

    function jingledWarnings(mark: number): string[] {
      return alice.process
        .output()
        .split("\n")
        .slice(mark)
        .filter((l) => /"level":(40|50)/.test(l))
        .map((l) => (l.length > 400 ? l.slice(0, 400) + "…" : l));
    }

    const pageNow = async (): Promise<number> => {
      const log = await peer.log();
      return log.length ? log[log.length - 1]!.t + 1 : 0;
    };

    test("the browser logs in over Prosody's websocket, with no ICE server configured", async (t) => {
      assert.match(browserJid, /^carol@localhost\/.+/);
      const s = await peer.state();
      assert.equal(s.online, true);
      assert.deepEqual(s.iceServers, [], "StanzaJS's default public STUN server is overridden");
      const features = await peer.discoFeatures(alice.jid);
      t.diagnostic(`jingled's disco#info as the browser sees it: ${features.join(" ")}`);
      assert.ok(features.includes("urn:xmpp:jingle:1") && features.includes("urn:xmpp:jingle:apps:rtp:audio"), "jingled advertises Jingle RTP audio");
      t.diagnostic(`chromium ${peer.version}; timings ${JSON.stringify(Object.fromEntries(Object.entries(timings).map(([k, v]) => [k, Math.round(v)])))}`);
    });

    // The harness itself, and the reference numbers for the media tests:
    // StanzaJS calls StanzaJS (two Chromiums, each with its own fake microphone).
    test("harness baseline: two StanzaJS pages call each other, DTLS-SRTP, speech verified both ways", async (t) => {
      const dave = await startBrowserPeer({ fakeMicWav: wav.dave });
      try {
        const daveJid = await dave.connect({ jid: prosody.jid("dave"), password: "dave-pw", wsUrl: prosody.websocketUrl!, resource: "browser2" });
        await dave.setAutoAnswer(true);
        await peer.startRecording();
        await dave.startRecording();
        const t0 = performance.now();
        const sid = await peer.call(daveJid);
        const connected = await peer.waitFor(browserConnected(sid), 10000, "caller connected");
        await dave.waitFor(browserConnected(sid), 10000, "callee connected");
        t.diagnostic(`call -> connected: ${(performance.now() - t0).toFixed(0)} ms (page's own count ${connected.setupMs} ms)`);
        await sleep(TALK_MS);
        const stats = await peer.stats(sid);
        const carolHeard = await peer.stopRecording();
        const daveHeard = await dave.stopRecording();
        keep(`baseline-caller-heard-${sid}.wav`, carolHeard);
        keep(`baseline-callee-heard-${sid}.wav`, daveHeard);
        t.diagnostic(`caller stats: ${JSON.stringify(stats)}`);
        assert.equal(stats.codec?.mimeType.toLowerCase(), "audio/opus");
        assert.equal(stats.transport?.dtlsState, "connected");
        assert.equal(stats.pair?.local.address, "127.0.0.1");
        await peer.hangup(sid);
        const s = await dave.waitFor((st) => st.sessions.find((x) => x.sid === sid && x.state === "ended"), 5000, "callee ended");
        assert.equal(s.endReason, "success");
        checkAudio(t, [
          ["callee -> caller", mono16(wav.dave), { pcm: carolHeard.pcm, rate: carolHeard.sampleRate }],
          ["caller -> callee", mono16(wav.browser), { pcm: daveHeard.pcm, rate: daveHeard.sampleRate }],
        ]);
      } finally {
        await dave.close();
      }
    });

    test("signalling, browser calls jingled: session-initiate reaches jingled, its answer reaches the browser, the browser hangs up", async (t) => {
      const since = await pageNow();
      const mark = alice.events.length;
      const logMark = alice.process.mark();
      try {
        const sid = await peer.call(alice.jid);
        const incoming = await alice.waitForEvent(incomingFrom(browserJid, mark), 10000, "incoming call from the browser");
        const callId = incoming.callId as string;
        assert.equal(incoming.peer, browserJid);
        const info = ((await alice.control.request("calls")) as { id: string; sid: string }[]).find((c) => c.id === callId);
        assert.equal(info?.sid, sid, "jingled's call carries the browser's Jingle sid");

        // Detached: until DTLS-SRTP the answer request takes 15 s.
        let answered = "pending";
        void detached("answer", { callId }).then(
          () => (answered = "ok"),
          (err: Error) => (answered = `error: ${err.message}`),
        );
        const accept = await peer.waitForLog(
          (e) => e.kind === "stanza-in" && /action=["']session-accept["']/.test(e.text) && e.text.includes(sid),
          10000,
          "jingled's session-accept in the browser",
          since,
        );
        assert.ok(accept.text.includes(alice.jid), "from jingled's full JID");
        const s = await peer.waitFor((st) => st.sessions.find((x) => x.sid === sid && x.hasRemoteDescription), 5000, "the answer applied");
        await sdpReport(t, sid);

        t.diagnostic(`jingled's answer request: ${answered}`);
        const tHangup = performance.now();
        await peer.hangup(sid);
        assert.equal((await peer.session(sid))?.state, "ended");
        const ack = await terminateAck(sid, since);
        assert.equal(ack, "result", "jingled acknowledges the browser's session-terminate");
        if (s.remoteMediaRejected) {
          // Today: StanzaJS made jingled's answer a rejected m-line, never
          // acknowledges jingled's transport-info, and jingled's call queue
          // waits 15 s for that ack before it takes the session-terminate.
          t.diagnostic("StanzaJS turned jingled's session-accept into a REJECTED m-line (m=audio 0): the content has no <fingerprint/> (DTLS-SRTP); jingled's call ends later, by itself");
          return;
        }
        // Up to 20 s: when the hangup overtakes jingled's transport-info,
        // StanzaJS drops it unanswered (ending a session empties its queue)
        // and jingled's call queue waits 15 s for that ack first.
        const end = await alice.waitForEvent(callEvent(callId, "ended", mark), 20000, "jingled ended");
        t.diagnostic(`jingled's call ended ${(performance.now() - tHangup).toFixed(0)} ms after the browser hung up`);
        assert.equal(end.reason, "success");
      } finally {
        await report(t, since, "browser -> jingled");
        for (const w of jingledWarnings(logMark)) t.diagnostic(`jingled: ${w}`);
      }
    });

    test("media, browser calls jingled: Opus over DTLS-SRTP, speech verified both ways, browser hangs up", async (t) => {
      const since = await pageNow();
      const mark = alice.events.length;
      try {
        await requireDtls();
        await peer.startRecording();
        const t0 = performance.now();
        const sid = await peer.call(alice.jid);
        const incoming = await alice.waitForEvent(incomingFrom(browserJid, mark), 10000, "incoming call from the browser");
        const callId = incoming.callId as string;
        await alice.control.request("answer", { callId });
        await jingledActive(callId, mark);
        const connected = await peer.waitFor(browserConnected(sid), 10000, "browser connected (ICE + DTLS)");
        t.diagnostic(`call -> connected: ${(performance.now() - t0).toFixed(0)} ms (browser's own count ${connected.setupMs} ms)`);
        const media = await alice.waitForEvent((e) => e.event === "media" && e.callId === callId, 5000, "media event");
        assert.equal(media.codec, "opus");
        assert.equal((media.localCandidate as { ip: string }).ip, "127.0.0.1");

        await sleep(TALK_MS);
        const stats = await peer.stats(sid);
        const heardByBrowser = await peer.stopRecording();
        keep(`browser-heard-${sid}.wav`, heardByBrowser);
        t.diagnostic(`browser stats: ${JSON.stringify(stats)}`);
        assert.equal(stats.codec?.mimeType.toLowerCase(), "audio/opus");
        assert.equal(stats.transport?.dtlsState, "connected");
        assert.equal(stats.pair?.local.address, "127.0.0.1");
        assert.ok((stats.inbound?.packetsReceived ?? 0) > 150, "the browser receives RTP");

        await peer.hangup(sid);
        const end = await alice.waitForEvent(callEvent(callId, "ended", mark), 10000, "jingled ended");
        assert.equal(end.reason, "success");
        assert.equal((await peer.session(sid))?.state, "ended");

        const recording = (end.stats as { recording: string }).recording;
        checkAudio(t, [
          ["jingled -> browser", mono16(wav.jingled), { pcm: heardByBrowser.pcm, rate: heardByBrowser.sampleRate }],
          ["browser -> jingled", mono16(wav.browser), mono16(recording)],
        ]);
      } finally {
        await report(t, since, "media, browser -> jingled");
      }
    });

    test("signalling, jingled calls the browser: the session-initiate reaches the page, which rings; jingled cancels", async (t) => {
      const since = await pageNow();
      const mark = alice.events.length;
      const logMark = alice.process.mark();
      try {
        await peer.setAutoAnswer(false);
        // Detached: until DTLS-SRTP the call request takes 15 s.
        let failed: (Error & { code?: string }) | undefined;
        void detached("call", { jid: browserJid }).catch((err: Error & { code?: string }) => (failed = err));
        const outgoing = await alice.waitForEvent(
          (e) => e.event === "call" && e.type === "outgoing" && e.peer === browserJid && alice.events.indexOf(e) >= mark,
          5000,
          "jingled's outgoing call",
        );
        const result = { callId: outgoing.callId as string, sid: "" };
        const initiate = await peer.waitForLog(
          (e) => e.kind === "stanza-in" && /action=["']session-initiate["']/.test(e.text),
          10000,
          "jingled's session-initiate in the browser",
          since,
        );
        assert.equal(iqAttrs(initiate.text).from, alice.jid, "from jingled's full JID");
        result.sid = /<jingle\b[^>]*\ssid=["']([^"']+)["']/.exec(initiate.text)?.[1] ?? "";
        const info = ((await alice.control.request("calls")) as { id: string; sid: string }[]).find((c) => c.id === result.callId);
        assert.equal(info?.sid, result.sid, "the sid of jingled's call");
        assert.equal(failed, undefined, `jingled's call failed: ${failed?.code}: ${failed?.message}`);
        const ringing = await peer.waitFor((s) => s.sessions.find((x) => x.sid === result.sid && x.direction === "incoming" && x.hasRemoteDescription), 10000, "an incoming session in the page");
        assert.equal(ringing.peer, alice.jid);
        await sdpReport(t, result.sid);
        if (ringing.remoteMediaRejected) {
          // Today: StanzaJS's session queue is stuck on jingled's transport-info
          // (never acknowledged), so it would never take jingled's cancel; the
          // page declines instead, and jingled ends the call later, by itself.
          t.diagnostic("StanzaJS turned jingled's session-initiate into a REJECTED m-line (m=audio 0): the content has no <fingerprint/> (DTLS-SRTP); the page declines");
          await peer.hangup(result.sid, "decline");
          assert.equal(await terminateAck(result.sid, since), "result", "jingled acknowledges the decline");
          return;
        }
        await alice.control.request("hangup", { callId: result.callId });
        const end = await alice.waitForEvent(callEvent(result.callId, "ended", mark), 10000, "jingled ended");
        assert.equal(end.reason, "cancel");
        const s = await peer.waitFor((st) => st.sessions.find((x) => x.sid === result.sid && x.state === "ended"), 5000, "browser session ended");
        assert.equal(s.endReason, "cancel");
      } finally {
        await report(t, since, "jingled -> browser");
        for (const w of jingledWarnings(logMark)) t.diagnostic(`jingled: ${w}`);
      }
    });

    test("media, jingled calls the browser, the page auto-answers: speech verified both ways, jingled hangs up", async (t) => {
      const since = await pageNow();
      const mark = alice.events.length;
      try {
        await requireDtls();
        await peer.setAutoAnswer(true);
        await peer.startRecording();
        const t0 = performance.now();
        const { callId, sid } = (await alice.control.request("call", { jid: browserJid, codecs: ["opus"] })) as { callId: string; sid: string };
        await jingledActive(callId, mark);
        const connected = await peer.waitFor(browserConnected(sid), 10000, "browser connected (ICE + DTLS)");
        t.diagnostic(`call -> connected: ${(performance.now() - t0).toFixed(0)} ms (browser's own count ${connected.setupMs} ms)`);

        await sleep(TALK_MS);
        const stats = await peer.stats(sid);
        const heardByBrowser = await peer.stopRecording();
        keep(`browser-heard-${sid}.wav`, heardByBrowser);
        t.diagnostic(`browser stats: ${JSON.stringify(stats)}`);
        assert.equal(stats.codec?.mimeType.toLowerCase(), "audio/opus");
        assert.equal(stats.transport?.dtlsState, "connected");

        await alice.control.request("hangup", { callId });
        const end = await alice.waitForEvent(callEvent(callId, "ended", mark), 10000, "jingled ended");
        assert.equal(end.reason, "success");
        const s = await peer.waitFor((st) => st.sessions.find((x) => x.sid === sid && x.state === "ended"), 5000, "browser session ended");
        assert.equal(s.endReason, "success");

        const recording = (end.stats as { recording: string }).recording;
        checkAudio(t, [
          ["jingled -> browser", mono16(wav.jingled), { pcm: heardByBrowser.pcm, rate: heardByBrowser.sampleRate }],
          ["browser -> jingled", mono16(wav.browser), mono16(recording)],
        ]);
      } finally {
        await peer.setAutoAnswer(false);
        await report(t, since, "media, jingled -> browser");
      }
    });

    // G.711 A-law and G.722 with Chromium, which offers both (PCMA 8, G722 9,
    // nameless static types in its SDP). Each way: the browser calls jingled
    // restricted to the codec (media.codecs, applied by a reload), so jingled
    // answers Chromium's full offer with that codec alone; and jingled calls
    // the browser offering only that codec.
    for (const [id, mime, pt] of [["pcma", "audio/pcma", 8], ["g722", "audio/g722", 9]] as const) {
      test(`${id}: the browser calls jingled restricted to ${id}, jingled calls the browser with ${id} only; speech verified both ways`, async (t) => {
        const original = readFileSync(alice.configFile, "utf8");
        const since = await pageNow();
        try {
          await requireDtls();
          await setCodecs([id]);
          for (const direction of ["browser -> jingled", "jingled -> browser"] as const) {
            const mark = alice.events.length;
            await peer.startRecording();
            let callId: string;
            let sid: string;
            if (direction === "browser -> jingled") {
              await peer.setAutoAnswer(false);
              sid = await peer.call(alice.jid);
              const incoming = await alice.waitForEvent(incomingFrom(browserJid, mark), 10000, "incoming call from the browser");
              callId = incoming.callId as string;
              await alice.control.request("answer", { callId });
            } else {
              await peer.setAutoAnswer(true);
              ({ callId, sid } = (await alice.control.request("call", { jid: browserJid, codecs: [id] })) as { callId: string; sid: string });
            }
            await jingledActive(callId, mark);
            await peer.waitFor(browserConnected(sid), 10000, "browser connected (ICE + DTLS)");
            const media = await alice.waitForEvent((e) => e.event === "media" && e.callId === callId && alice.events.indexOf(e) >= mark, 5000, "media event");
            assert.equal(String(media.codec).toLowerCase(), id);
            await sleep(TALK_MS);
            const stats = await peer.stats(sid);
            const heardByBrowser = await peer.stopRecording();
            keep(`browser-heard-${id}-${sid}.wav`, heardByBrowser);
            t.diagnostic(`${direction}: browser codec ${JSON.stringify(stats.codec)}, inbound packets ${stats.inbound?.packetsReceived}`);
            assert.equal(stats.codec?.mimeType.toLowerCase(), mime, "Chromium decodes what jingled sends with the codec");
            assert.equal(stats.codec?.payloadType, pt);
            assert.equal(stats.codec?.clockRate, 8000, "G722 too: RFC 3551's 8000 Hz RTP clock");
            assert.ok((stats.inbound?.packetsReceived ?? 0) > 150, "the browser receives RTP");
            await alice.control.request("hangup", { callId });
            const end = await alice.waitForEvent(callEvent(callId, "ended", mark), 10000, "jingled ended");
            assert.equal(end.reason, "success");
            const endStats = end.stats as { recording: string; payloadType: number; packetsReceived: number };
            assert.equal(endStats.payloadType, pt);
            const heard = { pcm: heardByBrowser.pcm, rate: heardByBrowser.sampleRate };
            const recorded = mono16(endStats.recording);
            checkAudio(t, [
              [`${id} ${direction}: jingled -> browser`, mono16(wav.jingled), heard],
              [`${id} ${direction}: browser -> jingled`, mono16(wav.browser), recorded],
            ]);
            if (id === "g722") {
              // Wideband both ways: the 4-7 kHz band that G.711 cannot carry arrives.
              for (const [what, said, got] of [["jingled -> browser", mono16(wav.jingled), heard], ["browser -> jingled", mono16(wav.browser), recorded]] as const) {
                const s0 = bandEnergyShare(said.pcm, said.rate, 4000, 7000, 7000);
                const s1 = bandEnergyShare(got.pcm, got.rate, 4000, 7000, 7000);
                t.diagnostic(`g722 ${direction}, ${what}: energy share 4-7 kHz ${(100 * s1).toFixed(1)} % (said ${(100 * s0).toFixed(1)} %)`);
                assert.ok(s1 >= 0.5 * s0, `g722 ${what}: 4-7 kHz share ${s1.toFixed(4)} < half of ${s0.toFixed(4)}`);
              }
            }
          }
        } finally {
          await peer.setAutoAnswer(false);
          writeFileSync(alice.configFile, original, { mode: 0o600 });
          await alice.control.request("reload").catch(() => undefined);
          await report(t, since, `${id} both ways`);
        }
      });
    }

    /** jingled's media.codecs, changed in its config file and applied by a reload (new calls use it). */
    async function setCodecs(codecs: string[]): Promise<void> {
      const cfg = parseYaml(readFileSync(alice.configFile, "utf8")) as { media: { codecs: string[] } };
      cfg.media.codecs = codecs;
      writeFileSync(alice.configFile, stringifyYaml(cfg), { mode: 0o600 });
      const r = (await alice.control.request("reload")) as { applied: string[] };
      assert.ok(r.applied.includes("media.codecs"), `reload applied ${r.applied.join(", ")}`);
    }

    test("media over IPv6 only: jingled's one candidate is a ULA address, Chromium pairs with it, speech verified both ways", async (t) => {
      // A veth pair in this namespace with ULA addresses only: Chromium gathers them (and 127.0.0.1),
      // jingled is given one of them alone, so every pair it can form is IPv6.
      const ip = (...args: string[]) => new Promise<void>((res, rej) => execFile("ip", args, { timeout: 5000 }, (err) => (err ? rej(err) : res())));
      const [ours, theirs] = ["fd6a:7::1", "fd6a:7::2"];
      await ip("link", "add", "jl6a", "type", "veth", "peer", "name", "jl6b");
      const since = await pageNow();
      const mark = alice.events.length;
      const original = readFileSync(alice.configFile, "utf8");
      try {
        await ip("addr", "add", `${ours}/64`, "dev", "jl6a", "nodad");
        await ip("addr", "add", `${theirs}/64`, "dev", "jl6b", "nodad");
        await ip("link", "set", "jl6a", "up");
        await ip("link", "set", "jl6b", "up");
        const cfg = parseYaml(original) as { ice: Record<string, unknown> };
        writeFileSync(alice.configFile, stringifyYaml({ ...cfg, ice: { ...cfg.ice, addresses: [ours] } }), { mode: 0o600 });
        await alice.control.request("reload");
        await requireDtls();
        await peer.setAutoAnswer(true);
        await peer.startRecording();
        const t0 = performance.now();
        const { callId, sid } = (await alice.control.request("call", { jid: browserJid, codecs: ["opus"] })) as { callId: string; sid: string };
        await jingledActive(callId, mark);
        const connected = await peer.waitFor(browserConnected(sid), 10000, "browser connected (ICE + DTLS)");
        t.diagnostic(`call -> connected: ${(performance.now() - t0).toFixed(0)} ms (browser's own count ${connected.setupMs} ms)`);
        const media = await alice.waitForEvent((e) => e.event === "media" && e.callId === callId, 5000, "media event");
        assert.equal((media.localCandidate as { ip: string }).ip, ours);
        assert.match((media.remoteCandidate as { ip: string }).ip, /^fd6a:7::[12]$/, "the browser's IPv6 candidate");

        await sleep(TALK_MS);
        const stats = await peer.stats(sid);
        const heardByBrowser = await peer.stopRecording();
        t.diagnostic(`browser stats: ${JSON.stringify(stats)}`);
        assert.equal(stats.transport?.dtlsState, "connected");
        assert.equal(stats.pair?.remote.address, ours, "the browser's selected pair ends at jingled's IPv6 address");
        assert.match(stats.pair?.local.address ?? "", /^fd6a:7::[12]$/);

        await alice.control.request("hangup", { callId });
        const end = await alice.waitForEvent(callEvent(callId, "ended", mark), 10000, "jingled ended");
        assert.equal(end.reason, "success");
        const recording = (end.stats as { recording: string }).recording;
        checkAudio(t, [
          ["jingled -> browser", mono16(wav.jingled), { pcm: heardByBrowser.pcm, rate: heardByBrowser.sampleRate }],
          ["browser -> jingled", mono16(wav.browser), mono16(recording)],
        ]);
      } finally {
        await peer.setAutoAnswer(false);
        writeFileSync(alice.configFile, original, { mode: 0o600 });
        await alice.control.request("reload").catch(() => undefined);
        await ip("link", "del", "jl6a").catch(() => undefined);
        await report(t, since, "media over IPv6, jingled -> browser");
      }
    });

    test("jingled acknowledges every Jingle request of the browser exactly once", async (t) => {
      const entries = await peer.log(0);
      const replies = new Map<string, string[]>();
      for (const e of entries) {
        const a = iqAttrs(e.text);
        if (!a.id) continue;
        if (e.kind === "stanza-out" && a.type === "set" && a.to === alice.jid && /urn:xmpp:jingle:1/.test(e.text)) replies.set(a.id, []);
        else if (e.kind === "stanza-in" && (a.type === "result" || a.type === "error")) replies.get(a.id)?.push(a.type === "error" ? `error ${a.condition ?? "?"}` : "result");
      }
      assert.ok(replies.size > 0, "the browser sent Jingle requests to jingled");
      const bad = [...replies].filter(([, r]) => r.length !== 1);
      for (const [id, r] of bad) t.diagnostic(`request ${id}: replies ${r.join(", ") || "none"}`);
      assert.equal(bad.length, 0, `${bad.length} of ${replies.size} Jingle requests did not get exactly one reply`);
    });

    /** What a page heard, as a WAV in the test directory (kept with KEEP_TEST_DIR=1). */
    function keep(name: string, rec: { sampleRate: number; pcm: Int16Array }): void {
      writeWavFile(join(dir, name), rec.pcm, rec.sampleRate);
    }

    /**
     * Compares what was heard with what was played, reports, and asserts once
     * every direction of the test is reported. The score is compareAudioSegments
     * (each voiced 250 ms segment aligned on its own): Chromium's NetEq
     * time-stretches while it settles its jitter buffer (removed/inserted
     * samples in the stats), so no single lag fits a whole recording made in
     * the browser. The one-lag correlation (compareAudio) is reported too.
     */
    function checkAudio(t: TestContext, checks: [what: string, ref: { pcm: Int16Array; rate: number }, heard: { pcm: Int16Array; rate: number }][]): void {
      const low: string[] = [];
      for (const [what, ref, heardAll] of checks) {
        const heard = oneFullCopy(ref, heardAll);
        const whole = compareAudio(ref.pcm, ref.rate, heard.pcm, heard.rate);
        const seg = compareAudioSegments(ref.pcm, ref.rate, heard.pcm, heard.rate);
        t.diagnostic(
          `${what}: segments ${seg.correlation.toFixed(3)} (worst ${seg.worst.toFixed(3)} of ${seg.segments}, warp ${seg.lagSpreadMs.toFixed(1)} ms), ` +
            `one lag ${whole.correlation.toFixed(3)}, rms ref ${whole.refRms.toFixed(0)} / heard ${whole.recRms.toFixed(0)}, ${(heardAll.pcm.length / heardAll.rate).toFixed(2)} s recorded`,
        );
        if (!(seg.correlation >= MIN_CORRELATION)) low.push(`${what}: segment correlation ${seg.correlation.toFixed(3)} < ${MIN_CORRELATION}`);
      }
      assert.deepEqual(low, [], low.join("; "));
    }

    /**
     * The stretch of a recording that holds one complete copy of `ref`.
     * Chromium's fake microphone loops its file, so a recording starts and
     * ends inside copies, and the best single-lag match may be a cut one:
     * move to the neighbouring copy (one file length away) when the match
     * runs over either end, then keep that copy with 150 ms either side.
     */
    function oneFullCopy(ref: { pcm: Int16Array; rate: number }, heard: { pcm: Int16Array; rate: number }): { pcm: Int16Array; rate: number } {
      const periodMs = (ref.pcm.length / ref.rate) * 1000;
      const lengthMs = (heard.pcm.length / heard.rate) * 1000;
      if (lengthMs < periodMs + 300) return heard;
      let startMs = compareAudio(ref.pcm, ref.rate, heard.pcm, heard.rate).lagMs;
      if (startMs < 0) startMs += periodMs;
      else if (startMs + periodMs > lengthMs && startMs - periodMs >= 0) startMs -= periodMs;
      const from = Math.max(0, Math.round(((startMs - 150) * heard.rate) / 1000));
      const to = Math.min(heard.pcm.length, Math.round(((startMs + periodMs + 150) * heard.rate) / 1000));
      return to - from > 0 ? { pcm: heard.pcm.subarray(from, to), rate: heard.rate } : heard;
    }
  });
}
