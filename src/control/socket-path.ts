// Where the control socket lives when the config names no path: the daemon
// listens there and jinglectl connects there, so both take it from here.
import { join } from "node:path";

export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  const runtimeDir = env.XDG_RUNTIME_DIR;
  if (runtimeDir) return join(runtimeDir, "jingled", "control.sock");
  // Not os.tmpdir(): it follows TMPDIR, and the daemon and jinglectl must agree on the path.
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  return `/tmp/jingled-${uid}/control.sock`;
}
