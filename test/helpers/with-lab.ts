// The lab of a test suite (scripts/lab/lab.ts: Prosody, its accounts, the
// daemons with their configs): started in the suite's before, stopped in
// its after — also when the start failed half-way, and with whatever the
// suite handed to it (lab.adopt, lab.cleanup) stopped first.
//
//   describe("...", () => {
//     const lab = withLab({ name: "jmi", users: { alice: "a-pw" }, daemons: { alice: {} } });
//     test("...", async () => { await lab.daemons.alice.control.request("status"); });
//   });
//
// Call it in the describe body before the suite's own before/after hooks:
// node:test runs both kinds in the order they were registered, so the
// suite's before sees the lab started, and what the suite starts in its
// before it hands to the lab to be stopped before the daemons and Prosody.
import { after, before } from "node:test";
import { createLab, type Lab, type LabOptions } from "../../scripts/lab/lab.js";

export function withLab<D extends string>(o: LabOptions<D>): Lab<D> {
  const lab = createLab(o);
  before(() => lab.start());
  after(() => lab.stop());
  return lab;
}
