// A call's ICE agent on a media thread, as its ICE negotiation
// (call/ice-session.ts) sees it: operations go to the agent, its events come
// back, and what the negotiation reads at once is kept here — our
// ufrag/password (made here and sent along, since an offer or a restart's
// transport-info needs them before the agent could answer), the generation,
// whether a restart is under way, the state as of the agent's last event.
import type { IceAgentEvents, IceAgentState, RestartOptions } from "../../ice/ice-agent.js";
import { newLocalCredentials, type LocalCredentials } from "../../ice/stun-auth.js";
import type { IceCandidate } from "../../jingle/protocol/index.js";
import { TypedEmitter } from "../../util/events.js";
import type { IcePort } from "./plane-parts.js";
import type { OpName, OpResult, PlaneEvent, PlaneOps } from "./plane-protocol.js";

export interface RemoteIceOptions {
  request<K extends OpName>(op: K, ...args: Parameters<PlaneOps[K]>): Promise<OpResult<K>>;
  post<K extends OpName>(op: K, ...args: Parameters<PlaneOps[K]>): void;
  localCredentials: LocalCredentials;
  /** The agent is closed: the call's part of the thread may go. */
  onClosed: () => void;
}

export class RemoteIcePort extends TypedEmitter<IceAgentEvents> implements IcePort {
  readonly #o: RemoteIceOptions;
  #state: IceAgentState = "new";
  #generation = 1;
  #restarting = false;
  #local: LocalCredentials;

  constructor(o: RemoteIceOptions) {
    super();
    this.#o = o;
    this.#local = o.localCredentials;
  }

  get state(): IceAgentState {
    return this.#state;
  }
  get generation(): number {
    return this.#generation;
  }
  get restarting(): boolean {
    return this.#restarting;
  }
  get localParameters(): { ufrag: string; pwd: string } {
    return this.#local;
  }

  #ended(): boolean {
    return this.#state === "closed" || this.#state === "failed";
  }

  gather(): Promise<void> {
    if (this.#state === "new") this.#state = "checking";
    return this.#o.request("iceGather");
  }

  setRemoteParameters(ufrag: string, pwd: string): void {
    if (!this.#ended()) this.#o.post("iceRemoteParameters", ufrag, pwd);
  }

  async addRemoteCandidate(c: IceCandidate): Promise<boolean> {
    if (this.#ended()) return false;
    return this.#o.request("iceAddCandidate", c);
  }

  /** As IceAgent.restart: a new generation with new credentials; media stays on a connected pair until the new one connects. */
  restart(o: RestartOptions = {}): boolean {
    if (this.#ended()) return false;
    const localCredentials = newLocalCredentials();
    this.#o.post("iceRestart", { ...o, localCredentials });
    this.#local = localCredentials;
    this.#generation++;
    this.#restarting = this.#state === "connected";
    if (!this.#restarting) this.#state = "checking";
    return true;
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    await this.#o.request("iceClose").catch(() => undefined);
    this.#o.onClosed();
    this.removeAllListeners();
  }

  /** What the agent told, `generation` being the one it spoke of. */
  event(e: PlaneEvent): void {
    if (this.#state === "closed") return;
    // Told before the agent learnt of our latest restart: about a generation we left.
    const stale = "generation" in e && e.generation < this.#generation;
    switch (e.type) {
      case "candidate":
        if (!stale) this.emit("candidate", e.candidate);
        return;
      case "gatheringDone":
        if (!stale) this.emit("gatheringDone");
        return;
      case "connected":
        if (stale) return;
        this.#state = "connected";
        this.#restarting = false;
        this.emit("connected", e.pair, { restart: e.restart, generation: e.generation });
        return;
      case "disconnected":
        this.emit("disconnected", e.reason);
        return;
      case "iceFailed":
        this.#state = "failed";
        this.emit("failed", e.reason);
        return;
      default:
    }
  }
}
