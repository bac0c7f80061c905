// The start-up's two calls to each other (src/app/warm-up-calls.ts): real
// Calls, their Jingle through session tables and the XML round trip, their
// media on a real media thread over loopback; they get through to active
// and end, leave no call on the thread, and log nothing of their own.
import { test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { WorkerPlane } from "../../src/app/media-plane/media-plane.js";
import { warmUpCalls } from "../../src/app/warm-up-calls.js";
import { findCodec } from "../../src/media/codecs/index.js";
import { createCertificate } from "../../src/rtp/dtls/certificate.js";

for (const dtls of ["prefer", "off"] as const) {
  test(`the warm-up calls connect and end (DTLS ${dtls}), through the media thread, and nothing of them stays or is logged`, async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
    const plane = new WorkerPlane({ threads: 1, logger, log: { level: "debug", format: "json" } });
    const alive = setInterval(() => undefined, 1000); // an idle thread does not keep the process alive (a daemon has its sockets)
    try {
      await plane.preload();
      const certificate = dtls === "off" ? undefined : await createCertificate();
      await warmUpCalls({
        settings: { jitterFrames: 2, ringTimeoutMs: 30_000, rtcpMux: true, plane, dtls: { policy: dtls, certificate }, connectTimeoutMs: 5000 },
        codecs: [findCodec("opus", 48000)!, findCodec("PCMU", 8000)!],
        self: "alice@example.org/jingled",
        logger,
      });
      const mine = lines.filter((l) => l.module === "warm-up" && !String(l.msg).startsWith("media path"));
      assert.deepEqual(mine.map((l) => l.msg), ["call path warmed up"], JSON.stringify(mine));
      assert.deepEqual(lines.filter((l) => l.call !== undefined || l.sid !== undefined), [], "no line of the calls themselves");
      for (let i = 0; i < 100 && plane.describe()[0]!.calls > 0; i++) await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(plane.describe().map((t) => t.calls), [0]);
    } finally {
      clearInterval(alive);
      await plane.close();
    }
  });
}

test("warm-up calls that cannot connect are given up: start-up goes on, a debug line says why, nothing keeps running", async () => {
  const lines: Record<string, unknown>[] = [];
  const logger = pino({ level: "debug" }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const plane = new WorkerPlane({ threads: 1, logger, log: { level: "silent", format: "json" } });
  const alive = setInterval(() => undefined, 1000);
  try {
    await plane.preload();
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    const before = timers();
    // DTLS required but no certificate to offer: the answerer refuses the offer (security-error).
    await warmUpCalls({
      settings: { jitterFrames: 2, ringTimeoutMs: 30_000, rtcpMux: true, plane, dtls: { policy: "require", certificate: undefined }, connectTimeoutMs: 5000 },
      codecs: [findCodec("PCMU", 8000)!],
      self: "alice@example.org/jingled",
      logger,
    });
    const failed = lines.find((l) => l.msg === "call path warm-up failed");
    assert.ok(failed, JSON.stringify(lines.filter((l) => l.module === "warm-up")));
    assert.match(String(failed.err), /ended before it was active/);
    for (let i = 0; i < 50 && timers() > before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(timers() <= before, `${timers()} timers running, ${before} before`);
  } finally {
    clearInterval(alive);
    await plane.close();
  }
});
