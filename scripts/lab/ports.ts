// Free local ports for tests and the demo. No test-framework imports here:
// scripts (the demo) import this module from dist too.
//
// The port is found by binding port 0 and closing again, so another process
// could in principle grab it before the caller binds it. To make collisions
// between helpers of the same process unlikely, ports handed out recently
// are remembered and not handed out again.
import { createSocket } from "node:dgram";
import { connect, createServer } from "node:net";

const handedOut = new Set<string>();

function bindOnce(kind: "tcp" | "udp", host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    if (kind === "tcp") {
      const srv = createServer();
      srv.unref();
      srv.once("error", reject);
      srv.listen({ port: 0, host, exclusive: true }, () => {
        const addr = srv.address();
        const port = typeof addr === "object" && addr ? addr.port : 0;
        srv.close(() => (port ? resolve(port) : reject(new Error("freePort: no port from listen"))));
      });
    } else {
      const sock = createSocket(host.includes(":") ? "udp6" : "udp4");
      sock.unref();
      sock.once("error", reject);
      sock.bind({ port: 0, address: host, exclusive: true }, () => {
        const port = sock.address().port;
        sock.close(() => resolve(port));
      });
    }
  });
}

/** A port on `host` that was free a moment ago (tcp by default). */
export async function freePort(kind: "tcp" | "udp" = "tcp", host = "127.0.0.1"): Promise<number> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = await bindOnce(kind, host);
    const key = `${kind}:${host}:${port}`;
    if (!handedOut.has(key)) {
      handedOut.add(key);
      return port;
    }
  }
  throw new Error(`freePort: no fresh ${kind} port on ${host} after 20 attempts`);
}

/** Whether a TCP connection to host:port is accepted within 500 ms (a server is up). */
export function tcpAccepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host, port });
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.once("connect", () => done(true));
    sock.once("error", () => done(false));
  });
}
