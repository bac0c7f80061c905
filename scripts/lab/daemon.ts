// Starts a real jingled process (bin/jingled.js from the build) with a
// generated config against a test XMPP server (Prosody or ejabberd), and
// connects to its control socket.
// Used by the integration tests and by the demo.
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";
import { connectControl, type ControlClient, type AnyEvent } from "../../src/control/client.js";
import { startProcess, type ManagedProcess } from "./process.js";

/** What a daemon needs of a test XMPP server (scripts/lab/prosody.ts, scripts/lab/ejabberd.ts). */
export interface XmppTestServer {
  readonly domain: string;
  /** c2s port on 127.0.0.1 (or on xmppHost) */
  readonly port: number;
  /** the server's self-signed certificate */
  readonly caFile: string;
}

export const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));
export const JINGLED_BIN = join(REPO_ROOT, "bin", "jingled.js");
/** The V8 flags the daemon runs with: its shebang's (`#!/usr/bin/env -S node FLAGS`), so tests run it as users do. */
export const JINGLED_NODE_FLAGS: string[] = (/^#!\S*env -S node(.*)$/m.exec(readFileSync(JINGLED_BIN, "utf8").split("\n")[0] ?? "")?.[1] ?? "").trim().split(/\s+/).filter(Boolean);

export interface DaemonOptions {
  /** The XMPP server (Prosody or ejabberd); `prosody` is the older name of the same option. */
  server?: XmppTestServer;
  prosody?: XmppTestServer;
  username: string;
  /** Used by the generated config; with rawConfig the file says where the password is. */
  password?: string;
  /**
   * The whole config file, nothing generated or added (a configuration under
   * test); it must name control.socket. The other config options are ignored.
   */
  rawConfig?: Record<string, unknown>;
  /** A fresh directory for this daemon's config, socket and recordings. */
  dir: string;
  resource?: string;
  codecs?: string[];
  input?: Record<string, unknown>;
  output?: Record<string, unknown>;
  autoAnswer?: boolean;
  /** Deep-merged into the generated config (top-level keys replace). */
  config?: Record<string, unknown>;
  logLevel?: string;
  /** media.threads (the daemon's default: auto, media on media threads). */
  mediaThreads?: "auto" | number;
  /** Wait for the account to be online (default true). */
  waitOnline?: boolean;
  /** Address of the XMPP server to connect to (default 127.0.0.1; the lab's public address in scripts/lab/nat-lab.ts). */
  xmppHost?: string;
  /** Added to (and overriding) the daemon's environment; undefined removes a variable. */
  env?: Record<string, string | undefined>;
  /** Port to connect to instead of the server's (a proxy in front of it). */
  xmppPort?: number;
  /** Rewrites the command line, e.g. to run the daemon inside a network namespace (Netns.exec). */
  wrap?: (cmd: string, args: string[]) => [string, string[]];
}

export interface Daemon {
  readonly process: ManagedProcess;
  readonly control: ControlClient;
  readonly socketPath: string;
  readonly configFile: string;
  /** Our full JID, once online. */
  readonly jid: string;
  /** Every event received on the control socket so far. */
  readonly events: AnyEvent[];
  waitForEvent(pred: (e: AnyEvent) => boolean, timeoutMs?: number, what?: string): Promise<AnyEvent>;
  stop(): Promise<number | null>;
}

export function daemonConfig(o: DaemonOptions): Record<string, unknown> {
  const server = o.server ?? o.prosody;
  if (!server) throw new Error("daemonConfig: no XMPP server (option server)");
  return {
    account: {
      jid: `${o.username}@${server.domain}`,
      password: o.password,
      resource: o.resource ?? "jingled",
      server: `xmpp://${o.xmppHost ?? "127.0.0.1"}:${o.xmppPort ?? server.port}`,
    },
    tls: { caFile: server.caFile },
    control: { socket: join(o.dir, "run", "control.sock") },
    // Tests never send a packet beyond loopback.
    ice: { addresses: ["127.0.0.1"], connectTimeoutMs: 10000 },
    media: {
      codecs: o.codecs ?? ["opus", "pcmu"],
      input: o.input ?? { type: "silence" },
      output: o.output ?? { type: "file", path: join(o.dir, "recordings", "{callId}.wav") },
      ...(o.mediaThreads !== undefined ? { threads: o.mediaThreads } : {}),
    },
    // The test accounts have empty rosters: let anyone ring unless a test sets calls itself.
    calls: { autoAnswer: o.autoAnswer ?? false, acceptFrom: "everyone" },
    log: { level: o.logLevel ?? "debug" },
    ...o.config,
  };
}

export async function startDaemon(o: DaemonOptions): Promise<Daemon> {
  mkdirSync(o.dir, { recursive: true });
  const cfg = o.rawConfig ?? daemonConfig(o);
  const configFile = join(o.dir, "jingled.yaml");
  writeFileSync(configFile, stringify(cfg), { mode: 0o600 });
  const socketPath = (cfg.control as { socket: string }).socket;
  const [cmd, args] = (o.wrap ?? ((c: string, a: string[]): [string, string[]] => [c, a]))(process.execPath, [...JINGLED_NODE_FLAGS, JINGLED_BIN, "--config", configFile]);
  const proc = await startProcess(cmd, args, {
    name: `jingled ${o.username}`,
    readyPattern: /control socket listening/,
    readyTimeoutMs: 15000,
    logFile: join(o.dir, "jingled.log"),
    ...(o.env ? { env: o.env } : {}),
  });
  const control = await connectControl(socketPath);
  const events: AnyEvent[] = [];
  const waiters = new Set<() => void>();
  control.on("event", (e) => {
    events.push(e);
    for (const w of waiters) w();
  });

  function waitForEvent(pred: (e: AnyEvent) => boolean, timeoutMs = 15000, what = "event"): Promise<AnyEvent> {
    const seen = events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const check = () => {
        const e = events.find(pred);
        if (e) {
          cleanup();
          resolve(e);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} on ${o.username}; events: ${JSON.stringify(events.slice(-10))}\n--- log tail ---\n${proc.output().split("\n").slice(-30).join("\n")}`));
      }, timeoutMs);
      const cleanup = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
    });
  }

  let jid = "";
  const hello = control.hello as unknown as { snapshot?: { account?: { state?: string; jid?: string } } };
  if (o.waitOnline !== false) {
    if (hello.snapshot?.account?.state !== "online") {
      await waitForEvent((e) => e.event === "account" && e.state === "online", 15000, "account online");
    }
    const status = (await control.request("status")) as { account: { jid: string } };
    jid = status.account.jid;
  }

  return {
    process: proc,
    control,
    socketPath,
    configFile,
    get jid() {
      return jid;
    },
    events,
    waitForEvent,
    async stop() {
      await control.close().catch(() => undefined);
      return proc.stop("SIGTERM", 8000);
    },
  };
}
