// The DTLS 1.2 server's side of a full handshake (RFC 6347 §4.2.4 flights 4
// and 6; RFC 5246 §7.3), with our ECDSA P-256 certificate and a client
// certificate required (its fingerprint is the client's identity, RFC 5763 §5):
//
//   F1  ClientHello                      ->
//                                        <-  F4  ServerHello, Certificate, ServerKeyExchange,
//                                                CertificateRequest, ServerHelloDone
//   F5  Certificate, ClientKeyExchange,  ->
//       CertificateVerify, [CCS], Finished
//                                        <-  F6  [CCS], Finished
//
// No HelloVerifyRequest: the ICE checks before DTLS already proved the
// client's address (as WebRTC servers do), and it saves a round trip.
// A ClientHello we cannot serve (no use_srtp, no common profile, suite or
// group) is ignored, not answered with an alert: it may come from anyone,
// and an alert would end the genuine client's handshake. F5 is verified
// whole — certificate fingerprint, CertificateVerify, Finished — before
// anything in it counts.
import { randomBytes, sign } from "node:crypto";
import {
  CertificateType, CipherSuite, EMPTY_RENEGOTIATION_INFO_SCSV, ExtensionType, HandshakeType, NamedGroup, decodeCertificate, decodeClientHello,
  decodeClientKeyExchange, decodeDigitallySigned, decodeSupportedVersions, decodeU16ListExtension, decodeUseSrtp, ecdheParams, encodeCertificate,
  encodeCertificateRequest, encodeServerHello, encodeServerKeyExchange, encodeUseSrtp, findExtension, type ClientHello, type Extension,
  type HandshakeMessage, type ReceivedMessage,
} from "./handshake-messages.js";
import { ACCEPTED_SIGNATURE_SCHEMES, SignatureScheme, finishedMatches, verifyCertificateVerify } from "./peer-verification.js";
import { SUPPORTED_GROUPS, generateEcdhe, type EcdheKey } from "./ecdhe.js";
import { extendedMasterSecret, keyBlock, masterSecret, verifyData, type KeyBlock } from "./key-schedule.js";
import { DTLS_1_2, type GcmKeys } from "./record-layer.js";
import { Transcript, type HandshakeConfig, type HandshakeResult, type HandshakeRole, type Step } from "./handshake-role.js";
import { TlsDecodeError, vec8 } from "./tls-codec.js";

type Phase = "hello" | "keyExchange" | "done";

interface Offer {
  hello: ClientHello;
  message: HandshakeMessage;
  srtpProfile: number;
  ems: boolean;
  ecdhe: EcdheKey;
  peerVersions?: number[];
}

/** What a client's key exchange gives, kept while its flight is being checked. */
interface Keys {
  cke: Buffer;
  master: Buffer;
  block: KeyBlock;
}

export class ServerHandshake implements HandshakeRole {
  readonly peerMessageTypes: ReadonlySet<number> = new Set([
    HandshakeType.clientHello,
    HandshakeType.certificate,
    HandshakeType.clientKeyExchange,
    HandshakeType.certificateVerify,
    HandshakeType.finished,
  ]);
  readonly #cfg: HandshakeConfig;
  readonly #random = randomBytes(32);
  #phase: Phase = "hello";
  #offer: Offer | undefined;
  /** Through our ServerHelloDone. */
  #transcript: Transcript | undefined;
  #seq = 0;
  #keys: Keys | undefined;

  constructor(cfg: HandshakeConfig) {
    this.#cfg = cfg;
  }

  begin(): undefined {
    return undefined;
  }

  flightLength(messages: readonly ReceivedMessage[]): number {
    if (this.#phase === "hello") return messages.length > 0 ? 1 : 0;
    if (this.#phase === "keyExchange") return messages.findIndex((m) => m.type === HandshakeType.finished) + 1;
    return 0;
  }

  onFlight(messages: readonly ReceivedMessage[]): Step {
    try {
      if (this.#phase === "hello") return this.#onClientHello(messages[0]!);
      if (this.#phase === "keyExchange") return this.#onClientFlight(messages);
      return { kind: "reject", problem: "handshake already done" };
    } catch (err) {
      if (err instanceof TlsDecodeError) return { kind: "reject", problem: `malformed client flight: ${err.message}` };
      throw err;
    }
  }

  // ---------------------------------------------------------------- F1 -> F4

  #onClientHello(m: ReceivedMessage): Step {
    if (m.type !== HandshakeType.clientHello || m.epoch !== 0) return { kind: "reject", problem: `expected a ClientHello, got handshake message ${m.type}` };
    const offer = this.#readOffer(m);
    if (typeof offer === "string") return { kind: "reject", problem: offer };
    const params = ecdheParams(offer.ecdhe.group, offer.ecdhe.publicKey);
    const signature = sign("sha256", Buffer.concat([offer.hello.random, this.#random, params]), { key: this.#cfg.certificate.key, dsaEncoding: "der" });
    const extensions: Extension[] = [{ type: ExtensionType.useSrtp, data: encodeUseSrtp([offer.srtpProfile]) }];
    if (offer.ems) extensions.push({ type: ExtensionType.extendedMasterSecret, data: Buffer.alloc(0) });
    // RFC 5746 §3.6: an empty renegotiation_info when the client signalled support.
    if (findExtension(offer.hello.extensions, ExtensionType.renegotiationInfo) !== undefined || offer.hello.cipherSuites.includes(EMPTY_RENEGOTIATION_INFO_SCSV)) {
      extensions.push({ type: ExtensionType.renegotiationInfo, data: vec8(Buffer.alloc(0)) });
    }
    const out: HandshakeMessage[] = [
      { type: HandshakeType.serverHello, seq: 0, body: encodeServerHello({ version: DTLS_1_2, random: this.#random, sessionId: Buffer.alloc(0), cipherSuite: CipherSuite.ecdheEcdsaAes128Gcm, compressionMethod: 0, extensions }) },
      { type: HandshakeType.certificate, seq: 0, body: encodeCertificate([this.#cfg.certificate.der]) },
      { type: HandshakeType.serverKeyExchange, seq: 0, body: encodeServerKeyExchange(params, { scheme: SignatureScheme.ecdsaSecp256r1Sha256, signature }) },
      {
        type: HandshakeType.certificateRequest,
        seq: 0,
        body: encodeCertificateRequest({ certificateTypes: [CertificateType.ecdsaSign, CertificateType.rsaSign], signatureSchemes: [...ACCEPTED_SIGNATURE_SCHEMES] }),
      },
      { type: HandshakeType.serverHelloDone, seq: 0, body: Buffer.alloc(0) },
    ];
    for (const o of out) o.seq = this.#seq++;
    this.#offer = offer;
    this.#transcript = new Transcript().add(m, ...out);
    this.#phase = "keyExchange";
    return { kind: "send", flight: out.map((message) => ({ kind: "handshake", message, epoch: 0 })), final: false };
  }

  /** What we can agree on with this ClientHello, or why nothing. */
  #readOffer(m: HandshakeMessage): Offer | string {
    const hello = decodeClientHello(m.body);
    // DTLS versions count down: 0xfeff is 1.0, 0xfefd 1.2 (also a 1.3 client's legacy_version).
    if (hello.version > DTLS_1_2) return `peer offers DTLS 0x${hello.version.toString(16)} only, we need DTLS 1.2`;
    if (!hello.cipherSuites.includes(CipherSuite.ecdheEcdsaAes128Gcm)) return "peer offers no cipher suite we support (TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)";
    if (!hello.compressionMethods.includes(0)) return "peer offers no null compression";
    const useSrtp = findExtension(hello.extensions, ExtensionType.useSrtp);
    const offered = useSrtp ? decodeUseSrtp(useSrtp).profiles : [];
    // RFC 5764 §4.1.1: the server picks from the client's list; we follow the client's order.
    const srtpProfile = offered.find((p) => this.#cfg.srtpProfiles.includes(p));
    if (srtpProfile === undefined) return `peer offers no SRTP profile we support (offered: ${offered.join(",") || "none"})`;
    const groupsExt = findExtension(hello.extensions, ExtensionType.supportedGroups);
    // RFC 8422 §4: without the extension any curve will do; P-256 is the safe one.
    const groups = groupsExt ? decodeU16ListExtension(groupsExt) : [NamedGroup.secp256r1];
    const group = SUPPORTED_GROUPS.find((g) => groups.includes(g));
    if (group === undefined) return `peer offers no key exchange group we support (offered: ${groups.join(",")})`;
    const schemesExt = findExtension(hello.extensions, ExtensionType.signatureAlgorithms);
    if (schemesExt && !decodeU16ListExtension(schemesExt).includes(SignatureScheme.ecdsaSecp256r1Sha256)) return "peer does not accept ECDSA with SHA-256 signatures";
    const versions = findExtension(hello.extensions, ExtensionType.supportedVersions);
    return {
      hello,
      message: m,
      srtpProfile,
      ems: findExtension(hello.extensions, ExtensionType.extendedMasterSecret) !== undefined,
      ecdhe: generateEcdhe(group),
      ...(versions ? { peerVersions: decodeSupportedVersions(versions) } : {}),
    };
  }

  // ---------------------------------------------------------------- F5 -> F6

  /** The keys a client's key exchange makes (cached: the flight may be checked more than once). */
  #keysFor(messages: readonly ReceivedMessage[]): Keys | undefined {
    const ckeAt = messages.findIndex((m) => m.type === HandshakeType.clientKeyExchange);
    const ckeM = messages[ckeAt];
    if (!ckeM || ckeM.epoch !== 0) return undefined;
    if (this.#keys?.cke.equals(ckeM.body)) return this.#keys;
    const offer = this.#offer!;
    let share: Buffer;
    try {
      share = decodeClientKeyExchange(ckeM.body);
    } catch {
      return undefined;
    }
    const preMaster = offer.ecdhe.computeSecret(share);
    if (!preMaster) return undefined;
    const clientRandom = offer.hello.random;
    // RFC 7627 §3: session_hash over the handshake through ClientKeyExchange.
    const master = offer.ems
      ? extendedMasterSecret(preMaster, new Transcript(this.#transcript).add(...messages.slice(0, ckeAt + 1)).hash())
      : masterSecret(preMaster, clientRandom, this.#random);
    this.#keys = { cke: Buffer.from(ckeM.body), master, block: keyBlock(master, clientRandom, this.#random) };
    return this.#keys;
  }

  provisionalReadKeys(messages: readonly ReceivedMessage[]): GcmKeys | undefined {
    if (this.#phase !== "keyExchange") return undefined;
    const k = this.#keysFor(messages);
    return k && { key: k.block.clientKey, iv: k.block.clientIv };
  }

  #onClientFlight(messages: readonly ReceivedMessage[]): Step {
    const offer = this.#offer!;
    const [certM, ckeM, cvM, finM] = messages;
    if (messages.length !== 4 || certM?.type !== HandshakeType.certificate || ckeM?.type !== HandshakeType.clientKeyExchange || cvM?.type !== HandshakeType.certificateVerify) {
      return { kind: "reject", problem: `client flight is not Certificate, ClientKeyExchange, CertificateVerify, Finished (got ${messages.map((m) => m.type).join(",")}): a client certificate is required` };
    }
    if (certM.epoch !== 0 || cvM.epoch !== 0 || finM!.epoch !== 1) return { kind: "reject", problem: "client flight in the wrong epochs" };
    const chain = decodeCertificate(certM.body);
    const keys = this.#keysFor(messages);
    if (!keys) return { kind: "reject", problem: "client key share invalid" };
    const beforeVerify = new Transcript(this.#transcript).add(certM, ckeM);
    const verdict = verifyCertificateVerify({ chain, fingerprint: this.#cfg.remoteFingerprint, handshakeMessages: beforeVerify.bytes(), signed: decodeDigitallySigned(cvM.body) });
    if (!verdict.ok) return { kind: "reject", problem: verdict.problem };
    const throughVerify = beforeVerify.add(cvM);
    if (!finishedMatches(verifyData(keys.master, "client", throughVerify.hash()), finM!.body)) return { kind: "reject", problem: "client Finished does not verify" };
    const finished: HandshakeMessage = { type: HandshakeType.finished, seq: this.#seq++, body: verifyData(keys.master, "server", throughVerify.add(finM!).hash()) };
    this.#phase = "done";
    const result: HandshakeResult = {
      cipherSuite: CipherSuite.ecdheEcdsaAes128Gcm,
      srtpProfile: offer.srtpProfile,
      extendedMasterSecret: offer.ems,
      master: keys.master,
      clientRandom: offer.hello.random,
      serverRandom: this.#random,
      peerCertificate: chain[0]!,
      ...(offer.peerVersions ? { peerVersions: offer.peerVersions } : {}),
    };
    return {
      kind: "send",
      flight: [{ kind: "ccs" }, { kind: "handshake", message: finished, epoch: 1 }],
      final: true,
      writeKeys: { key: keys.block.serverKey, iv: keys.block.serverIv },
      readKeys: { key: keys.block.clientKey, iv: keys.block.clientIv },
      result,
    };
  }
}
