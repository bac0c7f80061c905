// SRTP cost per packet: jingled's AES_CM_128_HMAC_SHA1_80 (src/rtp/srtp/srtp-cm.ts)
// next to werift-rtp's sessions, in one process, on the same packets.
//
//   node dist/scripts/bench/bench-srtp.js [--payload=100] [--packets=20000] [--rounds=5]
//
// Prints µs per packet for protect and unprotect, best and median of the
// rounds (the machine is shared: the best round is the cost, the spread
// says how noisy it was).
import { randomBytes } from "node:crypto";
import { ProtectionProfileAes128CmHmacSha1_80, RtpHeader, SrtpSession } from "werift-rtp";
import { SrtpCmReceiver, SrtpCmSender } from "../../src/rtp/srtp/srtp-cm.js";
import { RtpPacketizer } from "../../src/rtp/rtp-packet.js";

const arg = (name: string, dflt: number): number => {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`));
  return a ? Math.max(1, Number(a.split("=")[1]) || dflt) : dflt;
};
const payloadLen = arg("payload", 100);
const N = arg("packets", 20_000);
const rounds = arg("rounds", 5);

const key = randomBytes(16);
const salt = randomBytes(14);
const config = {
  keys: { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt },
  profile: ProtectionProfileAes128CmHmacSha1_80,
} as const;

function plainPackets(): Buffer[] {
  const z = new RtpPacketizer({ payloadType: 111, clockRate: 48000 });
  const payload = randomBytes(payloadLen);
  return Array.from({ length: N }, () => z.packetize(payload, 960));
}

interface Impl {
  name: string;
  protect: (p: Buffer) => Buffer;
  unprotect: (p: Buffer) => unknown;
}

function werift(): Impl {
  const tx = new SrtpSession(config);
  const rx = new SrtpSession(config);
  return {
    name: "werift-rtp SrtpSession",
    protect: (p) => {
      const h = RtpHeader.deSerialize(p);
      return tx.encrypt(p.subarray(h.payloadOffset), h);
    },
    unprotect: (p) => rx.decrypt(p),
  };
}

function ours(): Impl {
  const tx = new SrtpCmSender(key, salt);
  const rx = new SrtpCmReceiver(key, salt);
  return { name: "jingled SrtpCm", protect: (p) => tx.protectRtp(p)!, unprotect: (p) => rx.unprotectRtp(p) };
}

function time(impl: Impl): { protect: number; unprotect: number } {
  const plain = plainPackets();
  let t0 = performance.now();
  const wire = plain.map((p) => impl.protect(p));
  const protect = ((performance.now() - t0) * 1000) / N;
  t0 = performance.now();
  for (const w of wire) impl.unprotect(w);
  const unprotect = ((performance.now() - t0) * 1000) / N;
  return { protect, unprotect };
}

const stats = (xs: number[]): string => {
  const s = [...xs].sort((a, b) => a - b);
  return `best ${s[0]!.toFixed(2)}  median ${s[Math.floor(s.length / 2)]!.toFixed(2)}  worst ${s[s.length - 1]!.toFixed(2)}`;
};

const results = new Map<string, { protect: number[]; unprotect: number[] }>();
for (let r = 0; r < rounds; r++) {
  // Fresh sessions per round (a new SSRC each time), interleaved so load hits both alike.
  for (const impl of [werift(), ours()]) {
    time(impl); // warm-up
    const t = time(impl);
    const e = results.get(impl.name) ?? { protect: [], unprotect: [] };
    e.protect.push(t.protect);
    e.unprotect.push(t.unprotect);
    results.set(impl.name, e);
  }
}
process.stdout.write(`SRTP AES_CM_128_HMAC_SHA1_80, ${payloadLen}-octet payload, ${N} packets x ${rounds} rounds, µs per packet\n`);
for (const [name, r] of results) {
  process.stdout.write(`${name.padEnd(24)} protect   ${stats(r.protect)}\n${"".padEnd(24)} unprotect ${stats(r.unprotect)}\n`);
}
