// DTLS-SRTP between ICE and the media session: RFC 5764 (DTLS extension to
// establish keys for SRTP), RFC 5763 §5 (fingerprint-authenticated
// self-signed certificates), XEP-0320 (the fingerprint in Jingle), RFC 3711
// (SRTP/SRTCP), RFC 7714 (AES-GCM for SRTP), RFC 7983 §7 (demultiplexing).
//
//   ICE datagram --handlePacket--> DTLS record  -> werift-dtls (handshake)
//                                  SRTP/SRTCP   -> unprotect -> `rtp` / `rtcp`
//   sendRtp/sendRtcp(plain) -> protect -> `send` (the ICE agent)
//
// Both SRTP profiles run on our own SRTP (../srtp/srtp-profiles.ts: RFC 3711
// Appendix A index estimation, replay check before authentication, state
// committed after it).
//
// werift-dtls (0.5.8) does the DTLS 1.2 handshake but does not check what
// makes the peer authentic: the ServerKeyExchange and CertificateVerify
// signatures and the peer's Finished are never verified. A fingerprint check
// alone would then accept anyone replaying the peer's (public) certificate.
// So once werift reports the handshake done, verifyPeer() below re-checks
// the transcript werift kept: certificate fingerprint, signature by that
// certificate's key over the key exchange actually used, and the peer's
// Finished (RFC 5246 §7.4.3, §7.4.8, §7.4.9). No key leaves for SRTP before.
import { X509Certificate, createHash, createHmac, timingSafeEqual, verify as verifySignature, type KeyObject } from "node:crypto";
import type { DtlsClient, DtlsServer } from "werift-dtls/lib/dtls/src/index.js";
import type { SrtpProfile } from "werift-rtp";
import { weriftDtls, weriftDtlsRecord } from "../werift.js";
import type { SrtpContext, UnprotectFailure } from "../srtp/srtp-context.js";
import { createSrtpContext } from "../srtp/srtp-profiles.js";
import { TypedEmitter } from "../../util/events.js";
import { JingledError, errorMessage } from "../../util/errors.js";
import type { Logger } from "../../util/logger.js";
import { classifyPacket } from "../demux.js";
import { ECDSA_SHA256, fingerprint, isFingerprintHash, matchesFingerprint, type DtlsCertificate } from "./certificate.js";
import type { DtlsRole } from "./setup-role.js";

/** RFC 5764 §4.1.2 and RFC 7714 §14.2 protection profile ids (werift-rtp implements both). */
export const SRTP_PROFILES = {
  SRTP_AES128_CM_HMAC_SHA1_80: 0x0001,
  AEAD_AES_128_GCM: 0x0007,
} as const satisfies Record<string, SrtpProfile>;
/** Master key and salt lengths (RFC 3711 §8.2, RFC 7714 §12). */
const MASTER_LENGTHS: Record<SrtpProfile, { key: number; salt: number }> = { 1: { key: 16, salt: 14 }, 7: { key: 16, salt: 12 } };
export type SrtpProfileName = keyof typeof SRTP_PROFILES;

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
  /** Datagrams that were nothing we take: STUN, garbage, malformed DTLS records, media before keys. */
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
}

type WeriftSocket = DtlsClient | DtlsServer;
type WeriftOptions = ConstructorParameters<typeof DtlsClient>[0];
type Handshake = Parameters<WeriftSocket["onHandleHandshakes"]>[0][number];

// TLS handshake message types (RFC 5246 §7.4, RFC 6347 §4.3.2).
const HS = { clientHello: 1, serverHello: 2, helloVerifyRequest: 3, serverKeyExchange: 12, certificateVerify: 15, clientKeyExchange: 16, finished: 20 } as const;
// TLS record content types (RFC 5246 §6.2.1).
const CT = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;
// Alerts (RFC 5246 §7.2): the ones we send or classify.
const ALERT = { closeNotify: 0, handshakeFailure: 40, badCertificate: 42, decryptError: 51 } as const;
/** Alerts that mean "the peer does not trust us": RFC 5246 §7.2.2 40–49, 51. */
const SECURITY_ALERTS = new Set([40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 51]);
const DTLS_VERSION_NAMES: Record<number, string> = { 0xfeff: "DTLS 1.0", 0xfefd: "DTLS 1.2", 0xfefc: "DTLS 1.3" };
const RECORD_HEADER = 13;
const HANDSHAKE_HEADER = 12;

export class DtlsSrtpTransport extends TypedEmitter<DtlsSrtpEvents> {
  readonly role: DtlsRole;
  readonly #o: DtlsSrtpOptions;
  readonly #log: Logger;
  readonly #socket: WeriftSocket;
  readonly #transport: WeriftOptions["transport"];
  readonly #profiles: SrtpProfile[];
  #state: DtlsSrtpState = "new";
  #wire = true;
  #timer: NodeJS.Timeout | undefined;
  #startedAt = performance.now();
  #peerFinished: Buffer | undefined;
  #peerVersions: string[] = [];
  #srtpContext: SrtpContext | undefined;
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
    this.#profiles = (opts.srtpProfiles ?? DEFAULT_SRTP_PROFILES).map((n) => SRTP_PROFILES[n]);
    this.#ready = new Promise<void>((resolve, reject) => (this.#settle = { resolve, reject }));
    // Failures are also emitted as `failed`: a caller that does not await
    // start() must not get an unhandled rejection.
    this.#ready.catch(() => {});

    this.#transport = {
      type: "jingled-ice",
      address: { address: "0.0.0.0", family: "IPv4", port: 0 },
      closed: false,
      onData: () => {}, // replaced by werift with its record parser
      send: async (buf: Buffer) => this.#sendRaw(buf),
      close: async () => {},
    };
    const options: WeriftOptions = {
      transport: this.#transport,
      cert: opts.certificate.certPem,
      key: opts.certificate.keyPem,
      signatureHash: { ...ECDSA_SHA256 },
      srtpProfiles: [...this.#profiles],
      // The server must see the client's certificate to check its fingerprint.
      certificateRequest: opts.role === "server",
      // RFC 7627; libwebrtc (BoringSSL) always offers it.
      extendedMasterSecret: true,
    };
    const { DtlsClient, DtlsServer } = weriftDtls();
    this.#socket = opts.role === "client" ? new DtlsClient(options) : new DtlsServer(options);
    const original = this.#socket.onHandleHandshakes;
    this.#socket.onHandleHandshakes = (assembled) => {
      const taken = assembled.filter((h) => this.#observeHandshake(h));
      return taken.length > 0 ? original(taken) : Promise.resolve();
    };
    this.#socket.onConnect.subscribe(() => this.#onHandshakeDone());
    this.#socket.onError.subscribe((err: unknown) => {
      if (this.#state === "new" || this.#state === "connecting") this.#fail(`DTLS handshake error: ${errorMessage(err)}`, "failed-transport");
      else this.#log.debug({ err: errorMessage(err) }, "werift-dtls error after the handshake");
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
    this.#startedAt = performance.now();
    const hash = this.#o.remoteFingerprint.hash.trim().toLowerCase();
    if (!isFingerprintHash(hash)) {
      this.#fail(`unsupported fingerprint hash "${this.#o.remoteFingerprint.hash}"`, "security-error");
      return this.#ready;
    }
    const ms = this.#o.handshakeTimeoutMs ?? 10_000;
    this.#timer = setTimeout(() => this.#fail(`DTLS handshake not done within ${ms} ms`, "failed-transport"), ms);
    if (this.#socket instanceof weriftDtls().DtlsClient) {
      // connect() settles only when werift's retransmission loop for the last
      // flight ends; the handshake result comes through onConnect/onError.
      this.#socket.connect().catch((err: unknown) => this.#fail(`DTLS handshake failed: ${errorMessage(err)}`, "failed-transport"));
    }
    return this.#ready;
  }

  /** Feed every datagram ICE delivers. Never throws. */
  handlePacket(datagram: Buffer): void {
    if (this.#state === "failed" || this.#state === "closed") return;
    try {
      switch (classifyPacket(datagram)) {
        case "dtls":
          return this.#onDtls(datagram);
        case "rtp":
          return this.#onSrtp(datagram);
        case "rtcp":
          return this.#onSrtcp(datagram);
        default:
          this.#stats.dropped++;
      }
    } catch (err) {
      this.#stats.dropped++;
      this.#log.debug({ err: errorMessage(err) }, "dropped a datagram");
    }
  }

  /** Protect and send one plain RTP packet; dropped before the handshake is done. */
  sendRtp(plain: Buffer): void {
    const out = this.#state === "connected" ? this.#srtpContext?.protectRtp(plain) : undefined;
    if (!out) return void this.#stats.notSent++;
    this.#sendRaw(out);
    this.#stats.rtpProtected++;
  }

  /** Protect and send one plain RTCP (compound) packet. */
  sendRtcp(plain: Buffer): void {
    const out = this.#state === "connected" ? this.#srtpContext?.protectRtcp(plain) : undefined;
    if (!out) return void this.#stats.notSent++;
    this.#sendRaw(out);
    this.#stats.rtcpProtected++;
  }

  /** Sends close_notify when connected (RFC 5246 §7.2.1); idempotent. */
  close(): void {
    if (this.#state === "closed") return;
    if (this.#state === "connected") this.#sendAlert(1, ALERT.closeNotify);
    const pending = this.#state === "new" || this.#state === "connecting";
    this.#shutdown("closed");
    if (pending) this.#settle.reject(new JingledError("dtls-closed", "DTLS transport closed before the handshake finished"));
  }

  // ------------------------------------------------------------- receiving

  #onDtls(datagram: Buffer): void {
    const records = this.#saneRecords(datagram);
    if (!records) return void this.#stats.dropped++;
    if (this.#state === "failed") return;
    // werift's record parser ignores the address argument: ICE already chose the path.
    (this.#transport.onData as (data: Buffer) => void)(records);
  }

  /**
   * Split into records, keep the well-formed ones (RFC 6347 §4.1), act on
   * handshake-time alerts, and drop what werift would choke on: its fragment
   * buffer takes any epoch-0 handshake record, so garbage must not reach it.
   * After the handshake only epoch ≥ 1 records matter (a retransmitted
   * Finished, alerts).
   */
  #saneRecords(buf: Buffer): Buffer | undefined {
    const keep: Buffer[] = [];
    for (let off = 0; off + RECORD_HEADER <= buf.length; ) {
      const type = buf[off]!;
      const version = buf.readUInt16BE(off + 1);
      const epoch = buf.readUInt16BE(off + 3);
      const len = buf.readUInt16BE(off + 11);
      const end = off + RECORD_HEADER + len;
      if (end > buf.length || type < CT.changeCipherSpec || type > CT.applicationData || (version >> 8) !== 0xfe || epoch > 1) break;
      const body = buf.subarray(off + RECORD_HEADER, end);
      const connected = this.#state === "connected";
      let ok = !(connected && epoch === 0);
      if (ok && type === CT.handshake && epoch === 0) ok = saneHandshakeFragment(body);
      if (ok && type === CT.alert && epoch === 0 && len === 2) this.#onPlainAlert(body[0]!, body[1]!);
      if (ok) keep.push(buf.subarray(off, end));
      off = end;
    }
    return keep.length === 0 ? undefined : keep.length === 1 ? keep[0] : Buffer.concat(keep);
  }

  #onPlainAlert(level: number, desc: number): void {
    if (this.#state === "connected") return;
    if (level === 2 || desc === ALERT.closeNotify) {
      this.#fail(`peer sent DTLS alert ${desc} (level ${level})`, SECURITY_ALERTS.has(desc) ? "security-error" : "failed-transport");
    }
  }

  /** Sees every reassembled handshake message before werift; false drops it. */
  #observeHandshake(h: Handshake): boolean {
    if (this.#state === "failed" || this.#state === "closed") return false;
    const flight = this.#socket.dtls.flight;
    switch (h.msg_type) {
      case HS.clientHello:
        if (this.role !== "server" || this.#state === "connected") return false; // werift would restart the handshake
        // A late retransmitted cookie-less ClientHello would make werift draw
        // new randoms and keys mid-handshake.
        if (flight >= 4 && cookieLength(h.fragment) === 0) return false;
        return this.#adoptClientOffer(h.fragment);
      case HS.helloVerifyRequest:
        // A second HelloVerifyRequest (answer to our retransmitted
        // ClientHello) makes werift's client throw; it carries nothing new.
        return this.role === "client" && flight < 3;
      case HS.finished:
        if (this.role === "client") this.#peerFinished = Buffer.from(h.fragment);
        return true;
      default:
        return true;
    }
  }

  /**
   * Server side, RFC 5764 §4.1.1: take the profile the client prefers among
   * ours (werift itself would take ours in our order), and note the DTLS
   * versions it offers (a DTLS 1.3 client lists them in supported_versions,
   * RFC 9147 §5.3; we answer 1.2 and it must fall back).
   */
  #adoptClientOffer(body: Buffer): boolean {
    const ext = parseClientHelloExtensions(body);
    if (!ext) return true; // werift will reject what it cannot parse
    const versions = ext.get(43);
    if (versions && versions.length >= 1) {
      this.#peerVersions = [];
      const last = Math.min(versions[0]!, versions.length - 1);
      for (let i = 1; i + 1 <= last; i += 2) {
        const v = versions.readUInt16BE(i);
        this.#peerVersions.push(DTLS_VERSION_NAMES[v] ?? `0x${v.toString(16)}`);
      }
    }
    const useSrtp = ext.get(14);
    const offered: number[] = [];
    if (useSrtp && useSrtp.length >= 2) {
      const n = useSrtp.readUInt16BE(0);
      for (let i = 2; i + 1 < 2 + n && i + 1 < useSrtp.length; i += 2) offered.push(useSrtp.readUInt16BE(i));
    }
    const common = offered.filter((p): p is SrtpProfile => (this.#profiles as number[]).includes(p));
    if (common.length === 0) {
      this.#sendAlert(2, ALERT.handshakeFailure);
      this.#fail(`peer offers no SRTP profile we support (offered: ${offered.join(",") || "none"})`, "security-error");
      return false;
    }
    this.#socket.options.srtpProfiles = common;
    return true;
  }

  #onSrtp(packet: Buffer): void {
    if (this.#state !== "connected" || !this.#srtpContext) return void this.#stats.dropped++;
    this.#deliver("rtp", this.#srtpContext.unprotectRtp(packet));
  }

  #onSrtcp(packet: Buffer): void {
    if (this.#state !== "connected" || !this.#srtpContext) return void this.#stats.dropped++;
    this.#deliver("rtcp", this.#srtpContext.unprotectRtcp(packet));
  }

  #deliver(kind: "rtp" | "rtcp", result: Buffer | UnprotectFailure): void {
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

  // ------------------------------------------------------------- handshake end

  #onHandshakeDone(): void {
    // werift reports again when it re-sends its last flight; once is enough.
    if (this.#state !== "new" && this.#state !== "connecting") return;
    let problem: string | undefined;
    try {
      problem = this.#verifyPeer();
    } catch (err) {
      problem = `cannot verify the peer: ${errorMessage(err)}`;
    }
    if (problem) {
      this.#sendAlert(2, problem.includes("fingerprint") || problem.includes("certificate") ? ALERT.badCertificate : ALERT.decryptError);
      return this.#fail(problem, "security-error");
    }
    const profile = this.#socket.srtp.srtpProfile;
    if (profile === undefined || !this.#profiles.includes(profile)) {
      this.#sendAlert(2, ALERT.handshakeFailure);
      return this.#fail("no SRTP protection profile negotiated", "security-error");
    }
    // RFC 5764 §4.2: EXTRACTOR-dtls_srtp gives client key, server key, client
    // salt, server salt; werift hands them back as local/remote by our role,
    // so the client's write key protects what the client sends.
    const k = this.#socket.extractSessionKeys(MASTER_LENGTHS[profile].key, MASTER_LENGTHS[profile].salt);
    this.#srtpContext = createSrtpContext(profile, { localKey: k.localKey, localSalt: k.localSalt, remoteKey: k.remoteKey, remoteSalt: k.remoteSalt });
    this.#state = "connected";
    clearTimeout(this.#timer);
    const name = (Object.keys(SRTP_PROFILES) as SrtpProfileName[]).find((n) => SRTP_PROFILES[n] === profile)!;
    const serverHello = this.#socket.dtls.sortedHandshakeCache.find((h) => h.msg_type === HS.serverHello);
    const version = serverHello && serverHello.fragment.length >= 2 ? serverHello.fragment.readUInt16BE(0) : undefined;
    const info: DtlsConnectedInfo = {
      profile: name,
      ...(version !== undefined ? { dtlsVersion: DTLS_VERSION_NAMES[version] ?? `0x${version.toString(16)}` } : {}),
      role: this.role,
    };
    this.#log.info(
      { profile: info.profile, dtlsVersion: info.dtlsVersion, ms: Math.round(performance.now() - this.#startedAt), ...(this.#peerVersions.length ? { peerOffered: this.#peerVersions } : {}) },
      "DTLS-SRTP connected",
    );
    this.#settle.resolve();
    this.emit("connected", info);
  }

  /** The proofs werift skips; undefined when the peer is who the fingerprint says. */
  #verifyPeer(): string | undefined {
    const s = this.#socket;
    const der = s.cipher.remoteCertificate;
    if (!der) return "peer sent no certificate";
    const want = this.#o.remoteFingerprint;
    if (!matchesFingerprint(der, want)) {
      const hash = want.hash.trim().toLowerCase();
      return `peer certificate fingerprint ${isFingerprintHash(hash) ? fingerprint(der, hash) : "?"} does not match the signalled ${want.hash} ${want.value}`;
    }
    const peerKey = new X509Certificate(der).publicKey;
    const transcript = s.dtls.sortedHandshakeCache;
    const at = (type: number): number => transcript.findIndex((h) => h.msg_type === type);
    const clientHello = transcript[at(HS.clientHello)];
    const serverHello = transcript[at(HS.serverHello)];
    if (!clientHello || !serverHello || clientHello.fragment.length < 34 || serverHello.fragment.length < 34) return "handshake transcript incomplete";
    // The randoms werift keyed with must be the ones in the signed transcript.
    const clientRandom = clientHello.fragment.subarray(2, 34);
    const serverRandom = serverHello.fragment.subarray(2, 34);
    const [ours, theirs] = this.role === "client" ? [clientRandom, serverRandom] : [serverRandom, clientRandom];
    if (!s.cipher.localRandom.serialize().equals(ours) || !s.cipher.remoteRandom.serialize().equals(theirs)) return "handshake randoms inconsistent";
    const usedPeerShare = s.cipher.remoteKeyPair.publicKey;
    const master = s.cipher.masterSecret;
    if (!usedPeerShare || !master) return "handshake keys missing";

    if (this.role === "client") {
      // RFC 4492 §5.4: the server signs client_random + server_random + ServerECDHParams.
      const ske = transcript[at(HS.serverKeyExchange)];
      const parsed = ske && parseServerKeyExchange(ske.fragment);
      if (!parsed) return "no usable ServerKeyExchange";
      if (!parsed.publicKey.equals(usedPeerShare)) return "ServerKeyExchange differs from the key share used";
      const signed = Buffer.concat([clientRandom, serverRandom, parsed.params]);
      if (!verifyTlsSignature(peerKey, parsed.sig, signed)) return "ServerKeyExchange signature does not verify with the peer certificate";
      if (!this.#peerFinished) return "no server Finished";
      // RFC 5246 §7.4.9: over every message before it, our Finished included.
      const expected = finishedMac(master, "server finished", transcript);
      if (!safeEqual(expected, this.#peerFinished)) return "server Finished does not verify";
      return undefined;
    }
    // RFC 5246 §7.4.8: the client signs every handshake message before CertificateVerify.
    const cvAt = at(HS.certificateVerify);
    const cv = transcript[cvAt];
    const sig = cv && parseDigitallySigned(cv.fragment, 0);
    if (!sig) return "peer sent no CertificateVerify";
    const cke = transcript[at(HS.clientKeyExchange)];
    // RFC 4492 §5.7: ClientECDiffieHellmanPublic is a one-octet-length point.
    const share = cke && cke.fragment.length >= 1 ? cke.fragment.subarray(1, 1 + cke.fragment[0]!) : undefined;
    if (!share || !share.equals(usedPeerShare)) return "ClientKeyExchange differs from the key share used";
    if (!verifyTlsSignature(peerKey, sig, serialize(transcript.slice(0, cvAt)))) return "CertificateVerify does not verify with the peer certificate";
    const finAt = at(HS.finished); // the client's comes first (flight 5; ours is flight 6)
    const fin = transcript[finAt];
    if (!fin) return "no client Finished";
    if (!safeEqual(finishedMac(master, "client finished", transcript.slice(0, finAt)), fin.fragment)) return "client Finished does not verify";
    return undefined;
  }

  // ------------------------------------------------------------- sending and teardown

  #sendRaw(buf: Buffer): void {
    if (!this.#wire) return;
    try {
      this.#o.send(buf);
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, "send failed");
    }
  }

  /** Builds an alert record with werift's record layer (it has no API for alerts). */
  #sendAlert(level: 1 | 2, desc: number): void {
    try {
      const dtls = this.#socket.dtls;
      const [pkt] = weriftDtlsRecord().createPlaintext(dtls)([{ type: CT.alert, fragment: Buffer.from([level, desc]) }], ++dtls.recordSequenceNumber);
      if (!pkt) return;
      const out = dtls.epoch > 0 && this.#socket.cipher.cipher ? this.#socket.cipher.encryptPacket(pkt) : pkt;
      this.#sendRaw(out.serialize());
    } catch (err) {
      this.#log.debug({ err: errorMessage(err) }, "could not send a DTLS alert");
    }
  }

  #fail(reason: string, condition: DtlsFailureCondition): void {
    if (this.#state === "failed" || this.#state === "closed") return;
    this.#log.warn({ reason, condition }, "DTLS-SRTP failed");
    this.#shutdown("failed");
    this.#settle.reject(new JingledError(condition === "security-error" ? "dtls-security" : "dtls-failed", reason));
    this.emit("failed", reason, condition);
  }

  #shutdown(state: "failed" | "closed"): void {
    this.#state = state;
    this.#wire = false;
    this.#transport.closed = true;
    clearTimeout(this.#timer);
    this.#srtpContext = undefined;
    // werift's retransmission loops sleep on timers we cannot cancel; a flight
    // number past every "next flight" makes each loop end when it wakes.
    this.#socket.dtls.flight = Number.MAX_SAFE_INTEGER;
  }
}

// ------------------------------------------------------------- handshake parsing (RFC 5246, RFC 6347)

/** RFC 6347 §4.2.2 handshake header: a fragment must lie inside its message and its record. */
function saneHandshakeFragment(body: Buffer): boolean {
  for (let off = 0; off < body.length; ) {
    if (off + HANDSHAKE_HEADER > body.length) return false;
    const length = body.readUIntBE(off + 1, 3);
    const fragOffset = body.readUIntBE(off + 6, 3);
    const fragLength = body.readUIntBE(off + 9, 3);
    if (fragOffset + fragLength > length || off + HANDSHAKE_HEADER + fragLength > body.length) return false;
    off += HANDSHAKE_HEADER + fragLength;
  }
  return true;
}

/** DTLS ClientHello: version(2) random(32) session_id<0..32> cookie<0..255> … */
function cookieLength(body: Buffer): number {
  const sid = 34;
  if (body.length <= sid) return 0;
  const cookieAt = sid + 1 + body[sid]!;
  return cookieAt < body.length ? body[cookieAt]! : 0;
}

/** Extensions of a DTLS ClientHello (RFC 6347 §4.2.1) by type; undefined if malformed. */
function parseClientHelloExtensions(body: Buffer): Map<number, Buffer> | undefined {
  let off = 34;
  const skip8 = (): boolean => off < body.length && (off += 1 + body[off]!) <= body.length;
  const skip16 = (): boolean => off + 2 <= body.length && (off += 2 + body.readUInt16BE(off)) <= body.length;
  if (!skip8() || !skip8() || !skip16() || !skip8()) return undefined; // session_id, cookie, cipher_suites, compression
  const out = new Map<number, Buffer>();
  if (off + 2 > body.length) return out;
  const end = Math.min(body.length, off + 2 + body.readUInt16BE(off));
  off += 2;
  while (off + 4 <= end) {
    const type = body.readUInt16BE(off);
    const len = body.readUInt16BE(off + 2);
    if (off + 4 + len > end) return undefined;
    out.set(type, body.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  return out;
}

interface DigitallySigned {
  hash: number;
  signature: number;
  value: Buffer;
}

/** RFC 5246 §4.7 digitally-signed: hash(1) signature(1) opaque<0..2^16-1>. */
function parseDigitallySigned(buf: Buffer, at: number): DigitallySigned | undefined {
  if (at + 4 > buf.length) return undefined;
  const len = buf.readUInt16BE(at + 2);
  if (at + 4 + len > buf.length) return undefined;
  return { hash: buf[at]!, signature: buf[at + 1]!, value: buf.subarray(at + 4, at + 4 + len) };
}

/** RFC 4492 §5.4: ServerECDHParams (curve_type 3 = named_curve, curve, point) + signature. */
function parseServerKeyExchange(body: Buffer): { params: Buffer; publicKey: Buffer; sig: DigitallySigned } | undefined {
  if (body.length < 4 || body[0] !== 3) return undefined;
  const end = 4 + body[3]!;
  const sig = parseDigitallySigned(body, end);
  if (!sig) return undefined;
  return { params: body.subarray(0, end), publicKey: body.subarray(4, end), sig };
}

const TLS_HASHES: Record<number, string> = { 2: "sha1", 4: "sha256", 5: "sha384", 6: "sha512" };

/** RFC 5246 §7.4.1.4.1 algorithms: rsa(1) PKCS#1 v1.5, ecdsa(3) with DER signatures. */
function verifyTlsSignature(key: KeyObject, sig: DigitallySigned, data: Buffer): boolean {
  const hash = TLS_HASHES[sig.hash];
  if (!hash) return false;
  try {
    if (sig.signature === 3 && key.asymmetricKeyType === "ec") return verifySignature(hash, data, { key, dsaEncoding: "der" }, sig.value);
    if (sig.signature === 1 && key.asymmetricKeyType === "rsa") return verifySignature(hash, data, key, sig.value);
  } catch {
    return false;
  }
  return false;
}

/** Handshake messages as hashed (RFC 6347 §4.2.6: with the DTLS header, as one unfragmented message). */
function serialize(messages: Handshake[]): Buffer {
  return Buffer.concat(messages.map((m) => m.serialize()));
}

/** RFC 5246 §7.4.9 verify_data = PRF(master_secret, label, SHA-256(handshake_messages))[0..11]. */
function finishedMac(master: Buffer, label: string, messages: Handshake[]): Buffer {
  return prfSha256(master, label, createHash("sha256").update(serialize(messages)).digest(), 12);
}

/** RFC 5246 §5: PRF(secret, label, seed) = P_SHA256(secret, label + seed). Our own, to check werift's. */
function prfSha256(secret: Buffer, label: string, seed: Buffer, length: number): Buffer {
  const labelSeed = Buffer.concat([Buffer.from(label, "ascii"), seed]);
  const out: Buffer[] = [];
  let a = labelSeed;
  for (let have = 0; have < length; ) {
    a = createHmac("sha256", secret).update(a).digest();
    const block = createHmac("sha256", secret).update(a).update(labelSeed).digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

function safeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
