#!/usr/bin/env -S node --max-semi-space-size=2
// V8 flags of the daemon (also in scripts/jingled.service, Dockerfile,
// docker-compose.yml and scripts/lab/daemon.ts, which reads this line):
// young-generation semi-spaces of 2 MiB instead of 16 keep an idle daemon
// near 75 MiB RSS and a call near 0.6 MiB, at no measurable CPU cost
// (docs/performance.md).
import { main } from "../dist/src/main.js";
process.exitCode = await main(process.argv.slice(2));
// Timers of closed sockets must not keep a stopped daemon alive.
if (process.exitCode !== undefined) setTimeout(() => process.exit(process.exitCode), 500).unref();
