// jinglectl's human-readable output: one line per event, short summaries of
// results. Unknown events still print, with their fields as JSON.
import type { AnyEvent } from "../control/client.js";
import type {
  GroupEvent,
  AccountInfo,
  CallEvent,
  CallInfo,
  CandidateSummary,
  DeviceSpec,
  DevicesResult,
  HelloEvent,
  MediaEvent,
  ReloadResult,
  RosterListItem,
  RosterListResult,
  StatsResult,
  VoicemailListResult,
} from "../control/protocol.js";

// C0 and C1 controls and DEL, the Unicode line and paragraph separators, and
// the bidirectional formatting characters: any of them in a peer's reason
// text, a JID or a contact's name could start a forged event line, move the
// cursor, recolour the terminal or reorder what is shown.
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** What JSON.stringify leaves as it is (it escapes C0 itself). */
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/** `s` with every unsafe character shown as an escape (\n, \x1b, \u202e). */
export function escapeControl(s: string): string {
  return s.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16).padStart(4, "0")}`);
  });
}

/**
 * A copy of `value` with every string (keys included) passed through
 * escapeControl: what the daemon relays from the network — reason texts,
 * JIDs, names, statistics — is safe to print for people.
 */
export function printable<T>(value: T, depth = 0): T {
  if (typeof value === "string") return escapeControl(value) as T;
  if (value === null || typeof value !== "object") return value;
  if (depth > 32) return "[...]" as T; // nothing the daemon sends is this deep
  if (Array.isArray(value)) return value.map((v) => printable(v, depth + 1)) as T;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[escapeControl(k)] = printable(v, depth + 1);
  return out as T;
}

/** JSON for people: JSON.stringify already escapes C0 controls; the rest of UNSAFE as \uXXXX (still valid JSON). */
export function printableJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  const hms = [Math.floor(s / 3600), Math.floor(s / 60) % 60, s % 60];
  const text = hms.map((n) => String(n).padStart(2, "0")).join(":");
  return hms[0] === 0 ? text.slice(3) : text;
}

/** HH:MM:SS local time of an ISO timestamp. */
function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toTimeString().slice(0, 8);
}

export function formatAccount(a: AccountInfo): string {
  return `account ${a.jid} ${a.state}${a.server ? ` via ${a.server}` : ""}${a.reason ? `: ${a.reason}` : ""}${a.retryAt ? ` (next try at ${clock(a.retryAt)})` : ""}`;
}

export function formatCall(c: CallInfo): string {
  let line = `call ${c.id} ${c.state} with ${c.peer}`;
  if (c.codec) line += ` (${c.codec})`;
  if (c.reason) line += `: ${c.reason}`;
  return line;
}

function formatCandidate(c: CandidateSummary): string {
  const host = c.ip.includes(":") ? `[${c.ip}]` : c.ip;
  return `${c.type} ${host}:${c.port}${c.protocol === "tcp" ? "/tcp" : ""}`;
}

/** One line per event; unknown events still print, with their fields as JSON. */
export function formatEvent(e: AnyEvent): string {
  switch (e.event) {
    case "hello": {
      const h = e as unknown as HelloEvent;
      const calls = h.snapshot?.calls ?? [];
      const lines = [`connected to jingled ${h.version} (protocol ${h.protocol})`];
      if (h.snapshot?.account) lines.push(formatAccount(h.snapshot.account));
      lines.push(...calls.map(formatCall));
      return lines.join("\n");
    }
    case "account":
      return `account ${String(e.state)}${e.reason ? `: ${String(e.reason)}` : ""}${typeof e.retryAt === "string" ? ` (next try at ${clock(e.retryAt)})` : ""}`;
    case "call": {
      const c = e as unknown as CallEvent;
      const ended = c.type === "ended";
      const byPeer = c.by === "peer" ? " by the peer" : "";
      let line = `call ${c.callId} ${c.type}${ended ? "" : byPeer} with ${c.peer}`;
      if (c.codec && !ended) line += ` (${c.codec})`;
      // ended: whose doing the reason is ("decline by the peer"), after it.
      if (c.reason) line += `: ${c.reason}${ended ? byPeer : ""}`;
      if (c.text) line += ` (${c.text})`;
      // Answered: how long it lasted; never answered: how long after the call began (the call command) it ended.
      if (c.type === "ended" && typeof c.durationMs === "number" && c.durationMs > 0) line += ` after ${formatDuration(c.durationMs)}`;
      else if (c.type === "ended" && typeof c.elapsedMs === "number") line += `, unanswered after ${formatDuration(c.elapsedMs)}`;
      return line;
    }
    case "media": {
      const m = e as unknown as MediaEvent;
      let line = `media ${m.callId} ${m.codec}`;
      if (m.localCandidate && m.remoteCandidate) {
        line += `, ${formatCandidate(m.localCandidate)} <-> ${formatCandidate(m.remoteCandidate)}`;
      }
      if (m.pairType) line += ` (${m.pairType})`;
      return `${line}, ${formatEncryption(m)}`;
    }
    case "group": {
      const g = e as unknown as GroupEvent;
      if (g.type === "bridged") return `group ${g.callId} bridged with call ${String(g.bridgedWith)}`;
      let line = `group ${g.callId} ${g.type} ${String(g.peer)}`;
      if (g.reason) line += `: ${g.reason}`;
      if (g.text) line += ` (${g.text})`;
      return line;
    }
    case "refused":
      return `refused a call from ${String(e.peer)}: ${String(e.reason)}`;
    case "dtmf":
      return `dtmf ${String(e.callId)} ${String(e.digit)}${typeof e.durationMs === "number" ? ` (${e.durationMs} ms)` : ""}`;
    case "playback":
    case "recording":
      return `${e.event} ${String(e.callId)} ${String(e.type)}: ${String(e.file)}${e.error ? ` (${String(e.error)})` : ""}`;
    case "stats": {
      const { event: _e, seq: _s, time: _t, callId, ...fields } = e;
      const glance = qualityAtAGlance(fields);
      return `stats ${String(callId)} sent ${String(fields.packetsSent ?? "?")} received ${String(fields.packetsReceived ?? "?")} lost ${String(fields.packetsLost ?? "?")}${glance.length ? `: ${glance.join(", ")}` : ""}`;
    }
    case "roster":
      return e.type === "request" ? `roster: ${String(e.jid)} asks to see our presence` : `roster: ${String(e.jid)} ${String(e.type)}`;
    case "reload":
      return formatReload(e as unknown as ReloadResult).replace("configuration reloaded", "reload");
    case "voicemail": {
      const seconds = typeof e.durationMs === "number" ? `, ${formatDuration(e.durationMs)}` : "";
      const where = e.type === "delivered" ? `: ${String(e.url)}` : e.type === "kept" ? `: kept as ${String(e.file)} (${String(e.reason)})` : "";
      return `voicemail ${String(e.callId)} ${String(e.type)} from ${String(e.peer)}${seconds}${where}`;
    }
    case "echo": {
      if (e.type === "started") return `echo ${String(e.callId)} started with ${String(e.peer)}: played back ${String(e.delayMs)} ms later`;
      const r = (e.report ?? {}) as { path?: string; rttMs?: number; received?: { mos?: number }; sent?: { mos?: number } };
      const rtt = typeof r.rttMs === "number" ? `, RTT ${r.rttMs} ms` : "";
      return `echo ${String(e.callId)} report to ${String(e.peer)}: ${String(r.path)}${rtt}, MOS ${String(r.received?.mos ?? "?")} received, ${String(r.sent?.mos ?? "?")} sent`;
    }
    default: {
      const { event, seq: _seq, time: _time, ...fields } = e;
      return `${event} ${JSON.stringify(fields)}`;
    }
  }
}

/** How the call's media is protected, from the media event (older daemons do not say). */
export function formatEncryption(m: Pick<MediaEvent, "encryption" | "srtpProfile">): string {
  if (m.encryption === "dtls-srtp") return `DTLS-SRTP${m.srtpProfile ? ` (${m.srtpProfile})` : ""}`;
  if (m.encryption === "none") return "plain RTP (not encrypted)";
  return "encryption not reported";
}

export function formatSpec(spec: DeviceSpec): string {
  const { type, ...rest } = spec;
  const values = Object.values(rest).map(String);
  return values.length ? `${type} ${values.join(" ")}` : type;
}

/** ITU-T G.107 Annex B: user satisfaction by MOS (from R 90, 80, 70, 60). */
function verdict(mos: number): string {
  if (mos >= 4.34) return "excellent";
  if (mos >= 4.03) return "good";
  if (mos >= 3.6) return "fair";
  if (mos >= 3.1) return "poor";
  return "bad";
}

/** The figures a person looks at first: MOS, loss, jitter, round trip; the ones the call has. */
function qualityAtAGlance(f: Record<string, unknown>): string[] {
  const n = (k: string): number | undefined => (typeof f[k] === "number" && Number.isFinite(f[k]) ? (f[k] as number) : undefined);
  const parts: string[] = [];
  const mos = n("mos");
  if (mos !== undefined) parts.push(`MOS ${mos.toFixed(2)} (${verdict(mos)})`);
  const fraction = n("fractionLost");
  if (fraction !== undefined) {
    const lost = n("packetsLost");
    const received = n("packetsReceived");
    const of = lost !== undefined && received !== undefined ? ` (${lost} of ${lost + received})` : "";
    parts.push(`loss ${(fraction * 100).toFixed(1)} %${of}`);
  }
  const jitter = n("jitterMs");
  if (jitter !== undefined) parts.push(`jitter ${jitter.toFixed(1)} ms`);
  const rtt = n("rttMs");
  if (rtt !== undefined) parts.push(`RTT ${Math.round(rtt)} ms`);
  return parts;
}

export function formatStats(r: StatsResult): string {
  const { callId, state, ...fields } = r;
  const glance = qualityAtAGlance(fields);
  const lines = [`call ${callId} ${state}${glance.length ? `: ${glance.join(", ")}` : ""}`];
  for (const [k, v] of Object.entries(fields)) lines.push(`  ${k}: ${typeof v === "object" ? JSON.stringify(v) : String(v)}`);
  return lines.join("\n");
}

export function formatDevices(r: DevicesResult): string {
  const block = (title: string, list: DevicesResult["inputs"]): string[] => [
    `${title}:`,
    ...list.map((d) => `  ${JSON.stringify(d.spec)}  ${d.description}`),
  ];
  return [...block("inputs (set-input)", r.inputs), ...block("outputs (set-output)", r.outputs)].join("\n");
}

/** Whether a contact is online, as far as its presence reaches us (RFC 6121 §3: only with subscription to or both). */
function formatOnline(i: RosterListItem): string | undefined {
  if (i.online === undefined) return undefined; // an older daemon
  const resource = (jid: string) => (jid.includes("/") ? jid.slice(jid.indexOf("/") + 1) : jid);
  if (i.online.length) return `online (${i.online.map(resource).join(", ")})`;
  if (i.subscription === "to" || i.subscription === "both") return "offline";
  return i.pendingOut ? undefined : `presence not shared (roster add ${i.jid} asks for it)`;
}

export function formatRoster(r: RosterListResult): string {
  const lines = r.items.map((i) => {
    let line = `${i.jid}${i.name ? ` (${i.name})` : ""} subscription ${i.subscription}`;
    const online = formatOnline(i);
    if (online) line += `, ${online}`;
    if (i.pendingOut) line += ", asked for presence";
    if (i.groups.length) line += ` [${i.groups.join(", ")}]`;
    return line;
  });
  if (lines.length === 0) lines.push("no contacts");
  for (const jid of r.requests) lines.push(`${jid} asks to see our presence (roster approve ${jid})`);
  return lines.join("\n");
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

/** One line per recording, newest first: when, who, how long, how big, the file (what delete takes is its name). */
export function formatVoicemail(r: VoicemailListResult): string {
  if (!r.enabled) return `voicemail is off${r.reason ? ` (${r.reason})` : ""}: no recordings`;
  if (r.recordings.length === 0) return `no recordings${r.dir ? ` in ${r.dir}` : ""}`;
  return r.recordings
    .map((v) => {
      const when = v.at.replace("T", " ").replace(/\.\d+Z$/, " UTC");
      const length = v.durationMs === undefined ? "?" : formatDuration(v.durationMs);
      return `${when}  ${v.caller ?? "unknown caller"}  ${length}  ${formatBytes(v.size)}  ${v.file}`;
    })
    .join("\n");
}

export function formatReload(r: ReloadResult): string {
  if (r.applied.length === 0 && r.restartRequired.length === 0) return "configuration reloaded: nothing changed";
  const lines = ["configuration reloaded"];
  if (r.applied.length) lines.push(`  now in force: ${r.applied.join(", ")}`);
  if (r.restartRequired.length) lines.push(`  needs a restart: ${r.restartRequired.join(", ")}`);
  return lines.join("\n");
}
