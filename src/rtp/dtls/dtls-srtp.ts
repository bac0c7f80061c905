// DTLS-SRTP between ICE and the media session: RFC 5764 (DTLS extension to
// establish keys for SRTP), RFC 5763 §5 (fingerprint-authenticated
// self-signed certificates), XEP-0320 (the fingerprint in Jingle), RFC 3711
// and RFC 7714 (SRTP/SRTCP), RFC 7983 §7 (demultiplexing).
//
//   ICE datagram --handlePacket--> DTLS record  -> DtlsEndpoint (dtls-endpoint.ts: handshake)
//                                  SRTP/SRTCP   -> SrtpContext.unprotect -> `rtp` / `rtcp`
//   sendRtp/sendRtcp(plain) -> SrtpContext.protect -> `send` (the ICE agent)
//
// The handshake is our own DTLS 1.2 (dtls-endpoint.ts and the files it
// names), the SRTP contexts our own (../srtp/srtp-profiles.ts). This file
// owns the lifecycle: when the handshake starts, how long it may take, what
// a failure is reported as (XEP-0166 security-error or failed-transport),
// and the keys SRTP gets from the DTLS exporter (RFC 5764 §4.2).
import { JingledError } from "../../util/errors.js";
import { TypedEmitter } from "../../util/events.js";
import type { Logger } from "../../util/logger.js";
import { systemClock, type Clock, type TimerHandle } from "../../util/clock.js";
import { classifyPacket } from "../demux.js";
import type { SrtpContext, UnprotectFailure } from "../srtp/srtp-context.js";
import { MASTER_LENGTHS, SRTP_PROFILES, createSrtpContext, profileName, type SrtpProfileId, type SrtpProfileName } from "../srtp/srtp-profiles.js";
import { isFingerprintHash, type DtlsCertificate } from "./certificate.js";
import { AlertDescription, AlertLevel, DtlsEndpoint } from "./dtls-endpoint.js";
import { handshakeConfig, type HandshakeResult } from "./handshake-role.js";
import { exportKeyingMaterial } from "./key-schedule.js";
import type { DtlsRole } from "./setup-role.js";

export { SRTP_PROFILES, type SrtpProfileName } from "../srtp/srtp-profiles.js";

/**
 * CM_80 first: RFC 8827 §6.5 makes it mandatory, every Jingle client has it
 * (Dino's DTLS-SRTP has nothing else). As server we take the peer's order.
 */
export const DEFAULT_SRTP_PROFILES: readonly SrtpProfileName[] = ["SRTP_AES128_CM_HMAC_SHA1_80", "AEAD_AES_128_GCM"];

export const DTLS_SRTP_STATES = ["new", "connecting", "connected", "failed", "closed"] as const;
export type DtlsSrtpState = (typeof DTLS_SRTP_STATES)[number];

/** XEP-0166 reasons a failure maps to: authentication problems vs. no working transport. */
export type DtlsFailureCondition = "security-error" | "failed-transport";

export interface DtlsConnectedInfo {
  profile: string;
  dtlsVersion?: string;
  role: DtlsRole;
}

export type DtlsSrtpEvents = {
  connected: [info: DtlsConnectedInfo];
  failed: [reason: string, condition: DtlsFailureCondition];
  /** A plain RTP packet, authenticated and decrypted. */
  rtp: [packet: Buffer];
  /** A plain RTCP (compound) packet, authenticated and decrypted. */
  rtcp: [packet: Buffer];
};

export interface DtlsSrtpStats {
  rtpProtected: number;
  rtcpProtected: number;
  rtpUnprotected: number;
  rtcpUnprotected: number;
  /** SRTP/SRTCP packets whose tag did not verify (or too short to carry one). */
  authFailures: number;
  /** Authentic packets seen before (RFC 3711 §3.3.2). */
  replayed: number;
  /** Datagrams that were nothing we take: STUN, garbage, malformed or unauthentic DTLS records, media before keys. */
  dropped: number;
  /** Outgoing packets refused: not connected yet, or not RTP/RTCP. */
  notSent: number;
}

export interface DtlsSrtpOptions {
  role: DtlsRole;
  certificate: DtlsCertificate;
  /** From the peer's XEP-0320 <fingerprint/>: hash name and colon-separated hex. */
  remoteFingerprint: { hash: string; value: string };
  /** Puts one datagram on the wire (the ICE agent's send). */
  send: (datagram: Buffer) => void;
  logger: Logger;
  handshakeTimeoutMs?: number;
  /** Profiles we offer (client) or accept (server), preferred first. */
  srtpProfiles?: readonly SrtpProfileName[];
  /** Timers (tests pass a manual clock). */
  clock?: Clock;
  /** First retransmission timeout of a handshake flight (flight-timer.ts). */
  initialRetransmitMs?: number;
}

/** Alerts that mean "the peer does not trust us": RFC 5246 §7.2.2 40–49, 51. */
const SECURITY_ALERTS = new Set([40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 51]);
const EXPORTER_LABEL = "EXTRACTOR-dtls_srtp";

export class DtlsSrtpTransport extends TypedEmitter<DtlsSrtpEvents> {
  readonly role: DtlsRole;
  readonly #o: DtlsSrtpOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #endpoint: DtlsEndpoint;
  #state: DtlsSrtpState = "new";
  #wire = true;
  #timer: TimerHandle | undefined;
  #startedAt: number;
  #srtp: SrtpContext | undefined;
  #connected: DtlsConnectedInfo | undefined;
  readonly #stats: DtlsSrtpStats = {
    rtpProtected: 0,
    rtcpProtected: 0,
    rtpUnprotected: 0,
    rtcpUnprotected: 0,
    authFailures: 0,
    replayed: 0,
    dropped: 0,
    notSent: 0,
  };
  readonly #ready: Promise<void>;
  #settle!: { resolve: () => void; reject: (err: Error) => void };

  constructor(opts: DtlsSrtpOptions) {
    super();
    this.#o = opts;
    this.role = opts.role;
    this.#log = opts.logger.child({ module: "dtls", role: opts.role });
    this.#clock = opts.clock ?? systemClock;
    this.#startedAt = this.#clock.now();
    this.#ready = new Promise<void>((resolve, reject) => (this.#settle = { resolve, reject }));
    // Failures are also emitted as `failed`: a caller that does not await
    // start() must not get an unhandled rejection.
    this.#ready.catch(() => {});
    const profiles = (opts.srtpProfiles ?? DEFAULT_SRTP_PROFILES).map((n) => SRTP_PROFILES[n]);
    this.#endpoint = new DtlsEndpoint({
      role: opts.role,
      config: handshakeConfig(opts.certificate, opts.remoteFingerprint, profiles),
      clock: this.#clock,
      send: (d) => this.#sendRaw(d),
      ...(opts.initialRetransmitMs !== undefined ? { initialRetransmitMs: opts.initialRetransmitMs } : {}),
      onConnected: (r) => this.#onHandshakeDone(r),
      onFailed: (problem) => this.#fail(problem, "security-error"),
      onAlert: (level, description) => this.#onAlert(level, description),
      onNote: (note) => this.#log.debug(note),
    });
  }

  get state(): DtlsSrtpState {
    return this.#state;
  }

  get stats(): DtlsSrtpStats {
    return { ...this.#stats };
  }

  /**
   * Client: sends the ClientHello. Server: waits for one (it may have come
   * already: handlePacket works before start()). Resolves once the peer is
   * verified and SRTP keys are in place; rejects on failure or timeout.
   */
  start(): Promise<void> {
    if (this.#state !== "new") return this.#ready;
    this.#state = "connecting";
    this.#startedAt = this.#clock.now();
    const hash = this.#o.remoteFingerprint.hash.trim().toLowerCase();
    if (!isFingerprintHash(hash)) {
      this.#fail(`unsupported fingerprint hash "${this.#o.remoteFingerprint.hash}"`, "security-error");
      return this.#ready;
    }
    const ms = this.#o.handshakeTimeoutMs ?? 10_000;
    this.#timer = this.#clock.setTimeout(() => this.#giveUp(ms), ms);
    this.#endpoint.start();
    return this.#ready;
  }

  /** Feed every datagram ICE delivers. Never throws. */
  handlePacket(datagram: Buffer): void {
    if (this.#state === "failed" || this.#state === "closed") return;
    try {
      switch (classifyPacket(datagram)) {
        case "dtls":
          if (!this.#endpoint.receive(datagram)) this.#stats.dropped++;
          return;
        case "rtp":
          return this.#unprotect("rtp", datagram);
        case "rtcp":
          return this.#unprotect("rtcp", datagram);
        default:
          this.#stats.dropped++;
      }
    } catch (err) {
      this.#stats.dropped++;
      this.#log.debug({ err: (err as Error).message }, "dropped a datagram");
    }
  }

  /** Protect and send one plain RTP packet; dropped before the handshake is done. */
  sendRtp(plain: Buffer): void {
    const out = this.#state === "connected" ? this.#srtp?.protectRtp(plain) : undefined;
    if (!out) return void this.#stats.notSent++;
    this.#sendRaw(out);
    this.#stats.rtpProtected++;
  }

  /** Protect and send one plain RTCP (compound) packet. */
  sendRtcp(plain: Buffer): void {
    const out = this.#state === "connected" ? this.#srtp?.protectRtcp(plain) : undefined;
    if (!out) return void this.#stats.notSent++;
    this.#sendRaw(out);
    this.#stats.rtcpProtected++;
  }

  /** Sends close_notify when connected (RFC 5246 §7.2.1); idempotent. */
  close(): void {
    if (this.#state === "closed") return;
    if (this.#state === "connected") this.#endpoint.sendAlert(AlertLevel.warning, AlertDescription.closeNotify);
    const pending = this.#state === "new" || this.#state === "connecting";
    this.#shutdown("closed");
    if (pending) this.#settle.reject(new JingledError("dtls-closed", "DTLS transport closed before the handshake finished"));
  }

  // ------------------------------------------------------------- media

  #unprotect(kind: "rtp" | "rtcp", packet: Buffer): void {
    if (this.#state !== "connected" || !this.#srtp) return void this.#stats.dropped++;
    const result: Buffer | UnprotectFailure = kind === "rtp" ? this.#srtp.unprotectRtp(packet) : this.#srtp.unprotectRtcp(packet);
    if (typeof result === "string") {
      if (result === "auth") this.#stats.authFailures++;
      else if (result === "replay") this.#stats.replayed++;
      else this.#stats.dropped++;
      return;
    }
    if (kind === "rtp") this.#stats.rtpUnprotected++;
    else this.#stats.rtcpUnprotected++;
    this.emit(kind, result);
  }

  // ------------------------------------------------------------- handshake outcome

  #onHandshakeDone(r: HandshakeResult): void {
    const profile = r.srtpProfile as SrtpProfileId;
    const { key, salt } = MASTER_LENGTHS[profile];
    // RFC 5764 §4.2: client key | server key | client salt | server salt.
    const m = exportKeyingMaterial(r.master, r.clientRandom, r.serverRandom, EXPORTER_LABEL, 2 * (key + salt));
    const client = { key: m.subarray(0, key), salt: m.subarray(2 * key, 2 * key + salt) };
    const server = { key: m.subarray(key, 2 * key), salt: m.subarray(2 * key + salt) };
    const [local, remote] = this.role === "client" ? [client, server] : [server, client];
    this.#srtp = createSrtpContext(profile, { localKey: local.key, localSalt: local.salt, remoteKey: remote.key, remoteSalt: remote.salt });
    this.#connected = { profile: profileName(profile)!, dtlsVersion: "DTLS 1.2", role: this.role };
    this.#clock.clearTimeout(this.#timer);
    const wasPending = this.#state === "new" || this.#state === "connecting";
    this.#state = "connected";
    this.#log.info(
      {
        profile: this.#connected.profile,
        dtlsVersion: this.#connected.dtlsVersion,
        ms: Math.round(this.#clock.now() - this.#startedAt),
        retransmissions: this.#endpoint.stats.retransmissions,
        ...(this.#endpoint.stats.rejectedFlights ? { rejectedFlights: this.#endpoint.stats.rejectedFlights } : {}),
        ...(r.peerVersions ? { peerOffered: r.peerVersions.map(versionName) } : {}),
        extendedMasterSecret: r.extendedMasterSecret,
      },
      "DTLS-SRTP connected",
    );
    if (wasPending) this.#settle.resolve();
    this.emit("connected", this.#connected);
  }

  /** An alert protected with the verified peer's keys. */
  #onAlert(level: number, description: number): void {
    if (this.#state === "connected") {
      // The peer's close_notify is no failure: signalling ends the call.
      this.#log.info({ level, description }, "DTLS alert from the peer");
      return;
    }
    if (level === AlertLevel.fatal || description === AlertDescription.closeNotify) {
      this.#fail(`peer sent DTLS alert ${description} (level ${level})`, SECURITY_ALERTS.has(description) ? "security-error" : "failed-transport");
    }
  }

  /** The handshake timeout: the last rejected flight or alert says why, if anything does. */
  #giveUp(ms: number): void {
    this.#timer = undefined;
    if (this.#state !== "connecting") return;
    const problem = this.#endpoint.problem;
    const alert = this.#endpoint.plaintextAlert;
    let reason = `DTLS handshake not done within ${ms} ms`;
    let condition: DtlsFailureCondition = "failed-transport";
    if (problem) {
      reason += `: ${problem}`;
      condition = "security-error";
    } else if (alert && (alert.level === AlertLevel.fatal || alert.description === AlertDescription.closeNotify)) {
      reason += `: the peer (or someone) sent alert ${alert.description} (level ${alert.level})`;
      if (SECURITY_ALERTS.has(alert.description)) condition = "security-error";
    }
    // Now the peer may learn it too: nothing will be retransmitted anyway.
    if (problem) this.#endpoint.sendAlert(AlertLevel.fatal, /fingerprint|certificate/.test(problem) ? AlertDescription.badCertificate : AlertDescription.handshakeFailure);
    this.#fail(reason, condition);
  }

  // ------------------------------------------------------------- sending and teardown

  #sendRaw(buf: Buffer): void {
    if (!this.#wire) return;
    try {
      this.#o.send(buf);
    } catch (err) {
      this.#log.debug({ err: (err as Error).message }, "send failed");
    }
  }

  #fail(reason: string, condition: DtlsFailureCondition): void {
    if (this.#state === "failed" || this.#state === "closed") return;
    this.#log.warn({ reason, condition }, "DTLS-SRTP failed");
    const pending = this.#state !== "connected";
    this.#shutdown("failed");
    if (pending) this.#settle.reject(new JingledError(condition === "security-error" ? "dtls-security" : "dtls-failed", reason));
    this.emit("failed", reason, condition);
  }

  #shutdown(state: "failed" | "closed"): void {
    this.#state = state;
    this.#endpoint.close();
    this.#wire = false;
    this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#srtp = undefined;
  }
}

function versionName(v: number): string {
  return ({ 0xfeff: "DTLS 1.0", 0xfefd: "DTLS 1.2", 0xfefc: "DTLS 1.3" } as Record<number, string>)[v] ?? `0x${v.toString(16)}`;
}
