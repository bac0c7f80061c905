// RFC 7983 §7 first-octet demultiplexing, then RFC 5761 §4 RTP vs RTCP.
import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyPacket, type PacketKind } from "../../src/rtp/demux.js";
import { RtpPacketizer } from "../../src/rtp/rtp-packet.js";

function packet(first: number, length: number, second = 0): Buffer {
  const b = Buffer.alloc(length);
  b[0] = first;
  if (length > 1) b[1] = second;
  return b;
}

const cases: Array<[name: string, buf: Buffer, want: PacketKind]> = [
  ["empty datagram", Buffer.alloc(0), "unknown"],
  ["STUN Binding request (0x00 0x01)", packet(0x00, 20, 0x01), "stun"],
  ["STUN with first octet 3 (upper bound)", packet(3, 28), "stun"],
  ["STUN range but shorter than its 20-octet header", packet(0, 19), "unknown"],
  ["4..15: nothing assigned", packet(4, 40), "unknown"],
  ["16..19: ZRTP is not supported", packet(16, 40), "unknown"],
  ["DTLS change_cipher_spec (20, lower bound)", packet(20, 14), "dtls"],
  ["DTLS handshake (22)", packet(22, 100), "dtls"],
  ["DTLS application_data (23)", packet(23, 40), "dtls"],
  ["63: upper bound of the DTLS range", packet(63, 40), "dtls"],
  ["DTLS range but shorter than a record header", packet(22, 12), "unknown"],
  ["64..79: TURN channel data is the ICE library's business", packet(64, 40), "unknown"],
  ["80..127: unassigned", packet(127, 40), "unknown"],
  ["RTP, PT 0", packet(0x80, 12, 0), "rtp"],
  ["RTP with marker and PT 111", packet(0x80, 60, 0x80 | 111), "rtp"],
  ["RTP range but shorter than the fixed header", packet(0x80, 11, 111), "unknown"],
  ["RTCP sender report (200)", packet(0x80, 28, 200), "rtcp"],
  ["RTCP receiver report with one block (0x81, 201)", packet(0x81, 32, 201), "rtcp"],
  ["RTCP lower bound 192", packet(0x80, 8, 192), "rtcp"],
  ["RTCP upper bound 223", packet(0x80, 8, 223), "rtcp"],
  ["224 in octet 2 is RTP with marker and PT 96", packet(0x80, 20, 224), "rtp"],
  ["191: top of the RTP/RTCP range", packet(191, 20, 96), "rtp"],
  ["192..255: unassigned", packet(192, 40), "unknown"],
  ["255", packet(255, 40), "unknown"],
];

for (const [name, buf, want] of cases) {
  test(`classify: ${name} -> ${want}`, () => assert.equal(classifyPacket(buf), want));
}

test("every first octet is classified without throwing, at every short length", () => {
  for (let b0 = 0; b0 < 256; b0++) {
    for (let len = 1; len <= 24; len++) {
      const kind = classifyPacket(packet(b0, len, 200));
      assert.ok(["stun", "dtls", "rtp", "rtcp", "unknown"].includes(kind));
    }
  }
});

test("packets from the RTP packetizer are RTP", () => {
  const z = new RtpPacketizer({ payloadType: 111, clockRate: 48000 });
  for (let i = 0; i < 5; i++) assert.equal(classifyPacket(z.packetize(Buffer.alloc(100, i), 960)), "rtp");
});
