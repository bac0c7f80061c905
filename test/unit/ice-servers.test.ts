// src/ice/ice-servers.ts: STUN/TURN URIs (RFC 7064, RFC 7065) and how the
// configured servers and the XMPP server's (XEP-0215) are merged.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeIceServers, parseStunUri, parseTurnUri } from "../../src/ice/ice-servers.js";

test("TURN and STUN URIs: default ports, transports, IPv6 in brackets, refusals", () => {
  assert.deepEqual(parseTurnUri("turn:turn.example.org", "u", "p"), { host: "turn.example.org", port: 3478, username: "u", password: "p", transport: "udp" });
  assert.deepEqual(parseTurnUri("turn:10.0.0.1:3479?transport=tcp", "u", "p"), { host: "10.0.0.1", port: 3479, username: "u", password: "p", transport: "tcp" });
  assert.deepEqual(parseTurnUri("turns:[2001:db8::1]", "u", "p"), { host: "2001:db8::1", port: 5349, username: "u", password: "p", transport: "tls" });
  assert.throws(() => parseTurnUri("stun:x", "u", "p"), /bad TURN URI/);
  assert.deepEqual(parseStunUri("stun:stun.example.org"), ["stun.example.org", 3478]);
  assert.deepEqual(parseStunUri("stun:[::1]:19302"), ["::1", 19302]);
  assert.throws(() => parseStunUri("turn:x"), /bad STUN URI/);
});

test("merged: every STUN server and every TURN server with credentials, configured ones first", () => {
  const offered = [
    { type: "stun", host: "s.server", port: 3478, transport: "udp" as const },
    { type: "turn", host: "t.server", port: 3478, transport: "udp" as const, username: "eu", password: "ep" },
    { type: "turns", host: "t.server", port: 5349, transport: "tcp" as const, username: "eu", password: "ep" },
    { type: "turn", host: "nocreds.server", port: 3478, transport: "udp" as const },
  ];
  const configured = { stun: ["stun:s.mine:3479"], turn: [{ uri: "turn:t.mine", username: "u", password: "p" }] };
  const merged = mergeIceServers(configured, offered);
  assert.deepEqual(merged.stun, [["s.mine", 3479], ["s.server", 3478]]);
  assert.deepEqual(
    merged.turn!.map((t) => `${t.host}:${t.port}/${t.transport}`),
    ["t.mine:3478/udp", "t.server:3478/udp", "t.server:5349/tls"],
  );
  assert.deepEqual(mergeIceServers({ stun: [], turn: [] }, offered).stun, [["s.server", 3478]], "the server's STUN when none is configured");
  const many = Array.from({ length: 12 }, (_, i) => `stun:s${i}.mine`);
  assert.equal(mergeIceServers({ stun: many, turn: [] }, offered).stun!.length, 8, "at most 8 STUN servers");
  assert.deepEqual(mergeIceServers({ stun: [], turn: [] }, []), {}, "nothing: no STUN, no TURN (never a public default)");
});
