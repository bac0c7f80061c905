// Preloaded into a daemon by scripts/soak.ts (node --expose-gc --import): on
// SIGUSR2 it collects garbage (so heap figures compare) and appends what the
// process holds to <config dir>/probe.jsonl — memory, open file descriptors,
// and the active libuv handles and requests by type
// (process.getActiveResourcesInfo(): Timeout, UDPWrap, PipeWrap, …).
// It adds a signal listener; nothing else in the daemon changes.
import { appendFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";

const i = process.argv.indexOf("--config");
const file = i >= 0 && process.argv[i + 1] ? join(dirname(process.argv[i + 1]!), "probe.jsonl") : undefined;

function sample(): void {
  if (!file) return;
  const resources: Record<string, number> = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  const m = process.memoryUsage();
  let fds = -1;
  try {
    fds = readdirSync("/proc/self/fd").length;
  } catch {
    /* not Linux */
  }
  const line = { t: Date.now(), rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, fds, resources };
  try {
    appendFileSync(file, JSON.stringify(line) + "\n");
  } catch {
    /* the directory went away: the run is over */
  }
}

if (file) {
  process.on("SIGUSR2", () => {
    (globalThis as { gc?: () => void }).gc?.();
    sample();
  });
}
