// A UDP "cable" between a test's own ICE agent and a daemon on 127.0.0.1,
// which the test can cut, as a phone that loses its network does: the
// daemon's pair goes silent, ICE notices, one side restarts ICE.
//
// Each real address A (a candidate of either side) gets a stand-in socket
// S(A) on 127.0.0.1; both sides are told the stand-ins' ports instead of
// the real ones. A datagram that reaches S(A) from B goes on to A from S(B):
// each side sees the other at the address it was told, so no peer-reflexive
// candidate and no NAT appear. cut() silences every stand-in that exists
// then; candidates found later (an ICE restart's new sockets) get fresh
// stand-ins that work.
import { createSocket, type RemoteInfo, type Socket } from "node:dgram";

interface StandIn {
  socket: Socket;
  port: number;
  /** The real address it stands for. */
  real: { ip: string; port: number };
  dead: boolean;
}

export class UdpCable {
  readonly #byReal = new Map<string, StandIn>();
  readonly #byPort = new Map<number, StandIn>();
  /** Datagrams carried, and dropped by a cut. */
  carried = 0;
  dropped = 0;

  /** The stand-in port for the real address `ip:port` (made on first use). */
  async standIn(ip: string, port: number): Promise<number> {
    const key = `${ip}:${port}`;
    const known = this.#byReal.get(key);
    if (known) return known.port;
    const socket = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, "127.0.0.1", () => resolve());
    });
    const s: StandIn = { socket, port: socket.address().port, real: { ip, port }, dead: false };
    this.#byReal.set(key, s);
    this.#byPort.set(s.port, s);
    socket.on("message", (msg, from) => void this.#carry(s, msg, from));
    socket.on("error", () => undefined);
    return s.port;
  }

  async #carry(to: StandIn, msg: Buffer, from: RemoteInfo): Promise<void> {
    if (to.dead) {
      this.dropped++;
      return;
    }
    // A datagram from a stand-in's own real address comes back out of that stand-in.
    const via = this.#byReal.get(`${from.address}:${from.port}`) ?? this.#byPort.get(await this.standIn(from.address, from.port));
    if (!via || via.dead) {
      this.dropped++;
      return;
    }
    this.carried++;
    via.socket.send(msg, to.real.port, to.real.ip);
  }

  /** Every stand-in made so far stops carrying (both ways). */
  cut(): void {
    for (const s of this.#byPort.values()) s.dead = true;
  }

  close(): void {
    for (const s of this.#byPort.values()) s.socket.close();
    this.#byPort.clear();
    this.#byReal.clear();
  }
}
