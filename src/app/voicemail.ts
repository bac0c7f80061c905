// Voicemail delivered to chat (calls.voicemail): an incoming call nobody
// answered within afterSec is answered here, hears the greeting, and what
// the caller says is recorded until it hangs up, presses # (RFC 4733) or
// maxSec is reached. The recording is uploaded with HTTP File Upload
// (XEP-0363, xmpp/http-upload.ts) and the configured JIDs get two chat
// messages: who called, when and for how long; then the link, as the body
// and as XEP-0066 out-of-band data (Conversations shows a file inline only
// when the body is exactly the oob URL). Without an upload service the file
// stays here and the message says where.
//
//   incoming --afterSec--> answer --active--> greeting --> record
//     --(hangup | # | maxSec)--> ended --> 16 kHz WAV (0600) --> upload --> chat
//
// Recordings are written 0600 in a 0700 directory, named
// voicemail-TIME-CALLER.wav, and kept by ./voicemail-retention.ts; the
// voicemail command lists and deletes them (./voicemail-store.ts).
import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { access, chmod, mkdir, readFile, rename, unlink, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import type { Config } from "../config/schema.js";
import type { EventFields, VoicemailDeleteResult, VoicemailEvent, VoicemailListResult } from "../control/messages.js";
import { encodeWav, readWavMono } from "../media/wav.js";
import { CommandError, errorMessage } from "../util/errors.js";
import { bareJid } from "../util/jid.js";
import type { Logger } from "../util/logger.js";
import { UploadError } from "../xmpp/http-upload.js";
import type { Call } from "./call/call.js";
import { applyRetention } from "./voicemail-retention.js";
import { deleteRecording, listRecordings } from "./voicemail-store.js";

export type VoicemailSettings = Config["calls"]["voicemail"];

/** The rate the kept and uploaded recording has: speech needs no more, and 2 minutes stay under 4 MB. */
export const VOICEMAIL_RATE = 16000;
/** How often retention runs besides after each recording (a daemon may take no message for weeks). */
export const RETENTION_EVERY_MS = 3_600_000;
/** How long the answered call may take to carry media before the voicemail gives up. */
const ACTIVE_TIMEOUT_MS = 20_000;
/** Callers remembered by file name at most (retention keeps calls.voicemail.keepCount, 100 by default). */
const MAX_CALLERS = 1000;
const OFF = "calls.voicemail is off";

/** A voicemail left, as the `voicemail` log line and the chat message tell it. */
export interface VoicemailLeft {
  callId: string;
  caller: string;
  at: Date;
  durationMs: number;
  file: string;
  /** Where it was uploaded to, or why it was not. */
  url?: string;
  kept?: string;
}

export interface VoicemailDeps {
  settings(): VoicemailSettings;
  /** XEP-0363 upload of a file; the URL to share. Throws UploadError when it cannot be. */
  upload(file: string, filename: string, contentType: string): Promise<URL>;
  /** A chat message; `oobUrl`: XEP-0066 out-of-band data with it. */
  sendChat(to: string, body: string, oobUrl?: string): Promise<void>;
  /** Our server's domain, for the message when it has no upload service. */
  domain(): string;
  logger: Logger;
  /** The `voicemail` events (control/messages.ts). */
  event(e: EventFields<VoicemailEvent>): void;
}

/** A time for a file name: 2026-12-07T00-35-12-000Z. */
const stamp = (d: Date): string => d.toISOString().replace(/[:.]/g, "-");
const isEnded = (call: Call): boolean => call.state === "ended";
const safeName = (jid: string): string => bareJid(jid).replace(/[^A-Za-z0-9@._-]/g, "_").slice(0, 100);

function espeak(text: string, out: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // The text on stdin: it can never be taken for an option.
    const child = execFile("espeak-ng", ["--stdin", "-w", out], { timeout: 20_000 }, (err) => (err ? reject(err) : resolve()));
    child.stdin?.end(text);
  });
}

/** A 400 ms 880 Hz tone: the greeting when none is configured (or espeak-ng is missing). */
function beep(): Buffer {
  const rate = VOICEMAIL_RATE;
  const pcm = new Int16Array(rate * 0.4);
  for (let i = 0; i < pcm.length; i++) pcm[i] = Math.round(8000 * Math.sin((2 * Math.PI * 880 * i) / rate));
  return encodeWav(pcm, rate);
}

export class Voicemail {
  readonly #d: VoicemailDeps;
  readonly #log: Logger;
  #cleaner: NodeJS.Timeout | undefined;
  /** The bare JIDs of the callers this daemon recorded, by file name (the name has one sanitized for the file system). */
  readonly #callers = new Map<string, string>();

  constructor(deps: VoicemailDeps) {
    this.#d = deps;
    this.#log = deps.logger.child({ module: "voicemail" });
  }

  /**
   * An incoming call that rings: the voicemail answers it after afterSec, if
   * nobody did, and a caller who gives up while it rings leaves a missed
   * call (settings read now). `answer: false`: the missed call only (a
   * forwarded call: takeUnanswered when its ring group found nobody).
   */
  watch(call: Call, o: { answer?: boolean } = {}): void {
    const s = this.#d.settings();
    if (!s.enabled || !s.dir) return;
    const timer = setTimeout(() => {
      if (o.answer !== false && call.state === "incoming") this.#takeNow(call, s);
    }, s.afterSec * 1000);
    timer.unref();
    const stop = call.on("state", (state) => {
      if (state === "incoming") return;
      clearTimeout(timer);
      stop();
    });
    call.once("ended", (info) => {
      clearTimeout(timer);
      // The caller gave up while it rang: nobody answered, not even the voicemail.
      if (info.by === "peer" && info.durationMs === 0) void this.#missed(call, s);
    });
  }

  /** A forwarded call nobody in its ring group answered (call-forward.ts): taken now; false when calls.voicemail is off. */
  takeUnanswered(call: Call): boolean {
    const s = this.#d.settings();
    if (!s.enabled || !s.dir || call.state !== "incoming") return false;
    this.#takeNow(call, s);
    return true;
  }

  #takeNow(call: Call, s: VoicemailSettings): void {
    void this.#take(call, s).catch((err: unknown) => this.#log.warn({ call: call.id, err: errorMessage(err) }, "voicemail failed"));
  }

  /** Applies retention now and every RETENTION_EVERY_MS until stop(). */
  start(): void {
    void this.clean();
    clearInterval(this.#cleaner);
    this.#cleaner = setInterval(() => void this.clean(), RETENTION_EVERY_MS);
    this.#cleaner.unref();
  }

  stop(): void {
    clearInterval(this.#cleaner);
  }

  /** Deletes what calls.voicemail.keepDays/keepCount say is too old (at start, hourly, after each recording). */
  async clean(s: VoicemailSettings = this.#d.settings()): Promise<void> {
    if (!s.dir) return;
    const deleted = await applyRetention(s.dir, s).catch((err: unknown) => {
      this.#log.warn({ dir: s.dir, err: errorMessage(err) }, "voicemail retention");
      return [];
    });
    if (deleted.length) this.#log.info({ deleted }, "old voicemail deleted");
  }

  /** The recordings kept, newest first (the voicemail command); off: none, and why. */
  async recordings(): Promise<VoicemailListResult> {
    const s = this.#d.settings();
    if (!s.enabled || !s.dir) return { enabled: false, reason: OFF, recordings: [] };
    return { enabled: true, dir: s.dir, recordings: await listRecordings(s.dir, (name) => this.#callers.get(name)) };
  }

  /** Deletes one recording by its file name (checked: ./voicemail-store.ts). */
  async deleteRecording(name: string): Promise<VoicemailDeleteResult> {
    const s = this.#d.settings();
    if (!s.enabled || !s.dir) throw new CommandError("not-found", `voicemail: no recording ${name}: ${OFF}`);
    await deleteRecording(s.dir, name);
    this.#callers.delete(name);
    this.#log.info({ file: join(s.dir, name) }, "voicemail deleted");
    return { deleted: [name] };
  }

  /** Deletes every recording older than `days` (by the file's time, as retention: ./voicemail-retention.ts). */
  async deleteOlderThan(days: number): Promise<VoicemailDeleteResult> {
    const s = this.#d.settings();
    if (!s.enabled || !s.dir) return { deleted: [] };
    const deleted = (await applyRetention(s.dir, { keepDays: days, keepCount: 0 })).map((p) => basename(p));
    for (const name of deleted) this.#callers.delete(name);
    if (deleted.length) this.#log.info({ deleted, olderThanDays: days }, "voicemail deleted");
    return { deleted };
  }

  async #take(call: Call, s: VoicemailSettings): Promise<void> {
    const dir = s.dir!;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700).catch(() => undefined);
    const greeting = await this.#greeting(s, dir);
    const ended = new Promise<void>((resolve) => call.once("ended", () => resolve()));
    this.#log.info({ call: call.id, peer: call.peer }, "voicemail answers");
    // Between the caller and the machine: the house hears nothing, the caller hears only the greeting.
    // Switched as the call turns active (the same turn of the call's queue as the first media), not later.
    const offActive = call.on("state", (st) => {
      if (st !== "active") return;
      offActive();
      void call.setInput({ type: "silence" }).catch(() => undefined);
      void call.setOutput({ type: "null" }).catch(() => undefined);
    });
    await call.answer("voicemail");
    this.#d.event({ callId: call.id, type: "answered", peer: call.peer });
    if (!(await this.#until(call, ended, (done) => call.on("state", (st) => st === "active" && done()), call.state === "active", ACTIVE_TIMEOUT_MS))) {
      await this.#missed(call, s);
      return;
    }
    const at = new Date();
    try {
      await call.play(greeting);
      await this.#until(call, ended, (done) => call.on("file", (kind, file, result) => kind === "playback" && file === greeting && result !== undefined && done()), false, 60_000);
    } catch (err) {
      this.#log.warn({ greeting, err: errorMessage(err) }, "greeting not played");
    }
    if (isEnded(call)) {
      // Hung up during the greeting.
      await this.#missed(call, s);
      return;
    }
    const name = `voicemail-${stamp(at)}-${safeName(call.peer)}.wav`;
    const raw = join(dir, `.${name}.recording`);
    await call.startRecording(raw);
    this.#d.event({ callId: call.id, type: "recording", peer: call.peer });
    const recordStart = Date.now();
    const stop = (why: string) => void call.hangup("success", `voicemail (${why})`).catch(() => undefined);
    const offDtmf = call.on("dtmf", (digit) => digit === "#" && stop("#"));
    const max = setTimeout(() => stop("maxSec"), s.maxSec * 1000);
    await ended;
    clearTimeout(max);
    offDtmf();
    const file = join(dir, name);
    const durationMs = await this.#finish(raw, file).catch((err: unknown) => {
      this.#log.warn({ file: raw, err: errorMessage(err) }, "recording not converted");
      return undefined;
    });
    if (durationMs === undefined) return;
    this.#callers.set(name, bareJid(call.peer));
    if (this.#callers.size > MAX_CALLERS) this.#callers.delete(this.#callers.keys().next().value!);
    this.#log.debug({ recordedMs: Date.now() - recordStart, durationMs }, "voicemail recorded");
    await this.#deliver({ callId: call.id, caller: bareJid(call.peer), at, durationMs, file }, s, name);
    await this.clean(s);
  }

  /**
   * Resolves true once `watch` calls done (or `already`), false when the
   * call ends or `timeoutMs` passes first.
   */
  async #until(call: Call, ended: Promise<void>, watch: (done: () => void) => () => void, already: boolean, timeoutMs: number): Promise<boolean> {
    if (already) return true;
    if (call.state === "ended") return false;
    let off: (() => void) | undefined;
    let timer: NodeJS.Timeout | undefined;
    const ok = await Promise.race([
      new Promise<boolean>((resolve) => (off = watch(() => resolve(true)))),
      ended.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs))),
    ]);
    off?.();
    clearTimeout(timer);
    return ok && !isEnded(call);
  }

  /** The greeting's WAV: the configured file, espeak-ng's rendering of the text (made once), or a beep. */
  async #greeting(s: VoicemailSettings, dir: string): Promise<string> {
    if (s.greetingFile) return s.greetingFile;
    if (s.greetingText) {
      const out = join(dir, `.greeting-${createHash("sha256").update(s.greetingText).digest("hex").slice(0, 16)}.wav`);
      if (await access(out).then(() => true, () => false)) return out;
      try {
        await espeak(s.greetingText, `${out}.tmp`);
        await rename(`${out}.tmp`, out);
        return out;
      } catch (err) {
        this.#log.warn({ err: errorMessage(err) }, "greetingText: espeak-ng could not speak it (is it installed?); a tone instead");
      }
    }
    const out = join(dir, ".beep.wav");
    await writeFile(out, beep(), { mode: 0o600 });
    return out;
  }

  /** The call's recording as a 16 kHz mono WAV `file` (0600, new); returns its duration, ms. */
  async #finish(raw: string, file: string): Promise<number> {
    const pcm = readWavMono(await readFile(raw), VOICEMAIL_RATE);
    await writeFile(file, encodeWav(pcm, VOICEMAIL_RATE), { mode: 0o600, flag: "wx" });
    await unlink(raw).catch(() => undefined);
    return Math.round((pcm.length * 1000) / VOICEMAIL_RATE);
  }

  /** A call that left no message: the notify JIDs learn who called and when. */
  async #missed(call: Call, s: VoicemailSettings): Promise<void> {
    const caller = bareJid(call.peer);
    const at = new Date(call.info().startedAt);
    const when = at.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    this.#log.info({ call: call.id, caller }, "missed call, no message left");
    this.#d.event({ callId: call.id, type: "missed", peer: caller });
    for (const to of s.notify) {
      await this.#d.sendChat(to, `Missed call from ${caller} at ${when}: no message was left.`).catch((err: unknown) => this.#log.warn({ to, err: errorMessage(err) }, "voicemail message not sent"));
    }
  }

  async #deliver(v: VoicemailLeft, s: VoicemailSettings, name: string): Promise<void> {
    let url: URL | undefined;
    let why: string | undefined;
    try {
      url = await this.#d.upload(v.file, name, "audio/wav");
    } catch (err) {
      why =
        err instanceof UploadError && err.code === "no-service"
          ? `${this.#d.domain()} has no upload service (XEP-0363)`
          : `the upload failed: ${errorMessage(err)}`;
    }
    const when = v.at.toISOString().replace("T", " ").replace(/\.\d+Z$/, " UTC");
    const seconds = Math.max(1, Math.round(v.durationMs / 1000));
    const head = `Voicemail from ${v.caller} at ${when}, ${seconds} s.`;
    const body = url ? head : `${head} Not uploaded: ${why}. The recording is kept on the daemon as ${v.file}.`;
    const left: VoicemailLeft = { ...v, ...(url ? { url: url.href } : { kept: why! }) };
    this.#log.info(left, url ? "voicemail delivered" : "voicemail kept");
    for (const to of s.notify) {
      try {
        await this.#d.sendChat(to, body);
        if (url) await this.#d.sendChat(to, url.href, url.href);
      } catch (err) {
        this.#log.warn({ to, err: errorMessage(err) }, "voicemail message not sent");
      }
    }
    this.#d.event({
      callId: v.callId,
      type: url ? "delivered" : "kept",
      peer: v.caller,
      file: v.file,
      durationMs: v.durationMs,
      ...(url ? { url: url.href } : { reason: why! }),
    });
  }
}
