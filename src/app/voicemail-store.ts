// The voicemail's recordings as the `voicemail` command sees them: the list
// of calls.voicemail.dir (newest first, the duration read from each WAV
// header) and the deletion of one recording by its file name.
//
// A name comes from a client (the control socket, or MQTT when
// mqtt.commands allows it), so it is checked here, whatever checked it
// before: a plain name of the recordings' pattern (no separator, never a
// hidden working file), resolved inside the directory, and lstat'ed: only a
// regular file is read or deleted — never a symlink (which could point
// anywhere), a FIFO (whose open would block), a directory or a device.
// unlink(2) removes the name itself and never follows a symlink, so a file
// swapped for a link between lstat and unlink still cannot reach outside.
import { constants } from "node:fs";
import { lstat, open, readdir, unlink } from "node:fs/promises";
import { basename, join, resolve } from "node:path";
import { MAX_FILE_NAME, VOICEMAIL_FILE_NAME, type VoicemailRecording } from "../control/messages.js";
import { CommandError } from "../util/errors.js";
import { wavDurationMs } from "../media/wav.js";

/** The WAV header is read only this far: ours is 44 bytes, an edited file's chunks before "data" fit too. */
const HEADER_BYTES = 4096;

/** voicemail-2026-12-07T00-35-12-000Z-CALLER.wav: the time (voicemail.ts `stamp`) and the caller as the name has them. */
const NAME_PARTS = /^voicemail-(\d{4}-\d\d-\d\d)T(\d\d)-(\d\d)-(\d\d)-(\d{3})Z-(.+)\.wav$/;

/** The time and caller a recording's name gives; undefined for a name not made by the voicemail. */
export function parseRecordingName(name: string): { at: Date; caller: string } | undefined {
  const m = NAME_PARTS.exec(name);
  if (!m) return undefined;
  const at = new Date(`${m[1]}T${m[2]}:${m[3]}:${m[4]}.${m[5]}Z`);
  if (Number.isNaN(at.getTime())) return undefined;
  return { at, caller: m[6]! };
}

function notARecording(name: string): CommandError {
  return new CommandError("bad-argument", `voicemail: ${JSON.stringify(name.slice(0, 200))} is not a recording's file name (voicemail-TIME-CALLER.wav, no path)`);
}

/** The path of recording `name` in `dir`; throws bad-argument for anything but a plain recording name. */
export function recordingPath(dir: string, name: string): string {
  if (name.length > MAX_FILE_NAME || !VOICEMAIL_FILE_NAME.test(name) || basename(name) !== name) throw notARecording(name);
  const path = join(dir, name);
  // The pattern has no separator; this holds whatever the pattern becomes.
  if (resolve(path) !== resolve(dir, name) || resolve(path, "..") !== resolve(dir)) throw notARecording(name);
  return path;
}

/** The header's first bytes of a regular file, without following a symlink or waiting on a FIFO; undefined when it is not one. */
async function readHeader(path: string): Promise<{ header: Buffer; size: number } | undefined> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (!fh) return undefined;
  try {
    const st = await fh.stat();
    if (!st.isFile()) return undefined;
    const buf = Buffer.alloc(Math.min(HEADER_BYTES, st.size));
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return { header: buf.subarray(0, bytesRead), size: st.size };
  } finally {
    await fh.close();
  }
}

/**
 * The recordings in `dir`, newest first. Only regular files of the
 * recordings' pattern are listed; `callerOf`: the caller the voicemail
 * knows for a name (the name's is sanitized for the file system).
 */
export async function listRecordings(dir: string, callerOf: (name: string) => string | undefined = () => undefined): Promise<VoicemailRecording[]> {
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => VOICEMAIL_FILE_NAME.test(n));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return []; // nothing recorded yet
    throw err;
  }
  const out: Array<VoicemailRecording & { sortMs: number }> = [];
  for (const name of names) {
    const file = join(dir, name);
    const st = await lstat(file).catch(() => undefined);
    if (!st?.isFile()) continue;
    const read = await readHeader(file);
    if (!read) continue; // replaced by something else since the lstat
    const parsed = parseRecordingName(name);
    const at = parsed?.at ?? st.mtime;
    const caller = callerOf(name) ?? parsed?.caller;
    const durationMs = wavDurationMs(read.header, read.size);
    out.push({ name, file, ...(caller ? { caller } : {}), at: at.toISOString(), ...(durationMs !== undefined ? { durationMs } : {}), size: read.size, sortMs: at.getTime() });
  }
  out.sort((a, b) => b.sortMs - a.sortMs || (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  return out.map(({ sortMs: _, ...r }) => r);
}

/**
 * Deletes recording `name` of `dir`: bad-argument for a name that is not a
 * plain recording name or not a regular file, not-found when there is none.
 */
export async function deleteRecording(dir: string, name: string): Promise<void> {
  const path = recordingPath(dir, name);
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") {
      throw new CommandError("not-found", `voicemail: no recording ${name} in ${dir}`);
    }
    throw err;
  }
  if (!st.isFile()) throw new CommandError("bad-argument", `voicemail: ${name} in ${dir} is not a regular file (a ${st.isSymbolicLink() ? "symbolic link" : st.isDirectory() ? "directory" : "special file"}); left as it is`);
  try {
    await unlink(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new CommandError("not-found", `voicemail: no recording ${name} in ${dir}`);
    throw err;
  }
}
