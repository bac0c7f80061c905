// Bounded property-based fuzzing of what arrives on the media port: RTP/RTCP
// parsing and demultiplexing, round trips, and a media session receiving
// hostile datagrams between the peer's packets. Targets and properties:
// test/fuzz/targets-media.ts; longer runs: test/fuzz/fuzz-long.ts.
import { fuzzTests } from "../fuzz/unit-runner.js";
import { MEDIA_TARGETS } from "../fuzz/targets-media.js";

fuzzTests("fuzz: media packets", MEDIA_TARGETS);
