// Bounded property-based fuzzing of the XMPP-side parsers (Jingle IQs through
// the session manager, XEP-0353 messages, XEP-0215, roster, IQ errors).
// Targets and properties: test/fuzz/targets-xmpp.ts; longer runs:
// test/fuzz/fuzz-long.ts.
import { fuzzTests } from "../fuzz/unit-runner.js";
import { XMPP_TARGETS } from "../fuzz/targets-xmpp.js";

fuzzTests("fuzz: XMPP stanzas", XMPP_TARGETS);
