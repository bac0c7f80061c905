// Files a control client names on the daemon's machine: a WAV to play or
// take as input (play, set-input file:), a WAV to write (record, set-output
// file:). The client is trusted to be the daemon's user, but a typing
// mistake must never cost the daemon: everything here is asynchronous (the
// event loop never waits on a file system), no directory is created for a
// client (in Node 20 a recursive mkdir under /proc never returns: the event
// loop, or a thread-pool thread, spins for good; paths from the
// configuration file may ask for directories, created only once the checks
// below passed), and every refusal is a bad-argument with a sentence a
// person can act on.
//
// What is refused, for reading and writing alike:
//   - a path that is not absolute, or contains a NUL byte;
//   - anything in /proc or /sys, or on a kernel pseudo file system wherever it
//     is mounted (proc, sysfs, cgroup, debugfs, ...), judged after resolving
//     symbolic links, so a link into /proc is caught too;
//   - a path whose directory part does not exist or runs through a file.
// Reading: the file exists, is a regular file (not a directory, FIFO or
// device: opening those can block) and is readable.
// Writing: the parent is a directory the daemon may write into (the kernel's
// answer through access(2): permission bits, ACLs, a read-only mount); the
// file is created 0600 with O_EXCL, so an existing file is never replaced
// unless `overwrite` is set, and then only a regular file, never through a
// symbolic link (O_NOFOLLOW).
import { constants, open as openCb, type Stats, type StatsFs } from "node:fs";
import { access, lstat, mkdir, realpath, stat, statfs } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, normalize } from "node:path";
import { promisify } from "node:util";
import { CommandError } from "../util/errors.js";

/** The file-system calls used here: node:fs/promises by default, a fake in unit tests. */
export interface PathFs {
  lstat(path: string): Promise<Stats>;
  stat(path: string): Promise<Stats>;
  realpath(path: string): Promise<string>;
  access(path: string, mode: number): Promise<void>;
  statfs(path: string): Promise<Pick<StatsFs, "type">>;
  /** open(2); resolves with the file descriptor. */
  open(path: string, flags: number, mode: number): Promise<number>;
  mkdir(path: string, opts: { recursive: true; mode: number }): Promise<unknown>;
}

const openFd = promisify(openCb) as (path: string, flags: number, mode: number) => Promise<number>;

export const nodePathFs: PathFs = { lstat, stat, realpath, access, statfs, open: openFd, mkdir };

export interface ClientPathOptions {
  /** The command, for the message ("record: ..."). */
  cmd?: string;
  fs?: PathFs;
}

export interface WriteOptions extends ClientPathOptions {
  /** Replace an existing regular file (truncated, keeping its mode). Default false. */
  overwrite?: boolean;
  /**
   * Create missing directories (0700), for paths from the configuration file
   * (media.output's recordings/{peer}/...); never for a client's path. Only
   * after the nearest existing directory passed the /proc, /sys and pseudo
   * file system checks: that is where a recursive mkdir would never return.
   */
  createDirectories?: boolean;
}

/** The file to write exists and `overwrite` was not set (a bad-argument like every refusal here). */
export class FileExistsError extends CommandError {
  constructor(
    message: string,
    readonly path: string,
  ) {
    super("bad-argument", message);
  }
}

/** A file created (or truncated) for writing: its descriptor belongs to the caller. */
export interface ClaimedFile {
  path: string;
  fd: number;
}

// Kernel pseudo file systems (statfs f_type, linux/magic.h): no audio file
// belongs there, and reads or writes can block or change the kernel's state.
const PSEUDO_FS: ReadonlyMap<number, string> = new Map([
  [0x9fa0, "proc"],
  [0x62656572, "sysfs"],
  [0x27e0eb, "cgroup"],
  [0x63677270, "cgroup2"],
  [0x64626720, "debugfs"],
  [0x74726163, "tracefs"],
  [0x73636673, "securityfs"],
  [0x62656570, "configfs"],
  [0xcafe4a11, "bpf"],
  [0xde5e81e4, "efivarfs"],
  [0x6165676c, "pstore"],
]);

const PSEUDO_DIRS = ["/proc", "/sys"] as const;

function refuse(o: ClientPathOptions, message: string): CommandError {
  return new CommandError("bad-argument", `${o.cmd ? `${o.cmd}: ` : ""}${message}`);
}

function exists(o: ClientPathOptions, path: string): FileExistsError {
  return new FileExistsError(`${o.cmd ? `${o.cmd}: ` : ""}${path} already exists; it is replaced only when asked (overwrite: true)`, path);
}

/** Plain words for the errno codes a path meets. */
function reasonOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EROFS":
      return "read-only file system";
    case "ENAMETOOLONG":
      return "the name is too long";
    case "ELOOP":
      return "too many symbolic links";
    case "ENOSPC":
      return "no space left on the device";
    case "EDQUOT":
      return "disk quota exceeded";
    default:
      return code ?? String(err);
  }
}

function kindOf(s: Stats): string {
  if (s.isDirectory()) return "a directory";
  if (s.isFIFO()) return "a FIFO";
  if (s.isCharacterDevice()) return "a character device";
  if (s.isBlockDevice()) return "a block device";
  if (s.isSocket()) return "a socket";
  if (s.isSymbolicLink()) return "a symbolic link";
  return "a file";
}

/** /proc or /sys when `p` (normalised, absolute) is one of them or under one. */
function pseudoDir(p: string): string | undefined {
  return PSEUDO_DIRS.find((d) => p === d || p.startsWith(`${d}/`));
}

function checkShape(path: unknown, o: ClientPathOptions): string {
  if (typeof path !== "string" || path === "") throw refuse(o, "a file path is required (an absolute path on the daemon's machine)");
  if (path.includes("\0")) throw refuse(o, "the path contains a NUL byte");
  if (!isAbsolute(path)) throw refuse(o, `the path must be absolute (the daemon's working directory is not yours), found "${path.slice(0, 200)}"`);
  const norm = normalize(path);
  const pseudo = pseudoDir(norm);
  if (pseudo) throw refuse(o, `${path} is in ${pseudo}, the kernel's own file system, not a place for audio files`);
  return norm;
}

/** Refuses a real (symlink-free) path in /proc or /sys or on a pseudo file system. */
async function checkReal(given: string, real: string, o: ClientPathOptions, fs: PathFs): Promise<void> {
  const pseudo = pseudoDir(real);
  if (pseudo) throw refuse(o, `${given} leads into ${pseudo} (${real}), the kernel's own file system, not a place for audio files`);
  let type: number | undefined;
  try {
    type = Number((await fs.statfs(real)).type);
  } catch {
    return; // statfs unsupported here: the path checks above stand
  }
  const name = PSEUDO_FS.get(type);
  if (name) throw refuse(o, `${given} is on a ${name} file system, the kernel's own, not a place for audio files`);
}

/**
 * Why directory `dir` cannot hold a file: the first component, from the
 * top, that is missing or is not a directory. Only called after a lookup failed.
 */
async function brokenAncestor(dir: string, o: ClientPathOptions, fs: PathFs): Promise<CommandError> {
  const parts = dir.split("/").filter(Boolean);
  let cur = "";
  for (const part of parts) {
    cur = `${cur}/${part}`;
    let s: Stats;
    try {
      s = await fs.stat(cur);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return refuse(o, `the directory ${cur} does not exist`);
      if (code === "ENOTDIR") break; // the component before was not a directory (reported below)
      return refuse(o, `cannot reach ${cur}: ${reasonOf(err)}`);
    }
    if (!s.isDirectory()) return refuse(o, `${cur} is ${kindOf(s)}, not a directory`);
  }
  return refuse(o, `cannot reach the directory ${dir}`);
}

/** The real path of the directory `dir` after checking it is a directory we may look into. */
async function realDir(dir: string, o: ClientPathOptions, fs: PathFs): Promise<string> {
  let real: string;
  try {
    real = await fs.realpath(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT" || code === "ENOTDIR") throw await brokenAncestor(dir, o, fs);
    throw refuse(o, `cannot reach the directory ${dir}: ${reasonOf(err)}`);
  }
  let s: Stats;
  try {
    s = await fs.stat(real);
  } catch (err) {
    throw refuse(o, `cannot reach the directory ${dir}: ${reasonOf(err)}`);
  }
  if (!s.isDirectory()) throw refuse(o, `${dir} is ${kindOf(s)}, not a directory`);
  return real;
}

/** mkdir -p `dir` (0700), once its nearest existing ancestor is known to be a real directory outside the kernel's file systems. */
async function createDirectories(given: string, dir: string, o: ClientPathOptions, fs: PathFs): Promise<void> {
  let existing = dir;
  for (;;) {
    try {
      await fs.lstat(existing);
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== "ENOENT") throw code === "ENOTDIR" ? await brokenAncestor(dir, o, fs) : refuse(o, `cannot reach ${existing}: ${reasonOf(err)}`);
      existing = dirname(existing);
    }
  }
  if (existing === dir) return;
  await checkReal(given, await realDir(existing, o, fs), o, fs);
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw refuse(o, `cannot create the directory ${dir}: ${reasonOf(err)}`);
  }
}

/**
 * Checks a file a client wants the daemon to read (play, a file source).
 * Resolves with the absolute path as given (normalised); rejects with a
 * bad-argument CommandError that says what is wrong.
 */
export async function checkReadableFile(path: unknown, opts: ClientPathOptions = {}): Promise<string> {
  const fs = opts.fs ?? nodePathFs;
  const norm = checkShape(path, opts);
  const dirReal = await realDir(dirname(norm), opts, fs);
  await checkReal(norm, dirReal, opts, fs);
  let real: string;
  try {
    real = await fs.realpath(norm);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw refuse(opts, `${norm} does not exist`);
    throw refuse(opts, `cannot read ${norm}: ${reasonOf(err)}`);
  }
  // The file itself may be a link into /proc (/srv/door/x.wav -> /proc/self/mem).
  await checkReal(norm, real, opts, fs);
  const s = await fs.stat(real).catch((err: unknown) => {
    throw refuse(opts, `cannot read ${norm}: ${reasonOf(err)}`);
  });
  if (!s.isFile()) {
    const hint = s.isFIFO() ? " (a FIFO is read by a pipe source, pipe:PATH)" : "";
    throw refuse(opts, `${norm} is ${kindOf(s)}, not a file${hint}`);
  }
  try {
    await fs.access(real, constants.R_OK);
  } catch (err) {
    throw refuse(opts, `cannot read ${norm}: ${reasonOf(err)}`);
  }
  return norm;
}

/**
 * Creates the file a client wants the daemon to write (record, a file sink):
 * mode 0600, O_EXCL (an existing file is refused unless `overwrite`), never
 * through a symbolic link. The directory must exist already.
 */
export async function claimWritableFile(path: unknown, opts: WriteOptions = {}): Promise<ClaimedFile> {
  const fs = opts.fs ?? nodePathFs;
  const norm = checkShape(path, opts);
  const dir = dirname(norm);
  if (opts.createDirectories) await createDirectories(norm, dir, opts, fs);
  const dirReal = await realDir(dir, opts, fs);
  await checkReal(norm, dirReal, opts, fs);
  try {
    await fs.access(dirReal, constants.W_OK | constants.X_OK);
  } catch (err) {
    throw refuse(opts, `cannot write into ${dir}: ${reasonOf(err)}`);
  }
  const target = join(dirReal, basename(norm));
  let existing: Stats | undefined;
  try {
    existing = await fs.lstat(target);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw refuse(opts, `cannot write ${norm}: ${reasonOf(err)}`);
  }
  if (existing) {
    if (!existing.isFile()) throw refuse(opts, `${norm} is ${kindOf(existing)}, not a file`);
    if (!opts.overwrite) throw exists(opts, norm);
  }
  // O_NONBLOCK: should a FIFO appear at the name after the check, open fails (ENXIO) instead of waiting for a reader.
  const base = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | constants.O_NONBLOCK;
  const flags = opts.overwrite ? base | constants.O_TRUNC : base | constants.O_EXCL;
  try {
    return { path: norm, fd: await fs.open(target, flags, 0o600) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EEXIST") throw exists(opts, norm);
    if (code === "ELOOP") throw refuse(opts, `${norm} is a symbolic link, not a file`);
    throw refuse(opts, `cannot create ${norm}: ${reasonOf(err)}`);
  }
}

/** Names tried by claimUnusedFile after the one given. */
const MAX_NUMBERED = 99;

/**
 * Creates `path` like claimWritableFile without overwrite; when it exists,
 * the first of NAME-2.EXT, NAME-3.EXT, ... (up to NAME-100.EXT) that does
 * not. For the configuration's output template: a name that collides (call
 * ids start at c1 again after a restart) neither replaces a recording nor
 * fails the call. The result's path is the name taken.
 */
export async function claimUnusedFile(path: string, opts: Omit<WriteOptions, "overwrite"> = {}): Promise<ClaimedFile> {
  const dot = path.lastIndexOf(".");
  const split = dot > path.lastIndexOf("/") + 1 ? dot : path.length;
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? path : `${path.slice(0, split)}-${n}${path.slice(split)}`;
    try {
      return await claimWritableFile(candidate, { ...opts, overwrite: false });
    } catch (err) {
      if (!(err instanceof FileExistsError) || n > MAX_NUMBERED) throw err;
    }
  }
}
