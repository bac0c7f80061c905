// The DTLS 1.2 client's side of a full handshake (RFC 6347 §4.2.4 flights
// 1, 3 and 5; RFC 5246 §7.3), ECDHE with ECDSA or RSA server certificates:
//
//   F1  ClientHello                      ->
//                                        <-  F2  HelloVerifyRequest (optional)
//   F3  ClientHello (with the cookie)    ->
//                                        <-  F4  ServerHello, Certificate, ServerKeyExchange,
//                                                CertificateRequest, ServerHelloDone
//   F5  Certificate, ClientKeyExchange,  ->
//       CertificateVerify, [CCS], Finished
//                                        <-  F6  [CCS], Finished
//
// F4 is verified whole (peer-verification.ts) before anything in it is used;
// F6 arrives under keys only the verified server can have made.
import { randomBytes, sign } from "node:crypto";
import {
  CipherSuite, ExtensionType, HandshakeType, NamedGroup, decodeCertificate, decodeCertificateRequest, decodeHelloVerifyRequest, decodeServerHello,
  decodeServerKeyExchange, decodeUseSrtp, encodeCertificate, encodeClientHello, encodeClientKeyExchange, encodeDigitallySigned, encodeUseSrtp,
  findExtension, type ClientHello, type HandshakeMessage, type ReceivedMessage,
} from "./handshake-messages.js";
import { ACCEPTED_SIGNATURE_SCHEMES, SignatureScheme, finishedMatches, verifyServerKeyExchange } from "./peer-verification.js";
import { SUPPORTED_GROUPS, generateEcdhe } from "./ecdhe.js";
import { extendedMasterSecret, keyBlock, masterSecret, verifyData } from "./key-schedule.js";
import { DTLS_1_0, DTLS_1_2, type FlightItem } from "./record-layer.js";
import { Transcript, type HandshakeConfig, type HandshakeResult, type HandshakeRole, type Step } from "./handshake-role.js";
import { TlsDecodeError, u16List, u8, vec8 } from "./tls-codec.js";

const OFFERED_SUITES = [CipherSuite.ecdheEcdsaAes128Gcm, CipherSuite.ecdheRsaAes128Gcm];

type Phase = "hello" | "finished" | "done";

export class ClientHandshake implements HandshakeRole {
  readonly peerMessageTypes: ReadonlySet<number> = new Set([
    HandshakeType.helloVerifyRequest,
    HandshakeType.serverHello,
    HandshakeType.certificate,
    HandshakeType.serverKeyExchange,
    HandshakeType.certificateRequest,
    HandshakeType.serverHelloDone,
    HandshakeType.finished,
  ]);
  readonly #cfg: HandshakeConfig;
  readonly #random = randomBytes(32);
  #phase: Phase = "hello";
  #hello: HandshakeMessage;
  /** Our next message_seq. */
  #seq = 0;
  /** Through our Finished, once F5 is out. */
  #transcript: Transcript | undefined;
  #pending: HandshakeResult | undefined;

  constructor(cfg: HandshakeConfig) {
    this.#cfg = cfg;
    this.#hello = this.#clientHello(Buffer.alloc(0));
  }

  #clientHello(cookie: Buffer): HandshakeMessage {
    const hello: ClientHello = {
      version: DTLS_1_2,
      random: this.#random, // RFC 6347 §4.2.1: the same random with the cookie
      sessionId: Buffer.alloc(0),
      cookie,
      cipherSuites: OFFERED_SUITES,
      compressionMethods: [0],
      extensions: [
        { type: ExtensionType.supportedGroups, data: u16List(SUPPORTED_GROUPS) },
        { type: ExtensionType.ecPointFormats, data: vec8(u8(0)) },
        { type: ExtensionType.signatureAlgorithms, data: u16List(ACCEPTED_SIGNATURE_SCHEMES) },
        { type: ExtensionType.useSrtp, data: encodeUseSrtp(this.#cfg.srtpProfiles) },
        { type: ExtensionType.extendedMasterSecret, data: Buffer.alloc(0) },
        { type: ExtensionType.renegotiationInfo, data: vec8(Buffer.alloc(0)) },
      ],
    };
    return { type: HandshakeType.clientHello, seq: this.#seq++, body: encodeClientHello(hello) };
  }

  begin(): Step {
    return { kind: "send", flight: [{ kind: "handshake", message: this.#hello, epoch: 0 }], final: false, recordVersion: DTLS_1_0 };
  }

  flightLength(messages: readonly ReceivedMessage[]): number {
    if (this.#phase === "hello") {
      if (messages[0]?.type === HandshakeType.helloVerifyRequest) return 1;
      const done = messages.findIndex((m) => m.type === HandshakeType.serverHelloDone);
      return done + 1;
    }
    if (this.#phase === "finished") return messages.length > 0 ? 1 : 0;
    return 0;
  }

  provisionalReadKeys(): undefined {
    return undefined; // our read keys are set with F5, from the verified F4
  }

  onFlight(messages: readonly ReceivedMessage[]): Step {
    try {
      if (this.#phase === "hello") {
        if (messages[0]!.type === HandshakeType.helloVerifyRequest) return this.#onHelloVerifyRequest(messages[0]!);
        return this.#onServerFlight(messages);
      }
      if (this.#phase === "finished") return this.#onServerFinished(messages[0]!);
      return { kind: "reject", problem: "handshake already done" };
    } catch (err) {
      if (err instanceof TlsDecodeError) return { kind: "reject", problem: `malformed server flight: ${err.message}` };
      throw err;
    }
  }

  #onHelloVerifyRequest(m: HandshakeMessage): Step {
    const { cookie } = decodeHelloVerifyRequest(m.body);
    if (cookie.length > 255) return { kind: "reject", problem: "HelloVerifyRequest cookie too long" };
    this.#hello = this.#clientHello(cookie);
    return { kind: "send", flight: [{ kind: "handshake", message: this.#hello, epoch: 0 }], final: false, recordVersion: DTLS_1_0 };
  }

  /** F4: check all of it, then answer with F5. Nothing is kept from a rejected F4. */
  #onServerFlight(messages: readonly ReceivedMessage[]): Step {
    if (messages.some((m) => m.epoch !== 0)) return { kind: "reject", problem: "server flight 4 not in epoch 0" };
    const byType = (type: number) => messages.find((m) => m.type === type);
    const shM = messages[0];
    if (shM?.type !== HandshakeType.serverHello) return { kind: "reject", problem: "server flight does not start with ServerHello" };
    const sh = decodeServerHello(shM.body);
    if (sh.version !== DTLS_1_2) return { kind: "reject", problem: `server chose version 0x${sh.version.toString(16)}, not DTLS 1.2` };
    if (!OFFERED_SUITES.includes(sh.cipherSuite as never)) return { kind: "reject", problem: `server chose cipher suite 0x${sh.cipherSuite.toString(16)}, which we did not offer` };
    if (sh.compressionMethod !== 0) return { kind: "reject", problem: "server chose compression" };
    const useSrtp = findExtension(sh.extensions, ExtensionType.useSrtp);
    const srtp = useSrtp ? decodeUseSrtp(useSrtp) : undefined;
    if (!srtp || srtp.profiles.length !== 1 || !this.#cfg.srtpProfiles.includes(srtp.profiles[0]!) || srtp.mki.length > 0) {
      return { kind: "reject", problem: `peer offers no SRTP profile we support (chose: ${srtp?.profiles.join(",") || "none"})` };
    }
    const reneg = findExtension(sh.extensions, ExtensionType.renegotiationInfo);
    if (reneg && !(reneg.length === 1 && reneg[0] === 0)) return { kind: "reject", problem: "server renegotiation_info not empty" };
    const ems = findExtension(sh.extensions, ExtensionType.extendedMasterSecret) !== undefined;

    const certM = byType(HandshakeType.certificate);
    const skeM = byType(HandshakeType.serverKeyExchange);
    if (!certM || !skeM) return { kind: "reject", problem: "server flight without Certificate or ServerKeyExchange" };
    const chain = decodeCertificate(certM.body);
    const ske = decodeServerKeyExchange(skeM.body);
    if (!SUPPORTED_GROUPS.includes(ske.group)) return { kind: "reject", problem: `server chose group ${ske.group}, which we did not offer` };
    const verdict = verifyServerKeyExchange({
      chain,
      fingerprint: this.#cfg.remoteFingerprint,
      cipherSuite: sh.cipherSuite,
      clientRandom: this.#random,
      serverRandom: sh.random,
      params: ske.params,
      signed: ske.signed,
    });
    if (!verdict.ok) return { kind: "reject", problem: verdict.problem };
    const crM = byType(HandshakeType.certificateRequest);
    if (crM) decodeCertificateRequest(crM.body); // well-formed; we answer with our one certificate whatever it lists

    const ecdhe = generateEcdhe(ske.group === NamedGroup.x25519 ? NamedGroup.x25519 : NamedGroup.secp256r1);
    const preMaster = ecdhe.computeSecret(ske.publicKey);
    if (!preMaster) return { kind: "reject", problem: "server key share invalid" };

    // Our flight 5, and the transcript as each message joins it.
    const transcript = new Transcript().add(this.#hello, ...messages);
    const out: HandshakeMessage[] = [];
    const next = (type: number, body: Buffer): HandshakeMessage => {
      const m = { type, seq: this.#seq++, body };
      out.push(m);
      transcript.add(m);
      return m;
    };
    if (crM) next(HandshakeType.certificate, encodeCertificate([this.#cfg.certificate.der]));
    next(HandshakeType.clientKeyExchange, encodeClientKeyExchange(ecdhe.publicKey));
    const master = ems ? extendedMasterSecret(preMaster, transcript.hash()) : masterSecret(preMaster, this.#random, sh.random);
    if (crM) {
      // RFC 5246 §7.4.8: the signature covers every message so far.
      const signature = sign("sha256", transcript.bytes(), { key: this.#cfg.certificate.key, dsaEncoding: "der" });
      next(HandshakeType.certificateVerify, encodeDigitallySigned({ scheme: SignatureScheme.ecdsaSecp256r1Sha256, signature }));
    }
    const finished = next(HandshakeType.finished, verifyData(master, "client", transcript.hash()));
    const keys = keyBlock(master, this.#random, sh.random);
    const flight: FlightItem[] = out.slice(0, -1).map((message) => ({ kind: "handshake", message, epoch: 0 }) as const);
    flight.push({ kind: "ccs" }, { kind: "handshake", message: finished, epoch: 1 });

    this.#phase = "finished";
    this.#transcript = transcript;
    this.#pending = {
      cipherSuite: sh.cipherSuite,
      srtpProfile: srtp.profiles[0]!,
      extendedMasterSecret: ems,
      master,
      clientRandom: this.#random,
      serverRandom: sh.random,
      peerCertificate: chain[0]!,
    };
    return {
      kind: "send",
      flight,
      final: false,
      writeKeys: { key: keys.clientKey, iv: keys.clientIv },
      readKeys: { key: keys.serverKey, iv: keys.serverIv },
      recordVersion: DTLS_1_2,
    };
  }

  /** F6 came under the keys of the verified key exchange: a wrong Finished is the real server's. */
  #onServerFinished(m: ReceivedMessage): Step {
    const r = this.#pending!;
    if (m.epoch !== 1) return { kind: "reject", problem: "a plaintext message where the server's Finished belongs" };
    if (m.type !== HandshakeType.finished) return { kind: "fail", problem: `expected the server's Finished, got handshake message ${m.type}` };
    const expected = verifyData(r.master, "server", this.#transcript!.hash());
    if (!finishedMatches(expected, m.body)) return { kind: "fail", problem: "server Finished does not verify" };
    this.#phase = "done";
    return { kind: "done", result: r };
  }
}

