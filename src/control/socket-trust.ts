// Whether a control socket path can be trusted: the socket and the directory
// it is in must be ours and closed to other users. The daemon checks before
// it listens (server.ts) and every client before it connects (client.ts):
// in a directory another user owns or may write — the /tmp/jingled-UID
// fallback can be made first by any local user — the "daemon" at the path
// could be theirs, reading our commands and answering what it likes.
import { lstatSync, type Stats } from "node:fs";
import { dirname } from "node:path";
import { JingledError } from "../util/errors.js";

export class ControlSocketError extends JingledError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("control-socket", message, options);
  }
}

/** Our uid (undefined where the platform has none: nothing to compare then). */
export function currentUid(): number | undefined {
  return typeof process.getuid === "function" ? process.getuid() : undefined;
}

const mode = (st: Stats): string => (st.mode & 0o777).toString(8).padStart(3, "0");

/** Why the socket's directory cannot be trusted, or undefined when it can. */
export function directoryProblem(dir: string, st: Stats, uid = currentUid()): string | undefined {
  if (st.isSymbolicLink()) return `control socket directory ${dir} is a symbolic link; refusing to use it`;
  if (!st.isDirectory()) return `control socket directory ${dir} is not a directory`;
  if (uid !== undefined && st.uid !== uid) {
    return `control socket directory ${dir} is owned by uid ${st.uid}, not by us (uid ${uid}); refusing to use it`;
  }
  if ((st.mode & 0o077) !== 0) {
    return `control socket directory ${dir} has mode ${mode(st)}: other users could reach the socket; run "chmod 700 ${dir}" or choose another path`;
  }
  return undefined;
}

/** Why the socket file cannot be trusted, or undefined when it can. */
export function socketProblem(path: string, st: Stats, uid = currentUid()): string | undefined {
  if (!st.isSocket()) return `${path} is not a socket`;
  if (uid !== undefined && st.uid !== uid) {
    return `control socket ${path} is owned by uid ${st.uid}, not by us (uid ${uid}): another user's program could be listening there; refusing to connect`;
  }
  if ((st.mode & 0o077) !== 0) return `control socket ${path} has mode ${mode(st)}: open to other users; refusing to connect`;
  return undefined;
}

function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw err;
  }
}

/**
 * A client's check before connecting: the directory, then the socket. A
 * path that does not exist is no problem here (connecting fails with a
 * clear error of its own).
 */
export function socketPathProblem(path: string): string | undefined {
  const dir = dirname(path);
  const dirSt = lstatOrUndefined(dir);
  const dirIssue = dirSt && directoryProblem(dir, dirSt);
  if (dirIssue) return dirIssue;
  const st = lstatOrUndefined(path);
  return st && socketProblem(path, st);
}
