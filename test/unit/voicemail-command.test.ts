// The voicemail command through the one command table (src/app/commands.ts)
// and the dispatcher every front end uses, with the real Voicemail and a
// real directory: off, list, delete by name and by age, and the error codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCommandHandlers, type CommandContext } from "../../src/app/commands.js";
import { Voicemail, type VoicemailSettings } from "../../src/app/voicemail.js";
import { createDispatcher } from "../../src/control/dispatch.js";
import { encodeWav } from "../../src/media/wav.js";
import { silentLogger } from "../../src/util/logger.js";

const OLD = "voicemail-2026-10-01T08-00-00-000Z-bob@example.org.wav";
const NEW = "voicemail-2026-12-07T00-35-12-000Z-alice@example.org.wav";

function setup(t: { after(fn: () => void): void }, enabled: boolean) {
  const root = mkdtempSync(join(tmpdir(), "jingled-vmcmd-"));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, "voicemail");
  mkdirSync(dir, { mode: 0o700 });
  writeFileSync(join(dir, NEW), encodeWav(new Int16Array(16000), 16000));
  writeFileSync(join(dir, OLD), encodeWav(new Int16Array(4000), 16000));
  const monthAgo = (Date.now() - 40 * 86_400_000) / 1000;
  utimesSync(join(dir, OLD), monthAgo, monthAgo);
  const settings = { enabled, dir: enabled ? dir : undefined, keepDays: 0, keepCount: 0 } as VoicemailSettings;
  const voicemail = new Voicemail({
    settings: () => settings,
    upload: () => Promise.reject(new Error("unused")),
    sendChat: () => Promise.resolve(),
    domain: () => "example.org",
    logger: silentLogger(),
    event: () => undefined,
  });
  const handlers = createCommandHandlers({ voicemail } as unknown as CommandContext);
  const dispatcher = createDispatcher(handlers, silentLogger());
  const client = { id: 1, connectedAt: new Date() };
  const request = async (args: object) => dispatcher.handle(JSON.stringify({ id: 1, cmd: "voicemail", args }), client);
  return { dir, request };
}

test("voicemail off: an empty list that says so; delete finds nothing", async (t) => {
  const { dir, request } = setup(t, false);
  assert.deepEqual(await request({}), { id: 1, ok: true, result: { enabled: false, reason: "calls.voicemail is off", recordings: [] } });
  const r = await request({ action: "delete", name: NEW });
  assert.equal(r.ok, false);
  assert.equal(!r.ok && r.error.code, "not-found");
  assert.deepEqual(await request({ action: "delete", olderThanDays: 1 }), { id: 1, ok: true, result: { deleted: [] } });
  assert.equal(readdirSync(dir).length, 2, "nothing deleted");
});

test("voicemail on: list, delete by name, delete by age, refusals as protocol errors", async (t) => {
  const { dir, request } = setup(t, true);
  const list = await request({ action: "list" });
  assert.ok(list.ok);
  const result = list.result as { enabled: boolean; dir: string; recordings: Array<{ name: string; durationMs: number }> };
  assert.equal(result.enabled, true);
  assert.equal(result.dir, dir);
  assert.deepEqual(result.recordings.map((r) => [r.name, r.durationMs]), [[NEW, 1000], [OLD, 250]]);

  const traversal = await request({ action: "delete", name: "../voicemail/" + NEW });
  assert.equal(!traversal.ok && traversal.error.code, "bad-argument");
  assert.ok(existsSync(join(dir, NEW)));

  assert.deepEqual(await request({ action: "delete", olderThanDays: 30 }), { id: 1, ok: true, result: { deleted: [OLD] } });
  assert.deepEqual(readdirSync(dir), [NEW]);
  assert.deepEqual(await request({ action: "delete", name: NEW }), { id: 1, ok: true, result: { deleted: [NEW] } });
  const again = await request({ action: "delete", name: NEW });
  assert.equal(!again.ok && again.error.code, "not-found");
  assert.deepEqual(readdirSync(dir), []);
});
