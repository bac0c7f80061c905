// Call setups under random UDP loss (test/helpers/dtls-loss-lab.ts): how many
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
import { createNetns, currentTestNetns, netnsAvailable, runSelfInNetns } from "../test/helpers/netns.js";
import { startProsody } from "../test/helpers/prosody.js";
import { startDaemon, type Daemon } from "../test/helpers/daemon.js";
import { browserPeerUnavailable, startBrowserPeer, type BrowserPeer } from "../test/helpers/browser-peer.js";
import { makeSpeechWav } from "../test/helpers/speech.js";
import { LAB, createNatLab, natLabUnavailable, startLabDaemon, startLabServers } from "../test/helpers/nat-lab.js";
import {
  browserCallsBrowser, browserCallsJingled, daemonCall, establish, formatSummary, jingledCallsBrowser, restartUnderLoss, setLoopbackUdpLoss, summarize,
  type CaseSummary, type SetupSample,
} from "../test/helpers/dtls-loss-lab.js";

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
  const browsers = want.some((c) => c.includes("chromium"));
  const missing = browsers ? browserPeerUnavailable() : undefined;
  if (missing) throw new Error(`Chromium cases need a browser: ${missing}`);
  const prosody = await startProsody({
    modules: ["websocket"],
    logLevel: "info",
    users: ["alice", "bob", "carol", "dave"].map((u) => ({ username: u, password: `${u}-pw` })),
  });
  const wav = join(dir, "mic.wav");
  await makeSpeechWav("One two three four five.", wav, { sampleRate: 48000, channels: 1 });
  const daemon = (u: string) => startDaemon({ prosody, username: u, password: `${u}-pw`, dir: join(dir, u), autoAnswer: true, logLevel: "info", codecs: ["opus"] });
  const daemons: Daemon[] = [];
  const peers: BrowserPeer[] = [];
  try {
    daemons.push(await daemon("alice"), await daemon("bob"));
    const [alice, bob] = daemons as [Daemon, Daemon];
    const jids: string[] = [];
    if (browsers) {
      for (const u of ["carol", "dave"]) {
        const p = await startBrowserPeer({ fakeMicWav: wav });
        peers.push(p);
        jids.push(await p.connect({ jid: prosody.jid(u), password: `${u}-pw`, wsUrl: prosody.websocketUrl!, resource: "browser" }));
        await p.setAutoAnswer(true);
      }
      say(`chromium ${peers[0]!.version}`);
    }
    const [carol, dave] = peers;
    const out: CaseResult[] = [];
    for (const loss of losses) {
      await setLoopbackUdpLoss(loss);
      try {
        for (const c of want) {
          if (c === "daemons") out.push(await runCase(c, loss, () => daemonCall(alice, bob, SETUP_TIMEOUT_MS)));
          if (c === "jingled-calls-chromium") out.push(await runCase(c, loss, () => jingledCallsBrowser(alice, carol!, jids[0]!, SETUP_TIMEOUT_MS)));
          if (c === "chromium-calls-jingled") out.push(await runCase(c, loss, () => browserCallsJingled(carol!, alice, SETUP_TIMEOUT_MS)));
          if (c === "chromium-chromium") out.push(await runCase(c, loss, () => browserCallsBrowser(carol!, dave!, jids[1]!, SETUP_TIMEOUT_MS)));
        }
      } finally {
        await setLoopbackUdpLoss(0);
      }
    }
    return out;
  } finally {
    for (const p of peers) await p.close();
    for (const d of daemons) await d.stop();
    await prosody.stop();
  }
}

async function natPart(dir: string): Promise<CaseResult[]> {
  const want = NAT_CASES.filter((c) => cases.includes(c));
  const lab = await createNatLab({ a: "cone", b: "cone" });
  const servers = await startLabServers([
    { username: "alice", password: "a-pw" },
    { username: "bob", password: "b-pw" },
  ]);
  const input = { type: "tone", frequency: 440 };
  const [alice, bob] = await Promise.all([
    startLabDaemon(lab.a, servers, { username: "alice", password: "a-pw", dir: join(dir, "alice"), input, autoAnswer: true }),
    startLabDaemon(lab.b, servers, { username: "bob", password: "b-pw", dir: join(dir, "bob"), input, autoAnswer: true }),
  ]);
  let nextHost = 3;
  try {
    const out: CaseResult[] = [];
    for (const loss of losses) {
      for (const c of want) {
        if (c === "turn") {
          const unblock = [await lab.a.block(["-p", "udp", "-d", LAB.wan.b, "-j", "DROP"]), await lab.a.block(["-p", "udp", "-s", LAB.wan.b, "-j", "DROP"])];
          await lab.a.setLoss(loss);
          try {
            out.push(await runCase(c, loss, () => daemonCall(alice, bob, SETUP_TIMEOUT_MS)));
          } finally {
            await lab.a.setLoss(0);
            for (const u of unblock) await u();
          }
        }
        if (c === "ice-restart") {
          await lab.a.setLoss(loss);
          // Only restarts are counted here; a call that fails to set up first is tried again (counted apart).
          let setupFailures = 0;
          try {
            const r = await runCase(c, loss, async () => {
              for (let attempt = 0; ; attempt++) {
                const call = await establish(alice, bob, SETUP_TIMEOUT_MS);
                try {
                  if (!call.sample.ok || !call.calleeId) {
                    setupFailures++;
                    if (attempt < 3) continue;
                    return { ok: false, ms: 0, reason: `no call to restart: ${call.sample.reason}` };
                  }
                  await new Promise((res) => setTimeout(res, 500));
                  return await restartUnderLoss(
                    { mover: alice, moverCallId: call.callerId!, other: bob, otherCallId: call.calleeId, readdress: () => lab.a.readdress(`${LAB.lan.a}.${nextHost++}`) },
                    30_000,
                  );
                } finally {
                  await call.hangup();
                }
              }
            });
            r.notes = [`${setupFailures} call setups before a restart failed and were tried again`];
            say(`  ${r.notes[0]}`);
            out.push(r);
          } finally {
            await lab.a.setLoss(0);
          }
        }
      }
    }
    return out;
  } finally {
    await Promise.all([alice.stop(), bob.stop()]);
    await servers.stop();
    await lab.destroy();
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
