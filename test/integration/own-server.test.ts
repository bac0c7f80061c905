// The README's "Use your own server", followed literally: the Prosody
// snippet, the two daemon files and the roster commands are read from
// README.md itself (so the text and the test cannot drift apart), with only
// the names a test must change (example.org -> home.test, /etc/jingled and
// /run/jingled -> a temp dir, the TURN server's address, port and secret ->
// a throwaway coturn). Then the bare-JID call the section ends with.
//
// What the test adds because it runs here and not on a real network, and
// nothing else: Prosody's ports, paths, certificate and log (the helper,
// with no modules of its own), and in each daemon file account.server (no
// DNS for home.test here) and ice.addresses [127.0.0.1] (tests never send
// beyond loopback).
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import { startCoturn, type Coturn } from "../../scripts/lab/coturn.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { withLab } from "../helpers/with-lab.js";
import { main as jinglectl } from "../../src/cli/jinglectl.js";

const README = readFileSync(fileURLToPath(new URL("../../../README.md", import.meta.url)), "utf8");

/** The fenced blocks of one language in the README's section `title`, in order. */
function blocks(title: string, lang: string): string[] {
  const start = README.indexOf(`\n## ${title}\n`);
  assert.ok(start >= 0, `README has a section "${title}"`);
  const end = README.indexOf("\n## ", start + 1);
  const section = README.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(new RegExp("```" + lang + "\\n([\\s\\S]*?)```", "g"))].map((m) => m[1]!);
}

const SECTION = "Use your own server";
const DOMAIN = "home.test";

describe("README: use your own server", { timeout: 120_000 }, () => {
  let coturn: Coturn;
  let prosody: ProsodyServer;
  let door: Daemon;
  let kitchen: Daemon;
  /** The names a test must change; nothing else. */
  let localise: (text: string) => string;
  let serverConfig: string;
  const passwords = { door: "door-pw-1", alice: "alice-pw-1" };
  const lab = withLab({
    name: "own-server",
    users: passwords,
    setup: async ({ dir, adopt }) => {
      coturn = adopt(await startCoturn({ realm: DOMAIN }));
      localise = (text) => text.replaceAll("example.org", DOMAIN).replaceAll("/etc/jingled", join(dir, "etc")).replaceAll("/run/jingled", join(dir, "run"));

      // The server: the README's Lua, the TURN server's address, port and secret filled in.
      const [lua] = blocks(SECTION, "lua");
      assert.ok(lua, "a Prosody snippet");
      serverConfig = localise(lua)
        .replace(/^turn_external_host = .*$/m, `turn_external_host = "${coturn.host}"`)
        .replace(/^turn_external_port = .*$/m, `turn_external_port = ${coturn.port}`)
        .replace(/^turn_external_secret = .*$/m, `turn_external_secret = "${coturn.secret}"`);
      assert.match(serverConfig, /"external_services";[\s\S]*"turn_external";/);
    },
    prosody: () => ({ domain: DOMAIN, baseModules: [], extraConfig: serverConfig }),
    daemons: ({ dir, prosody }) => {
      // The daemons: the README's two files; their password files and the server's certificate where they say.
      mkdirSync(join(dir, "etc"));
      writeFileSync(join(dir, "etc", "door.password"), `${passwords.door}\n`, { mode: 0o600 });
      writeFileSync(join(dir, "etc", "alice.password"), `${passwords.alice}\n`, { mode: 0o600 });
      copyFileSync(prosody.caFile, join(dir, "etc", `${DOMAIN}.crt`));
      const files = blocks(SECTION, "yaml").map((y) => parse(localise(y)) as { account: Record<string, unknown>; ice?: unknown });
      assert.equal(files.length, 2, "two daemon files");
      const here = (cfg: (typeof files)[number]) => ({
        ...cfg,
        account: { ...cfg.account, server: `xmpp://127.0.0.1:${prosody.port}` },
        ice: { addresses: ["127.0.0.1"] },
      });
      return {
        door: { username: "door", dir: join(dir, "daemon-0"), rawConfig: here(files[0]!) },
        kitchen: { username: "alice", dir: join(dir, "daemon-1"), rawConfig: here(files[1]!) },
      };
    },
    parallel: true,
  });
  before(() => ({ prosody, daemons: { door, kitchen } } = lab));

  test("the roster commands as shown, then a call to alice's bare JID rings her device and connects", async (t) => {
    assert.equal(door.jid, `door@${DOMAIN}/door`);
    assert.equal(kitchen.jid, `alice@${DOMAIN}/kitchen`);

    const [sh] = blocks(SECTION, "sh").filter((b) => b.includes("jinglectl"));
    assert.ok(sh, "the roster commands");
    const commands = localise(sh)
      .split("\n")
      .filter((l) => l.startsWith("jinglectl "))
      .map((line) => {
        const [cmd, comment = ""] = line.split(/\s+#\s+/);
        return { argv: cmd!.trim().split(/\s+/).slice(1), shows: /^shows: (.*)$/.exec(comment)?.[1] };
      });
    assert.ok(commands.at(-1)!.argv.includes("call"), "the section ends with the call");

    let callOutput = "";
    for (const { argv, shows } of commands) {
      // A command whose comment says what it shows is run again until it shows that (as a person would).
      const deadline = Date.now() + 10_000;
      for (;;) {
        const out: string[] = [];
        const err: string[] = [];
        const code = await jinglectl(argv, { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => err.push(s) }, env: {} });
        assert.equal(code, 0, `jinglectl ${argv.join(" ")}: ${err.join("")}`);
        t.diagnostic(`$ jinglectl ${argv.join(" ")}\n${out.join("")}`);
        if (argv.includes("call")) callOutput = out.join("");
        if (shows === undefined || out.join("").includes(shows)) break;
        assert.ok(Date.now() < deadline, `jinglectl ${argv.join(" ")} did not show "${shows}"; it printed:\n${out.join("")}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    // The call went to the bare JID (XEP-0353: every device of alice rings) and rang in the kitchen.
    const callId = /^call (\S+) outgoing to alice@home\.test$/m.exec(callOutput)?.[1];
    assert.ok(callId, `call output: ${callOutput}`);
    const incoming = await kitchen.waitForEvent((e) => e.event === "call" && e.type === "incoming", 10_000, "incoming at the kitchen");
    assert.equal(incoming.peer, door.jid);
    await kitchen.control.request("answer", { callId: incoming.callId });
    const active = (id: unknown) => (e: { event: string; callId?: unknown; type?: unknown }) => e.event === "call" && e.callId === id && e.type === "active";
    await door.waitForEvent(active(callId), 15_000, "door active");
    await kitchen.waitForEvent(active(incoming.callId), 15_000, "kitchen active");
    const media = await door.waitForEvent((e) => e.event === "media" && e.callId === callId, 5000, "media event");
    assert.equal(media.encryption, "dtls-srtp");

    // Audio both ways, then the end.
    const received = async (d: Daemon) => ((await d.control.request("stats")) as { packetsReceived?: number }).packetsReceived ?? 0;
    const deadline = Date.now() + 10_000;
    while ((await received(door)) < 25 || (await received(kitchen)) < 25) {
      assert.ok(Date.now() < deadline, "media flows both ways");
      await new Promise((r) => setTimeout(r, 100));
    }
    await door.control.request("hangup", { callId });
    const ended = await kitchen.waitForEvent((e) => e.event === "call" && e.callId === incoming.callId && e.type === "ended", 5000, "ended at the kitchen");
    assert.equal(ended.reason, "success");

    // What the section's modules are for: carbons enabled for both, stream management (smacks) for
    // both, TURN credentials from the server (external_services + turn_external) that coturn accepted.
    assert.ok((prosody.logs().match(/Enabling stream management/g) ?? []).length >= 2, "both daemons enabled stream management");
    for (const d of [door, kitchen]) {
      const log = readFileSync(join(d.configFile, "..", "jingled.log"), "utf8");
      assert.doesNotMatch(log, /carbons not enabled/, d.jid);
      assert.doesNotMatch(log, /offers no external services/, d.jid);
    }
    assert.match(coturn.logs(), /ALLOCATE processed, success/, "a daemon allocated a relay with the server's TURN credentials");
  });
});
