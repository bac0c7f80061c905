// Bounded property-based fuzzing of the DTLS-SRTP transport with hostile
// datagrams, before, during and after the handshake. Targets and properties:
// test/fuzz/targets-dtls.ts; longer runs: test/fuzz/fuzz-long.ts.
import { fuzzTests } from "../fuzz/unit-runner.js";
import { DTLS_TARGETS } from "../fuzz/targets-dtls.js";

fuzzTests("fuzz: DTLS-SRTP", DTLS_TARGETS);
