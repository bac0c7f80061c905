// Call setup under random UDP loss, for the DTLS loss tests and
// scripts/bench/bench-dtls-loss.ts. Two labs, each in a network namespace the
// caller made (see runSelfInNetns in netns.ts); signalling (XMPP over TCP)
// is never touched, only UDP is dropped:
//
//   loopback lab  one namespace with only `lo`: Prosody (c2s and websocket),
//                 two jingled daemons (ICE on 127.0.0.1) and two headless
//                 Chromiums running the StanzaJS page. Loss: iptables OUTPUT
//                 `-o lo -p udp -m statistic --mode random --probability P -j
//                 DROP` (every datagram crosses OUTPUT once on its way).
//   NAT lab       scripts/lab/nat-lab.ts (two cone NATs, STUN and TURN from
//                 Prosody): loss in router a's FORWARD chain (NatSide.setLoss),
//                 so each datagram between alice and bob or the relay crosses
//                 one lossy hop. Used for ICE restarts and the TURN relay path.
//
// A setup counts when BOTH ends report it: jingled's call event `active`
// (ICE connected, DTLS done and the peer verified) and, for Chromium,
// RTCPeerConnection.connectionState "connected". Its time runs from the
// call command to the later of the two.
import { execFile } from "node:child_process";
import { join } from "node:path";
import type { AnyEvent } from "../../src/control/client.js";
import { startBrowserPeer, type BrowserPeer, type PeerState } from "./browser-peer.js";
import { startDaemon, type Daemon } from "./daemon.js";
import { startProsody } from "./prosody.js";
import { makeSpeechWav } from "./speech.js";
import { LAB, createNatLab, startLabDaemon, startLabServers, type NatLab } from "./nat-lab.js";

// ------------------------------------------------------------------ the labs

export interface LoopbackLossLab {
  alice: Daemon;
  bob: Daemon;
  /** Chromiums (StanzaJS pages), answering by themselves, with their full JIDs. */
  browsers: { peer: BrowserPeer; jid: string }[];
  stop(): Promise<void>;
}

/** Prosody, two auto-answering daemons and `browsers` Chromiums on this namespace's loopback. */
export async function startLoopbackLossLab(dir: string, browsers: number): Promise<LoopbackLossLab> {
  const users = ["alice", "bob", "carol", "dave"].slice(0, 2 + browsers);
  const prosody = await startProsody({ modules: ["websocket"], logLevel: "info", users: users.map((u) => ({ username: u, password: `${u}-pw` })) });
  const daemons: Daemon[] = [];
  const peers: { peer: BrowserPeer; jid: string }[] = [];
  const stop = async () => {
    for (const p of peers) await p.peer.close();
    for (const d of daemons) await d.stop();
    await prosody.stop();
  };
  try {
    for (const u of ["alice", "bob"]) {
      daemons.push(await startDaemon({ prosody, username: u, password: `${u}-pw`, dir: join(dir, u), autoAnswer: true, logLevel: "info", codecs: ["opus"] }));
    }
    if (browsers > 0) {
      const wav = join(dir, "mic.wav");
      await makeSpeechWav("One two three four five.", wav, { sampleRate: 48000, channels: 1 });
      for (const u of users.slice(2)) {
        const peer = await startBrowserPeer({ fakeMicWav: wav });
        peers.push({ peer, jid: "" });
        peers.at(-1)!.jid = await peer.connect({ jid: prosody.jid(u), password: `${u}-pw`, wsUrl: prosody.websocketUrl!, resource: "browser" });
        await peer.setAutoAnswer(true);
      }
    }
    return { alice: daemons[0]!, bob: daemons[1]!, browsers: peers, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export interface NatLossLab {
  lab: NatLab;
  /** Behind NAT a, where the loss is. */
  alice: Daemon;
  /** Behind NAT b. */
  bob: Daemon;
  stop(): Promise<void>;
}

/** The NAT lab (scripts/lab/nat-lab.ts, two cone NATs) with an auto-answering daemon behind each. */
export async function startNatLossLab(dir: string): Promise<NatLossLab> {
  const lab = await createNatLab({ a: "cone", b: "cone" });
  try {
    const servers = await startLabServers([
      { username: "alice", password: "a-pw" },
      { username: "bob", password: "b-pw" },
    ]);
    const input = { type: "tone", frequency: 440 };
    const started = await Promise.allSettled([
      startLabDaemon(lab.a, servers, { username: "alice", password: "a-pw", dir: join(dir, "alice"), input, autoAnswer: true }),
      startLabDaemon(lab.b, servers, { username: "bob", password: "b-pw", dir: join(dir, "bob"), input, autoAnswer: true }),
    ]);
    const stop = async () => {
      await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value.stop() : undefined)));
      await servers.stop();
      await lab.destroy();
    };
    if (started.some((r) => r.status === "rejected")) {
      await stop();
      throw (started.find((r) => r.status === "rejected") as PromiseRejectedResult).reason;
    }
    const [alice, bob] = started.map((r) => (r as PromiseFulfilledResult<Daemon>).value) as [Daemon, Daemon];
    return { lab, alice, bob, stop };
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

// ------------------------------------------------------------------ measuring

export interface SetupSample {
  ok: boolean;
  /** Call command to both ends connected; for failures, to the moment it was given up. */
  ms: number;
  /** Why it failed: the end reason and text, or what timed out. */
  reason?: string;
}

export interface CaseSummary {
  name: string;
  ok: number;
  total: number;
  p50?: number;
  p90?: number;
  p99?: number;
  max?: number;
  /** Failure reasons with their counts. */
  failures: Record<string, number>;
}

/** Nearest-rank percentile of the successful setups. */
export function percentile(sorted: number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export function summarize(name: string, samples: SetupSample[]): CaseSummary {
  const times = samples.filter((s) => s.ok).map((s) => s.ms).sort((a, b) => a - b);
  const failures: Record<string, number> = {};
  for (const s of samples) if (!s.ok) failures[s.reason ?? "?"] = (failures[s.reason ?? "?"] ?? 0) + 1;
  const r = (v: number | undefined) => (v === undefined ? undefined : Math.round(v));
  return { name, ok: times.length, total: samples.length, p50: r(percentile(times, 50)), p90: r(percentile(times, 90)), p99: r(percentile(times, 99)), max: r(times.at(-1)), failures };
}

export function formatSummary(s: CaseSummary): string {
  const pct = s.total ? ((100 * s.ok) / s.total).toFixed(0) : "-";
  const times = s.ok ? `p50 ${s.p50} ms, p90 ${s.p90} ms, p99 ${s.p99} ms, max ${s.max} ms` : "no setup";
  const fails = Object.entries(s.failures).map(([k, n]) => `${n}x ${k}`);
  return `${s.name}: ${s.ok}/${s.total} (${pct} %) active; ${times}${fails.length ? `; failed: ${fails.join("; ")}` : ""}`;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { timeout: 10_000, encoding: "utf8" }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd} ${args.join(" ")}: ${stderr || err.message}`)) : resolve(stdout))),
  );
}

let loopbackRule: string[] | undefined;

/** Random loss of UDP on `lo` in this namespace (0 removes it). */
export async function setLoopbackUdpLoss(p: number): Promise<void> {
  if (loopbackRule) await run("iptables", ["-w", "5", "-D", "OUTPUT", ...loopbackRule]).catch(() => undefined);
  loopbackRule = undefined;
  if (p <= 0) return;
  loopbackRule = ["-o", "lo", "-p", "udp", "-m", "statistic", "--mode", "random", "--probability", String(p), "-j", "DROP"];
  await run("iptables", ["-w", "5", "-I", "OUTPUT", ...loopbackRule]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The first event from index `from` on that matches, or undefined after `ms`. */
async function nextEvent(d: Daemon, from: number, pred: (e: AnyEvent) => boolean, ms: number): Promise<AnyEvent | undefined> {
  const deadline = performance.now() + ms;
  for (;;) {
    const e = d.events.slice(from).find(pred);
    if (e) return e;
    if (performance.now() > deadline) return undefined;
    await sleep(10);
  }
}

const ended = (e: AnyEvent, callId?: string) => e.event === "call" && e.type === "ended" && (callId === undefined || e.callId === callId);
const endText = (e: AnyEvent) => `ended ${String(e.reason)}${e.text ? ` (${String(e.text)})` : ""}`;

/** jingled's side: its call becomes active (resolves with the time), or ends / times out (rejects). */
async function jingledActive(d: Daemon, from: number, callId: () => string | undefined, deadline: number): Promise<number> {
  for (;;) {
    const id = callId();
    if (id !== undefined) {
      const e = d.events.slice(from).find((x) => x.event === "call" && x.callId === id && (x.type === "active" || x.type === "ended"));
      if (e?.type === "active") return performance.now();
      if (e) throw new Error(`${d.jid.split("@")[0]}: ${endText(e)}`);
    }
    if (performance.now() > deadline) throw new Error(`${d.jid.split("@")[0]}: not active in time`);
    await sleep(10);
  }
}

/** The browser's side: its session `sid` (or its newest incoming one) is connected. */
async function browserConnected(b: BrowserPeer, pick: (s: PeerState) => { sid: string; pcConnectionState: string; state: string; endReason?: string } | undefined, deadline: number, who: string): Promise<number> {
  for (;;) {
    const s = pick(await b.state());
    if (s?.pcConnectionState === "connected") return performance.now();
    if (s && (s.pcConnectionState === "failed" || s.state === "ended")) throw new Error(`${who}: peer connection ${s.pcConnectionState}, session ${s.state} (${s.endReason ?? "-"})`);
    if (performance.now() > deadline) throw new Error(`${who}: not connected in time (${s ? `pc ${s.pcConnectionState}` : "no session"})`);
    await sleep(25);
  }
}

async function measure(t0: number, ends: Promise<number>[]): Promise<SetupSample> {
  const settled = await Promise.allSettled(ends);
  const failed = settled.filter((s): s is PromiseRejectedResult => s.status === "rejected").map((s) => (s.reason as Error).message);
  if (failed.length) return { ok: false, ms: performance.now() - t0, reason: failed.join("; ") };
  return { ok: true, ms: Math.max(...settled.map((s) => (s as PromiseFulfilledResult<number>).value)) - t0 };
}

/** Hangs up `callId` on `d` (if it still exists) and waits until its end is seen. */
async function hangupJingled(d: Daemon, callId: string | undefined, from: number): Promise<void> {
  if (callId === undefined) return;
  await d.control.request("hangup", { callId }).catch(() => undefined);
  await nextEvent(d, from, (e) => ended(e, callId), 10_000);
}

/** `caller` calls `callee` (which answers by itself), then hangs up. */
export async function daemonCall(caller: Daemon, callee: Daemon, timeoutMs: number): Promise<SetupSample> {
  const call = await establish(caller, callee, timeoutMs);
  await call.hangup();
  return call.sample;
}

/** jingled calls the browser (which answers by itself): jingled is the DTLS server. */
export async function jingledCallsBrowser(d: Daemon, b: BrowserPeer, browserJid: string, timeoutMs: number): Promise<SetupSample> {
  const mark = d.events.length;
  const deadline = performance.now() + timeoutMs;
  const t0 = performance.now();
  const { callId, sid } = (await d.control.request("call", { jid: browserJid })) as { callId: string; sid: string };
  const sample = await measure(t0, [
    jingledActive(d, mark, () => callId, deadline),
    browserConnected(b, (s) => s.sessions.find((x) => x.sid === sid), deadline, "chromium"),
  ]);
  await b.hangup(sid).catch(() => undefined);
  await hangupJingled(d, callId, mark);
  return sample;
}

/** The browser calls jingled (which answers by itself): jingled is the DTLS client. */
export async function browserCallsJingled(b: BrowserPeer, d: Daemon, timeoutMs: number): Promise<SetupSample> {
  const mark = d.events.length;
  const deadline = performance.now() + timeoutMs;
  const t0 = performance.now();
  const sid = await b.call(d.jid);
  let callId: string | undefined;
  const watchIncoming = (async () => {
    const inc = await nextEvent(d, mark, (e) => e.event === "call" && e.type === "incoming", timeoutMs);
    callId = inc?.callId as string | undefined;
  })();
  const sample = await measure(t0, [
    jingledActive(d, mark, () => callId, deadline),
    browserConnected(b, (s) => s.sessions.find((x) => x.sid === sid), deadline, "chromium"),
  ]);
  await watchIncoming;
  await b.hangup(sid).catch(() => undefined);
  await hangupJingled(d, callId, mark);
  return sample;
}

/** One Chromium calls the other (which answers by itself): the reference. */
export async function browserCallsBrowser(caller: BrowserPeer, callee: BrowserPeer, calleeJid: string, timeoutMs: number): Promise<SetupSample> {
  const deadline = performance.now() + timeoutMs;
  const t0 = performance.now();
  const sid = await caller.call(calleeJid);
  const sample = await measure(t0, [
    browserConnected(caller, (s) => s.sessions.find((x) => x.sid === sid), deadline, "caller"),
    browserConnected(callee, (s) => s.sessions.find((x) => x.sid === sid), deadline, "callee"),
  ]);
  await caller.hangup(sid).catch(() => undefined);
  await callee.hangup(sid).catch(() => undefined);
  return sample;
}

/**
 * An ICE restart of a running call: `mover` gets a new address on its LAN
 * (as after a new DHCP lease) and restarts ICE; done when both ends report
 * the restart finished and packets arrive again at both.
 */
export async function restartUnderLoss(
  o: { mover: Daemon; moverCallId: string; other: Daemon; otherCallId: string; readdress: () => Promise<void> },
  timeoutMs: number,
): Promise<SetupSample> {
  const [markA, markB] = [o.mover.events.length, o.other.events.length];
  const restarted = (d: Daemon, from: number, callId: string, deadline: number) =>
    (async () => {
      const e = await nextEvent(d, from, (x) => (x.event === "ice" && x.callId === callId && x.type === "restarted") || ended(x, callId), deadline - performance.now());
      if (!e) throw new Error(`${d.jid.split("@")[0]}: no restart in time`);
      if (e.event === "call") throw new Error(`${d.jid.split("@")[0]}: ${endText(e)}`);
      // Media flows again: packetsReceived grows.
      const first = ((await d.control.request("stats", { callId })) as { packetsReceived: number }).packetsReceived;
      for (;;) {
        await sleep(40);
        const now = ((await d.control.request("stats", { callId })) as { packetsReceived: number }).packetsReceived;
        if (now > first) return performance.now();
        if (performance.now() > deadline) throw new Error(`${d.jid.split("@")[0]}: no packets after the restart`);
      }
    })();
  const deadline = performance.now() + timeoutMs;
  const t0 = performance.now();
  await o.readdress();
  return measure(t0, [restarted(o.mover, markA, o.moverCallId, deadline), restarted(o.other, markB, o.otherCallId, deadline)]);
}

/** Sets up one call between two daemons and returns both call ids (or the failure). */
export async function establish(caller: Daemon, callee: Daemon, timeoutMs: number): Promise<{ sample: SetupSample; callerId?: string; calleeId?: string; hangup(): Promise<void> }> {
  const [markA, markB] = [caller.events.length, callee.events.length];
  const deadline = performance.now() + timeoutMs;
  const t0 = performance.now();
  let calleeId: string | undefined;
  const { callId } = (await caller.control.request("call", { jid: callee.jid })) as { callId: string };
  const watchIncoming = (async () => {
    const inc = await nextEvent(callee, markB, (e) => e.event === "call" && e.type === "incoming", timeoutMs);
    calleeId = inc?.callId as string | undefined;
  })();
  const sample = await measure(t0, [jingledActive(caller, markA, () => callId, deadline), jingledActive(callee, markB, () => calleeId, deadline)]);
  await watchIncoming;
  return {
    sample,
    callerId: callId,
    ...(calleeId !== undefined ? { calleeId } : {}),
    hangup: async () => {
      await hangupJingled(caller, callId, markA);
      await hangupJingled(callee, calleeId, markB);
    },
  };
}


/** Blocks UDP between the two NATs' public addresses at router a: calls between alice and bob go through the TURN relay. Returns the remover. */
export async function relayOnly(lab: NatLab): Promise<() => Promise<void>> {
  const unblock = [await lab.a.block(["-p", "udp", "-d", LAB.wan.b, "-j", "DROP"]), await lab.a.block(["-p", "udp", "-s", LAB.wan.b, "-j", "DROP"])];
  return async () => {
    for (const u of unblock) await u();
  };
}

let nextLanHost = 3;

/**
 * alice calls bob, then alice's LAN address changes and ICE restarts (under
 * whatever loss is on). The sample is the restart; a call that fails to set
 * up first is tried again, up to three times, and counted in `setupFailures`.
 */
export async function restartOnce(nl: NatLossLab, timeoutMs: number, counters: { setupFailures: number }): Promise<SetupSample> {
  for (let attempt = 0; ; attempt++) {
    const call = await establish(nl.alice, nl.bob, timeoutMs);
    try {
      if (!call.sample.ok || !call.calleeId) {
        counters.setupFailures++;
        if (attempt < 3) continue;
        return { ok: false, ms: 0, reason: `no call to restart: ${call.sample.reason}` };
      }
      await sleep(500);
      return await restartUnderLoss(
        { mover: nl.alice, moverCallId: call.callerId!, other: nl.bob, otherCallId: call.calleeId, readdress: () => nl.lab.a.readdress(`${LAB.lan.a}.${nextLanHost++}`) },
        30_000,
      );
    } finally {
      await call.hangup();
    }
  }
}
