// A TCP forwarder on 127.0.0.1 that a test can cut: every connection it
// carries is reset (RST, both sides) at once, as when a NAT or a mobile
// network drops a connection mid-call. New connections are forwarded again
// afterwards, so a client can reconnect through it. No framework imports.
import net from "node:net";

export interface TcpCutProxy {
  readonly port: number;
  /** Connections accepted so far. */
  readonly accepted: number;
  /** Connections open now. */
  readonly open: number;
  /** Resets every open connection on both sides; returns how many. */
  cut(): number;
  stop(): Promise<void>;
}

export function startTcpCutProxy(target: { host: string; port: number }): Promise<TcpCutProxy> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  let accepted = 0;
  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect(target.port, target.host);
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    const close = (): void => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ port: 0, host: "127.0.0.1" }, () => {
      const port = (server.address() as net.AddressInfo).port;
      resolve({
        port,
        get accepted() {
          return accepted;
        },
        get open() {
          return pairs.size;
        },
        cut() {
          const n = pairs.size;
          for (const pair of [...pairs]) {
            pairs.delete(pair);
            for (const s of pair) s.resetAndDestroy();
          }
          return n;
        },
        stop() {
          for (const pair of pairs) for (const s of pair) s.destroy();
          pairs.clear();
          return new Promise<void>((r) => server.close(() => r()));
        },
      });
    });
  });
}
