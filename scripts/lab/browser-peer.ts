// A real WebRTC peer for interop tests: Debian's headless Chromium (never a
// downloaded browser) running a StanzaJS Jingle client (scripts/lab/browser-client.ts),
// driven with playwright-core.
//
//   const peer = await startBrowserPeer({ fakeMicWav: "carol-says.wav" });
//   await peer.connect({ jid: "carol@localhost", password: "pw", wsUrl: prosody.websocketUrl! });
//   const { sid } = await peer.call("alice@localhost/jingled");
//   ...
//   await peer.close();
//
// Network: Chromium sends ICE checks to every address it gathers, so this
// helper refuses to start unless this process runs inside a network namespace
// made by the test (see runSelfInNetns in netns.ts) and sees no interface but
// loopback. Chromium then gathers only 127.0.0.1 (--allow-loopback-in-peer-connection).
//
// The page is served by a small HTTP server on 127.0.0.1 in this process, so
// its origin is on loopback like Prosody's websocket (no Local Network Access
// prompt; the permission is granted anyway) and it is a secure context
// (getUserMedia works). The page script is bundled from TypeScript with
// esbuild's JS API on first use, into memory (and dist/browser/client.js for
// reading).
import { mkdirSync, renameSync, statSync, writeFileSync, existsSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { chromium, type Browser, type BrowserContext, type BrowserServer, type Page } from "playwright-core";
import { onExitCleanup, pidAlive } from "./process.js";
import { currentTestNetns, nonLoopbackAddresses } from "./netns.js";
import type { ConnectOptions, PeerLogEntry, PeerState, PeerSessionState, PeerStats, Recording } from "./browser-client.js";

export type { ConnectOptions, PeerLogEntry, PeerState, PeerSessionState, PeerStats };

export const CHROMIUM = "/usr/bin/chromium";
const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
const CLIENT_SOURCE = join(REPO_ROOT, "scripts", "lab", "browser-client.ts");
const CLIENT_BUNDLE = join(REPO_ROOT, "dist", "browser", "client.js");

export interface BrowserPeerOptions {
  /** WAV played by Chromium's fake microphone (16-bit PCM; 48 kHz mono is safe). */
  fakeMicWav: string;
  /** Loop the microphone file (Chromium's default) or play it once (`%noloop`). Default true. */
  loopMic?: boolean;
  /** Called with every console line, page error and log line of the browser (diagnostics). */
  onLog?: (line: string) => void;
  /** Limit for launching Chromium and loading the page (default 30000 ms). */
  launchTimeoutMs?: number;
  /** Extra Chromium flags. */
  extraArgs?: string[];
}

export interface BrowserPeer {
  /** PID of the Chromium browser process (its own process group). */
  readonly pid: number;
  /** e.g. "156.0.8078.79" */
  readonly version: string;
  /** Milliseconds: Chromium launch (spawn to CDP connected), page load (bundle included). */
  readonly timings: { bundleMs: number; launchMs: number; pageMs: number };
  readonly page: Page;
  connect(o: ConnectOptions): Promise<string>;
  call(fullJid: string): Promise<string>;
  setAutoAnswer(on: boolean): Promise<void>;
  /** disco#info features of a JID, asked by the browser. */
  discoFeatures(jid: string): Promise<string[]>;
  answer(sid?: string, timeoutMs?: number): Promise<string>;
  hangup(sid?: string, reason?: string): Promise<void>;
  state(): Promise<PeerState>;
  session(sid: string): Promise<PeerSessionState | undefined>;
  /** Polls state() until `fn` returns a value other than undefined/false; `fn` throws to give up early. */
  waitFor<T>(fn: (s: PeerState) => T | undefined | false, timeoutMs: number, what: string): Promise<T>;
  startRecording(): Promise<void>;
  stopRecording(): Promise<{ sampleRate: number; pcm: Int16Array }>;
  stats(sid?: string): Promise<PeerStats>;
  sdp(sid?: string): Promise<{ local?: string; remote?: string }>;
  /** The page's log (Jingle stanzas in/out, StanzaJS complaints, peer-connection states). */
  log(since?: number): Promise<PeerLogEntry[]>;
  /** The first log entry from `since` on that matches. */
  waitForLog(pred: (e: PeerLogEntry) => boolean, timeoutMs: number, what: string, since?: number): Promise<PeerLogEntry>;
  /** Console lines and page errors seen by Playwright. */
  console(): string[];
  close(): Promise<void>;
}

// ---------------------------------------------------------------- bundle

let bundle: Promise<{ code: string; ms: number }> | undefined;

/** Builds scripts/lab/browser-client.ts (with StanzaJS) into one browser script. */
export function browserBundle(): Promise<{ code: string; ms: number }> {
  bundle ??= (async () => {
    const t = performance.now();
    const res = await build({
      entryPoints: [CLIENT_SOURCE],
      bundle: true,
      platform: "browser",
      format: "iife",
      target: "chrome120",
      write: false,
      logLevel: "silent",
      // StanzaJS's browser build maps ./platform through package.json "browser".
      mainFields: ["browser", "module", "main"],
      define: { global: "globalThis" },
    });
    const code = res.outputFiles[0]!.text;
    // A copy to read when something goes wrong (written atomically: several
    // test processes may build at once).
    try {
      mkdirSync(join(REPO_ROOT, "dist", "browser"), { recursive: true });
      const tmp = `${CLIENT_BUNDLE}.${process.pid}.tmp`;
      writeFileSync(tmp, code);
      renameSync(tmp, CLIENT_BUNDLE);
    } catch {
      /* only a convenience */
    }
    return { code, ms: performance.now() - t };
  })();
  bundle.catch(() => (bundle = undefined));
  return bundle;
}

// ---------------------------------------------------------------- prerequisites

/** Why a browser peer cannot run here, or undefined when it can. */
export function browserPeerUnavailable(): string | undefined {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is missing (Debian package chromium; scripts/bootstrap.sh installs it as root)`;
  try {
    statSync(CLIENT_SOURCE);
  } catch {
    return `${CLIENT_SOURCE} is missing`;
  }
  return undefined;
}

const PAGE_HTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>jingled browser peer</title></head>
<body><p>jingled interop peer (StanzaJS)</p><script src="/client.js"></script></body></html>
`;

function serve(code: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === "/" || req.url?.startsWith("/?")) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(PAGE_HTML);
    } else if (req.url === "/client.js") {
      res.writeHead(200, { "content-type": "text/javascript; charset=utf-8", "cache-control": "no-store" });
      res.end(code);
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
    }),
  ]);
}

// ---------------------------------------------------------------- the peer

export async function startBrowserPeer(o: BrowserPeerOptions): Promise<BrowserPeer> {
  const missing = browserPeerUnavailable();
  if (missing) throw new Error(`startBrowserPeer: ${missing}`);
  // The network rule: ICE checks must stay inside a namespace the test made.
  if (!currentTestNetns()) {
    throw new Error("startBrowserPeer: refusing to start Chromium outside a test network namespace (use runSelfInNetns from scripts/lab/netns.ts)");
  }
  const visible = nonLoopbackAddresses();
  if (visible.length > 0) throw new Error(`startBrowserPeer: this namespace has non-loopback addresses (${visible.join(", ")}); Chromium would send ICE checks to them`);

  const launchTimeoutMs = o.launchTimeoutMs ?? 30000;
  const lines: string[] = [];
  const say = (line: string): void => {
    lines.push(line);
    if (lines.length > 5000) lines.shift();
    o.onLog?.(line);
  };

  const { code, ms: bundleMs } = await browserBundle();
  const http = await serve(code);
  const origin = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;

  const mic = o.loopMic === false ? `${o.fakeMicWav}%noloop` : o.fakeMicWav;
  const args = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    `--use-file-for-fake-audio-capture=${mic}`,
    // The namespace has only lo: without this Chromium gathers no candidate.
    "--allow-loopback-in-peer-connection",
    // Host candidates as IP addresses, not mDNS names jingled cannot resolve.
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    // The recorder's AudioContext must run without a user gesture.
    "--autoplay-policy=no-user-gesture-required",
    ...(o.extraArgs ?? []),
  ];

  let server: BrowserServer | undefined;
  let browser: Browser | undefined;
  let context: BrowserContext | undefined;
  let unregister: () => void = () => undefined;
  let pid = -1;

  const killGroup = (): void => {
    if (pid <= 0 || !pidAlive(pid)) return;
    try {
      process.kill(-pid, "SIGKILL"); // Playwright starts Chromium in its own process group
    } catch {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* gone */
      }
    }
  };

  const teardown = async (): Promise<void> => {
    await withTimeout(browser?.close() ?? Promise.resolve(), 5000, "browser.close()").catch(() => undefined);
    await withTimeout(server?.close() ?? Promise.resolve(), 5000, "browserServer.close()").catch(() => undefined);
    killGroup();
    for (let i = 0; i < 50 && pid > 0 && pidAlive(pid); i++) await new Promise((r) => setTimeout(r, 20));
    unregister();
    await new Promise<void>((r) => http.close(() => r()));
    http.closeAllConnections();
  };

  const tLaunch = performance.now();
  let launchMs = 0;
  let pageMs = 0;
  let page: Page;
  try {
    server = await chromium.launchServer({
      executablePath: CHROMIUM,
      headless: true,
      args,
      timeout: launchTimeoutMs,
      // Our own exit hooks (process.ts) kill it by PID; Playwright's signal
      // handlers would race them.
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
    });
    pid = server.process().pid ?? -1;
    unregister = onExitCleanup(killGroup);
    browser = await chromium.connect(server.wsEndpoint(), { timeout: launchTimeoutMs });
    launchMs = performance.now() - tLaunch;
    context = await browser.newContext();
    // Local Network Access: granted so the page may open its websocket to
    // Prosody on 127.0.0.1. grantPermissions() REPLACES the origin's
    // permissions: without "microphone" in the same list Chromium gathers no
    // ICE candidate at all (getUserMedia still works, through the fake UI).
    await context.grantPermissions(["local-network-access", "microphone"], { origin });
    page = await context.newPage();
    page.on("console", (m) => say(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => say(`pageerror: ${e.message}`));
    page.on("crash", () => say("page crashed"));
    const tPage = performance.now();
    await page.goto(`${origin}/`, { timeout: launchTimeoutMs });
    await page.waitForFunction("window.jingledPeerReady === true", undefined, { timeout: launchTimeoutMs });
    pageMs = performance.now() - tPage;
  } catch (err) {
    await teardown();
    throw new Error(`startBrowserPeer: ${(err as Error).message}\n--- browser log ---\n${lines.join("\n")}`, { cause: err });
  }

  const version = browser.version();
  say(`chromium ${version} pid ${pid}: launch ${launchMs.toFixed(0)} ms, page ${pageMs.toFixed(0)} ms, bundle ${bundleMs.toFixed(0)} ms`);

  /** Calls window.jingledPeer[method](...args) in the page. */
  const invoke = async <T>(method: string, ...callArgs: unknown[]): Promise<T> => {
    try {
      return (await page.evaluate(
        ({ method, callArgs }) => {
          const peer = (globalThis as unknown as { jingledPeer: Record<string, (...a: unknown[]) => unknown> }).jingledPeer;
          return peer[method]!(...callArgs);
        },
        { method, callArgs },
      )) as T;
    } catch (err) {
      throw new Error(`browser peer ${method}(${callArgs.map((a) => JSON.stringify(a)).join(", ")}): ${(err as Error).message.split("\n")[0]}`, { cause: err });
    }
  };

  const state = (): Promise<PeerState> => invoke<PeerState>("state");

  let closed: Promise<void> | undefined;
  return {
    pid,
    version,
    timings: { bundleMs, launchMs, pageMs },
    page,
    connect: async (c) => (await invoke<{ jid: string }>("connect", c)).jid,
    call: async (jid) => (await invoke<{ sid: string }>("call", jid)).sid,
    setAutoAnswer: (on) => invoke<void>("setAutoAnswer", on),
    discoFeatures: (jid) => invoke<string[]>("discoFeatures", jid),
    answer: async (sid, timeoutMs) => (await invoke<{ sid: string }>("answer", sid, timeoutMs)).sid,
    hangup: (sid, reason) => invoke<void>("hangup", sid, reason),
    state,
    session: async (sid) => (await state()).sessions.find((s) => s.sid === sid),
    waitFor: async (fn, timeoutMs, what) => {
      const deadline = performance.now() + timeoutMs;
      let last: PeerState | undefined;
      const fail = async (why: string): Promise<never> => {
        const tail = (await invoke<PeerLogEntry[]>("log").catch(() => [])).slice(-25);
        throw new Error(`browser peer: ${why} waiting for ${what}\nstate: ${JSON.stringify(last)}\n--- page log (tail) ---\n${describePeerLog(tail).join("\n")}`);
      };
      for (;;) {
        last = await state();
        let v: ReturnType<typeof fn>;
        try {
          v = fn(last);
        } catch (err) {
          return fail((err as Error).message);
        }
        if (v !== undefined && v !== false) return v as Exclude<typeof v, false | undefined>;
        if (performance.now() > deadline) return fail(`timed out after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    startRecording: () => invoke<void>("startRecording"),
    stopRecording: async () => {
      const r = await invoke<Recording>("stopRecording");
      const buf = Buffer.from(r.pcm16Base64, "base64");
      const pcm = new Int16Array(buf.length / 2);
      for (let i = 0; i < pcm.length; i++) pcm[i] = buf.readInt16LE(i * 2);
      return { sampleRate: r.sampleRate, pcm };
    },
    stats: (sid) => invoke<PeerStats>("stats", sid),
    sdp: (sid) => invoke<{ local?: string; remote?: string }>("sdp", sid),
    log: (since) => invoke<PeerLogEntry[]>("log", since ?? 0),
    waitForLog: async (pred, timeoutMs, what, since = 0) => {
      const deadline = performance.now() + timeoutMs;
      for (;;) {
        const entries = await invoke<PeerLogEntry[]>("log", since);
        const hit = entries.find(pred);
        if (hit) return hit;
        if (performance.now() > deadline) {
          throw new Error(`browser peer: timed out after ${timeoutMs} ms waiting for ${what}\n--- page log ---\n${describePeerLog(entries).join("\n")}`);
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    console: () => [...lines],
    close: () => {
      closed ??= (async () => {
        await withTimeout(invoke<void>("disconnect"), 3000, "disconnect").catch(() => undefined);
        await teardown();
      })();
      return closed;
    },
  };
}

// ---------------------------------------------------------------- diagnostics

function attr(tag: string, name: string): string | undefined {
  return new RegExp(`\\s${name}=["']([^"']*)["']`).exec(tag)?.[1];
}

/** type, id, from, to of the <iq> in a logged stanza, and the error condition of an error. */
export function iqAttrs(xml: string): { type?: string; id?: string; from?: string; to?: string; condition?: string } {
  const iq = /<iq\b[^>]*>/.exec(xml)?.[0];
  if (!iq) return {};
  const out: { type?: string; id?: string; from?: string; to?: string; condition?: string } = {};
  for (const k of ["type", "id", "from", "to"] as const) {
    const v = attr(iq, k);
    if (v !== undefined) out[k] = v;
  }
  const cond = /<([a-z-]+)\s+xmlns=["']urn:ietf:params:xml:ns:xmpp-stanzas["']/.exec(xml)?.[1];
  if (out.type === "error" && cond) out.condition = cond;
  return out;
}

/** One line per Jingle stanza: direction, action, sid, what it carries (fingerprint!), errors. */
export function summarizeStanza(e: PeerLogEntry): string {
  const xml = e.text;
  const iq = /<iq\b[^>]*>/.exec(xml)?.[0] ?? "";
  const type = attr(iq, "type") ?? "?";
  const id = (attr(iq, "id") ?? "?").slice(0, 8);
  const peer = e.kind === "stanza-in" ? `from ${attr(iq, "from") ?? "?"}` : `to ${attr(iq, "to") ?? "?"}`;
  const jingle = /<jingle\b[^>]*>/.exec(xml)?.[0];
  const parts: string[] = [];
  if (jingle) {
    parts.push(`${attr(jingle, "action") ?? "?"} sid=${attr(jingle, "sid") ?? "?"}`);
    const pts = [...xml.matchAll(/<payload-type\b[^>]*>/g)].map((m) => `${attr(m[0], "name") ?? attr(m[0], "id")}/${attr(m[0], "clockrate") ?? "?"}`);
    if (pts.length) parts.push(`codecs ${pts.join(",")}`);
    const cands = [...xml.matchAll(/<candidate\b[^>]*>/g)].map((m) => `${attr(m[0], "ip")}:${attr(m[0], "port")}/${attr(m[0], "type")}`);
    if (cands.length) parts.push(`candidates ${cands.join(" ")}`);
    if (/<transport\b/.test(xml)) parts.push(/<fingerprint\b/.test(xml) ? `fingerprint setup=${attr(/<fingerprint\b[^>]*>/.exec(xml)![0], "setup") ?? "?"}` : "NO fingerprint");
    if (/<gathering-complete/.test(xml)) parts.push("gathering-complete");
    const reason = /<reason>\s*<([a-z-_]+)/.exec(xml)?.[1];
    if (reason) parts.push(`reason ${reason}`);
    if (/<ringing\b/.test(xml)) parts.push("ringing");
  }
  if (type === "error") {
    const cond = [...xml.matchAll(/<([a-z-]+)\s+xmlns=["']urn:ietf:params:xml:ns:xmpp-stanzas["']/g)].map((m) => m[1]).filter((c) => c !== "text");
    const app = /<([a-z-]+)\s+xmlns=["']urn:xmpp:jingle:errors:1["']/.exec(xml)?.[1];
    const text = /<text\b[^>]*>([^<]*)<\/text>/.exec(xml)?.[1];
    parts.push(`ERROR ${cond.join(",")}${app ? ` (${app})` : ""}${text ? `: ${text}` : ""}`);
  }
  return `${String(e.t).padStart(6)} ms ${e.kind === "stanza-in" ? "<-" : "->"} iq ${type} ${peer} id=${id}${parts.length ? ": " + parts.join("; ") : ""}`;
}

/** The page's log as readable lines: stanzas summarised, complaints and state changes verbatim. */
export function describePeerLog(entries: PeerLogEntry[]): string[] {
  return entries.map((e) => (e.kind === "stanza-in" || e.kind === "stanza-out" ? summarizeStanza(e) : `${String(e.t).padStart(6)} ms [${e.kind}] ${e.text}`));
}
