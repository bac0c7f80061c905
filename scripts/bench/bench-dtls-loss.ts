// Call setups under random UDP loss (scripts/lab/dtls-loss-lab.ts): how many
// reach active, and how long they take, per case and loss rate. Root only
// (network namespaces, iptables); Chromium cases need /usr/bin/chromium.
//
//   npm run bench:dtls-loss -- [--count 50] [--loss 0.05,0.15] [--cases LIST] [--json FILE]
//
// Cases (default: all):
//   daemons                 jingled calls jingled (the caller is DTLS server, the callee client)
//   jingled-calls-chromium  jingled is DTLS server, Chromium client
//   chromium-calls-jingled  Chromium is DTLS server, jingled client
//   chromium-chromium       the reference: two Chromiums (StanzaJS pages)
//   turn                    jingled calls jingled through coturn (direct UDP blocked), NAT lab
//   ice-restart             a running call restarts ICE (the caller's LAN is re-addressed), NAT lab
// The first four run in the loopback lab, the last two in the NAT lab; each
// lab runs in a namespace of its own, made and deleted here.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNetns, currentTestNetns, netnsAvailable, runSelfInNetns } from "../lab/netns.js";
import { browserPeerUnavailable } from "../lab/browser-peer.js";
import { natLabUnavailable } from "../lab/nat-lab.js";
import {
  browserCallsBrowser, browserCallsJingled, daemonCall, formatSummary, jingledCallsBrowser, relayOnly, restartOnce, setLoopbackUdpLoss, startLoopbackLossLab,
  startNatLossLab, summarize, type CaseSummary, type SetupSample,
} from "../lab/dtls-loss-lab.js";

const LOOPBACK_CASES = ["daemons", "jingled-calls-chromium", "chromium-calls-jingled", "chromium-chromium"] as const;
const NAT_CASES = ["turn", "ice-restart"] as const;
type CaseName = (typeof LOOPBACK_CASES)[number] | (typeof NAT_CASES)[number];
const PART_ENV = "JINGLED_DTLS_LOSS_PART";
const OUT_ENV = "JINGLED_DTLS_LOSS_OUT";
const SETUP_TIMEOUT_MS = 20_000;

interface CaseResult {
  name: CaseName;
  loss: number;
  samples: SetupSample[];
  summary: CaseSummary;
  notes?: string[];
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const count = Number(arg("--count") ?? "50");
const losses = (arg("--loss") ?? "0.05,0.15").split(",").map(Number);
const cases = (arg("--cases")?.split(",") ?? [...LOOPBACK_CASES, ...NAT_CASES]) as CaseName[];
for (const c of cases) {
  if (![...LOOPBACK_CASES, ...NAT_CASES].includes(c)) {
    process.stderr.write(`bench-dtls-loss: unknown case ${c}\n`);
    process.exit(64);
  }
}

const say = (line: string) => process.stdout.write(`${line}\n`);

async function runCase(name: CaseName, loss: number, one: (i: number) => Promise<SetupSample>, notes?: string[]): Promise<CaseResult> {
  const samples: SetupSample[] = [];
  for (let i = 0; i < count; i++) {
    const s = await one(i);
    samples.push(s);
    say(`  ${name} @ ${loss * 100} % #${i + 1}: ${s.ok ? `active in ${Math.round(s.ms)} ms` : `FAILED after ${Math.round(s.ms)} ms: ${s.reason}`}`);
  }
  const summary = summarize(`${name} @ ${loss * 100} % loss`, samples);
  say(formatSummary(summary));
  return { name, loss, samples, summary, ...(notes ? { notes } : {}) };
}

async function loopbackPart(dir: string): Promise<CaseResult[]> {
  const want = LOOPBACK_CASES.filter((c) => cases.includes(c));
  const browsers = want.includes("chromium-chromium") ? 2 : want.some((c) => c.includes("chromium")) ? 1 : 0;
  const missing = browsers ? browserPeerUnavailable() : undefined;
  if (missing) throw new Error(`Chromium cases need a browser: ${missing}`);
  const lab = await startLoopbackLossLab(dir, browsers);
  const { alice, bob } = lab;
  const [carol, dave] = lab.browsers;
  if (carol) say(`chromium ${carol.peer.version}`);
  try {
    const out: CaseResult[] = [];
    for (const loss of losses) {
      await setLoopbackUdpLoss(loss);
      try {
        for (const c of want) {
          if (c === "daemons") out.push(await runCase(c, loss, () => daemonCall(alice, bob, SETUP_TIMEOUT_MS)));
          if (c === "jingled-calls-chromium") out.push(await runCase(c, loss, () => jingledCallsBrowser(alice, carol!.peer, carol!.jid, SETUP_TIMEOUT_MS)));
          if (c === "chromium-calls-jingled") out.push(await runCase(c, loss, () => browserCallsJingled(carol!.peer, alice, SETUP_TIMEOUT_MS)));
          if (c === "chromium-chromium") out.push(await runCase(c, loss, () => browserCallsBrowser(carol!.peer, dave!.peer, dave!.jid, SETUP_TIMEOUT_MS)));
        }
      } finally {
        await setLoopbackUdpLoss(0);
      }
    }
    return out;
  } finally {
    await lab.stop();
  }
}

async function natPart(dir: string): Promise<CaseResult[]> {
  const want = NAT_CASES.filter((c) => cases.includes(c));
  const nl = await startNatLossLab(dir);
  try {
    const out: CaseResult[] = [];
    for (const loss of losses) {
      for (const c of want) {
        const unblock = c === "turn" ? await relayOnly(nl.lab) : undefined;
        await nl.lab.a.setLoss(loss);
        try {
          if (c === "turn") out.push(await runCase(c, loss, () => daemonCall(nl.alice, nl.bob, SETUP_TIMEOUT_MS)));
          if (c === "ice-restart") {
            // Only restarts are counted; a call that fails to set up first is tried again (counted apart).
            const counters = { setupFailures: 0 };
            const r = await runCase(c, loss, () => restartOnce(nl, SETUP_TIMEOUT_MS, counters));
            r.notes = [`${counters.setupFailures} call setups before a restart failed and were tried again`];
            say(`  ${r.notes[0]}`);
            out.push(r);
          }
        } finally {
          await nl.lab.a.setLoss(0);
          await unblock?.();
        }
      }
    }
    return out;
  } finally {
    await nl.stop();
  }
}

if (currentTestNetns()) {
  const part = process.env[PART_ENV];
  const dir = mkdtempSync(join(tmpdir(), "jingled-dtls-loss-"));
  let code = 0;
  try {
    const results = part === "nat" ? await natPart(dir) : await loopbackPart(dir);
    writeFileSync(process.env[OUT_ENV]!, JSON.stringify(results));
  } catch (err) {
    process.stderr.write(`bench-dtls-loss (${part}): ${(err as Error).stack ?? String(err)}\n`);
    code = 1;
  } finally {
    if (process.env.KEEP_TEST_DIR) say(`logs in ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
  process.exit(code);
} else {
  const ns = await netnsAvailable();
  const why = !ns.ok ? ns.reason : await natLabUnavailable();
  if (why) {
    process.stderr.write(`bench-dtls-loss: ${why}\n`);
    process.exit(69);
  }
  const all: CaseResult[] = [];
  for (const part of ["loopback", "nat"] as const) {
    if (!cases.some((c) => (part === "nat" ? (NAT_CASES as readonly string[]) : (LOOPBACK_CASES as readonly string[])).includes(c))) continue;
    const out = join(tmpdir(), `jingled-dtls-loss-${process.pid}-${part}.json`);
    const netns = await createNetns(`jingled-dloss-${part === "nat" ? "n" : "l"}`);
    process.env[PART_ENV] = part;
    process.env[OUT_ENV] = out;
    try {
      const code = await runSelfInNetns(netns, 6 * 3600 * 1000);
      if (code !== 0) process.stderr.write(`bench-dtls-loss: the ${part} lab exited with ${code}\n`);
      else all.push(...(JSON.parse(readFileSync(out, "utf8")) as CaseResult[]));
    } finally {
      await netns.destroy();
      rmSync(out, { force: true });
    }
  }
  say("\n# setups reaching active (both ends), call command to both ends connected");
  for (const r of all) say(`${formatSummary(r.summary)}${r.notes ? ` (${r.notes.join("; ")})` : ""}`);
  const json = arg("--json");
  if (json) writeFileSync(json, JSON.stringify({ count, losses, results: all }, null, 1));
}
