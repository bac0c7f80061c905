// The policy at an ICE generation's transports (src/ice/port-guard.ts) on an
// injected clock: no check before the peer's credentials, only verified
// checks, answers per source rate-limited, learned candidates and early
// checks bounded, data only from validated sources. (Against real sockets
// and agents: test/integration/hostile-ice.test.ts.)
import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_EARLY_CHECKS, MAX_LEARNED_CANDIDATES, MAX_RATE_SOURCES, PortGuard, RATE_BURST, RATE_PER_SECOND, type Source } from "../../src/ice/port-guard.js";
import { bindingRequest } from "../helpers/stun.js";

const local = { ufrag: "aB3d+/x9", pwd: "0123456789abcdefghijklmn" };
const good = () => bindingRequest({ username: `${local.ufrag}:peer`, key: Buffer.from(local.pwd) });
const forged = () => bindingRequest({ username: `${local.ufrag}:peer`, key: Buffer.from("a guess at the password") });
const src = (port: number, ip = "192.0.2.1", l = 0): Source => ({ local: l, ip, port });
const known = { knownCandidate: true, earlyQueued: undefined };

function guard(o: { remote: string | undefined } = { remote: "peer" }) {
  let now = 0;
  let remoteUfrag = o.remote;
  const g = new PortGuard({ local, remoteUfrag: () => remoteUfrag, now: () => now });
  return { g, tick: (ms: number) => (now += ms), setRemote: (u: string) => (remoteUfrag = u) };
}

test("no check passes before the peer's credentials are known, a verified one after", () => {
  const { g, setRemote } = guard({ remote: undefined });
  assert.equal(g.request(good(), src(1), known), false);
  setRemote("peer");
  assert.equal(g.request(good(), src(1), known), true);
  assert.deepEqual(g.dropped, { "no-remote-credentials": 1 });
});

test("forged checks never pass and validate nothing", () => {
  const { g } = guard();
  for (let i = 0; i < 100; i++) assert.equal(g.request(forged(), src(i), { knownCandidate: false, earlyQueued: undefined }), false);
  assert.equal(g.data(src(1), () => false), false, "a forged check does not validate its source for data");
  assert.deepEqual(g.dropped, { "bad-integrity": 100, "unvalidated-source": 1 });
});

test("data passes only from a source that sent a verified check or whose pair was answered, on the same local transport", () => {
  const { g } = guard();
  assert.equal(g.data(src(5), () => false), false, "unknown source");
  assert.equal(g.request(good(), src(5), known), true);
  assert.equal(g.data(src(5), () => false), true, "validated by its check");
  assert.equal(g.data(src(5, "192.0.2.1", 1), () => false), false, "the same address at another local transport is not validated");
  assert.equal(g.data(src(6), () => true), true, "validated by an answered pair");
  assert.equal(g.data(src(6), () => false), true, "and remembered");
  assert.equal(g.data(src(5, "192.0.2.2"), () => false), false, "another host");
});

test("answers per source: a burst, then the steady rate; other sources are not affected", () => {
  const { g, tick } = guard();
  let passed = 0;
  for (let i = 0; i < RATE_BURST + 50; i++) if (g.request(good(), src(1), known)) passed++;
  assert.equal(passed, RATE_BURST, "the burst");
  assert.equal(g.request(good(), src(2), known), true, "another source has its own bucket");
  tick(1000);
  passed = 0;
  for (let i = 0; i < RATE_PER_SECOND * 3; i++) if (g.request(good(), src(1), known)) passed++;
  assert.equal(passed, RATE_PER_SECOND, "a second later: the rate");
  // Past MAX_RATE_SOURCES sources the least recently used is forgotten (bounded memory), and starts afresh.
  for (let p = 100; p < 100 + MAX_RATE_SOURCES; p++) g.request(good(), src(p), known);
  assert.equal(g.request(good(), src(1), known), true);
});

test("peer-reflexive candidates learned: at most MAX_LEARNED_CANDIDATES addresses; known candidates and learned ones again always", () => {
  const { g } = guard();
  const fresh = { knownCandidate: false, earlyQueued: undefined };
  let passed = 0;
  for (let p = 0; p < MAX_LEARNED_CANDIDATES + 20; p++) if (g.request(good(), src(1000 + p), fresh)) passed++;
  assert.equal(passed, MAX_LEARNED_CANDIDATES);
  assert.equal(g.request(good(), src(1000), fresh), true, "an address learned before (werift may not have taken it yet)");
  assert.equal(g.request(good(), src(1000, "192.0.2.1", 3), fresh), true, "the same address at another local transport is the same candidate");
  assert.equal(g.request(good(), src(9), known), true, "a signalled candidate");
  assert.equal(g.dropped["too-many-learned"], 20);
});

test("checks waiting for the first remote candidate: at most MAX_EARLY_CHECKS", () => {
  const { g } = guard();
  assert.equal(g.request(good(), src(1), { knownCandidate: false, earlyQueued: MAX_EARLY_CHECKS - 1 }), true);
  assert.equal(g.request(good(), src(2), { knownCandidate: false, earlyQueued: MAX_EARLY_CHECKS }), false);
  assert.equal(g.request(good(), src(2), { knownCandidate: false, earlyQueued: undefined }), true, "once checks are handled at once");
  assert.equal(g.dropped["early-queue-full"], 1);
});

test("IPv6 sources: one source whatever its spelling, IPv4-mapped as the IPv4 address; other addresses are others", () => {
  const { g } = guard();
  assert.equal(g.request(good(), src(7, "fd00:6a::20"), known), true);
  assert.equal(g.data(src(7, "FD00:6A:0:0::20"), () => false), true, "another spelling of the validated address");
  assert.equal(g.data(src(7, "fd00:6a::21"), () => false), false, "another address");
  assert.equal(g.data(src(8, "fd00:6a::20"), () => false), false, "another port");
  assert.equal(g.request(good(), src(9, "192.0.2.5"), known), true);
  assert.equal(g.data(src(9, "::ffff:192.0.2.5"), () => false), true, "the same IPv4 peer seen on a dual-stack socket");
  assert.equal(g.data(src(9, "::ffff:192.0.2.6"), () => false), false);
  // Learned addresses are counted once per address, whatever the spelling.
  const { g: g2 } = guard();
  const unknown = { knownCandidate: false, earlyQueued: undefined };
  for (let i = 0; i < MAX_LEARNED_CANDIDATES - 1; i++) assert.equal(g2.request(good(), src(1000 + i, "2001:db8::1"), unknown), true);
  assert.equal(g2.request(good(), src(1000, "2001:DB8:0::1"), unknown), true, "the same address again");
  assert.equal(g2.request(good(), src(1, "2001:db8::2"), unknown), true, "the last free slot");
  assert.equal(g2.request(good(), src(2, "2001:db8::3"), unknown), false, "full");
});
