// Long-uptime check (issue 8 item 5): two real daemons and a throwaway
// Prosody on 127.0.0.1; N short sequential calls (alternately to the full
// JID and, XEP-0353, to the bare JID; DTLS-SRTP, Opus), then one long call.
// Both daemons run with scripts/soak-probe.js preloaded: at each sample it
// collects garbage and records RSS, heap, open fds and the active libuv
// handles by type (timers included). Printed: a row every `every` calls and every minute of the
// long call, then what changed between the first sample after warm-up and
// the last. Everything started here is stopped here.
//
//   npm run build && node dist/scripts/soak.js [calls=1000] [longMinutes=30] [holdMs=1000]
//
// Results also go to .run/soak/soak-<time>.json.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { stringify } from "yaml";
import { startProsody, type ProsodyServer } from "./lab/prosody.js";
import { JINGLED_BIN, REPO_ROOT, daemonConfig } from "./lab/daemon.js";
import { startProcess, type ManagedProcess } from "./lab/process.js";
import { connectControl, type AnyEvent, type ControlClient } from "../src/control/client.js";

const PROBE = pathToFileURL(fileURLToPath(new URL("./soak-probe.js", import.meta.url))).href;

interface Probe {
  t: number;
  rss: number;
  heapUsed: number;
  external: number;
  fds: number;
  resources: Record<string, number>;
}

interface Soaked {
  name: string;
  dir: string;
  proc: ManagedProcess;
  control: ControlClient;
  jid: string;
  events: AnyEvent[];
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function startSoaked(prosody: ProsodyServer, root: string, name: string, config: Record<string, unknown>): Promise<Soaked> {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  const cfg = daemonConfig({ prosody, username: name, password: `${name}-pw`, dir, codecs: ["opus"], input: { type: "tone", frequency: 440 }, output: { type: "null" }, logLevel: "info", config });
  const file = join(dir, "jingled.yaml");
  writeFileSync(file, stringify(cfg), { mode: 0o600 });
  const proc = await startProcess(process.execPath, ["--expose-gc", "--import", PROBE, JINGLED_BIN, "--config", file], {
    name: `jingled ${name}`,
    readyPattern: /control socket listening/,
    logFile: join(dir, "jingled.log"),
    maxLines: 200,
  });
  const control = await connectControl((cfg.control as { socket: string }).socket);
  const events: AnyEvent[] = [];
  control.on("event", (e) => {
    events.push(e);
    if (events.length > 500) events.splice(0, 250);
  });
  const deadline = Date.now() + 15_000;
  let jid = "";
  while (Date.now() < deadline) {
    const s = (await control.request("status")) as { account: { state: string; jid: string } };
    if (s.account.state === "online") {
      jid = s.account.jid;
      break;
    }
    await sleep(100);
  }
  if (!jid) throw new Error(`${name} did not come online`);
  return { name, dir, proc, control, jid, events };
}

async function waitEvent(d: Soaked, pred: (e: AnyEvent) => boolean, ms: number, what: string): Promise<AnyEvent> {
  const end = Date.now() + ms;
  for (;;) {
    const e = d.events.find(pred);
    if (e) return e;
    if (Date.now() > end) throw new Error(`${d.name}: timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Asks the probe for a fresh sample (after a full GC) and reads it. */
async function probe(d: Soaked): Promise<Probe> {
  const asked = Date.now();
  process.kill(d.proc.pid, "SIGUSR2");
  for (let i = 0; i < 100; i++) {
    await sleep(20);
    let text = "";
    try {
      text = readFileSync(join(d.dir, "probe.jsonl"), "utf8").trimEnd();
    } catch {
      continue;
    }
    const p = JSON.parse(text.slice(text.lastIndexOf("\n") + 1)) as Probe;
    if (p.t >= asked) return p;
  }
  throw new Error(`${d.name}: no probe sample`);
}

interface Row {
  label: string;
  calls: number;
  daemons: Record<string, { rssMiB: number; heapMiB: number; fds: number; timers: number; udp: number; handles: number; liveCalls: number }>;
  call?: Record<string, number | undefined>;
}

async function sample(label: string, calls: number, ds: Soaked[], call?: Row["call"]): Promise<Row> {
  await sleep(500); // let the last call's teardown finish
  const row: Row = { label, calls, daemons: {}, ...(call ? { call } : {}) };
  for (const d of ds) {
    const p = await probe(d);
    const live = ((await d.control.request("calls")) as unknown[]).length;
    const handles = Object.values(p.resources).reduce((a, b) => a + b, 0);
    row.daemons[d.name] = {
      rssMiB: +(p.rss / 2 ** 20).toFixed(1),
      heapMiB: +(p.heapUsed / 2 ** 20).toFixed(1),
      fds: p.fds,
      timers: p.resources.Timeout ?? 0,
      udp: p.resources.UDPWrap ?? 0,
      handles,
      liveCalls: live,
    };
  }
  const cells = ds.map((d) => {
    const x = row.daemons[d.name]!;
    return `${d.name}: rss ${x.rssMiB.toFixed(1).padStart(6)} MiB heap ${x.heapMiB.toFixed(1).padStart(5)} fds ${String(x.fds).padStart(3)} timers ${String(x.timers).padStart(3)} udp ${x.udp} handles ${String(x.handles).padStart(3)} calls ${x.liveCalls}`;
  });
  if (process.env.SOAK_RESOURCES) for (const d of ds) process.stdout.write(`  ${d.name} resources ${JSON.stringify((JSON.parse(readFileSync(join(d.dir, "probe.jsonl"), "utf8").trimEnd().split("\n").pop()!) as Probe).resources)}\n`);
  const extra = call ? `  | ${Object.entries(call).map(([k, v]) => `${k} ${v}`).join(" ")}` : "";
  process.stdout.write(`${label.padEnd(14)} ${cells.join("  |  ")}${extra}\n`);
  return row;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function oneCall(alice: Soaked, bob: Soaked, i: number, holdMs: number): Promise<number> {
  const target = i % 2 === 0 ? bob.jid : bob.jid.split("/")[0]!;
  const t0 = performance.now();
  const { callId } = (await alice.control.request("call", { jid: target })) as { callId: string };
  await waitEvent(alice, (e) => e.event === "call" && e.callId === callId && e.type === "active", 20_000, `call ${i} active`);
  const setupMs = performance.now() - t0;
  await sleep(holdMs);
  await alice.control.request("hangup", { callId });
  await waitEvent(alice, (e) => e.event === "call" && e.callId === callId && e.type === "ended", 10_000, `call ${i} ended`);
  for (let k = 0; k < 100 && ((await bob.control.request("calls")) as unknown[]).length > 0; k++) await sleep(20);
  return setupMs;
}

async function main(): Promise<void> {
  const calls = Number(process.argv[2] ?? 1000);
  const longMinutes = Number(process.argv[3] ?? 30);
  const holdMs = Number(process.argv[4] ?? 1000);
  const every = Math.max(10, Math.round(calls / 20));
  if (process.env.SOAK_RESOURCES) process.stdout.write("(resource types are printed with each sample)\n");
  const root = mkdtempSync(join(tmpdir(), "jingled-soak-"));
  let prosody: ProsodyServer | undefined;
  const ds: Soaked[] = [];
  const rows: Row[] = [];
  const setup: number[] = [];
  let failures = 0;
  const started = Date.now();
  try {
    prosody = await startProsody({ users: [{ username: "alice", password: "alice-pw" }, { username: "bob", password: "bob-pw" }], logLevel: "info" });
    const alice = await startSoaked(prosody, root, "alice", {});
    const bob = await startSoaked(prosody, root, "bob", { calls: { acceptFrom: "allowlist", allowlist: [`alice@${prosody.domain}`], autoAnswer: "all" } });
    ds.push(alice, bob);
    process.stdout.write(`soak: ${calls} calls of ${holdMs} ms (every other one via XEP-0353), then one call of ${longMinutes} min; pids alice ${alice.proc.pid}, bob ${bob.proc.pid}\n`);
    rows.push(await sample("start", 0, ds));
    for (let i = 1; i <= calls; i++) {
      try {
        setup.push(await oneCall(alice, bob, i, holdMs));
      } catch (err) {
        failures++;
        process.stdout.write(`call ${i} failed: ${err instanceof Error ? err.message : String(err)}\n`);
        await sleep(2000);
      }
      if (i % every === 0 || i === calls) rows.push(await sample(`after ${i}`, i, ds));
    }

    if (longMinutes > 0) {
      const t0 = Date.now();
      const { callId } = (await alice.control.request("call", { jid: bob.jid })) as { callId: string };
      await waitEvent(alice, (e) => e.event === "call" && e.callId === callId && e.type === "active", 20_000, "long call active");
      const stepMs = Math.min(60_000, (longMinutes * 60_000) / 10);
      while (Date.now() - t0 < longMinutes * 60_000) {
        await sleep(Math.min(stepMs, longMinutes * 60_000 - (Date.now() - t0)));
        const s = (await alice.control.request("stats", { callId })) as Record<string, number>;
        rows.push(
          await sample(`long ${((Date.now() - t0) / 60_000).toFixed(1)} min`, calls, ds, {
            rx: s.packetsReceived,
            lost: s.packetsLost,
            concealedMs: Math.round(s.concealedMs ?? 0),
            jbMs: Math.round(s.jitterBufferDelayMs ?? 0),
            maxTickGapMs: Math.round(s.maxTickGapMs ?? 0),
          }),
        );
      }
      await alice.control.request("hangup", { callId });
      await waitEvent(alice, (e) => e.event === "call" && e.callId === callId && e.type === "ended", 10_000, "long call ended");
      await sleep(2000);
      rows.push(await sample("end", calls, ds));
    }
  } finally {
    const summary = summarise(rows, ds.map((d) => d.name), calls, setup, failures);
    process.stdout.write(summary.text);
    const outDir = join(REPO_ROOT, ".run", "soak");
    mkdirSync(outDir, { recursive: true });
    const out = join(outDir, `soak-${new Date(started).toISOString().replace(/[:.]/g, "-")}.json`);
    writeFileSync(out, JSON.stringify({ calls, longMinutes, holdMs, failures, setupMs: summary.setup, rows }, null, 1));
    process.stdout.write(`results: ${out}\n`);
    for (const d of ds) {
      await d.control.close().catch(() => undefined);
      await d.proc.stop("SIGTERM", 8000);
    }
    await prosody?.stop();
    if (!process.env.SOAK_KEEP && existsSync(root)) rmSync(root, { recursive: true, force: true });
  }
}

function summarise(rows: Row[], names: string[], calls: number, setup: number[], failures: number): { text: string; setup: Record<string, number> } {
  const sorted = [...setup].sort((a, b) => a - b);
  const q = (p: number) => Math.round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? NaN);
  const s = { n: sorted.length, p50: q(0.5), p95: q(0.95), max: Math.round(sorted[sorted.length - 1] ?? NaN) };
  let text = `\n${calls} calls, ${failures} failed; setup ${s.p50} ms median, ${s.p95} ms p95, ${s.max} ms max\n`;
  const short = rows.filter((r) => r.calls > 0 && !r.label.startsWith("long") && r.label !== "end");
  // The first sample after calls is the baseline: it follows `every` calls of warm-up (JIT, codec and DTLS code, pools).
  const base = short[0];
  const lastShort = short[short.length - 1];
  const last = rows[rows.length - 1];
  for (const name of names) {
    if (!base || !lastShort || !last) break;
    const a = base.daemons[name]!;
    const b = lastShort.daemons[name]!;
    const z = last.daemons[name]!;
    const xs = short.map((r) => r.calls);
    const perHundred = slope(xs, short.map((r) => r.daemons[name]!.rssMiB)) * 100;
    const heapPerHundred = slope(xs, short.map((r) => r.daemons[name]!.heapMiB)) * 100;
    text +=
      `${name}: after ${base.calls} calls rss ${a.rssMiB} MiB heap ${a.heapMiB} fds ${a.fds} timers ${a.timers} udp ${a.udp} handles ${a.handles}; ` +
      `after ${lastShort.calls}: rss ${b.rssMiB} heap ${b.heapMiB} fds ${b.fds} timers ${b.timers} udp ${b.udp} handles ${b.handles}; ` +
      `trend ${perHundred.toFixed(2)} MiB RSS / ${heapPerHundred.toFixed(2)} MiB heap per 100 calls; ` +
      `at the end: rss ${z.rssMiB} heap ${z.heapMiB} fds ${z.fds} timers ${z.timers} udp ${z.udp} calls ${z.liveCalls}\n`;
  }
  return { text, setup: s };
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`soak: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
