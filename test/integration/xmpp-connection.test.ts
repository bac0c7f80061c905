// The account connection against a real Prosody: STARTTLS with the server's
// self-signed certificate trusted by config, refused without it; disco#info
// answers the Jingle feature list; wrong password fails clearly; an iq reply
// from someone other than the entity asked is not taken as the answer.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { xml } from "@xmpp/xml";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";
import { XmppConnection, type XmppOptions } from "../../src/xmpp/connection.js";
import { jingleFeatures, NS_DISCO_INFO } from "../../src/xmpp/caps.js";
import { silentLogger } from "../../src/util/logger.js";
import { pino } from "pino";

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
        { username: "mallory", password: "mallory-pw" },
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

  test("an iq reply from a third party with the request's id is dropped; the real answer from the JID asked counts", async () => {
    const carol = conn({ resource: "spoofed" });
    const dave = conn({ jid: `dave@${prosody.domain}`, password: "dave-pw", resource: "slow", features: [] });
    const mallory = conn({ jid: `mallory@${prosody.domain}`, password: "mallory-pw", resource: "evil", features: [] });
    await Promise.all([carol.start(), dave.start(), mallory.start()]);
    // dave holds on to the request; the id leaks to mallory (ids are unpredictable: an attacker must learn one).
    let answer: (() => Promise<void>) | undefined;
    const asked = new Promise<string>((resolve) =>
      dave.onIqSet("urn:jingled:test", "slow", (iq) => {
        answer = () => dave.send(xml("iq", { type: "result", to: iq.attrs.from, id: iq.attrs.id }, xml("slow", { xmlns: "urn:jingled:test", by: "dave" })));
        resolve(iq.attrs.id!);
      }),
    );
    const reply = carol.iq(xml("iq", { type: "set", to: dave.jid }, xml("slow", { xmlns: "urn:jingled:test" })), 10_000);
    const id = await asked;
    await mallory.send(xml("iq", { type: "result", to: carol.jid, id }, xml("slow", { xmlns: "urn:jingled:test", by: "mallory" })));
    const early = await Promise.race([reply.then((r) => r.attrs.from), new Promise((r) => setTimeout(() => r("pending"), 700))]);
    assert.equal(early, "pending", "mallory's reply was not taken");
    await answer!();
    const got = await reply;
    assert.equal(got.attrs.from, dave.jid);
    assert.equal(got.getChild("slow", "urn:jingled:test")?.attrs.by, "dave");
  });
});

describe("channel binding with Prosody 0.12 (real Prosody)", { timeout: 60_000 }, () => {
  // Prosody 0.12 knows only tls-unique, which RFC 9266 leaves undefined for TLS 1.3: there it offers no -PLUS
  // (jingled logs in with SCRAM-SHA-1, gs2 flag "y"); on TLS 1.2 it offers SCRAM-SHA-1-PLUS and checks the binding.
  for (const tls12 of [false, true]) {
    test(tls12 ? "TLS 1.2 only: SCRAM-SHA-1-PLUS with tls-unique" : "TLS 1.3: SCRAM-SHA-1, no -PLUS offered", async () => {
      const prosody = await startProsody({ users: [{ username: "erin", password: "erin-pw" }], ...(tls12 ? { extraConfig: 'c2s_ssl = { protocol = "tlsv1_2" }' } : {}) });
      const lines: { msg?: string; mechanism?: string; channelBinding?: string }[] = [];
      const c = new XmppConnection({
        jid: `erin@${prosody.domain}`,
        password: "erin-pw",
        resource: "test",
        service: `xmpp://127.0.0.1:${prosody.port}`,
        allowPlaintext: false,
        caFile: prosody.caFile,
        priority: 0,
        features: [],
        logger: pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s) as (typeof lines)[number]) }),
      });
      try {
        await c.start();
        const online = lines.find((l) => l.msg === "online")!;
        const log = prosody.logs();
        if (tls12) {
          assert.deepEqual([online.mechanism, online.channelBinding], ["SCRAM-SHA-1-PLUS", "tls-unique"]);
          assert.match(log, /Channel binding 'tls-unique' supported/);
          assert.match(log, /<auth [^>]*mechanism='SCRAM-SHA-1-PLUS'/);
        } else {
          assert.deepEqual([online.mechanism, online.channelBinding], ["SCRAM-SHA-1", undefined]);
          assert.match(log, /Channel binding 'tls-unique' undefined in context of TLS 1\.3/);
        }
      } finally {
        await c.stop();
        await prosody.stop();
      }
    });
  }
});
