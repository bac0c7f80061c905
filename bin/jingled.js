#!/usr/bin/env node
import { main } from "../dist/src/main.js";
process.exitCode = await main(process.argv.slice(2));
// Timers of closed sockets must not keep a stopped daemon alive.
if (process.exitCode !== undefined) setTimeout(() => process.exit(process.exitCode), 500).unref();
