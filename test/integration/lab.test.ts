// The lab fixture (scripts/lab/lab.ts) with a real Prosody and real daemons:
// what it starts is up when start() returns, and stop() ends it in the
// reverse order — what was handed to it, the daemons, Prosody, what setup
// started — by PID, and removes the scratch directory; a start that fails
// half-way leaves nothing running.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { createLab, startLab } from "../../scripts/lab/lab.js";
import { pidAlive } from "../../scripts/lab/process.js";

describe("the lab fixture", { timeout: 120_000 }, () => {
  test("Prosody, accounts and daemons up; stop() runs adopted things, daemons, Prosody, setup's things in that order, by PID", async () => {
    const seen: string[] = [];
    let pids: { prosody: number; alice: number; phone: number } | undefined;
    const alive = () => pids && [pidAlive(pids.prosody), pidAlive(pids.alice), pidAlive(pids.phone)];
    const lab = await startLab({
      name: "lab-fixture",
      users: { alice: "a-pw", bob: "b-pw" },
      setup: async (l) => {
        l.cleanup(() => seen.push(`setup's: ${JSON.stringify(alive())}`));
      },
      prosody: { logLevel: "info" },
      daemons: { alice: { output: { type: "null" } }, phone: { username: "bob", resource: "phone", output: { type: "null" } } },
      parallel: true,
    });
    const { alice, phone } = lab.daemons;
    pids = { prosody: lab.prosody.pid, alice: alice.process.pid, phone: phone.process.pid };
    assert.equal(alice.jid, `alice@${lab.prosody.domain}/jingled`);
    assert.equal(phone.jid, `bob@${lab.prosody.domain}/phone`);
    assert.ok(existsSync(`${lab.dir}/alice/jingled.yaml`) && existsSync(`${lab.dir}/phone/jingled.yaml`), "each daemon's directory is DIR/NAME");
    assert.equal(lab.password("bob"), "b-pw");

    const carol = await lab.startDaemon("carol", { username: "alice", resource: "carol", output: { type: "null" } });
    lab.adopt({ close: () => seen.push(`adopted: ${JSON.stringify(alive())}`) });
    const dir = lab.dir;
    await lab.stop();

    assert.deepEqual(seen, ["adopted: [true,true,true]", "setup's: [false,false,false]"], "adopted first, setup's last");
    assert.equal(carol.process.running(), false, "a daemon started later is stopped too");
    assert.equal(existsSync(dir), !!process.env.KEEP_TEST_DIR, "the directory is removed");
  });

  test("a start that fails half-way stops what did start", async () => {
    const lab = createLab({
      name: "lab-fixture-fail",
      users: { alice: "a-pw" },
      daemons: { alice: {}, broken: { username: "alice", resource: "broken", config: { nonsense: true } } },
    });
    await assert.rejects(lab.start(), /jingled alice exited/);
    const pids = [lab.prosody.pid, lab.daemons.alice.process.pid];
    assert.deepEqual(pids.map(pidAlive), [true, true], "Prosody and the daemon that came up run until stop()");
    await lab.stop();
    assert.deepEqual(pids.map(pidAlive), [false, false], "stopped");
  });

  test("unavailable: nothing starts, skipped says why", async () => {
    const lab = createLab({ name: "lab-fixture-skip", users: { alice: "a-pw" }, unavailable: () => "no such program" });
    await lab.start();
    assert.equal(lab.skipped, "no such program");
    assert.throws(() => lab.prosody, /before the lab started \(it did not: no such program\)/);
    await lab.stop();
  });
});
