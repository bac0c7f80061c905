// The real daemon started with its password in JINGLED_PASSWORD (as the
// systemd unit's EnvironmentFile allows): the helper processes it starts
// during a call (arecord, aplay) and for the devices command (pactl) never
// see the password or anything else of its environment; a reload still
// finds the password. Fake helpers on PATH write down what they got.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { until } from "../helpers/hostile.js";
import { withLab } from "../helpers/with-lab.js";
import type { AnyEvent } from "../../src/control/client.js";

const PASSWORD = "a-pw-from-the-environment";

describe("the daemon's password and environment stay out of its helper processes", { timeout: 90_000 }, () => {
  let bin: string;
  let alice: Daemon;
  let bob: Daemon;
  const lab = withLab({
    name: "daemon-env",
    users: { alice: PASSWORD, bob: "b-pw" },
    setup: async ({ dir }) => {
      bin = join(dir, "bin");
      mkdirSync(bin);
      for (const name of ["arecord", "aplay", "pactl"]) {
        // Record the environment; arecord then idles (silence), aplay swallows its audio, pactl lists nothing.
        const rest = name === "pactl" ? "exit 0" : name === "aplay" ? "exec cat > /dev/null" : "exec sleep 60";
        writeFileSync(join(bin, name), `#!/bin/sh\nenv > "${bin}/${name}.env"\n${rest}\n`);
        chmodSync(join(bin, name), 0o755);
      }
    },
    daemons: ({ prosody }) => ({
      alice: {
        password: "unused",
        input: { type: "alsa" },
        output: { type: "alsa" },
        // No password in the file: it comes from the environment only.
        config: { account: { jid: `alice@${prosody.domain}`, resource: "jingled", server: `xmpp://127.0.0.1:${prosody.port}` } },
        env: { JINGLED_PASSWORD: PASSWORD, SECRET_TOKEN: "anything-else", PATH: `${bin}:${process.env.PATH}` },
      },
      bob: { input: { type: "silence" }, output: { type: "null" } },
    }),
  });
  before(() => ({ daemons: { alice, bob } } = lab));

  function envOf(name: string): string {
    return readFileSync(join(bin, `${name}.env`), "utf8");
  }

  test("arecord, aplay (in a call) and pactl (devices) get neither the password nor the rest; reload still logs in with it", async () => {
    const mark = bob.events.length;
    const { callId } = (await alice.control.request("call", { jid: bob.jid })) as { callId: string };
    const inc = await bob.waitForEvent((e: AnyEvent) => e.event === "call" && e.type === "incoming" && bob.events.indexOf(e) >= mark, 10_000, "bob rings");
    await bob.control.request("answer", { callId: inc.callId });
    await alice.waitForEvent((e) => e.event === "call" && e.callId === callId && e.type === "active", 10_000, "alice active");
    await alice.control.request("devices");
    await until(() => ["arecord", "aplay", "pactl"].every((n) => existsSync(join(bin, `${n}.env`))), 10_000, "every helper started");
    await new Promise((r) => setTimeout(r, 100));
    for (const name of ["arecord", "aplay", "pactl"]) {
      const env = envOf(name);
      assert.doesNotMatch(env, new RegExp(PASSWORD), `${name} does not see the password`);
      assert.doesNotMatch(env, /SECRET_TOKEN/, `${name} does not see the rest of the daemon's environment`);
      assert.match(env, new RegExp(`^PATH=${bin}:`, "m"), `${name} has PATH`);
    }
    await alice.control.request("hangup", { callId });

    // The password read at start is kept for reloads (it is no longer in the environment).
    const plan = (await alice.control.request("reload")) as { applied: string[]; restartRequired: string[] };
    assert.ok(!plan.restartRequired.includes("account.password"), `the password did not "change": ${JSON.stringify(plan)}`);
  });
});
