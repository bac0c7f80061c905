// The voicemail command's view of the recordings (src/app/voicemail-store.ts)
// on a real directory: the list (newest first, durations from the WAV
// header), and delete attacked with every name that must not reach a file:
// path traversal, an absolute path, a symbolic link to a file outside, a
// directory, a FIFO and the voicemail's hidden working files.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { deleteRecording, listRecordings, parseRecordingName, recordingPath } from "../../src/app/voicemail-store.js";
import { wavDurationMs } from "../../src/media/wav.js";
import { encodeWav } from "../../src/media/wav.js";
import { CommandError } from "../../src/util/errors.js";

const ALICE = "voicemail-2026-12-07T00-35-12-000Z-alice@example.org.wav";
const BOB = "voicemail-2026-12-06T10-00-00-000Z-bob@example.org.wav";
const LINK = "voicemail-2026-12-08T00-00-00-000Z-evil@example.org.wav";
const DIR = "voicemail-2026-12-09T00-00-00-000Z-dir@example.org.wav";
const FIFO = "voicemail-2026-12-10T00-00-00-000Z-fifo@example.org.wav";
const WORKING = [".beep.wav", ".greeting-0123456789abcdef.wav", `.${ALICE}.recording`];

const wav = (ms: number): Buffer => encodeWav(new Int16Array((16000 * ms) / 1000).fill(1000), 16000);

/** A voicemail directory with two recordings, the working files, and a link, a directory and a FIFO of the recordings' pattern. */
function fixture(t: { after(fn: () => void): void }): { dir: string; secret: string } {
  const root = mkdtempSync(join(tmpdir(), "jingled-vmstore-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, "voicemail");
  mkdirSync(dir, { mode: 0o700 });
  mkdirSync(join(root, "outside"));
  const secret = join(root, "outside", "secret.wav");
  writeFileSync(secret, wav(3000));
  writeFileSync(join(dir, ALICE), wav(1500), { mode: 0o600 });
  writeFileSync(join(dir, BOB), wav(250), { mode: 0o600 });
  for (const w of WORKING) writeFileSync(join(dir, w), wav(100));
  writeFileSync(join(dir, "notes.txt"), "not a recording");
  symlinkSync(secret, join(dir, LINK));
  mkdirSync(join(dir, DIR));
  assert.equal(spawnSync("mkfifo", [join(dir, FIFO)]).status, 0, "mkfifo");
  return { dir, secret };
}

async function rejects(p: Promise<unknown>, code: string, mentions: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof CommandError, String(err));
    assert.equal(err.code, code);
    assert.match(err.message, mentions);
    return true;
  });
}

test("a recording's name gives its time and caller; other names give nothing", () => {
  assert.deepEqual(parseRecordingName(ALICE), { at: new Date("2026-12-07T00:35:12.000Z"), caller: "alice@example.org" });
  assert.equal(parseRecordingName("voicemail-x.wav"), undefined);
  assert.equal(parseRecordingName("voicemail-2026-13-45T99-00-00-000Z-a@b.wav"), undefined);
});

test("the duration comes from the WAV header alone, clamped to the file", () => {
  const w = wav(1500);
  assert.equal(wavDurationMs(w.subarray(0, 44), w.length), 1500);
  assert.equal(wavDurationMs(w.subarray(0, 44), 44 + 3200), 100, "a header that claims more than the file holds");
  assert.equal(wavDurationMs(Buffer.from("not a wav file at all"), 21), undefined);
  assert.equal(wavDurationMs(w.subarray(0, 20), w.length), undefined, "truncated before fmt");
});

test("list: the regular recordings only, newest first, with caller, time, duration and size", async (t) => {
  const { dir } = fixture(t);
  const list = await listRecordings(dir);
  assert.deepEqual(list, [
    { name: ALICE, file: join(dir, ALICE), caller: "alice@example.org", at: "2026-12-07T00:35:12.000Z", durationMs: 1500, size: 44 + 48000 },
    { name: BOB, file: join(dir, BOB), caller: "bob@example.org", at: "2026-12-06T10:00:00.000Z", durationMs: 250, size: 44 + 8000 },
  ]);
  // What the voicemail knows of a caller beats the name's file-system-safe form.
  const known = await listRecordings(dir, (n) => (n === BOB ? "bob+door@example.org" : undefined));
  assert.equal(known[1]!.caller, "bob+door@example.org");
  assert.deepEqual(await listRecordings(join(dir, "never-made")), [], "no directory yet: nothing recorded");
});

test("delete: a recording by its name, nothing else", async (t) => {
  const { dir } = fixture(t);
  await deleteRecording(dir, BOB);
  assert.equal(existsSync(join(dir, BOB)), false);
  assert.deepEqual((await listRecordings(dir)).map((r) => r.name), [ALICE]);
  await rejects(deleteRecording(dir, BOB), "not-found", /no recording voicemail-.*bob@example\.org\.wav/);
});

/** What must stay as it was after an attack: the file outside, the link, the directory, the FIFO, the working files, the recordings. */
function untouched(dir: string, secret: string, secretBytes: Buffer): void {
  assert.deepEqual(readFileSync(secret), secretBytes, "the file outside is untouched");
  assert.ok(lstatSync(join(dir, LINK)).isSymbolicLink(), "the link is still there");
  assert.ok(lstatSync(join(dir, DIR)).isDirectory(), "the directory is still there");
  assert.ok(lstatSync(join(dir, FIFO)).isFIFO(), "the FIFO is still there");
  for (const w of WORKING) assert.ok(existsSync(join(dir, w)), `${w} is still there`);
  assert.ok(existsSync(join(dir, ALICE)) && existsSync(join(dir, BOB)), "the recordings are still there");
}

const attacks: Array<[what: string, name: (dir: string, secret: string) => string, refusal: RegExp]> = [
  ["path traversal ../", () => "../outside/secret.wav", /is not a recording's file name/],
  ["traversal behind the recordings' prefix", () => "voicemail-x/../../outside/secret.wav", /is not a recording's file name/],
  ["an absolute path outside", (_dir, secret) => secret, /is not a recording's file name/],
  ["an absolute path to a recording", (dir) => join(dir, ALICE), /is not a recording's file name/],
  ["..", () => "..", /is not a recording's file name/],
  ["a symbolic link in the directory to a file outside", () => LINK, /not a regular file \(a symbolic link\)/],
  ["a directory of the recordings' pattern", () => DIR, /not a regular file \(a directory\)/],
  ["a FIFO of the recordings' pattern", () => FIFO, /not a regular file \(a special file\)/],
  ...WORKING.map((w): [string, () => string, RegExp] => [`the working file ${w}`, () => w, /is not a recording's file name/]),
];

for (const [what, name, refusal] of attacks) {
  test(`delete refuses ${what} (bad-argument), and nothing changes`, async (t) => {
    const { dir, secret } = fixture(t);
    const before = readFileSync(secret);
    await rejects(deleteRecording(dir, name(dir, secret)), "bad-argument", refusal);
    untouched(dir, secret, before);
  });
}

test("recordingPath: only a plain recording name resolves, inside the directory", () => {
  assert.equal(recordingPath("/var/lib/vm", ALICE), `/var/lib/vm/${ALICE}`);
  assert.equal(recordingPath("/var/lib/vm/", ALICE), `/var/lib/vm/${ALICE}`);
  for (const name of ["../x", "/etc/passwd", "voicemail-a/b.wav", "voicemail-a\0.wav", ".beep.wav"]) {
    assert.throws(() => recordingPath("/var/lib/vm", name), (e: unknown) => e instanceof CommandError && e.code === "bad-argument");
  }
});
