// Voicemail retention (src/app/voicemail-retention.ts): by age and by count,
// on a real directory, and nothing but the voicemail's own recordings is touched.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { applyRetention, expired } from "../../src/app/voicemail-retention.js";

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 11, 7, 12, 0, 0);

test("by age: older than keepDays goes", () => {
  const recs = [
    { path: "a", mtimeMs: NOW - 40 * DAY },
    { path: "b", mtimeMs: NOW - 29 * DAY },
    { path: "c", mtimeMs: NOW - 31 * DAY },
  ];
  assert.deepEqual(expired(recs, { keepDays: 30, keepCount: 0 }, NOW), ["a", "c"]);
  assert.deepEqual(expired(recs, { keepDays: 0, keepCount: 0 }, NOW), [], "0: no limit");
});

test("by count: the oldest beyond keepCount go, oldest first", () => {
  const recs = Array.from({ length: 6 }, (_, i) => ({ path: `r${i}`, mtimeMs: NOW - i * 1000 }));
  assert.deepEqual(expired(recs, { keepDays: 0, keepCount: 4 }, NOW), ["r5", "r4"]);
  assert.deepEqual(expired(recs, { keepDays: 0, keepCount: 10 }, NOW), []);
});

test("both limits at once", () => {
  const recs = [
    { path: "old", mtimeMs: NOW - 10 * DAY },
    { path: "n1", mtimeMs: NOW - 3000 },
    { path: "n2", mtimeMs: NOW - 2000 },
    { path: "n3", mtimeMs: NOW - 1000 },
  ];
  assert.deepEqual(expired(recs, { keepDays: 7, keepCount: 2 }, NOW), ["old", "n1"]);
});

test("on a directory: only voicemail recordings are deleted", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-retention-"));
  try {
    const files = ["voicemail-2026-12-01T10-00-00-000Z-bob@example.org.wav", "voicemail-2026-12-06T10-00-00-000Z-eve@example.org.wav", "voicemail-2026-12-07T10-00-00-000Z-amy@example.org.wav", "notes.wav", "voicemail-x.txt", ".greeting-abc.wav"];
    for (const [i, f] of files.entries()) {
      writeFileSync(join(dir, f), "x");
      const t = (NOW - (files.length - i) * DAY) / 1000 - 86400 * 30;
      utimesSync(join(dir, f), t, t);
    }
    // Every file is more than 30 days old: only the voicemail's own go.
    const deleted = await applyRetention(dir, { keepDays: 30, keepCount: 0 }, NOW);
    assert.equal(deleted.length, 3);
    assert.deepEqual(readdirSync(dir).sort(), [".greeting-abc.wav", "notes.wav", "voicemail-x.txt"]);
    assert.deepEqual(await applyRetention(join(dir, "missing"), { keepDays: 1, keepCount: 1 }, NOW), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("by count on a directory: the newest stay", async () => {
  const dir = mkdtempSync(join(tmpdir(), "jingled-retention-"));
  try {
    for (let i = 0; i < 5; i++) {
      const f = join(dir, `voicemail-${i}.wav`);
      writeFileSync(f, "x");
      const t = (NOW - (5 - i) * 60_000) / 1000;
      utimesSync(f, t, t);
    }
    await applyRetention(dir, { keepDays: 30, keepCount: 2 }, NOW);
    assert.deepEqual(readdirSync(dir).sort(), ["voicemail-3.wav", "voicemail-4.wav"]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
