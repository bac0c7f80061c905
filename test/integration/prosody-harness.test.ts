// Proves the test harness against the real Prosody: a throwaway server on
// 127.0.0.1 that requires STARTTLS, presents a certificate trusted only via
// its caFile, knows the registered users, and leaves nothing behind.
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { connect, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { pidAlive, startProcess } from "../../scripts/lab/process.js";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { makeSpeechWav, soxInfo, soxStat } from "../../scripts/lab/speech.js";

const NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls";
const NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl";

function streamHeader(domain: string): string {
  return (
    `<?xml version='1.0'?><stream:stream to='${domain}' xmlns='jabber:client' ` +
    `xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>`
  );
}

/** Reads from a socket until the accumulated text matches `re`. */
function readUntil(sock: Socket | TLSSocket, re: RegExp, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const cleanup = (): void => {
      clearTimeout(timer);
      sock.off("data", onData);
      sock.off("error", onError);
      sock.off("close", onClose);
    };
    const onData = (d: Buffer): void => {
      buf += d.toString("utf8");
      if (re.test(buf)) {
        cleanup();
        resolve(buf);
      }
    };
    const onError = (err: Error): void => {
      cleanup();
      reject(err);
    };
    const onClose = (): void => {
      cleanup();
      reject(new Error(`connection closed before ${re}; got: ${buf}`));
    };
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`timeout waiting for ${re}; got: ${buf}`));
    }, timeoutMs);
    sock.on("data", onData);
    sock.once("error", onError);
    sock.once("close", onClose);
  });
}

/** Plain TCP connect, stream header, STARTTLS negotiation up to <proceed/>. Returns the raw socket and features. */
async function startTls(server: ProsodyServer): Promise<{ socket: Socket; features: string }> {
  const socket = connect({ host: server.host, port: server.port });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", resolve);
    socket.once("error", reject);
  });
  const featuresP = readUntil(socket, /<\/stream:features>/);
  socket.write(streamHeader(server.domain));
  const features = await featuresP;
  const proceedP = readUntil(socket, /<proceed[^>]*\/>|<failure/);
  socket.write(`<starttls xmlns='${NS_TLS}'/>`);
  const proceed = await proceedP;
  assert.match(proceed, /<proceed xmlns=['"]urn:ietf:params:xml:ns:xmpp-tls['"]\/>/);
  return { socket, features };
}

function upgrade(socket: Socket, options: { servername: string; ca?: Buffer }): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, ...options });
    tls.once("secureConnect", () => resolve(tls));
    tls.once("error", reject);
  });
}

/** SASL PLAIN over an established TLS socket; resolves with the server's answer. */
async function saslPlain(tls: TLSSocket, domain: string, user: string, password: string): Promise<string> {
  const featuresP = readUntil(tls, /<\/stream:features>/);
  tls.write(streamHeader(domain));
  const features = await featuresP;
  assert.match(features, /<mechanism>PLAIN<\/mechanism>/, "PLAIN is offered over TLS");
  assert.match(features, /<mechanism>SCRAM-SHA-1<\/mechanism>/, "SCRAM-SHA-1 is offered");
  const answerP = readUntil(tls, /<success[^>]*(\/>|<\/success>)|<failure[\s\S]*<\/failure>/);
  const payload = Buffer.from(`\0${user}\0${password}`).toString("base64");
  tls.write(`<auth xmlns='${NS_SASL}' mechanism='PLAIN'>${payload}</auth>`);
  return answerP;
}

describe("prosody harness (real Prosody 0.12)", () => {
  let server: ProsodyServer;

  before(async () => {
    const t0 = performance.now();
    server = await startProsody({
      users: [
        { username: "alice", password: "alice-secret" },
        { username: "bob", password: "b0b \"quoted\" p@ss" },
      ],
    });
    const total = performance.now() - t0;
    console.log(
      `prosody ready on 127.0.0.1:${server.port} (pid ${server.pid}): start ${server.timings.startMs.toFixed(0)} ms, ` +
        `2 users ${server.timings.usersMs.toFixed(0)} ms, total ${total.toFixed(0)} ms`,
    );
  });

  after(async () => {
    await server?.stop();
  });

  test("offers required STARTTLS on the c2s port", async () => {
    const { socket, features } = await startTls(server);
    socket.destroy();
    assert.match(features, /<starttls xmlns=['"]urn:ietf:params:xml:ns:xmpp-tls['"]>\s*<required\/>\s*<\/starttls>/);
    assert.doesNotMatch(features, /<mechanisms/, "no SASL before TLS (c2s_require_encryption)");
  });

  test("the certificate is trusted with caFile and matches the domain", async () => {
    const { socket } = await startTls(server);
    const tls = await upgrade(socket, { servername: server.domain, ca: readFileSync(server.caFile) });
    try {
      assert.equal(tls.authorized, true, String(tls.authorizationError));
      const cert = tls.getPeerCertificate();
      assert.match(cert.subjectaltname ?? "", /DNS:localhost/);
      assert.match(cert.subjectaltname ?? "", /IP Address:127\.0\.0\.1/);
    } finally {
      tls.destroy();
    }
  });

  test("without the ca the self-signed certificate is rejected", async () => {
    const { socket } = await startTls(server);
    await assert.rejects(upgrade(socket, { servername: server.domain }), (err: NodeJS.ErrnoException) => {
      assert.match(String(err.code), /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
      return true;
    });
    socket.destroy();
  });

  test("registered users can log in, wrong passwords cannot", async () => {
    const login = async (user: string, password: string): Promise<string> => {
      const { socket } = await startTls(server);
      const tls = await upgrade(socket, { servername: server.domain, ca: readFileSync(server.caFile) });
      try {
        return await saslPlain(tls, server.domain, user, password);
      } finally {
        tls.destroy();
      }
    };
    assert.match(await login("alice", "alice-secret"), /<success/);
    assert.match(await login("bob", "b0b \"quoted\" p@ss"), /<success/);
    assert.match(await login("alice", "wrong"), /<failure[\s\S]*not-authorized/);
    await server.registerUser("carol", "carol-secret");
    assert.match(await login("carol", "carol-secret"), /<success/);
  });

  test("logs are readable and config is as intended", () => {
    assert.match(server.logs(), /Activated service 'c2s' on \[127\.0\.0\.1\]:\d+/);
    const config = readFileSync(server.configFile, "utf8");
    assert.match(config, /c2s_require_encryption = true/);
    assert.match(config, /"smacks"/);
    assert.doesNotMatch(server.logs(), /Activated service 's2s'/);
  });

  test("stop() kills the server by PID and removes its temp dir", async () => {
    const { pid, dir } = server;
    assert.ok(pidAlive(pid));
    assert.ok(existsSync(dir));
    await server.stop();
    assert.equal(pidAlive(pid), false, `prosody pid ${pid} still alive`);
    assert.equal(existsSync(dir), false, `${dir} still exists`);
    assert.match(server.logs(), /Shutdown complete/);
    await server.stop(); // idempotent
  });
});

describe("prosody harness options", () => {
  test("websocket module: HTTP on a free loopback port, other domain", async () => {
    const server = await startProsody({ domain: "example.test", modules: ["websocket"] });
    try {
      assert.ok(server.httpPort);
      assert.equal(server.websocketUrl, `ws://127.0.0.1:${server.httpPort}/xmpp-websocket`);
      const res = await fetch(`http://127.0.0.1:${server.httpPort}/xmpp-websocket`);
      // A plain GET (no upgrade) gets Prosody's websocket info page.
      assert.equal(res.status, 200);
      assert.match(await res.text(), /websocket/i);
      const { socket } = await startTls(server);
      const tls = await upgrade(socket, { servername: "example.test", ca: readFileSync(server.caFile) });
      assert.equal(tls.authorized, true);
      tls.destroy();
    } finally {
      await server.stop();
    }
  });
});

describe("process and speech helpers", () => {
  test("startProcess rejects with the output when the process exits before ready", async () => {
    await assert.rejects(
      startProcess("sh", ["-c", "echo booting; echo broken >&2; exit 3"], { name: "bad", readyPattern: /ready/ }),
      /bad exited with code 3[\s\S]*booting[\s\S]*broken/,
    );
  });

  test("startProcess waits for readyPattern, waitForLine, stop escalates to SIGKILL", async () => {
    const p = await startProcess("sh", ["-c", "trap '' TERM; echo starting; sleep 0.2; echo READY 42; sleep 30"], {
      name: "stubborn",
      readyPattern: /READY \d+/,
      processGroup: true, // the signal reaches `sleep` too
    });
    assert.match(await p.waitForLine(/starting/, 1000), /starting/);
    const t0 = performance.now();
    const code = await p.stop("SIGTERM", 300);
    assert.ok(performance.now() - t0 < 3000);
    assert.equal(code, null); // killed by a signal
    assert.equal(pidAlive(p.pid), false);
  });

  test("without processGroup a grandchild holding the pipes does not block exited", async () => {
    const p = await startProcess("sh", ["-c", "sleep 2 & echo READY; wait"], { name: "orphaning", readyPattern: /READY/ });
    const t0 = performance.now();
    await p.stop("SIGKILL", 1000);
    assert.ok(performance.now() - t0 < 2000, "exited settles soon after the exit");
  });

  test("makeSpeechWav + soxStat: non-silent speech of plausible length", async () => {
    const dir = mkdtempSync(join(tmpdir(), "jingled-speech-"));
    try {
      const wav = join(dir, "hello.wav");
      await makeSpeechWav("hello, this is a call test", wav);
      const stat = await soxStat(wav);
      assert.ok(stat.rmsAmplitude > 0.01, `rms ${stat.rmsAmplitude}`);
      assert.ok(stat.lengthSeconds > 0.5 && stat.lengthSeconds < 10, `length ${stat.lengthSeconds}`);
      const wav48 = join(dir, "hello48.wav");
      await makeSpeechWav("hello", wav48, { sampleRate: 48000, rate: 200 });
      const info = await soxInfo(wav48);
      assert.equal(info.sampleRate, 48000);
      assert.equal(info.channels, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
