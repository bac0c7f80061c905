// The contract between the DTLS engine (dtls-endpoint.ts: records,
// reassembly, retransmission) and the two handshake roles
// (client-handshake.ts, server-handshake.ts). A role sees whole peer flights
// and answers each with a Step; it touches no socket and no timer.
//
// A peer flight that does not verify is rejected, not fatal: it may be
// forged (anyone can send epoch-0 records), and the peer's genuine
// retransmission may follow. Only what arrives under keys the verified
// peer holds can end the handshake at once ("fail").
import { createPrivateKey, type KeyObject } from "node:crypto";
import type { DtlsCertificate } from "./certificate.js";
import { transcriptBytes, type HandshakeMessage, type ReceivedMessage } from "./handshake-messages.js";
import type { FlightItem, GcmKeys } from "./record-layer.js";
import { sha256 } from "./key-schedule.js";

export interface HandshakeConfig {
  certificate: { der: Buffer; key: KeyObject };
  /** From the peer's XEP-0320 <fingerprint/>. */
  remoteFingerprint: { hash: string; value: string };
  /** SRTP protection profiles (RFC 5764 §4.1.2), preferred first. */
  srtpProfiles: readonly number[];
}

export function handshakeConfig(cert: DtlsCertificate, remoteFingerprint: { hash: string; value: string }, srtpProfiles: readonly number[]): HandshakeConfig {
  return { certificate: { der: cert.der, key: createPrivateKey(cert.keyPem) }, remoteFingerprint, srtpProfiles };
}

/** What a finished handshake hands to SRTP and the log. */
export interface HandshakeResult {
  cipherSuite: number;
  srtpProfile: number;
  extendedMasterSecret: boolean;
  master: Buffer;
  clientRandom: Buffer;
  serverRandom: Buffer;
  /** DER of the peer's certificate (its fingerprint matched). */
  peerCertificate: Buffer;
  /** Versions a client offered in supported_versions (RFC 9147 §5.3), when it did. */
  peerVersions?: number[];
}

export type Step =
  /** Send this flight; `final`: no reply is expected (RFC 6347 §4.2.4 FINISHED), `result` set when the handshake is done with it. */
  | { kind: "send"; flight: FlightItem[]; final: boolean; writeKeys?: GcmKeys; readKeys?: GcmKeys; result?: HandshakeResult; recordVersion?: number }
  /** The peer's flight completed the handshake; nothing to send. */
  | { kind: "done"; result: HandshakeResult }
  /** The flight is not acceptable (maybe forged): forget it, keep waiting. */
  | { kind: "reject"; problem: string }
  /** Authenticated failure: the handshake cannot succeed. */
  | { kind: "fail"; problem: string };

export interface HandshakeRole {
  /** Handshake message types the peer of this role ever sends; others are dropped unread (a client never gets a ClientHello). */
  readonly peerMessageTypes: ReadonlySet<number>;
  /** The first flight (client), or undefined (a server waits for one). */
  begin(): Step | undefined;
  /** How many of these complete messages (in message_seq order) make the peer's next flight; 0 while incomplete. */
  flightLength(messages: readonly ReceivedMessage[]): number;
  /** Epoch-1 keys to read the rest of a flight whose first part is here (a client's Finished after its key exchange). */
  provisionalReadKeys(messages: readonly ReceivedMessage[]): GcmKeys | undefined;
  onFlight(messages: readonly ReceivedMessage[]): Step;
}

/** The handshake messages so far, each once, in order (RFC 5246 §7.4.9, RFC 6347 §4.2.6). */
export class Transcript {
  readonly #parts: Buffer[] = [];

  constructor(from?: Transcript) {
    if (from) this.#parts.push(...from.#parts);
  }

  add(...messages: readonly HandshakeMessage[]): this {
    for (const m of messages) this.#parts.push(transcriptBytes(m));
    return this;
  }

  bytes(): Buffer {
    return Buffer.concat(this.#parts);
  }

  hash(): Buffer {
    return sha256(this.bytes());
  }
}
