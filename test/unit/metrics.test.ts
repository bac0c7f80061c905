// Prometheus metrics: the text format, the call counters fed by the event
// bus, and the HTTP endpoint (real HTTP on loopback).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createEventBus } from "../../src/control/event-bus.js";
import { CallMetrics, type StatusView } from "../../src/metrics/call-metrics.js";
import { Histogram, renderFamilies } from "../../src/metrics/exposition.js";
import { startMetricsServer } from "../../src/metrics/metrics-server.js";
import { silentLogger } from "../../src/util/logger.js";

/** `name{labels} value` lines -> map (HELP/TYPE lines checked separately). */
function samples(text: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

test("exposition: HELP and TYPE per family, label values escaped, numbers as Prometheus writes them", () => {
  const text = renderFamilies([
    { name: "x_total", help: 'a \\ b\nc', type: "counter", samples: [{ labels: { reason: 'say "hi"\\\n' }, value: 3 }] },
    { name: "y", help: "y", type: "gauge", samples: [{ value: Infinity }, { value: NaN }] },
  ]);
  assert.equal(text, '# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\nx_total{reason="say \\"hi\\"\\\\\\n"} 3\n# HELP y y\n# TYPE y gauge\ny +Inf\ny NaN\n');
});

test("histogram: cumulative buckets, +Inf, sum and count", () => {
  const h = new Histogram([0.1, 1]);
  for (const v of [0.05, 0.1, 0.5, 3]) h.observe(v);
  assert.deepEqual(
    h.samples().map((s) => [s.suffix, s.labels?.le, s.value]),
    [["_bucket", "0.1", 2], ["_bucket", "1", 3], ["_bucket", "+Inf", 4], ["_sum", undefined, 3.65], ["_count", undefined, 4]],
  );
});

test("call metrics: started by direction, ended by reason, setup from answer to active, totals survive the call", () => {
  const m = new CallMetrics();
  const at = (ms: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, 0, ms)).toISOString();
  let seq = 0;
  const ev = (fields: Record<string, unknown>, ms: number) => m.onEvent({ event: "call", seq: ++seq, time: at(ms), ...fields });
  ev({ callId: "c1", type: "incoming" }, 0);
  ev({ callId: "c1", type: "connecting" }, 1000);
  ev({ callId: "c1", type: "active" }, 1080);
  ev({ callId: "c2", type: "outgoing" }, 1100);
  ev({ callId: "c1", type: "ended", reason: "success", stats: { packetsSent: 500, packetsReceived: 490, packetsLost: 10, concealedMs: 200, fecRecovered: 3 } }, 9000);
  ev({ callId: "c2", type: "ended", reason: "decline" }, 9100);
  ev({ callId: "c3", type: "outgoing" }, 9200);
  ev({ callId: "c3", type: "connecting" }, 9300);
  const status: StatusView = {
    account: { state: "online" },
    calls: [{ id: "c3", state: "connecting", stats: { packetsSent: 20, packetsReceived: 5, packetsLost: 0, mos: 4.3, jitterMs: 2, rttMs: 12 } }],
  };
  const s = samples(renderFamilies(m.families(status)));
  assert.equal(s.get('jingled_calls_started_total{direction="incoming"}'), 1);
  assert.equal(s.get('jingled_calls_started_total{direction="outgoing"}'), 2);
  assert.equal(s.get('jingled_calls_ended_total{reason="success"}'), 1);
  assert.equal(s.get('jingled_calls_ended_total{reason="decline"}'), 1);
  assert.equal(s.get('jingled_calls{state="connecting"}'), 1);
  assert.equal(s.get('jingled_calls{state="active"}'), 0);
  assert.equal(s.get("jingled_call_setup_seconds_count"), 1);
  assert.equal(s.get('jingled_call_setup_seconds_bucket{le="0.05"}'), 0);
  assert.equal(s.get('jingled_call_setup_seconds_bucket{le="0.1"}'), 1);
  assert.equal(s.get("jingled_call_setup_seconds_sum"), 0.08);
  assert.equal(s.get("jingled_rtp_packets_sent_total"), 520, "ended calls' final figures plus the live ones");
  assert.equal(s.get("jingled_rtp_packets_lost_total"), 10);
  assert.equal(s.get("jingled_concealed_seconds_total"), 0.2);
  assert.equal(s.get('jingled_call_mos{call_id="c3"}'), 4.3);
  assert.equal(s.get('jingled_call_rtt_seconds{call_id="c3"}'), 0.012);
  assert.equal(s.get("jingled_account_online"), 1);
});

test("GET /metrics on 127.0.0.1: the text format, process figures, 404 elsewhere, 405 for other methods", async () => {
  const events = createEventBus(silentLogger());
  const server = await startMetricsServer({ address: "127.0.0.1", port: 0, events, status: () => ({ account: { state: "connecting" }, calls: [] }), version: "9.9.9", logger: silentLogger() });
  try {
    events.publish("call", { callId: "c1", type: "outgoing", peer: "bob@example.org" });
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    const text = await res.text();
    const s = samples(text);
    assert.equal(s.get('jingled_info{version="9.9.9"}'), 1);
    assert.equal(s.get('jingled_calls_started_total{direction="outgoing"}'), 1);
    assert.equal(s.get("jingled_account_online"), 0);
    assert.ok((s.get("process_resident_memory_bytes") ?? 0) > 10e6);
    assert.ok((s.get("process_cpu_seconds_total") ?? 0) > 0);
    // Every sample belongs to a family announced by # TYPE before it.
    const typed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    for (const name of s.keys()) assert.ok(typed.has(name.replace(/\{.*$/, "").replace(/_(bucket|sum|count)$/, "")), name);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/`)).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${server.port}/metrics`, { method: "POST", body: "x" })).status, 405);
  } finally {
    await server.close();
  }
});

test("a port in use is a clear start error", async () => {
  const events = createEventBus(silentLogger());
  const first = await startMetricsServer({ address: "127.0.0.1", port: 0, events, status: () => ({ account: { state: "online" }, calls: [] }), version: "x", logger: silentLogger() });
  try {
    await assert.rejects(
      startMetricsServer({ address: "127.0.0.1", port: first.port, events, status: () => ({ account: { state: "online" }, calls: [] }), version: "x", logger: silentLogger() }),
      new RegExp(`metrics: cannot listen on 127\\.0\\.0\\.1:${first.port}: .*EADDRINUSE`),
    );
  } finally {
    await first.close();
  }
});
