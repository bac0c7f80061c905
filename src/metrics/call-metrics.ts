// What /metrics reports: calls by state and end reason, setup time, packets,
// loss, jitter, concealment, MOS and RTCP round-trip time, and the process's
// CPU and memory. Counters come from the event bus (every front end sees the
// same events); gauges from the daemon's status at scrape time.
import type { BusEvent } from "../control/event-bus.js";
import { CallState } from "../control/protocol.js";
import { Histogram, type MetricFamily, type Sample } from "./exposition.js";

/** The parts of the `status` result read here. */
export interface StatusView {
  account: { state: string };
  calls: { id: string; state: string; stats?: object }[];
}

// Seconds from the answer (the "connecting" state) to media flowing ("active").
const SETUP_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
// Counters summed over every call: the field in the call statistics, its metric, and a scale to base units.
const TOTALS = [
  ["packetsSent", "jingled_rtp_packets_sent_total", "RTP packets sent", 1],
  ["packetsReceived", "jingled_rtp_packets_received_total", "RTP packets received", 1],
  ["packetsLost", "jingled_rtp_packets_lost_total", "RTP packets lost (RFC 3550 cumulative loss)", 1],
  ["concealedMs", "jingled_concealed_seconds_total", "Audio concealed (loss, late packets, gaps)", 1 / 1000],
  ["fecRecovered", "jingled_fec_recovered_frames_total", "Lost Opus frames rebuilt from in-band FEC", 1],
] as const;
// Per active call, labelled call_id: the field, its metric, help, scale.
const PER_CALL = [
  ["mos", "jingled_call_mos", "Estimated MOS (ITU-T G.107 E-model), 1..4.5", 1],
  ["fractionLost", "jingled_call_fraction_lost", "Share of the peer's packets lost over the call, 0..1", 1],
  ["jitterMs", "jingled_call_jitter_seconds", "Interarrival jitter of the peer's stream (RFC 3550 A.8)", 1 / 1000],
  ["rttMs", "jingled_call_rtt_seconds", "Round-trip time from RTCP reports (RFC 3550 6.4.1)", 1 / 1000],
  ["jitterBufferDelayMs", "jingled_call_jitter_buffer_delay_seconds", "Arrival-to-playout delay of the packets played", 1 / 1000],
  ["concealedMs", "jingled_call_concealed_seconds", "Audio concealed in this call", 1 / 1000],
] as const;

const MAX_REASONS = 32;

type Totals = Record<(typeof TOTALS)[number][0], number>;

function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

function field(stats: object | undefined, key: string): number | undefined {
  return num((stats as Record<string, unknown> | undefined)?.[key]);
}

export class CallMetrics {
  readonly #setup = new Histogram(SETUP_BUCKETS);
  readonly #started = new Map<string, number>();
  readonly #ended = new Map<string, number>();
  /** Answered, not yet active: callId -> when. */
  readonly #connecting = new Map<string, number>();
  /** What ended calls carried (their final statistics). */
  readonly #endedTotals: Totals = { packetsSent: 0, packetsReceived: 0, packetsLost: 0, concealedMs: 0, fecRecovered: 0 };

  onEvent(e: BusEvent): void {
    if (e.event !== "call" || typeof e.callId !== "string") return;
    const at = Date.parse(e.time);
    switch (e.type) {
      case "outgoing":
      case "incoming":
        this.#started.set(e.type, (this.#started.get(e.type) ?? 0) + 1);
        break;
      case "connecting":
        this.#connecting.set(e.callId, at);
        break;
      case "active": {
        const from = this.#connecting.get(e.callId);
        if (from !== undefined) this.#setup.observe(Math.max(0, at - from) / 1000);
        this.#connecting.delete(e.callId);
        break;
      }
      case "ended": {
        this.#connecting.delete(e.callId);
        // Reasons are XEP-0166's closed set; the cap only guards the label count against a bug upstream.
        const reason = typeof e.reason === "string" && (this.#ended.has(e.reason) || this.#ended.size < MAX_REASONS) ? e.reason : "other";
        this.#ended.set(reason, (this.#ended.get(reason) ?? 0) + 1);
        const stats = (e.stats ?? {}) as Record<string, unknown>;
        for (const [key] of TOTALS) this.#endedTotals[key] += num(stats[key]) ?? 0;
        break;
      }
    }
  }

  families(status: StatusView): MetricFamily[] {
    const live = status.calls.filter((c) => c.state !== "ended");
    const byState = Object.values(CallState)
      .filter((s) => s !== "ended")
      .map((state) => ({ labels: { state }, value: live.filter((c) => c.state === state).length }));
    const families: MetricFamily[] = [
      { name: "jingled_account_online", help: "1 while the XMPP account is online", type: "gauge", samples: [{ value: status.account.state === "online" ? 1 : 0 }] },
      { name: "jingled_calls", help: "Calls now, by state", type: "gauge", samples: byState },
      { name: "jingled_calls_started_total", help: "Calls placed (outgoing) and received (incoming)", type: "counter", samples: ["outgoing", "incoming"].map((direction) => ({ labels: { direction }, value: this.#started.get(direction) ?? 0 })) },
      { name: "jingled_calls_ended_total", help: "Calls ended, by XEP-0166 reason", type: "counter", samples: [...this.#ended].sort().map(([reason, value]) => ({ labels: { reason }, value })) },
      { name: "jingled_call_setup_seconds", help: "From the answer to media flowing (ICE, DTLS-SRTP)", type: "histogram", samples: this.#setup.samples() },
    ];
    for (const [key, name, help, scale] of TOTALS) {
      const value = live.reduce((sum, c) => sum + (field(c.stats, key) ?? 0), this.#endedTotals[key]);
      families.push({ name, help, type: "counter", samples: [{ value: value * scale }] });
    }
    for (const [key, name, help, scale] of PER_CALL) {
      const samples: Sample[] = [];
      for (const c of live) {
        const v = field(c.stats, key);
        if (v !== undefined) samples.push({ labels: { call_id: c.id }, value: v * scale });
      }
      families.push({ name, help, type: "gauge", samples });
    }
    return families;
  }
}

/** The standard process_* metrics (as Prometheus client libraries name them). */
export function processFamilies(startTime: number): MetricFamily[] {
  const cpu = process.cpuUsage();
  const mem = process.memoryUsage();
  return [
    { name: "process_cpu_user_seconds_total", help: "User CPU time spent", type: "counter", samples: [{ value: cpu.user / 1e6 }] },
    { name: "process_cpu_system_seconds_total", help: "System CPU time spent", type: "counter", samples: [{ value: cpu.system / 1e6 }] },
    { name: "process_cpu_seconds_total", help: "User and system CPU time spent", type: "counter", samples: [{ value: (cpu.user + cpu.system) / 1e6 }] },
    { name: "process_resident_memory_bytes", help: "Resident set size", type: "gauge", samples: [{ value: mem.rss }] },
    { name: "process_start_time_seconds", help: "Start time of the process since the Unix epoch", type: "gauge", samples: [{ value: Math.round(startTime / 1000) }] },
    { name: "nodejs_heap_used_bytes", help: "V8 heap in use", type: "gauge", samples: [{ value: mem.heapUsed }] },
  ];
}
