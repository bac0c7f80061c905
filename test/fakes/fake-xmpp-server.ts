// A scripted XMPP "server" on a loopback TCP port, for tests that play a
// hostile server or a man in the middle: one that skips STARTTLS or SASL,
// or that does not know the account's password. Each accepted connection is
// handed to the test's script; everything the client wrote on it is kept
// (decrypted, after STARTTLS) so the test can say what left the client.
//
//   const srv = await startFakeXmppServer(async (c, i) => {
//     await c.openStream("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>");
//   });
//   ... connect to xmpp://127.0.0.1:${srv.port}, trust srv.caFile ...
//   srv.connections[0].received   // what the client sent
//   await srv.stop();
import { execFile } from "node:child_process";
import { createHash, createHmac, pbkdf2Sync, randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";

export const NS = {
  tls: "urn:ietf:params:xml:ns:xmpp-tls",
  sasl: "urn:ietf:params:xml:ns:xmpp-sasl",
  bind: "urn:ietf:params:xml:ns:xmpp-bind",
} as const;

export const FEATURES = {
  starttls: `<starttls xmlns='${NS.tls}'><required/></starttls>`,
  bind: `<bind xmlns='${NS.bind}'/>`,
  mechanisms: (...names: string[]) => `<mechanisms xmlns='${NS.sasl}'>${names.map((n) => `<mechanism>${n}</mechanism>`).join("")}</mechanisms>`,
} as const;

export interface FakeConnection {
  readonly index: number;
  /** Everything the client wrote on this connection (after STARTTLS: the decrypted text). */
  readonly received: string;
  readonly secure: boolean;
  /** The server side of the TLS connection, once there is one (channel binding). */
  readonly tlsSocket: tls.TLSSocket | undefined;
  readonly closed: boolean;
  send(text: string): void;
  /** Waits until what the client wrote since the last expect() matches `re`. */
  expect(re: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Waits for the client's stream header and answers with ours and these features. */
  openStream(features: string): Promise<void>;
  /** Answers <starttls/> with <proceed/> and turns the connection into TLS (server side); `direct`: TLS at once (Direct TLS). */
  startTls(o?: { direct?: boolean }): Promise<void>;
  /** Accepts SASL PLAIN (any password). */
  acceptPlain(): Promise<void>;
  /** Answers a bind request with `jid`. */
  bind(jid: string): Promise<void>;
  /** Waits for the XEP-0280 carbons <enable/> and answers it (a result, or an error). */
  answerCarbons(o?: { error?: boolean }): Promise<void>;
  close(): void;
}

export interface FakeXmppServer {
  readonly port: number;
  /** xmpp://127.0.0.1:PORT, or xmpps:// with the directTls option. */
  readonly service: string;
  /** The server's certificate (PEM) and key, e.g. for a man in the middle that holds the same trusted certificate. */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly caFile: string;
  readonly connections: FakeConnection[];
  /** Resolves when `n` connections have been accepted. */
  connectionCount(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const STREAM_HEADER = (id: string) =>
  `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='${id}' from='localhost' version='1.0' xml:lang='en'>`;

function openssl(args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile("openssl", args, { timeout: 15_000 }, (err, _out, stderr) => (err ? reject(new Error(`openssl: ${err.message} ${stderr}`)) : resolve())),
  );
}

export async function startFakeXmppServer(script: (c: FakeConnection) => Promise<void>, opts: { directTls?: boolean } = {}): Promise<FakeXmppServer> {
  const dir = mkdtempSync(join(tmpdir(), "jingled-fake-xmpp-"));
  const keyFile = join(dir, "key.pem");
  const certFile = join(dir, "cert.pem");
  await openssl([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
    "-keyout", keyFile, "-out", certFile, "-days", "2", "-subj", "/CN=localhost",
    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
  ]);
  const key = readFileSync(keyFile);
  const cert = readFileSync(certFile);
  const connections: FakeConnection[] = [];
  const sockets = new Set<net.Socket>();
  const countWaiters = new Set<() => void>();

  const server = net.createServer((raw) => {
    sockets.add(raw);
    raw.on("close", () => sockets.delete(raw));
    raw.on("error", () => undefined);
    const conn = makeConnection(raw, connections.length, key, cert);
    connections.push(conn);
    for (const w of countWaiters) w();
    (opts.directTls ? conn.startTls({ direct: true }) : Promise.resolve()).then(() => script(conn)).catch(() => conn.close());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;

  return {
    port,
    service: `${opts.directTls ? "xmpps" : "xmpp"}://127.0.0.1:${port}`,
    caFile: certFile,
    cert,
    key,
    connections,
    connectionCount(n, timeoutMs = 10_000) {
      if (connections.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          countWaiters.delete(check);
          reject(new Error(`fake XMPP server: ${connections.length} of ${n} connections after ${timeoutMs} ms`));
        }, timeoutMs);
        const check = () => {
          if (connections.length < n) return;
          clearTimeout(timer);
          countWaiters.delete(check);
          resolve();
        };
        countWaiters.add(check);
      });
    },
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function makeConnection(raw: net.Socket, index: number, key: Buffer, cert: Buffer): FakeConnection {
  let socket: net.Socket = raw;
  let received = "";
  let cursor = 0;
  let secure = false;
  let tlsSocket: tls.TLSSocket | undefined;
  let closed = false;
  const waiters = new Set<() => void>();
  const onData = (d: Buffer) => {
    received += d.toString("utf8");
    for (const w of [...waiters]) w();
  };
  const onClose = () => {
    closed = true;
    for (const w of [...waiters]) w();
  };
  raw.on("data", onData);
  raw.on("close", onClose);

  const conn: FakeConnection = {
    index,
    get received() {
      return received;
    },
    get secure() {
      return secure;
    },
    get tlsSocket() {
      return tlsSocket;
    },
    get closed() {
      return closed;
    },
    send(text) {
      if (!closed) socket.write(text);
    },
    expect(re, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): boolean => {
          const m = re.exec(received.slice(cursor));
          if (m) {
            cursor += m.index + m[0].length;
            done();
            resolve(m);
            return true;
          }
          if (closed) {
            done();
            reject(new Error(`fake XMPP server: connection ${index} closed before ${re}; received: ${received}`));
            return true;
          }
          return false;
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`fake XMPP server: no ${re} within ${timeoutMs} ms on connection ${index}; received: ${received}`));
        }, timeoutMs);
        const done = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        if (!check()) waiters.add(check);
      });
    },
    async openStream(features) {
      await conn.expect(/<stream:stream[^>]*>/);
      conn.send(`${STREAM_HEADER(randomBytes(6).toString("hex"))}<stream:features>${features}</stream:features>`);
    },
    async startTls(o = {}) {
      if (!o.direct) {
        await conn.expect(/<starttls[^>]*\/>|<starttls[^>]*>\s*<\/starttls>/);
        conn.send(`<proceed xmlns='${NS.tls}'/>`);
      }
      raw.off("data", onData);
      const secured = new tls.TLSSocket(raw, { isServer: true, key, cert, ALPNProtocols: ["xmpp-client"] });
      tlsSocket = secured;
      secured.on("data", onData);
      secured.on("error", () => undefined);
      socket = secured;
      await new Promise<void>((resolve, reject) => {
        secured.once("secure", () => resolve());
        secured.once("error", reject);
      });
      secure = true;
    },
    async acceptPlain() {
      await conn.expect(/<auth [^>]*mechanism=['"]PLAIN['"][^>]*>[^<]*<\/auth>/);
      conn.send(`<success xmlns='${NS.sasl}'/>`);
    },
    async bind(jid) {
      const m = await conn.expect(/<iq [^>]*id=['"]([^'"]+)['"][^>]*>\s*<bind /);
      conn.send(`<iq type='result' id='${m[1]}'><bind xmlns='${NS.bind}'><jid>${jid}</jid></bind></iq>`);
    },
    async answerCarbons(o = {}) {
      const m = await conn.expect(/<iq [^>]*id=['"]([^'"]+)['"][^>]*>\s*<enable xmlns=['"]urn:xmpp:carbons:2['"]/);
      conn.send(
        o.error
          ? `<iq type='error' id='${m[1]}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>`
          : `<iq type='result' id='${m[1]}'/>`,
      );
    },
    close() {
      closed = true;
      socket.destroy();
      raw.destroy();
    },
  };
  return conn;
}

/** How a scripted SCRAM-SHA-1 server ends the exchange. */
export type ScramFinal =
  /** v= in <success/> (what Prosody does). */
  | "success-data"
  /** v= in a last <challenge/>, then an empty <success/>. */
  | "challenge"
  /** <success/> with no data and no final challenge. */
  | "none";

/**
 * Plays the server side of SCRAM-SHA-1 (RFC 5802). With `password` the
 * signature it sends is right; without (a server that does not know the
 * password) it is made up. Resolves after <success/> was sent.
 */
export async function scramSha1Server(c: FakeConnection, o: { password?: string; final: ScramFinal }): Promise<void> {
  const auth = await c.expect(/<auth [^>]*mechanism=['"]SCRAM-SHA-1['"][^>]*>([^<]*)<\/auth>/);
  const clientFirst = Buffer.from(auth[1]!, "base64").toString("utf8");
  const clientFirstBare = clientFirst.slice(clientFirst.indexOf(",", clientFirst.indexOf(",") + 1) + 1);
  const cnonce = /(?:^|,)r=([^,]*)/.exec(clientFirstBare)?.[1] ?? "";
  const salt = randomBytes(16);
  const serverFirst = `r=${cnonce}${randomBytes(12).toString("base64")},s=${salt.toString("base64")},i=4096`;
  c.send(`<challenge xmlns='${NS.sasl}'>${Buffer.from(serverFirst).toString("base64")}</challenge>`);
  const resp = await c.expect(/<response [^>]*>([^<]*)<\/response>/);
  const clientFinal = Buffer.from(resp[1]!, "base64").toString("utf8");
  const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(",p="));
  let signature: Buffer;
  if (o.password !== undefined) {
    const salted = pbkdf2Sync(o.password, salt, 4096, 20, "sha1");
    const serverKey = createHmac("sha1", salted).update("Server Key").digest();
    signature = createHmac("sha1", serverKey).update(`${clientFirstBare},${serverFirst},${withoutProof}`).digest();
  } else {
    // A server without the password cannot compute it: the best it can do is guess.
    signature = createHash("sha1").update(randomBytes(20)).digest();
  }
  const serverFinal = Buffer.from(`v=${signature.toString("base64")}`).toString("base64");
  if (o.final === "success-data") c.send(`<success xmlns='${NS.sasl}'>${serverFinal}</success>`);
  else if (o.final === "challenge") {
    c.send(`<challenge xmlns='${NS.sasl}'>${serverFinal}</challenge>`);
    await c.expect(/<response [^>]*(\/>|>\s*<\/response>)/);
    c.send(`<success xmlns='${NS.sasl}'/>`);
  } else c.send(`<success xmlns='${NS.sasl}'/>`);
}

/** How a scripted SCRAM server treats channel binding (RFC 5802 §6). */
export interface ScramServerOptions {
  /** SCRAM-SHA-1 (default) or SCRAM-SHA-256, with or without -PLUS: what the client must pick. */
  mechanism?: RegExp;
  /** The password it knows; without, its signature is made up (a server that does not know it). */
  password?: string;
  final: ScramFinal;
  /**
   * The channel-binding types this server supports. Set, it behaves as a
   * server that can bind: "y" from the client means a downgrade and fails,
   * and "p=" must carry the binding of this server's own TLS connection.
   */
  cbTypes?: string[];
}

/** What a scripted SCRAM server saw, and why it refused (if it did). */
export interface ScramServerResult {
  mechanism: string;
  gs2Header: string;
  refused?: string;
}

/** The binding of this side of `c`'s TLS connection (what a real server computes; RFC 9266, RFC 5929). */
function serverBinding(c: FakeConnection, type: string): Buffer | undefined {
  const s = c.tlsSocket;
  if (!s) return undefined;
  if (type === "tls-exporter") return (s.exportKeyingMaterial as (l: number, label: string) => Buffer).call(s, 32, "EXPORTER-Channel-Binding");
  if (type === "tls-server-end-point") {
    // The fake server's certificate is ECDSA with SHA-256: the hash is SHA-256 (RFC 5929 §4.1).
    const raw = s.getCertificate() && (s.getCertificate() as { raw?: Buffer }).raw;
    return raw ? createHash("sha256").update(raw).digest() : undefined;
  }
  if (type === "tls-unique") return s.getPeerFinished() ?? undefined;
  return undefined;
}

/**
 * Plays the server side of SCRAM (RFC 5802, RFC 7677), checking the gs2
 * header as a server that supports `cbTypes` must. Resolves after
 * <success/> or <failure/> was sent.
 */
export async function scramServer(c: FakeConnection, o: ScramServerOptions): Promise<ScramServerResult> {
  const auth = await c.expect(/<auth [^>]*mechanism=['"](SCRAM-SHA-(?:1|256)(?:-PLUS)?)['"][^>]*>([^<]*)<\/auth>/);
  const mechanism = auth[1]!;
  const hash = mechanism.startsWith("SCRAM-SHA-256") ? "sha256" : "sha1";
  const keyLength = hash === "sha256" ? 32 : 20;
  const clientFirst = Buffer.from(auth[2]!, "base64").toString("utf8");
  const gs2End = clientFirst.indexOf(",", clientFirst.indexOf(",") + 1) + 1;
  const gs2Header = clientFirst.slice(0, gs2End);
  const clientFirstBare = clientFirst.slice(gs2End);
  const result: ScramServerResult = { mechanism, gs2Header };
  const fail = (why: string): ScramServerResult => {
    c.send(`<failure xmlns='${NS.sasl}'><not-authorized/><text>${why}</text></failure>`);
    return { ...result, refused: why };
  };
  if (o.mechanism && !o.mechanism.test(mechanism)) return fail(`unexpected mechanism ${mechanism}`);
  const flag = gs2Header[0];
  const plus = mechanism.endsWith("-PLUS");
  // RFC 5802 §6: "y" while the server supports channel binding is a downgrade; -PLUS needs "p", and "p" needs -PLUS.
  if (flag === "y" && o.cbTypes?.length) return fail("client says it can bind but thinks we cannot: downgrade");
  if (plus !== (flag === "p")) return fail(`gs2 flag ${flag} with ${mechanism}`);
  const cbType = flag === "p" ? /^p=([^,]+),/.exec(gs2Header)?.[1] ?? "" : undefined;
  if (cbType !== undefined && !o.cbTypes?.includes(cbType)) return fail(`channel binding ${cbType} not supported`);
  const cnonce = /(?:^|,)r=([^,]*)/.exec(clientFirstBare)?.[1] ?? "";
  const salt = randomBytes(16);
  const serverFirst = `r=${cnonce}${randomBytes(12).toString("base64")},s=${salt.toString("base64")},i=4096`;
  c.send(`<challenge xmlns='${NS.sasl}'>${Buffer.from(serverFirst).toString("base64")}</challenge>`);
  const resp = await c.expect(/<response [^>]*>([^<]*)<\/response>/);
  const clientFinal = Buffer.from(resp[1]!, "base64").toString("utf8");
  const withoutProof = clientFinal.slice(0, clientFinal.lastIndexOf(",p="));
  // c= must be the gs2 header plus, for "p", the binding of OUR side of the TLS connection.
  const cbind = Buffer.from(/^c=([^,]*)/.exec(withoutProof)?.[1] ?? "", "base64");
  const expected = Buffer.concat([Buffer.from(gs2Header), cbType !== undefined ? (serverBinding(c, cbType) ?? Buffer.alloc(0)) : Buffer.alloc(0)]);
  if (!cbind.equals(expected)) return fail(`channel binding mismatch (${cbType ?? "gs2 header"})`);
  let signature: Buffer;
  if (o.password !== undefined) {
    const salted = pbkdf2Sync(o.password, salt, 4096, keyLength, hash);
    const clientKey = createHmac(hash, salted).update("Client Key").digest();
    const storedKey = createHash(hash).update(clientKey).digest();
    const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
    const proof = Buffer.from(/,p=([^,]*)$/.exec(clientFinal)?.[1] ?? "", "base64");
    const clientSignature = createHmac(hash, storedKey).update(authMessage).digest();
    const recovered = Buffer.alloc(clientKey.length);
    for (let i = 0; i < recovered.length; i++) recovered[i] = (proof[i] ?? 0) ^ clientSignature[i]!;
    if (!createHash(hash).update(recovered).digest().equals(storedKey)) return fail("wrong password");
    const serverKey = createHmac(hash, salted).update("Server Key").digest();
    signature = createHmac(hash, serverKey).update(authMessage).digest();
  } else {
    signature = createHash(hash).update(randomBytes(20)).digest().subarray(0, keyLength);
  }
  const serverFinal = Buffer.from(`v=${signature.toString("base64")}`).toString("base64");
  if (o.final === "success-data") c.send(`<success xmlns='${NS.sasl}'>${serverFinal}</success>`);
  else if (o.final === "challenge") {
    c.send(`<challenge xmlns='${NS.sasl}'>${serverFinal}</challenge>`);
    await c.expect(/<response [^>]*(\/>|>\s*<\/response>)/);
    c.send(`<success xmlns='${NS.sasl}'/>`);
  } else c.send(`<success xmlns='${NS.sasl}'/>`);
  return result;
}
