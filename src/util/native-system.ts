// The system helper (native/system/system_addon.c, built by
// scripts/build-native.mjs beside the Opus backend; it needs no library):
// what the daemon asks of the system that Node has no call for. Found above
// this module (the repository or package root); null when it is not built
// or does not load, and then what it is for is skipped or done the way Node
// can (src/util/release-memory.ts, src/util/thread-priority.ts).
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface SystemHelper {
  /** glibc's malloc_trim(0): true when pages were given back. */
  trim(): boolean;
  /**
   * The calling thread's scheduling, with SCHED_RESET_ON_FORK (what it
   * creates starts at the normal policy and nice 0): "fifo" at a real-time
   * priority, "other" at a nice value. Throws an Error whose code is the
   * errno's name (EPERM: not allowed).
   */
  schedule(policy: "fifo" | "other", value: number): void;
}

const HELPER_PATH = join("native", "system", "build", "jingled_system.node");

let helper: SystemHelper | null | undefined;

export function systemHelper(): SystemHelper | null {
  if (helper !== undefined) return helper;
  helper = null;
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; ) {
    const p = join(dir, HELPER_PATH);
    if (existsSync(p)) {
      try {
        helper = createRequire(import.meta.url)(p) as SystemHelper;
      } catch {
        // built for another Node or C library: what it does is skipped
      }
      return helper;
    }
    const up = dirname(dir);
    if (existsSync(join(dir, "package.json")) || up === dir) return helper;
    dir = up;
  }
}
