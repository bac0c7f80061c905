// Helpers for the adversarial integration tests (test/integration/hostile-*):
// a raw XMPP client for the attacker, Jingle stanzas built from typed
// objects, the reading of stanza errors, and process figures (RSS, CPU, open
// file descriptors) of a daemon from /proc. No test-framework imports.
import { randomBytes } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import type { Element } from "ltx";
import { xml } from "@xmpp/xml";
import { XmppConnection } from "../../src/xmpp/connection.js";
import { silentLogger } from "../../src/util/logger.js";
import { NS, buildJingle, type IceCandidate, type Jingle, type JingleContent, type PayloadType } from "../../src/jingle/protocol/index.js";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";

/** A logged-in XMPP client that speaks for the attacker (or a scripted peer). */
export async function rawClient(prosody: ProsodyServer, username: string, password: string, resource: string): Promise<XmppConnection> {
  const c = new XmppConnection({
    jid: `${username}@${prosody.domain}`,
    password,
    resource,
    service: `xmpp://127.0.0.1:${prosody.port}`,
    allowPlaintext: false,
    caFile: prosody.caFile,
    priority: 0,
    features: [],
    logger: silentLogger(),
  });
  await c.start();
  return c;
}

export const PCMU: PayloadType = { id: 0, name: "PCMU", clockrate: 8000, channels: 1, parameters: [] };

export function candidate(port: number, i = 1, ip = "127.0.0.1"): IceCandidate {
  return { component: 1, foundation: String(i), generation: 0, id: `c${i}`, ip, network: 0, port, priority: 2130706431 - i, protocol: "udp", type: "host" };
}

export function audioContent(o: { payloadTypes?: PayloadType[]; candidates?: IceCandidate[]; creator?: "initiator" | "responder" } = {}): JingleContent {
  return {
    creator: o.creator ?? "initiator",
    name: "audio",
    senders: "both",
    description: { media: "audio", payloadTypes: o.payloadTypes ?? [PCMU], rtcpMux: true, headerExtensions: [] },
    transport: { ufrag: "m4ll", pwd: "0123456789abcdefghijklmn", candidates: o.candidates ?? [candidate(9)] },
  };
}

/** <iq type="set" to=… id=…><jingle …/></iq> */
export function jingleIq(to: string, j: Jingle): Element {
  return xml("iq", { type: "set", to, id: randomBytes(6).toString("hex") }, buildJingle(j));
}

export interface StanzaErrorInfo {
  type?: string;
  condition?: string;
  jingle?: string;
}

/** The error of a failed iq() as {type, condition, jingle condition}; undefined when the IQ succeeded. */
export async function iqError(conn: XmppConnection, iq: Element, timeoutMs = 10_000): Promise<StanzaErrorInfo | undefined> {
  try {
    await conn.iq(iq, timeoutMs);
    return undefined;
  } catch (err) {
    const el = (err as { element?: Element }).element;
    if (!el) throw err; // a timeout or a lost connection: not an answer
    const out: StanzaErrorInfo = {};
    if (el.attrs.type) out.type = el.attrs.type;
    for (const c of el.getChildElements()) {
      if (c.getNS() === NS.stanzas && c.name !== "text") out.condition = c.name;
      if (c.getNS() === NS.jingleErrors) out.jingle = c.name;
    }
    return out;
  }
}

/** Process figures of a running daemon, from /proc. */
export interface ProcFigures {
  rssKiB: number;
  /** user + system CPU time, ms */
  cpuMs: number;
  fds: number;
}

export function procFigures(pid: number): ProcFigures {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKiB = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
  // /proc/PID/stat: fields 14 and 15 (1-based) are utime and stime in clock ticks; the name (2) may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  return { rssKiB, cpuMs: ticks * 10, fds };
}

/**
 * The scheduling of a daemon's media threads (named "jingled-media"), as the kernel has it
 * (/proc/PID/task/TID/stat fields 19 nice, 40 rt_priority and 41 policy, 1-based): e.g. "fifo 10", "other nice -10".
 */
export function mediaThreadScheduling(pid: number): string[] {
  const out: string[] = [];
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let comm: string;
    let stat: string;
    try {
      comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    } catch {
      continue; // the thread ended meanwhile
    }
    if (comm !== "jingled-media") continue;
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const policy = Number(f[38]);
    out.push(policy === 1 ? `fifo ${f[37]}` : policy === 2 ? `rr ${f[37]}` : `other nice ${f[16]}`);
  }
  return out;
}

/** Round-trip times of `status` requests made every `everyMs` until stop() — the daemon's responsiveness. */
export function latencyProbe(request: () => Promise<unknown>, everyMs = 25): { stop(): Promise<{ count: number; p50: number; p99: number; max: number; failures: number }> } {
  const samples: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        await request();
        samples.push(performance.now() - t0);
      } catch {
        failures++;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const s = [...samples].sort((a, b) => a - b);
      const q = (p: number) => Math.round(s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN);
      return { count: s.length, p50: q(0.5), p99: q(0.99), max: Math.round(s[s.length - 1] ?? NaN), failures };
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `cond` every 50 ms until it is true or `ms` pass; throws naming `what`. */
export async function until(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}
