// An external component (XEP-0114) on the test Prosody: it may send stanzas
// from any JID of its domain, as a malicious federated server could for its
// users — any number of resources, any caps. Raw TCP, no library.
//
//   const prosody = await startProsody({ ...componentConfig("evil.localhost", port, secret) });
//   const evil = await connectComponent({ port, domain: "evil.localhost", secret });
//   await evil.send(`<presence from='m@evil.localhost/r1' to='alice@localhost/jingled'/>`);
//   await evil.close();
import { createHash } from "node:crypto";
import net from "node:net";

export interface ReceivedIq {
  type: string;
  from: string;
  to: string;
  id: string;
  /** The whole <iq/> as received. */
  xml: string;
}

export interface Component {
  /** Writes raw XML; resolves when the socket took it (back-pressure respected). */
  send(xml: string): Promise<void>;
  /** Waits until what the server sent since the last expect() matches `re`. */
  expect(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Every iq the component receives from now on goes to `handler`; what it returns (raw XML) is sent back. */
  onIq(handler: (iq: ReceivedIq) => string | undefined): void;
  close(): Promise<void>;
}

/** Prosody config for a component `domain` on `port` (put `host` in hostConfig, `global` in extraConfig). */
export function componentConfig(domain: string, port: number, secret: string): { extraConfig: string; hostConfig: string } {
  return {
    extraConfig: `component_ports = { ${port} }\ncomponent_interfaces = { "127.0.0.1" }`,
    hostConfig: `\nComponent "${domain}"\n  component_secret = "${secret}"\n`,
  };
}

export async function connectComponent(o: { port: number; domain: string; secret: string }): Promise<Component> {
  const socket = net.connect(o.port, "127.0.0.1");
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  socket.setNoDelay(true);
  let received = "";
  let cursor = 0;
  const waiters = new Set<() => void>();
  let onIq: ((iq: ReceivedIq) => string | undefined) | undefined;
  let iqScan = 0;
  socket.on("data", (d: Buffer) => {
    received += d.toString("utf8");
    if (onIq) {
      // iq elements do not nest: each is one match once it is complete.
      const re = /<iq\b[^>]*\/>|<iq\b[^>]*>[\s\S]*?<\/iq>/g;
      re.lastIndex = iqScan;
      for (let m = re.exec(received); m; m = re.exec(received)) {
        iqScan = re.lastIndex;
        const head = /^<iq\b[^>]*>/.exec(m[0])![0];
        const get = (n: string) => new RegExp(`\\s${n}=['"]([^'"]*)['"]`).exec(head)?.[1] ?? "";
        const reply = onIq({ type: get("type"), from: get("from"), to: get("to"), id: get("id"), xml: m[0] });
        if (reply) socket.write(reply);
      }
    }
    for (const w of [...waiters]) w();
  });
  socket.on("error", () => undefined);

  const expect = (re: RegExp, timeoutMs = 10_000): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(received.slice(cursor));
        if (!m) return false;
        cursor += m.index + m[0].length;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(m);
        return true;
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`component: no ${re} within ${timeoutMs} ms; received: ${received.slice(-2000)}`));
      }, timeoutMs);
      if (!check()) waiters.add(check);
    });
  const send = (xml: string) =>
    new Promise<void>((resolve, reject) => {
      if (socket.write(xml, (err) => (err ? reject(err) : undefined))) resolve();
      else socket.once("drain", () => resolve());
    });

  await send(`<stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' to='${o.domain}'>`);
  const header = await expect(/<stream:stream[^>]*\sid=['"]([^'"]+)['"][^>]*>/);
  await send(`<handshake>${createHash("sha1").update(header[1]! + o.secret).digest("hex")}</handshake>`);
  await expect(/<handshake\s*\/>|<handshake><\/handshake>/);

  return {
    send,
    expect,
    onIq(handler) {
      iqScan = received.length;
      onIq = handler;
    },
    async close() {
      socket.end("</stream:stream>");
      await new Promise<void>((resolve) => {
        socket.once("close", () => resolve());
        setTimeout(() => {
          socket.destroy();
          resolve();
        }, 2000).unref();
      });
    },
  };
}
