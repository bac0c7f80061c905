// Records real DTLS 1.2 handshakes between jingled and OpenSSL (s_server and
// s_client, with an ECDSA P-256 and an RSA-2048 certificate) into
// test/fixtures/dtls/recorded-handshakes.json: what the peer signed and
// with which key, as our verification (src/rtp/dtls/peer-verification.ts)
// gets it. test/unit/dtls-peer-verification.test.ts checks the recordings
// and variants of them (tampered, re-signed with SHA-1, wrong fingerprint).
//
//   npm run build && node dist/scripts/record-dtls-handshakes.js
//
// The peers' keys are throwaway test keys, written into the fixture so the
// tests can make signed variants.
import { spawn, spawnSync } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { DtlsSrtpTransport } from "../src/rtp/dtls/dtls-srtp.js";
import { createCertificate, fingerprint, type DtlsCertificate } from "../src/rtp/dtls/certificate.js";
import type { DtlsRole } from "../src/rtp/dtls/setup-role.js";
import { ContentType, parseRecords } from "../src/rtp/dtls/record-layer.js";
import {
  HandshakeType, decodeClientHello, decodeDigitallySigned, decodeFragments, decodeServerHello, decodeServerKeyExchange, transcriptBytes, type HandshakeMessage,
} from "../src/rtp/dtls/handshake-messages.js";
import { silentLogger } from "../src/util/logger.js";
import { REPO_ROOT } from "./lab/daemon.js";

export interface RecordedHandshake {
  name: string;
  /** The peer (OpenSSL) was the DTLS server (we verified its ServerKeyExchange) or client (its CertificateVerify). */
  peerRole: DtlsRole;
  peerCertificate: string;
  peerKeyPem: string;
  cipherSuite: number;
  clientRandom: string;
  serverRandom: string;
  serverKeyExchange?: { params: string; scheme: number; signature: string };
  certificateVerify?: { handshakeMessages: string; scheme: number; signature: string };
}

const OUT = join(REPO_ROOT, "test", "fixtures", "dtls", "recorded-handshakes.json");
const until = async (cond: () => boolean, ms: number, what: string) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

function peerCertificate(dir: string, kind: "ec" | "rsa"): { certPem: string; keyPem: string } {
  const key = join(dir, `${kind}-key.pem`);
  const cert = join(dir, `${kind}-cert.pem`);
  const algo = kind === "ec" ? ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"] : ["-newkey", "rsa:2048"];
  const r = spawnSync("openssl", ["req", "-x509", ...algo, "-nodes", "-subj", "/CN=openssl-peer", "-days", "3650", "-keyout", key, "-out", cert], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`openssl req: ${r.stderr}`);
  return { certPem: readFileSync(cert, "utf8"), keyPem: readFileSync(key, "utf8") };
}

/** Whole epoch-0 handshake messages per direction (fragments joined by message_seq). */
function messages(datagrams: Buffer[]): HandshakeMessage[] {
  const bySeq = new Map<number, { type: number; body: Buffer; have: number }>();
  for (const d of datagrams) {
    for (const r of parseRecords(d)) {
      if (r.type !== ContentType.handshake || r.epoch !== 0) continue;
      for (const f of decodeFragments(r.body)) {
        let m = bySeq.get(f.seq);
        if (!m) bySeq.set(f.seq, (m = { type: f.type, body: Buffer.alloc(f.length), have: 0 }));
        f.body.copy(m.body, f.offset);
      }
    }
  }
  return [...bySeq.entries()].sort(([a], [b]) => a - b).map(([seq, m]) => ({ type: m.type, seq, body: m.body }));
}

async function record(name: string, peerRole: DtlsRole, ours: DtlsCertificate, peer: { certPem: string; keyPem: string }, dir: string): Promise<RecordedHandshake> {
  writeFileSync(join(dir, "peer-cert.pem"), peer.certPem);
  writeFileSync(join(dir, "peer-key.pem"), peer.keyPem, { mode: 0o600 });
  const sock: Socket = createSocket("udp4");
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", () => r()));
  const peerDer = Buffer.from(new X509Certificate(peer.certPem).raw);
  const sent: Buffer[] = [];
  const received: Buffer[] = [];
  let peerPort: number | undefined;
  const probe = createSocket("udp4");
  await new Promise<void>((r) => probe.bind(0, "127.0.0.1", () => r()));
  const serverPort = probe.address().port;
  probe.close();
  if (peerRole === "server") peerPort = serverPort;
  const t = new DtlsSrtpTransport({
    role: peerRole === "server" ? "client" : "server",
    certificate: ours,
    remoteFingerprint: { hash: "sha-256", value: fingerprint(peerDer) },
    send: (d) => {
      sent.push(Buffer.from(d));
      if (peerPort !== undefined) sock.send(d, peerPort, "127.0.0.1");
    },
    logger: silentLogger(),
    handshakeTimeoutMs: 8000,
  });
  sock.on("message", (m, rinfo) => {
    peerPort = rinfo.port;
    received.push(Buffer.from(m));
    t.handlePacket(m);
  });
  const common = ["-dtls1_2", "-cert", join(dir, "peer-cert.pem"), "-key", join(dir, "peer-key.pem"), "-use_srtp", "SRTP_AES128_CM_SHA1_80", "-mtu", "1400"];
  const args =
    peerRole === "server"
      ? ["s_server", ...common, "-accept", `127.0.0.1:${serverPort}`, "-verify", "1", "-naccept", "1"]
      : ["s_client", ...common, "-connect", `127.0.0.1:${sock.address().port}`];
  const child = spawn("openssl", args, { stdio: ["pipe", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  try {
    if (peerRole === "server") await until(() => out.includes("ACCEPT"), 5000, "s_server");
    await t.start();
  } finally {
    t.close();
    sock.close();
    child.stdin.end();
    child.kill("SIGTERM");
  }
  const mine = messages(sent);
  const theirs = messages(received);
  const all = [...(peerRole === "server" ? mine : theirs), ...(peerRole === "server" ? theirs : mine)];
  const clientHello = all.filter((m) => m.type === HandshakeType.clientHello).at(-1)!;
  const serverHello = all.find((m) => m.type === HandshakeType.serverHello)!;
  const sh = decodeServerHello(serverHello.body);
  const rec: RecordedHandshake = {
    name,
    peerRole,
    peerCertificate: peerDer.toString("hex"),
    peerKeyPem: peer.keyPem,
    cipherSuite: sh.cipherSuite,
    clientRandom: decodeClientHello(clientHello.body).random.toString("hex"),
    serverRandom: sh.random.toString("hex"),
  };
  if (peerRole === "server") {
    const ske = decodeServerKeyExchange(theirs.find((m) => m.type === HandshakeType.serverKeyExchange)!.body);
    rec.serverKeyExchange = { params: ske.params.toString("hex"), scheme: ske.signed.scheme, signature: ske.signed.signature.toString("hex") };
  } else {
    // RFC 5246 §7.4.8: everything before CertificateVerify, in transcript order (the ClientHello that counted, our flight 4, their Certificate and ClientKeyExchange).
    const before = [clientHello, ...mine, ...theirs.filter((m) => m.type === HandshakeType.certificate || m.type === HandshakeType.clientKeyExchange)];
    const cv = decodeDigitallySigned(theirs.find((m) => m.type === HandshakeType.certificateVerify)!.body);
    rec.certificateVerify = { handshakeMessages: Buffer.concat(before.map(transcriptBytes)).toString("hex"), scheme: cv.scheme, signature: cv.signature.toString("hex") };
  }
  return rec;
}

const dir = mkdtempSync(join(tmpdir(), "jingled-record-dtls-"));
try {
  const ours = await createCertificate();
  const out: RecordedHandshake[] = [];
  for (const kind of ["ec", "rsa"] as const) {
    const peer = peerCertificate(dir, kind);
    for (const peerRole of ["server", "client"] as const) {
      const name = `openssl ${spawnSync("openssl", ["version"], { encoding: "utf8" }).stdout.trim().split(" ")[1]} as DTLS ${peerRole}, ${kind === "ec" ? "ECDSA P-256" : "RSA-2048"} certificate`;
      out.push(await record(name, peerRole, ours, peer, dir));
      process.stdout.write(`recorded: ${name}\n`);
    }
  }
  mkdirSync(join(REPO_ROOT, "test", "fixtures", "dtls"), { recursive: true });
  writeFileSync(OUT, `${JSON.stringify(out, null, 1)}\n`);
  process.stdout.write(`wrote ${OUT}\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
