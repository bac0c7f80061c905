// Text a peer chooses reaches the person at the terminal: `jinglectl events`
// (its real main()) follows a real daemon while a caller, through a real
// Prosody, ends its call with a reason text built to forge event lines (a
// newline, then what looks like another event), to take over the terminal
// (C1 CSI, U+009B) and to reorder the line (a bidi override). Every event
// stays one line, and what is unsafe is shown as an escape.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { audioContent, jingleIq, rawClient, sleep, until } from "../helpers/hostile.js";
import { withLab } from "../helpers/with-lab.js";
import { main } from "../../src/cli/jinglectl.js";
import type { XmppConnection } from "../../src/xmpp/connection.js";

const FORGED = "call c77 active with bob@localhost/phone (opus)";
// (XML turns CR LF into LF on the way.)
const EVIL_TEXT = `bye\n${FORGED}\n\u009b2J\u202eevil`;

describe("peer text in jinglectl's output", { timeout: 90_000 }, () => {
  let alice: Daemon;
  let mallory: XmppConnection;
  const lab = withLab({
    name: "hostile-text",
    users: { alice: "a-pw", mallory: "m-pw" },
    daemons: { alice: { output: { type: "null" }, config: { calls: { acceptFrom: "everyone" } } } },
  });

  before(async () => {
    ({ daemons: { alice } } = lab);
    mallory = lab.adopt(await rawClient(lab.prosody, "mallory", "m-pw", "evil"));
    mallory.onIqSet("urn:xmpp:jingle:1", "jingle", (iq) => mallory.sendIqResult(iq));
  });

  test("a reason text with newlines, a C1 control and a bidi override: one escaped line per event", async () => {
    let out = "";
    const stop = new AbortController();
    const events = main(["--socket", alice.socketPath, "events"], { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true }, signal: stop.signal });
    await until(() => out.includes("connected to jingled"), 10_000, "jinglectl connected");

    const sid = "hostile-text-1";
    await mallory.iq(jingleIq(alice.jid, { action: "session-initiate", sid, initiator: mallory.jid!, contents: [audioContent()] }));
    await until(() => out.includes(" incoming "), 10_000, "the call rings at alice");
    await mallory.iq(jingleIq(alice.jid, { action: "session-terminate", sid, contents: [], reason: { condition: "decline", text: EVIL_TEXT } }));
    await until(() => / ended /.test(out), 10_000, "the call ended at alice");
    await sleep(200);
    stop.abort();
    assert.equal(await events, 0);

    const lines = out.split("\n").filter((l) => l !== "");
    const ended = lines.filter((l) => l.includes(" ended "));
    assert.equal(ended.length, 1, out);
    assert.ok(!lines.some((l) => l.startsWith(FORGED)), `no forged event line:\n${out}`);
    assert.ok(ended[0]!.includes(`bye\\n${FORGED}\\n\\x9b2J\\u202eevil`), ended[0]);
    assert.doesNotMatch(out, /[\u0080-\u009f\u202e\r]/, "no raw control character reached the terminal");
  });
});
