// An ICE agent without sockets, for unit tests of a Call (src/app/call/):
// it records what the call asks of it, and the test says when candidates are
// found, when a pair connects or goes silent, and what datagrams arrive.
import type { IceAgentEvents, IceAgentOptions, IceAgentState, RestartOptions } from "../../src/ice/ice-agent.js";
import type { IceCandidate } from "../../src/jingle/protocol/index.js";
import type { PlaneIceAgent } from "../../src/app/media-plane/plane-parts.js";
import type { SelectedPair } from "../../src/control/protocol.js";
import { TypedEmitter } from "../../src/util/events.js";

export const PAIR: SelectedPair = { local: { type: "host", ip: "127.0.0.1", port: 40000 }, remote: { type: "host", ip: "127.0.0.1", port: 40002 } };

export function candidate(port: number, generation = 0): IceCandidate {
  return { component: 1, foundation: `f${port}`, generation, id: `c${port}`, ip: "127.0.0.1", network: 0, port, priority: 2130706431 - port, protocol: "udp", type: "host" };
}

export class FakeIceAgent extends TypedEmitter<IceAgentEvents> implements PlaneIceAgent {
  state: IceAgentState = "new";
  generation = 1;
  restarting = false;
  localParameters: { ufrag: string; pwd: string };
  readonly remoteParameters: { ufrag: string; pwd: string }[] = [];
  readonly remoteCandidates: IceCandidate[] = [];
  readonly sent: Buffer[] = [];
  readonly restarts: RestartOptions[] = [];
  gathered = 0;
  closed = false;

  constructor(readonly options: IceAgentOptions) {
    super();
    // As the real agent: the credentials it is given (a media thread's owner makes them), else its own.
    this.localParameters = options.localCredentials ?? { ufrag: "ufr1", pwd: "pwd1-pwd1-pwd1-pwd1-pwd1" };
  }

  async gather(): Promise<void> {
    this.gathered++;
    if (this.state === "new") this.state = "checking";
  }

  setRemoteParameters(ufrag: string, pwd: string): void {
    this.remoteParameters.push({ ufrag, pwd });
  }

  async addRemoteCandidate(c: IceCandidate): Promise<boolean> {
    this.remoteCandidates.push(c);
    return true;
  }

  restart(o: RestartOptions = {}): boolean {
    if (this.state === "closed" || this.state === "failed") return false;
    this.restarts.push(o);
    this.generation++;
    this.restarting = true;
    this.localParameters = o.localCredentials ?? { ufrag: `ufr${this.generation}`, pwd: `pwd${this.generation}-pwd-pwd-pwd-pwd-pwd` };
    return true;
  }

  send(packet: Buffer): void {
    this.sent.push(packet);
  }

  async close(): Promise<void> {
    this.state = "closed";
    this.closed = true;
  }

  // ------------------------------------------------------------ what the test makes happen

  /** A local candidate was found. */
  found(c: IceCandidate): void {
    this.emit("candidate", c);
  }

  /** A pair carries media (again, after a restart). */
  connect(pair: SelectedPair = PAIR): void {
    const restart = this.restarting || this.generation > 1;
    this.state = "connected";
    this.restarting = false;
    this.emit("connected", pair, { restart, generation: this.generation });
  }

  /** A datagram from the peer. */
  receive(datagram: Buffer): void {
    this.emit("data", datagram);
  }
}
