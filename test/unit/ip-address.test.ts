// IP literals for ICE (src/ice/ip-address.ts), host candidate selection
// (src/ice/addresses.ts), priorities for a dual-stack, multihomed host
// (src/ice/priority.ts) and the peer's candidates (src/ice/candidate-map.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { SocketAddress } from "node:net";
import type { NetworkInterfaceInfo } from "node:os";
import { addressKind, canonicalIp, sameIp, sourcePrecedence } from "../../src/ice/ip-address.js";
import { selectHostAddresses } from "../../src/ice/addresses.js";
import { candidatePriority, pairPriority, rankHostAddresses } from "../../src/ice/priority.js";
import { fromJingleCandidate, toJingleCandidate } from "../../src/ice/candidate-map.js";
import type { IceCandidate } from "../../src/jingle/protocol/index.js";

test("one text form per address: RFC 5952 for IPv6, IPv4-mapped as IPv4, no zone", () => {
  const table: [string, string | undefined][] = [
    ["192.0.2.1", "192.0.2.1"],
    ["FD00:0:0::1", "fd00::1"],
    ["fd00:0000:0000:0000:0000:0000:0000:0001", "fd00::1"],
    ["2001:db8:0:0:1:0:0:0", "2001:db8:0:0:1::"], // the longest run of zeros, not the first
    ["2001:db8::1:0:0:1", "2001:db8::1:0:0:1"],
    ["2001:DB8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // one zero field stays
    ["::ffff:192.0.2.1", "192.0.2.1"],
    ["::FFFF:c000:201", "192.0.2.1"], // the hex spelling werift-ice prints
    ["fe80::1%eth0", "fe80::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["example.org", undefined],
    ["fd00::1::2", undefined],
    ["", undefined],
    ["1.2.3.4.5", undefined],
  ];
  for (const [input, want] of table) assert.equal(canonicalIp(input), want, input);
  assert.ok(sameIp("FD00:0::1", "fd00::1"));
  assert.ok(sameIp("::ffff:10.0.0.1", "10.0.0.1"));
  assert.ok(!sameIp("fd00::1", "fd00::2"));
  assert.ok(!sameIp("name", "name"), "names are not addresses");
});

test("IPv6 text: the same as inet_ntop's (node:net SocketAddress) for 3000 random addresses in random spellings", () => {
  let seed = 42;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  for (let i = 0; i < 3000; i++) {
    // Fields with many zeros, so that runs of zeros of every length and position occur.
    const f = Array.from({ length: 8 }, () => (rnd(3) === 0 ? rnd(0x10000) : 0));
    if (rnd(10) === 0) f.splice(0, 6, 0, 0, 0, 0, 0, 0xffff); // IPv4-mapped
    // A random spelling: upper or lower case, leading zeros or not, one run of zeros compressed or not.
    const groups = f.map((x) => {
      const h = x.toString(16).padStart(rnd(2) ? 4 : 1, "0");
      return rnd(2) ? h.toUpperCase() : h;
    });
    let text = groups.join(":");
    const start = rnd(8);
    const len = rnd(8 - start) + 1;
    if (f.slice(start, start + len).every((x) => x === 0)) text = `${groups.slice(0, start).join(":")}::${groups.slice(start + len).join(":")}`;
    const oracle = new SocketAddress({ address: text, family: "ipv6" }).address;
    const want = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(oracle)?.[1] ?? oracle;
    assert.equal(canonicalIp(text), want, text);
  }
});

test("address kinds", () => {
  const table: [string, string][] = [
    ["0.0.0.0", "unspecified"],
    ["::", "unspecified"],
    ["127.0.0.1", "loopback"],
    ["::1", "loopback"],
    ["169.254.1.1", "link-local"],
    ["fe80::1", "link-local"],
    ["FE80::1%eth0", "link-local"],
    ["224.0.0.251", "multicast"],
    ["ff02::fb", "multicast"],
    ["255.255.255.255", "broadcast"],
    ["10.1.2.3", "private"],
    ["192.168.1.1", "private"],
    ["fd00:6a::1", "ula"],
    ["fc00::1", "ula"],
    ["2002:c000:201::1", "6to4"],
    ["2001:0:5ef5:79fb::1", "teredo"],
    ["fec0::1", "deprecated"],
    ["2001:db8::1", "global"],
    ["2a00:1450::1", "global"],
    ["192.0.2.1", "global"],
    ["::ffff:10.0.0.1", "private"],
  ];
  for (const [ip, want] of table) assert.equal(addressKind(ip), want, ip);
});

test("source precedence (RFC 6724 §2.1 with §10.6 for our own ULA): ULA 45 > IPv6 40 > IPv4 35 > 6to4 > Teredo > link-local", () => {
  assert.deepEqual(
    ["fd00:6a::1", "2001:db8::1", "192.0.2.1", "2002:c000:201::1", "2001:0:5ef5:79fb::1", "fe80::1%eth0"].map(sourcePrecedence),
    [45, 40, 35, 30, 5, 0],
  );
});

const iface = (address: string, family: "IPv4" | "IPv6", internal = false): NetworkInterfaceInfo =>
  ({ address, family, internal, netmask: "", mac: "00:00:00:00:00:00", cidr: null, ...(family === "IPv6" ? { scopeid: 0 } : {}) }) as NetworkInterfaceInfo;

const ifaces = {
  lo: [iface("127.0.0.1", "IPv4", true), iface("::1", "IPv6", true)],
  eth0: [iface("192.0.2.10", "IPv4"), iface("2001:DB8::10", "IPv6"), iface("fd00:6a::10", "IPv6"), iface("fe80::10", "IPv6")],
  wlan0: [iface("198.51.100.7", "IPv4"), iface("fe80::7", "IPv6")],
};

test("host addresses: IPv4, global and ULA IPv6; link-local only when configured, with its zone", () => {
  assert.deepEqual(selectHostAddresses({}, ifaces), ["192.0.2.10", "2001:db8::10", "fd00:6a::10", "198.51.100.7"]);
  assert.deepEqual(selectHostAddresses({ interfaces: ["eth0"] }, ifaces), ["192.0.2.10", "2001:db8::10", "fd00:6a::10"]);
  assert.deepEqual(selectHostAddresses({ interfaces: ["eth0"], linkLocal: true }, ifaces), ["192.0.2.10", "2001:db8::10", "fd00:6a::10", "fe80::10%eth0"]);
  assert.deepEqual(selectHostAddresses({ interfaces: ["lo"] }, ifaces), ["127.0.0.1", "::1"]);
  // Explicit addresses: in one form; a link-local one only with its zone.
  assert.deepEqual(selectHostAddresses({ addresses: ["FD00:6A:0::10", "fd00:6a::10", "fe80::1", "FE80::2%eth0", "::ffff:192.0.2.10"] }, ifaces), ["fd00:6a::10", "fe80::2%eth0", "192.0.2.10"]);
});

test("host candidates ranked (RFC 8421): best IPv6 first, families interleaved, link-local last", () => {
  const ranked = rankHostAddresses(["192.0.2.10", "198.51.100.7", "2001:db8::10", "fe80::10%eth0", "fd00:6a::10", "2001:db8::11"]);
  assert.deepEqual(
    ranked.map((r) => r.address),
    ["fd00:6a::10", "192.0.2.10", "2001:db8::10", "198.51.100.7", "2001:db8::11", "fe80::10%eth0"],
  );
  assert.deepEqual(ranked.map((r) => r.localPreference), [65535, 65534, 65533, 65532, 65531, 65530]);
  // IPv4 alone, IPv6 alone: in the order given.
  assert.deepEqual(rankHostAddresses(["10.0.0.1", "10.0.0.2"]).map((r) => r.address), ["10.0.0.1", "10.0.0.2"]);
  // Only 6to4 IPv6: native IPv4 goes first (RFC 6724 precedence 35 > 30).
  assert.deepEqual(rankHostAddresses(["2002:c000:201::1", "192.0.2.1"]).map((r) => r.address), ["192.0.2.1", "2002:c000:201::1"]);
  // A host IPv6 candidate outranks the host IPv4 one, which outranks any server-reflexive one.
  const [v6, v4] = ranked;
  assert.ok(candidatePriority("host", v6!.localPreference) > candidatePriority("host", v4!.localPreference));
  assert.ok(candidatePriority("host", 0) > candidatePriority("srflx", 65535));
  assert.equal(candidatePriority("host", 65535), 2130706431, "RFC 8445 §5.1.2.1 with the recommended values");
});

test("pair priority (RFC 8445 §6.1.2.3): the smaller candidate priority decides first", () => {
  const host = candidatePriority("host", 65535);
  const srflx = candidatePriority("srflx", 65535);
  const relay = candidatePriority("relay", 65535);
  // host/relay against srflx/srflx: MIN decides (werift-ice, computing 2^32 as 1 << 32 = 1, ranks host/relay first).
  assert.ok(pairPriority(srflx, srflx, true) > pairPriority(host, relay, true));
  assert.equal(pairPriority(5, 7, true), (1n << 32n) * 5n + 14n);
  assert.equal(pairPriority(7, 5, true), (1n << 32n) * 5n + 15n);
  assert.equal(pairPriority(7, 5, false), (1n << 32n) * 5n + 14n, "G is the controlling side's");
});

const cand = (ip: string, extra: Partial<IceCandidate> = {}): IceCandidate => ({
  component: 1, foundation: "1", generation: 0, id: "c1", ip, network: 0, port: 5000, priority: 2130706431, protocol: "udp", type: "host", ...extra,
});

test("peer candidates: IPv6 literals in any spelling are taken in one form; unusable addresses and names are ignored", () => {
  assert.equal(fromJingleCandidate(cand("FD00:6A:0::20"))?.host, "fd00:6a::20");
  assert.equal(fromJingleCandidate(cand("2001:db8::20"))?.host, "2001:db8::20");
  assert.equal(fromJingleCandidate(cand("::ffff:192.0.2.20"))?.host, "192.0.2.20");
  assert.equal(fromJingleCandidate(cand("fe80::20%eth1"))?.host, "fe80::20", "a zone is the peer's own");
  const srflx = fromJingleCandidate(cand("2001:db8::20", { type: "srflx", relAddr: "FD00::1", relPort: 9 }));
  assert.equal(srflx?.relatedAddress, "fd00::1");
  for (const bad of ["::", "0.0.0.0", "ff02::1", "224.0.0.1", "255.255.255.255", "host.local", "3f5a0b2e-1d2c-4f9e-9b7a-0c1d2e3f4a5b.local", "fd00::1::2"]) {
    assert.equal(fromJingleCandidate(cand(bad)), undefined, bad);
  }
  // Ours go out in the same form.
  const ours = fromJingleCandidate(cand("fd00:6a::20"))!;
  assert.equal(toJingleCandidate(ours, "x").ip, "fd00:6a::20");
});
