// One DTLS 1.2 endpoint (RFC 6347) on a datagram path: takes the peer's
// datagrams, drives the handshake of its role, sends and retransmits our
// flights, and reports the result. No sockets, no wall clock: `send` and a
// Clock are given (dtls-srtp.ts wires it to ICE; the tests to a lossy pipe
// on a manual clock).
//
//   datagram -> records (record-layer.ts) -> epoch 0: plaintext
//                                            epoch 1: AES-GCM, anti-replay
//            -> handshake fragments -> reassembly.ts (message_seq order)
//            -> whole peer flight -> role (client-/server-handshake.ts) -> Step
//            -> our next flight -> flight-timer.ts (send, retransmit) -> datagrams
//
// What anyone can send does not end a handshake (RFC 6347 §4.1.2.7): an
// epoch-0 alert is noted, a peer flight that does not verify is forgotten,
// and the handshake goes on until it succeeds or its owner's timeout ends
// it. Only alerts and messages protected with keys of the verified peer act
// at once.
import type { Clock } from "../../util/clock.js";
import { ContentType, RecordReader, RecordWriter, packFlight, parseRecords, type DtlsRecord, type FlightItem } from "./record-layer.js";
import { decodeFragments } from "./handshake-messages.js";
import { HandshakeReassembler } from "./reassembly.js";
import { FlightTimer } from "./flight-timer.js";
import { ClientHandshake } from "./client-handshake.js";
import { ServerHandshake } from "./server-handshake.js";
import type { HandshakeConfig, HandshakeResult, HandshakeRole, Step } from "./handshake-role.js";
import type { DtlsRole } from "./setup-role.js";

/** libwebrtc's DTLS MTU: a flight datagram fits any path ICE found, TURN framing included. */
export const DEFAULT_MTU = 1200;
/** Epoch-1 records kept while the keys to open them are not known yet. */
const MAX_EARLY_PROTECTED = 16;

/** Alerts (RFC 5246 §7.2). */
export const AlertDescription = { closeNotify: 0, handshakeFailure: 40, badCertificate: 42, decryptError: 51, internalError: 80 } as const;
export const AlertLevel = { warning: 1, fatal: 2 } as const;

export interface DtlsEndpointOptions {
  role: DtlsRole;
  config: HandshakeConfig;
  clock: Clock;
  send: (datagram: Buffer) => void;
  mtu?: number;
  initialRetransmitMs?: number;
  onConnected: (result: HandshakeResult) => void;
  /** The handshake cannot succeed (a Finished of the verified peer that does not verify). */
  onFailed: (problem: string) => void;
  /** An alert protected with the verified peer's keys. */
  onAlert?: (level: number, description: number) => void;
  /** Diagnostics: rejected flights, unauthenticated alerts. */
  onNote?: (note: string) => void;
}

export type EndpointState = "handshaking" | "connected" | "failed" | "closed";

export class DtlsEndpoint {
  readonly #o: DtlsEndpointOptions;
  readonly #role: HandshakeRole;
  readonly #writer = new RecordWriter();
  readonly #reassembly = new HandshakeReassembler();
  readonly #timer: FlightTimer;
  #flight: readonly FlightItem[] = [];
  /** Epoch-1 keys of the verified peer. */
  #reader: RecordReader | undefined;
  /** Epoch-1 keys from a flight still being checked, and the reassembly's conflict count when they were made. */
  #provisional: RecordReader | undefined;
  #conflictsAtProvisional = 0;
  #early: DtlsRecord[] = [];
  #state: EndpointState = "handshaking";
  #repeated = false;
  #took = false;
  #problem: { text: string; rank: number } | undefined;
  #plainAlert: { level: number; description: number } | undefined;
  #rejected = 0;

  constructor(o: DtlsEndpointOptions) {
    this.#o = o;
    this.#role = o.role === "client" ? new ClientHandshake(o.config) : new ServerHandshake(o.config);
    this.#timer = new FlightTimer({
      clock: o.clock,
      send: () => {
        for (const d of packFlight(this.#flight, this.#writer, this.#o.mtu ?? DEFAULT_MTU)) this.#o.send(d);
      },
      ...(o.initialRetransmitMs !== undefined ? { initialMs: o.initialRetransmitMs } : {}),
    });
  }

  get state(): EndpointState {
    return this.#state;
  }

  /** Why the last peer flight was not taken, if one was not. */
  get problem(): string | undefined {
    return this.#problem?.text;
  }

  /** The last alert that came in plaintext (anyone may have sent it). */
  get plaintextAlert(): { level: number; description: number } | undefined {
    return this.#plainAlert;
  }

  get stats(): { retransmissions: number; rejectedFlights: number } {
    return { retransmissions: this.#timer.retransmissions, rejectedFlights: this.#rejected };
  }

  /** A client sends its first flight; a server waits for one. */
  start(): void {
    const step = this.#role.begin();
    if (step?.kind === "send" && this.#state === "handshaking") this.#apply(step);
  }

  /** Takes one datagram; false when nothing in it was usable (malformed, unauthentic, or after the end). */
  receive(datagram: Buffer): boolean {
    if (this.#state === "failed" || this.#state === "closed") return false;
    this.#repeated = false;
    this.#took = false;
    for (const r of parseRecords(datagram)) {
      if (r.epoch === 0) this.#onRecord(r.type, r.body, 0, false);
      else if (r.epoch === 1) this.#onProtected(r);
      // later epochs: we never renegotiate
    }
    this.#drive();
    if (this.#repeated) this.#timer.peerRepeated();
    return this.#took;
  }

  /** Sends an alert in our current epoch (best effort). */
  sendAlert(level: number, description: number): void {
    if (this.#state === "closed") return;
    try {
      this.#o.send(this.#writer.record(ContentType.alert, Buffer.from([level, description])));
    } catch {
      /* nothing to protect it with: not sent */
    }
  }

  /** Stops every timer; later datagrams are ignored. */
  close(): void {
    this.#stop("closed");
  }

  // ---------------------------------------------------------------- receiving

  #onProtected(r: DtlsRecord): void {
    const reader = this.#reader ?? this.#provisional;
    if (!reader) {
      if (this.#state === "handshaking") this.#keepEarly(r);
      return;
    }
    const plain = reader.open(r);
    if (plain) return this.#onRecord(r.type, plain, 1, reader === this.#reader);
    if (reader === this.#provisional && this.#reassembly.conflicts > this.#conflictsAtProvisional) {
      // Not under the keys of the flight being assembled, and another version
      // of that flight was seen: the one we hold may be a forgery that the
      // genuine one could not displace. Start over; keep the record.
      this.#reassembly.discard();
      this.#provisional = undefined;
      this.#keepEarly(r);
    }
  }

  /** The newest records win: stray ones must not crowd out the peer's. */
  #keepEarly(r: DtlsRecord): void {
    if (this.#early.length >= MAX_EARLY_PROTECTED) this.#early.shift();
    this.#early.push({ ...r, body: Buffer.from(r.body) });
  }

  #onRecord(type: number, body: Buffer, epoch: number, verifiedPeer: boolean): void {
    if (type === ContentType.handshake) {
      let fragments;
      try {
        fragments = decodeFragments(body);
      } catch {
        return; // malformed: dropped with its record
      }
      for (const f of fragments) {
        if (!this.#role.peerMessageTypes.has(f.type)) continue;
        // Once connected nothing more is assembled; an old message still means the peer missed our last flight.
        const outcome = this.#state === "handshaking" ? this.#reassembly.add(f, epoch) : f.seq < this.#reassembly.next ? "old" : "dropped";
        if (outcome === "old") this.#repeated = true;
        if (outcome !== "dropped") this.#took = true;
      }
    } else if (type === ContentType.alert && body.length === 2) {
      this.#took = true;
      const [level, description] = [body[0]!, body[1]!];
      if (verifiedPeer) this.#o.onAlert?.(level, description);
      else {
        // RFC 6347 §4.1.2.7: we cannot know who sent it; the timeout decides.
        this.#plainAlert = { level, description };
        this.#o.onNote?.(`ignored an unauthenticated alert ${description} (level ${level}, epoch ${epoch})`);
      }
    }
    // ChangeCipherSpec carries nothing we need (epoch 1 records say it all); application data is not ours.
    else if (type === ContentType.changeCipherSpec && body.length === 1 && body[0] === 1) this.#took = true;
  }

  // ---------------------------------------------------------------- the handshake

  #drive(): void {
    while (this.#state === "handshaking") {
      const messages = this.#reassembly.complete();
      if (messages.length === 0) return;
      if (!this.#reader && !this.#provisional) {
        const keys = this.#role.provisionalReadKeys(messages);
        if (keys) {
          this.#provisional = new RecordReader(keys);
          this.#conflictsAtProvisional = this.#reassembly.conflicts;
          this.#openEarly();
          continue;
        }
      }
      const n = this.#role.flightLength(messages);
      if (n === 0) return;
      const step = this.#role.onFlight(messages.slice(0, n));
      if (step.kind === "reject") {
        this.#rejected++;
        this.#reassembly.discard();
        this.#provisional = undefined;
        this.#early = [];
        this.#note(step.problem);
        return;
      }
      if (step.kind === "fail") {
        this.#stop("failed");
        this.#o.onFailed(step.problem);
        return;
      }
      this.#reassembly.consume(n);
      this.#apply(step);
    }
  }

  #apply(step: Exclude<Step, { kind: "reject" | "fail" }>): void {
    if (step.kind === "done") {
      this.#timer.stop();
      this.#connected(step.result);
      return;
    }
    if (step.recordVersion !== undefined) this.#writer.version = step.recordVersion;
    if (step.readKeys) {
      this.#reader = new RecordReader(step.readKeys);
      this.#provisional = undefined;
    }
    if (step.writeKeys) this.#writer.setEpoch1(step.writeKeys);
    this.#flight = step.flight;
    this.#timer.start(!step.final);
    if (step.readKeys) this.#openEarly();
    if (step.result) this.#connected(step.result);
  }

  /** Epoch-1 records that came before their keys. */
  #openEarly(): void {
    const early = this.#early;
    this.#early = [];
    for (const r of early) this.#onProtected(r);
  }

  #connected(result: HandshakeResult): void {
    this.#state = "connected";
    this.#early = [];
    this.#o.onConnected(result);
  }

  #note(problem: string): void {
    // A verification problem outranks a malformed (likely stray) flight.
    const rank = problem.startsWith("malformed") ? 0 : 1;
    if (!this.#problem || rank >= this.#problem.rank) this.#problem = { text: problem, rank };
    this.#o.onNote?.(`peer flight not taken: ${problem}`);
  }

  #stop(state: "failed" | "closed"): void {
    this.#state = state;
    this.#timer.stop();
    this.#early = [];
  }
}
