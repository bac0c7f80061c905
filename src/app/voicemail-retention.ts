// How long voicemail recordings are kept (calls.voicemail.keepDays,
// keepCount): the recordings of a directory older than keepDays are deleted,
// then the oldest beyond keepCount. Only files this daemon names
// (voicemail-*.wav, ./voicemail.ts) are ever touched; 0 turns a limit off.
import { readdir, stat, unlink } from "node:fs/promises";
import { join } from "node:path";
import { VOICEMAIL_FILE_NAME } from "../control/messages.js";

/** The names of recordings made by the voicemail; nothing else in the directory is touched. */
export const RECORDING_NAME = VOICEMAIL_FILE_NAME;

export interface Retention {
  keepDays: number;
  keepCount: number;
}

interface Recording {
  path: string;
  mtimeMs: number;
}

/** The recordings to delete, oldest first: pure, for a list of recordings and the time now. */
export function expired(recordings: readonly Recording[], r: Retention, nowMs: number): string[] {
  const newestFirst = [...recordings].sort((a, b) => b.mtimeMs - a.mtimeMs || (a.path < b.path ? 1 : -1));
  const maxAgeMs = r.keepDays * 86_400_000;
  const gone = newestFirst.filter((rec, i) => (r.keepDays > 0 && nowMs - rec.mtimeMs > maxAgeMs) || (r.keepCount > 0 && i >= r.keepCount));
  return gone.reverse().map((rec) => rec.path);
}

/** Deletes what `expired` names in `dir`; returns the paths deleted. A directory that does not exist has nothing to delete. */
export async function applyRetention(dir: string, r: Retention, nowMs = Date.now()): Promise<string[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => RECORDING_NAME.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw err;
  }
  const recordings: Recording[] = [];
  for (const n of names) {
    const path = join(dir, n);
    const s = await stat(path).catch(() => undefined);
    if (s?.isFile()) recordings.push({ path, mtimeMs: s.mtimeMs });
  }
  const gone = expired(recordings, r, nowMs);
  const deleted: string[] = [];
  for (const path of gone) if (await unlink(path).then(() => true, () => false)) deleted.push(path);
  return deleted;
}
