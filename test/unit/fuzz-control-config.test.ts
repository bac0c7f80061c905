// Bounded property-based fuzzing of the control socket (request lines,
// command arguments, the server's framing over a real Unix socket) and of
// configuration files. Targets and properties: test/fuzz/targets-control.ts,
// test/fuzz/targets-config.ts; longer runs: test/fuzz/fuzz-long.ts.
import { fuzzTests } from "../fuzz/unit-runner.js";
import { CONTROL_TARGETS } from "../fuzz/targets-control.js";
import { CONFIG_TARGETS } from "../fuzz/targets-config.js";

fuzzTests("fuzz: control socket and configuration", [...CONTROL_TARGETS, ...CONFIG_TARGETS]);
