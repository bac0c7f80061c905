// The account connection against a real Prosody: STARTTLS with the server's
// self-signed certificate trusted by config, refused without it; disco#info
// answers the Jingle feature list; wrong password fails clearly.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/xml";
import { startProsody, type ProsodyServer } from "../helpers/prosody.js";
import { XmppConnection, type XmppOptions } from "../../src/xmpp/connection.js";
import { jingleFeatures, NS_DISCO_INFO } from "../../src/xmpp/caps.js";
import { silentLogger } from "../../src/util/logger.js";

describe("XMPP account connection (real Prosody)", { timeout: 60_000 }, () => {
  let prosody: ProsodyServer;
  const open: XmppConnection[] = [];
  const conn = (over: Partial<XmppOptions> = {}) => {
    const c = new XmppConnection({
      jid: `carol@${prosody.domain}`,
      password: "carol-pw",
      resource: "test",
      service: `xmpp://127.0.0.1:${prosody.port}`,
      allowPlaintext: false,
      caFile: prosody.caFile,
      priority: 5,
      features: jingleFeatures(),
      logger: silentLogger(),
      ...over,
    });
    open.push(c);
    return c;
  };

  before(async () => {
    prosody = await startProsody({
      users: [
        { username: "carol", password: "carol-pw" },
        { username: "dave", password: "dave-pw" },
      ],
    });
  });
  after(async () => {
    for (const c of open) await c.stop();
    await prosody?.stop();
  });

  test("logs in over STARTTLS trusting the configured CA, answers disco#info", async () => {
    const carol = conn();
    const states: string[] = [];
    carol.on("state", (s) => states.push(s));
    await carol.start();
    assert.equal(carol.state, "online");
    assert.match(carol.jid ?? "", /^carol@localhost\/test/);
    assert.deepEqual(states, ["connecting", "online"]);

    const dave = conn({ jid: `dave@${prosody.domain}`, password: "dave-pw", features: [] });
    await dave.start();
    const reply = await dave.iq(xml("iq", { type: "get", to: carol.jid }, xml("query", { xmlns: NS_DISCO_INFO })));
    const features = reply.getChild("query", NS_DISCO_INFO)!.getChildren("feature").map((f) => f.attrs.var);
    for (const f of ["urn:xmpp:jingle:1", "urn:xmpp:jingle:apps:rtp:1", "urn:xmpp:jingle:apps:rtp:audio", "urn:xmpp:jingle:transports:ice-udp:1"]) {
      assert.ok(features.includes(f), `disco#info lists ${f}`);
    }
    const identity = reply.getChild("query", NS_DISCO_INFO)!.getChild("identity")!;
    assert.equal(identity.attrs.name, "jingled");
  });

  test("an untrusted (self-signed) server certificate is refused by default", async () => {
    const c = conn({ caFile: undefined });
    await assert.rejects(c.start(), /TLS with localhost failed: .*self.signed|certificate/i);
    assert.equal(c.state, "offline");
  });

  test("a wrong password fails with a clear error and no retry loop", async () => {
    const c = conn({ password: "wrong" });
    await assert.rejects(c.start(), /not-authorized|cannot log in/);
    assert.equal(c.state, "offline");
  });
});
