// A throwaway PulseAudio server for tests: Debian's `pulseaudio` in the
// foreground, as our child (killed by PID), with its own runtime/config dir
// and null sinks only — no sound card needed. Each null sink "X" also gives a
// source "X.monitor" that records what is played into it.
//
//   const pa = await startPulse({ sinks: ["mic", "spk"] });
//   // pa.server: a PULSE_SERVER string for parec/pacat (--server=...) and ALSA's pulse plugin
//   await pa.stop();
//
// As root this works with --system=false: no D-Bus, no cookie (the native
// protocol module is loaded with auth-anonymous on a socket in the temp dir).
// No test-framework imports: benchmarks use it too.
import { execFile } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { onExitCleanup, startProcess, type ManagedProcess } from "./process.js";

export interface PulseServer {
  /** unix:/path/to/native: for --server= and PULSE_SERVER */
  readonly server: string;
  readonly dir: string;
  readonly process: ManagedProcess;
  /** Environment for clients (pactl, parec, ALSA's pulse plugin). */
  env(): Record<string, string>;
  stop(): Promise<void>;
}

export function pulseAvailable(): boolean {
  return ["/usr/bin/pulseaudio", "/usr/bin/parec", "/usr/bin/pacat"].every((p) => existsSync(p));
}

export async function startPulse(opts: { sinks: string[]; rate?: number } = { sinks: ["out"] }): Promise<PulseServer> {
  const dir = mkdtempSync(join(tmpdir(), "jingled-pulse-"));
  const run = join(dir, "run");
  mkdirSync(run, { recursive: true });
  chmodSync(run, 0o700);
  const socket = join(run, "native");
  const rate = opts.rate ?? 48000;
  const script = [
    ...opts.sinks.map((s) => `load-module module-null-sink sink_name=${s} rate=${rate} channels=1`),
    `load-module module-native-protocol-unix auth-anonymous=1 socket=${socket}`,
  ].join("\n");
  writeFileSync(join(dir, "default.pa"), `${script}\n`);
  const env = { HOME: dir, XDG_RUNTIME_DIR: run, XDG_CONFIG_HOME: dir, PULSE_RUNTIME_PATH: run };
  const proc = await startProcess(
    "pulseaudio",
    ["--system=false", "--daemonize=false", "-n", "-F", join(dir, "default.pa"), "--exit-idle-time=-1", "--disable-shm=true", "--use-pid-file=false", "--log-target=stderr", "--log-level=info"],
    { name: "pulseaudio", env, readyPattern: /Daemon startup complete/, readyTimeoutMs: 10000, logFile: join(dir, "pulseaudio.log") },
  );
  const server = `unix:${socket}`;
  const unregister = onExitCleanup(() => rmSync(dir, { recursive: true, force: true }));
  return {
    server,
    dir,
    process: proc,
    env: () => ({ PULSE_SERVER: server }),
    async stop() {
      await proc.stop("SIGTERM", 3000);
      unregister();
      if (!process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `pactl` against the server, for checks. */
export function pactl(pa: PulseServer, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile("pactl", [`--server=${pa.server}`, ...args], { timeout: 5000 }, (err, stdout, stderr) =>
      err ? reject(new Error(`pactl ${args.join(" ")}: ${err.message} ${stderr}`)) : resolve(stdout),
    );
  });
}
