// baresip (Debian's, 1.0.x) as the reference agent of the benchmarks
// (scripts/bench/bench.ts): instances with their own config dir (`-f DIR`), SIP on
// 127.0.0.1 only, no registrar (a caller dials the other's URI directly),
// auto-answer, and control through the ctrl_tcp module.
//
// ctrl_tcp speaks JSON in netstrings ("LEN:JSON,"): a request is
// {command, params, token}, the reply {response: true, ok, data, token}, an
// event {event: true, class, type, id (the call), param, ...}. Events used
// here: CALL_ESTABLISHED (SIP 200/ACK done), CALL_RTPESTAB (the first RTP
// packet of a call arrived), CALL_RTCP (rtcp_stats: rx lost, jitter),
// CALL_CLOSED.
//
// Audio: `aufile,PATH` as the source (a WAV at the codec's rate, mono; one
// reader thread per call, loaded whole); as the player, `aubridge,NAME` with
// no matching source, which never pulls: baresip 1.0 decodes every packet on
// arrival anyway (src/audio.c stream_recv_handler -> aurx_stream_decode), so
// this is a null player. `alsa,PCM` through ALSA's pulse plugin for the
// latency run. The `sndfile` filter dumps the decoded audio to WAV files
// (dump-TIME-dec.wav): the moment the first decoded frame is written is how
// call setup is timed.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { freePort } from "../lab/ports.js";
import { startProcess, type ManagedProcess } from "../lab/process.js";
import { sleep } from "./stats.js";

export const BARESIP_BIN = "/usr/bin/baresip";
const MODULE_DIR = "/usr/lib/baresip/modules";

/** Debian packages the benchmarks need besides what scripts/bootstrap.sh installs, by a file each provides. */
const NEEDED: [file: string, pkg: string][] = [
  [BARESIP_BIN, "baresip"],
  [join(MODULE_DIR, "ctrl_tcp.so"), "baresip-core"],
  ["/usr/bin/pulseaudio", "pulseaudio"],
  ["/usr/bin/pacat", "pulseaudio-utils"],
  ["/usr/bin/pactl", "pulseaudio-utils"],
  ["/usr/lib/x86_64-linux-gnu/alsa-lib/libasound_module_pcm_pulse.so", "libasound2-plugins"],
];

/**
 * Installs baresip (and PulseAudio with ALSA's pulse plugin, for the latency
 * run) from Debian when missing: apt-get as root, `apt-get update` once if
 * the first attempt fails. Returns baresip's version line.
 */
export function ensureBaresip(log: (s: string) => void): string {
  const missing = [...new Set(NEEDED.filter(([f]) => !existsSync(f)).map(([, p]) => p))];
  if (missing.length > 0) {
    if (process.getuid?.() !== 0) {
      throw new Error(`missing Debian packages ${missing.join(" ")}; as root: apt-get install -y --no-install-recommends ${missing.join(" ")}`);
    }
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const install = (): boolean =>
      spawnSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env, stdio: "ignore", timeout: 600_000 }).status === 0;
    log(`installing ${missing.join(" ")} from Debian`);
    if (!install()) {
      log("apt-get update");
      spawnSync("apt-get", ["update", "-qq"], { env, stdio: "ignore", timeout: 300_000 });
      if (!install()) throw new Error(`apt-get install ${missing.join(" ")} failed`);
    }
  }
  const out = spawnSync(BARESIP_BIN, ["-h"], { encoding: "utf8", timeout: 5000 });
  const version = /baresip v[\d.]+/.exec(`${out.stdout}${out.stderr}`)?.[0] ?? "baresip (version unknown)";
  let pkg = "";
  try {
    pkg = execFileSync("dpkg-query", ["-W", "-f=${Version}", "baresip-core"], { encoding: "utf8" }).trim();
  } catch {
    /* not from a package */
  }
  return pkg ? `${version} (Debian baresip-core ${pkg})` : version;
}

// ---- ctrl_tcp client ---------------------------------------------------------

export type BaresipEvent = Record<string, unknown> & { type: string; id?: string; at: number };

export class BaresipCtrl {
  readonly events: BaresipEvent[] = [];
  readonly #sock: Socket;
  #buf = Buffer.alloc(0);
  #token = 0;
  readonly #pending = new Map<string, (reply: { ok: boolean; data: string }) => void>();
  readonly #waiters = new Set<() => void>();

  private constructor(sock: Socket) {
    this.#sock = sock;
    sock.on("data", (d: Buffer) => this.#onData(d));
    sock.on("error", () => undefined);
  }

  static async connect(port: number, timeoutMs = 5000): Promise<BaresipCtrl> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      try {
        const sock = await new Promise<Socket>((resolve, reject) => {
          const s = connect({ host: "127.0.0.1", port });
          s.once("connect", () => resolve(s));
          s.once("error", reject);
        });
        sock.setNoDelay(true);
        return new BaresipCtrl(sock);
      } catch (err) {
        if (performance.now() > deadline) throw new Error(`baresip ctrl_tcp on 127.0.0.1:${port} did not accept: ${(err as Error).message}`);
        await sleep(50);
      }
    }
  }

  #onData(d: Buffer): void {
    const at = performance.now();
    this.#buf = Buffer.concat([this.#buf, d]);
    for (;;) {
      const colon = this.#buf.indexOf(0x3a);
      if (colon < 0) return;
      const len = Number(this.#buf.subarray(0, colon).toString("ascii"));
      if (!Number.isInteger(len) || this.#buf.length < colon + 1 + len + 1) return;
      const body = this.#buf.subarray(colon + 1, colon + 1 + len).toString("utf8");
      this.#buf = this.#buf.subarray(colon + 1 + len + 1);
      let msg: Record<string, unknown>;
      try {
        msg = JSON.parse(body) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (msg.response === true) {
        const tok = String(msg.token ?? "");
        const done = this.#pending.get(tok);
        this.#pending.delete(tok);
        done?.({ ok: msg.ok === true, data: String(msg.data ?? "") });
      } else if (msg.event === true || msg.event === "true") {
        this.events.push({ ...msg, type: String(msg.type), at } as BaresipEvent);
        for (const w of [...this.#waiters]) w();
      }
    }
  }

  /** Sends a command (a menu command: dial, hangup, ...); resolves with the reply. Returns the time it was written. */
  request(command: string, params?: string, timeoutMs = 5000): { sentAt: number; reply: Promise<{ ok: boolean; data: string }> } {
    const token = String(++this.#token);
    const body = Buffer.from(JSON.stringify({ command, ...(params !== undefined ? { params } : {}), token }), "utf8");
    const reply = new Promise<{ ok: boolean; data: string }>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(token);
        reject(new Error(`baresip: no reply to ${command} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending.set(token, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
    });
    const sentAt = performance.now();
    this.#sock.write(Buffer.concat([Buffer.from(`${body.length}:`), body, Buffer.from(",")]));
    return { sentAt, reply };
  }

  /** The first event (already received or coming) matching `pred`. */
  waitForEvent(pred: (e: BaresipEvent) => boolean, timeoutMs: number, what: string): Promise<BaresipEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const e = this.events.find(pred);
        if (!e) return;
        cleanup();
        resolve(e);
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`baresip: timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
    });
  }

  /** Resolves once `count` events match (or rejects after timeoutMs). */
  async waitForCount(pred: (e: BaresipEvent) => boolean, count: number, timeoutMs: number, what: string): Promise<void> {
    await this.waitForEvent(() => this.events.filter(pred).length >= count, timeoutMs, what).catch((err: Error) => {
      throw new Error(`${err.message} (${this.events.filter(pred).length}/${count})`);
    });
  }

  close(): void {
    this.#sock.destroy();
  }
}

// ---- instances ---------------------------------------------------------------

export interface BaresipOptions {
  /** A fresh directory: config, accounts, log. */
  dir: string;
  /** The SIP user part, e.g. "caller". */
  name: string;
  codec: "opus" | "pcmu";
  /** mediaenc=dtls_srtp (DTLS-SRTP, like jingled's default) or plain RTP. */
  dtls: boolean;
  /** audio_source, e.g. "aufile,/path/speech-48k.wav". */
  source: string;
  /** audio_player, e.g. "aubridge,null-caller" (a null player) or "alsa,benchspk". */
  player: string;
  /** Load the sndfile filter, dumping encoded and decoded audio into this directory. */
  sndfileDir?: string;
  /** ausrc_channels (default 1; ausine only does 2). */
  sourceChannels?: number;
  /** More modules, e.g. "alsa.so". */
  modules?: string[];
  /** Extra environment (HOME for an .asoundrc, PULSE_SERVER). */
  env?: Record<string, string>;
  maxCalls?: number;
}

export interface Baresip {
  readonly name: string;
  readonly uri: string;
  readonly process: ManagedProcess;
  readonly pid: number;
  readonly ctrl: BaresipCtrl;
  stop(): Promise<void>;
}

function configText(o: BaresipOptions, sipPort: number, ctrlPort: number): string {
  const modules = ["opus.so", "g711.so", "aufile.so", "aubridge.so", ...(o.dtls ? ["dtls_srtp.so"] : []), ...(o.sndfileDir ? ["sndfile.so"] : []), ...(o.modules ?? [])];
  return [
    "# Generated by scripts/bench/baresip.ts (jingled benchmarks).",
    "poll_method epoll",
    `sip_listen 127.0.0.1:${sipPort}`,
    "net_interface 127.0.0.1",
    "call_local_timeout 120",
    `call_max_calls ${o.maxCalls ?? 64}`,
    `audio_player ${o.player}`,
    `audio_source ${o.source}`,
    `audio_alert ${o.player}`,
    `ausrc_channels ${o.sourceChannels ?? 1}`,
    "auplay_channels 1",
    // baresip's own defaults, written out: audio buffer 20-160 ms, jitter buffer 5-10 frames.
    "audio_buffer 20-160",
    "jitter_buffer_delay 5-10",
    "rtcp_mux yes",
    "statmode_default off",
    // The same Opus encoder settings as jingled's defaults (media.opus): 32 kbit/s, complexity 9, FEC for 10 % loss, no DTX, mono.
    "opus_bitrate 32000",
    "opus_complexity 9",
    "opus_inbandfec yes",
    "opus_packet_loss 10",
    "opus_dtx no",
    "opus_stereo no",
    "opus_sprop_stereo no",
    "opus_application voip",
    ...(o.sndfileDir ? [`snd_path ${o.sndfileDir}`] : []),
    `module_path ${MODULE_DIR}`,
    ...modules.map((m) => `module ${m}`),
    "module_tmp account.so",
    "module_app menu.so",
    "module_app ctrl_tcp.so",
    `ctrl_tcp_listen 127.0.0.1:${ctrlPort}`,
    "",
  ].join("\n");
}

export async function startBaresip(o: BaresipOptions): Promise<Baresip> {
  mkdirSync(o.dir, { recursive: true });
  if (o.sndfileDir) mkdirSync(o.sndfileDir, { recursive: true });
  let lastErr: unknown;
  // A port taken between freePort() and baresip's bind: try again with fresh ones.
  for (let attempt = 0; attempt < 3; attempt++) {
    const sipPort = await freePort("tcp");
    const ctrlPort = await freePort("tcp");
    const uri = `sip:${o.name}@127.0.0.1:${sipPort}`;
    writeFileSync(join(o.dir, "config"), configText(o, sipPort, ctrlPort));
    // Names only: baresip 1.0 does not match "opus/48000/2" (it then offers every codec).
    const codec = o.codec === "opus" ? "opus" : "PCMU";
    writeFileSync(join(o.dir, "accounts"), `<${uri}>;regint=0;answermode=auto;audio_codecs=${codec}${o.dtls ? ";mediaenc=dtls_srtp" : ""}\n`);
    let proc: ManagedProcess;
    try {
      proc = await startProcess(BARESIP_BIN, ["-f", o.dir], {
        name: `baresip ${o.name}`,
        readyPattern: /baresip is ready/,
        readyTimeoutMs: 10000,
        logFile: join(o.dir, "baresip.log"),
        maxLines: 2000,
        ...(o.env ? { env: o.env } : {}),
      });
    } catch (err) {
      lastErr = err;
      if (/Address already in use/.test(String(err))) continue;
      throw err;
    }
    const ctrl = await BaresipCtrl.connect(ctrlPort).catch(async (err: unknown) => {
      await proc.stop("SIGKILL", 2000);
      throw err;
    });
    return {
      name: o.name,
      uri,
      process: proc,
      pid: proc.pid,
      ctrl,
      async stop() {
        ctrl.close();
        await proc.stop("SIGTERM", 5000);
      },
    };
  }
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
}
