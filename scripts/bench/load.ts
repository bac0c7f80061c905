// CPU and memory per call (scripts/bench/bench.ts): N concurrent calls from a
// caller process to an auto-answering callee process, talk both ways (the
// same speech-like WAV as every source), nothing played (a null sink / null
// player). Measured per process:
//   - idle RSS and CPU (online, no call, after a settle), RSS with N calls up;
//   - user+sys CPU seconds over a window of D seconds once every call is up
//     and settled, divided by N * D: CPU seconds per call-second;
//   - receiver health over the same window: jingled's frames concealed /
//     frames played at both ends (the `stats` command, before and after);
//     baresip's packets lost from its RTCP receiver statistics (CALL_RTCP).
import type { Baresip } from "./baresip.js";
import type { JingledPair } from "./jingled.js";
import { isCall, waitForCount } from "./jingled.js";
import { CpuWindow, ThreadCpuWindow, rssMiB, threadCount } from "./proc.js";
import { sleep } from "./stats.js";
import type { Daemon } from "../lab/daemon.js";

export interface SideFigures {
  pid: number;
  cpuSec: number;
  /** CPU seconds per call-second */
  cpuPerCallSec: number;
  /** CPU share of one core over the window, % */
  cpuPercent: number;
  /** CPU share of one core with no call (3 s before the calls), % */
  idleCpuPercent: number;
  idleRssMiB: number;
  rssMiB: number;
  /** (rss - idle) / calls */
  rssPerCallMiB: number;
  threads: number;
  /** jingled: CPU of its threads over the window, % of a core: main, each media thread, the rest */
  threadCpu?: { main: number; media: number[]; other: number };
}

export interface LoadResult {
  agent: "jingled" | "baresip";
  codec: string;
  /** jingled: the codec implementation the calls used (stats codecBackend: "native" or "wasm" for Opus) */
  codecBackend?: string;
  calls: number;
  /** Seconds from the first call command until every call was up. */
  setupAllSec: number;
  windowSec: number;
  caller: SideFigures;
  callee: SideFigures;
  health: {
    /** jingled: frames concealed / frames played over the window, both ends, %; baresip: undefined */
    concealedPercent?: number;
    framesConcealed?: number;
    framesPlayed?: number;
    /** longest gap between media clock ticks seen in any call (jingled), ms */
    maxTickGapMs?: number;
    /** packets lost per the receivers' statistics (jingled: over the whole calls; baresip: over the window, from RTCP) */
    packetsLost: number;
    /** percent of packets lost over the window (baresip, from its RTCP receiver statistics) */
    lossPercent?: number;
    /** calls that ended before the window closed */
    callsDropped: number;
    /** errors the processes logged during the run (jingled: level error/fatal), first few */
    errors?: string[];
  };
}

/** Calls are set up in batches of this many (each batch up before the next): a burst of 50 DTLS handshakes at once only measures retransmission back-off. */
export const SETUP_BATCH = 10;

function loggedErrors(d: Daemon): string[] {
  const out: string[] = [];
  for (const line of d.process.output().split("\n")) {
    if (!/"level":(50|60)/.test(line)) continue;
    try {
      const j = JSON.parse(line) as { msg?: string; err?: { message?: string } | string };
      out.push(`${d.process.name}: ${j.msg ?? ""}: ${typeof j.err === "string" ? j.err : (j.err?.message ?? "")}`);
    } catch {
      out.push(line.slice(0, 200));
    }
    if (out.length >= 3) break;
  }
  return out;
}

/** Idle figures of two processes: RSS, and CPU over `ms`. */
async function idleFigures(pids: [number, number], ms = 3000): Promise<{ rss: [number, number]; cpu: [number, number] }> {
  const w = new CpuWindow(pids);
  await sleep(ms);
  const { wallSec, cpuSec } = w.close();
  const pct = (p: number): number => Math.round((1000 * cpuSec.get(p)!) / wallSec) / 10;
  return { rss: [rssMiB(pids[0]), rssMiB(pids[1])], cpu: [pct(pids[0]), pct(pids[1])] };
}

function side(pid: number, cpuSec: number, windowSec: number, calls: number, idleRss: number, idleCpu: number): SideFigures {
  const rss = rssMiB(pid);
  const r = (x: number, d = 4): number => Math.round(x * 10 ** d) / 10 ** d;
  return {
    pid,
    cpuSec: r(cpuSec, 2),
    cpuPerCallSec: r(cpuSec / (calls * windowSec), 5),
    cpuPercent: r((100 * cpuSec) / windowSec, 1),
    idleCpuPercent: idleCpu,
    idleRssMiB: r(idleRss, 1),
    rssMiB: r(rss, 1),
    rssPerCallMiB: r((rss - idleRss) / calls, 2),
    threads: threadCount(pid),
  };
}

interface Counters {
  framesConcealed?: number;
  framesPlayed?: number;
  packetsLost?: number;
  maxTickGapMs?: number;
  state?: string;
  codecBackend?: string;
}

async function counters(d: Daemon, ids: string[]): Promise<Counters[]> {
  return Promise.all(ids.map((callId) => d.control.request("stats", { callId }).catch(() => ({ state: "gone" })) as Promise<Counters>));
}

export async function jingledLoad(pair: JingledPair, codec: string, calls: number, windowSec: number, settleMs = 2000): Promise<LoadResult> {
  const { caller, callee } = pair;
  await sleep(settleMs);
  const idle = await idleFigures([caller.process.pid, callee.process.pid]);
  const activeBefore = caller.events.filter(isCall("active")).length;
  const calleeActiveBefore = callee.events.filter(isCall("active")).length;
  const t0 = performance.now();
  const placed: { callId: string }[] = [];
  for (let done = 0; done < calls; ) {
    const n = Math.min(SETUP_BATCH, calls - done);
    placed.push(...(await Promise.all(Array.from({ length: n }, () => caller.control.request("call", { jid: callee.jid, codecs: [codec] }) as Promise<{ callId: string }>))));
    done += n;
    await waitForCount(caller, isCall("active"), activeBefore + done, 30000, "caller calls active");
    await waitForCount(callee, isCall("active"), calleeActiveBefore + done, 30000, "callee calls active");
  }
  const setupAllSec = (performance.now() - t0) / 1000;
  const callerIds = placed.map((p) => p.callId);
  const calleeIds = callee.events.filter(isCall("active")).slice(calleeActiveBefore).map((e) => e.callId as string);
  await sleep(settleMs);

  const before = [...(await counters(caller, callerIds)), ...(await counters(callee, calleeIds))];
  const win = new CpuWindow([caller.process.pid, callee.process.pid]);
  const threads = [new ThreadCpuWindow(caller.process.pid), new ThreadCpuWindow(callee.process.pid)];
  await sleep(windowSec * 1000);
  const { wallSec, cpuSec } = win.close();
  const [callerThreads, calleeThreads] = threads.map((t) => t.close());
  const after = [...(await counters(caller, callerIds)), ...(await counters(callee, calleeIds))];
  const figures = {
    caller: { ...side(caller.process.pid, cpuSec.get(caller.process.pid)!, wallSec, calls, idle.rss[0], idle.cpu[0]), threadCpu: callerThreads! },
    callee: { ...side(callee.process.pid, cpuSec.get(callee.process.pid)!, wallSec, calls, idle.rss[1], idle.cpu[1]), threadCpu: calleeThreads! },
  };
  let concealed = 0;
  let played = 0;
  let lost = 0;
  let maxGap = 0;
  after.forEach((a, i) => {
    const b = before[i]!;
    concealed += (a.framesConcealed ?? 0) - (b.framesConcealed ?? 0);
    played += (a.framesPlayed ?? 0) - (b.framesPlayed ?? 0);
    lost += a.packetsLost ?? 0;
    maxGap = Math.max(maxGap, a.maxTickGapMs ?? 0);
  });
  const dropped = after.filter((a) => a.state !== "active").length;
  const errors = [...loggedErrors(caller), ...loggedErrors(callee)];
  if (played === 0) errors.unshift("no audio played during the window");
  await Promise.all(callerIds.map((callId) => caller.control.request("hangup", { callId }).catch(() => undefined)));
  const backends = [...new Set(after.map((a) => a.codecBackend).filter((b): b is string => b !== undefined))];
  return {
    agent: "jingled",
    codec,
    ...(backends.length ? { codecBackend: backends.join("+") } : {}),
    calls,
    setupAllSec: Math.round(setupAllSec * 100) / 100,
    windowSec: Math.round(wallSec * 100) / 100,
    ...figures,
    health: {
      concealedPercent: played > 0 ? Math.round((10000 * concealed) / played) / 100 : undefined,
      framesConcealed: concealed,
      framesPlayed: played,
      maxTickGapMs: maxGap,
      packetsLost: lost,
      callsDropped: dropped,
      ...(errors.length ? { errors } : {}),
    },
  };
}

interface RtcpStats {
  rx?: { sent?: number; lost?: number };
}

/** The latest CALL_RTCP receiver figures per call: packets received ("sent" in baresip's JSON) and lost. */
function latestRtcp(b: Baresip): Map<string, { lost: number; received: number }> {
  const m = new Map<string, { lost: number; received: number }>();
  for (const e of b.ctrl.events) {
    if (e.type !== "CALL_RTCP" || !e.id) continue;
    const rx = (e.rtcp_stats as RtcpStats | undefined)?.rx;
    m.set(e.id, { lost: rx?.lost ?? 0, received: rx?.sent ?? 0 });
  }
  return m;
}

/** Both instances already started; the caller dials the callee `calls` times. */
export async function baresipLoad(caller: Baresip, callee: Baresip, codec: string, calls: number, windowSec: number, settleMs = 2000): Promise<LoadResult> {
  await sleep(settleMs);
  const idle = await idleFigures([caller.pid, callee.pid]);
  const t0 = performance.now();
  for (let done = 0; done < calls; ) {
    const n = Math.min(SETUP_BATCH, calls - done);
    for (let i = 0; i < n; i++) {
      const r = await caller.ctrl.request("dial", callee.uri).reply;
      if (!r.ok) throw new Error(`baresip dial ${done + i + 1} failed: ${r.data}`);
    }
    done += n;
    await callee.ctrl.waitForCount((e) => e.type === "CALL_RTPESTAB", done, 40000, "callee RTP established");
    await caller.ctrl.waitForCount((e) => e.type === "CALL_RTPESTAB", done, 40000, "caller RTP established");
  }
  const setupAllSec = (performance.now() - t0) / 1000;
  await sleep(settleMs);
  const closedBefore = callee.ctrl.events.filter((e) => e.type === "CALL_CLOSED").length + caller.ctrl.events.filter((e) => e.type === "CALL_CLOSED").length;
  const rtcpBefore = [latestRtcp(caller), latestRtcp(callee)];

  const win = new CpuWindow([caller.pid, callee.pid]);
  await sleep(windowSec * 1000);
  const { wallSec, cpuSec } = win.close();
  const figures = {
    caller: side(caller.pid, cpuSec.get(caller.pid)!, wallSec, calls, idle.rss[0], idle.cpu[0]),
    callee: side(callee.pid, cpuSec.get(callee.pid)!, wallSec, calls, idle.rss[1], idle.cpu[1]),
  };
  const closed = callee.ctrl.events.filter((e) => e.type === "CALL_CLOSED").length + caller.ctrl.events.filter((e) => e.type === "CALL_CLOSED").length - closedBefore;
  // Loss over the window: the change in each call's latest RTCP receiver figures (reports come every ~5 s).
  let lost = 0;
  let expected = 0;
  [latestRtcp(caller), latestRtcp(callee)].forEach((after, k) => {
    for (const [id, a] of after) {
      const b = rtcpBefore[k]!.get(id) ?? { lost: 0, received: 0 };
      lost += a.lost - b.lost;
      expected += a.received - b.received + (a.lost - b.lost);
    }
  });
  return {
    agent: "baresip",
    codec,
    calls,
    setupAllSec: Math.round(setupAllSec * 100) / 100,
    windowSec: Math.round(wallSec * 100) / 100,
    ...figures,
    health: {
      packetsLost: lost,
      ...(expected > 0 ? { lossPercent: Math.round((10000 * lost) / expected) / 100 } : {}),
      callsDropped: closed,
    },
  };
}

export interface MemoryResult {
  agent: "jingled" | "baresip";
  codec: string;
  calls: number;
  /** RSS with no call, MiB, caller and callee */
  idleRssMiB: [number, number];
  /** RSS with no call SETTLED_SEC later (V8 returns a heap's empty pages some seconds after start-up), MiB, caller and callee */
  idleSettledRssMiB?: [number, number];
  rssMiB: [number, number];
  /** (rss - idle) / calls, MiB, caller and callee */
  perCallMiB: [number, number];
}

/** How much later idle RSS is read a second time. */
export const SETTLED_SEC = 15;

function memoryResult(agent: MemoryResult["agent"], codec: string, calls: number, idle: [number, number], rss: [number, number]): MemoryResult {
  const r = (x: number): number => Math.round(x * 100) / 100;
  return { agent, codec, calls, idleRssMiB: [r(idle[0]), r(idle[1])], rssMiB: [r(rss[0]), r(rss[1])], perCallMiB: [r((rss[0] - idle[0]) / calls), r((rss[1] - idle[1]) / calls)] };
}

/**
 * Memory alone: RSS idle and with `calls` calls up (sources that hold no file:
 * jingled's tone source, baresip's ausine, so no per-call copy of a WAV counts).
 */
export async function jingledMemory(pair: JingledPair, codec: string, calls: number, settleMs = 3000): Promise<MemoryResult> {
  const { caller, callee } = pair;
  await sleep(settleMs);
  const pids: [number, number] = [caller.process.pid, callee.process.pid];
  const idle: [number, number] = [rssMiB(pids[0]), rssMiB(pids[1])];
  await sleep(SETTLED_SEC * 1000);
  const settled: [number, number] = [rssMiB(pids[0]), rssMiB(pids[1])];
  const before = callee.events.filter(isCall("active")).length;
  const ids: string[] = [];
  for (let done = 0; done < calls; ) {
    const n = Math.min(SETUP_BATCH, calls - done);
    const placed = await Promise.all(Array.from({ length: n }, () => caller.control.request("call", { jid: callee.jid, codecs: [codec] }) as Promise<{ callId: string }>));
    ids.push(...placed.map((p) => p.callId));
    done += n;
    await waitForCount(callee, isCall("active"), before + done, 30000, "callee calls active");
  }
  await sleep(settleMs);
  const r = (x: number): number => Math.round(x * 100) / 100;
  const res = { ...memoryResult("jingled", codec, calls, idle, [rssMiB(pids[0]), rssMiB(pids[1])]), idleSettledRssMiB: [r(settled[0]), r(settled[1])] as [number, number] };
  await Promise.all(ids.map((callId) => caller.control.request("hangup", { callId }).catch(() => undefined)));
  return res;
}

export async function baresipMemory(caller: Baresip, callee: Baresip, codec: string, calls: number, settleMs = 3000): Promise<MemoryResult> {
  await sleep(settleMs);
  const idle: [number, number] = [rssMiB(caller.pid), rssMiB(callee.pid)];
  for (let done = 0; done < calls; ) {
    const n = Math.min(SETUP_BATCH, calls - done);
    for (let i = 0; i < n; i++) await caller.ctrl.request("dial", callee.uri).reply;
    done += n;
    await callee.ctrl.waitForCount((e) => e.type === "CALL_RTPESTAB", done, 40000, "callee RTP established");
  }
  await sleep(settleMs);
  return memoryResult("baresip", codec, calls, idle, [rssMiB(caller.pid), rssMiB(callee.pid)]);
}
