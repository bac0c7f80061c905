// jinglectl's lines for the voicemail and echo events (src/cli/format.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatEvent } from "../../src/cli/format.js";
import type { AnyEvent } from "../../src/control/client.js";

const ev = (o: Record<string, unknown>) => ({ seq: 1, time: "t", ...o }) as AnyEvent;

test("voicemail events: who, how long, and where the recording went", () => {
  assert.equal(formatEvent(ev({ event: "voicemail", callId: "c4", type: "answered", peer: "bob@example.org/phone" })), "voicemail c4 answered from bob@example.org/phone");
  assert.equal(
    formatEvent(ev({ event: "voicemail", callId: "c4", type: "delivered", peer: "bob@example.org", durationMs: 12_400, file: "/v/voicemail-x.wav", url: "https://up.example.org/x/voicemail-x.wav" })),
    "voicemail c4 delivered from bob@example.org, 12.4 s: https://up.example.org/x/voicemail-x.wav",
  );
  assert.equal(
    formatEvent(ev({ event: "voicemail", callId: "c4", type: "kept", peer: "bob@example.org", durationMs: 3000, file: "/v/voicemail-x.wav", reason: "example.org has no upload service (XEP-0363)" })),
    "voicemail c4 kept from bob@example.org, 3.0 s: kept as /v/voicemail-x.wav (example.org has no upload service (XEP-0363))",
  );
});

test("echo events: the delay, then the report at a glance", () => {
  assert.equal(formatEvent(ev({ event: "echo", callId: "c2", type: "started", peer: "amy@example.org/x", delayMs: 1500 })), "echo c2 started with amy@example.org/x: played back 1500 ms later");
  assert.equal(
    formatEvent(ev({ event: "echo", callId: "c2", type: "report", peer: "amy@example.org/x", report: { path: "host/udp <-> relay/udp", rttMs: 42, received: { mos: 4.3 }, sent: { mos: 4.1 } } })),
    "echo c2 report to amy@example.org/x: host/udp <-> relay/udp, RTT 42 ms, MOS 4.3 received, 4.1 sent",
  );
});
