// What a fresh session sends once it is bound (src/xmpp/connection.ts, the
// real code, against a scripted server on a loopback socket): XEP-0280
// carbons are enabled — and the server has answered — before the initial
// presence. A server delivers a message to the bare JID only to the resources
// of highest priority and copies it to the others as carbons: an available
// device without carbons yet would get a call proposal neither way.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { XmppConnection } from "../../src/xmpp/connection.js";
import { FEATURES, startFakeXmppServer, type FakeConnection, type FakeXmppServer } from "../fakes/fake-xmpp-server.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a fresh session: carbons before presence", { timeout: 30_000 }, () => {
  let srv: FakeXmppServer | undefined;
  let conn: XmppConnection | undefined;

  afterEach(async () => {
    await conn?.stop();
    await srv?.stop();
    conn = srv = undefined;
  });

  async function login(c: FakeConnection): Promise<void> {
    await c.openStream(FEATURES.starttls);
    await c.startTls();
    await c.openStream(FEATURES.mechanisms("PLAIN"));
    await c.acceptPlain();
    await c.openStream(FEATURES.bind);
    await c.bind("alice@localhost/test");
  }

  /** The server's side of closing the stream (RFC 6120 §4.4), so that stop() need not time out. */
  async function closeWhenAsked(c: FakeConnection): Promise<void> {
    await c.expect(/<\/stream:stream>/, 25_000);
    c.send("</stream:stream>");
    c.close();
  }

  function connect(server: FakeXmppServer): XmppConnection {
    conn = new XmppConnection({
      jid: "alice@localhost",
      password: "alice-pw",
      resource: "test",
      service: server.service,
      allowPlaintext: false,
      caFile: server.caFile,
      priority: 0,
      features: [],
      logger: pino({ level: "silent" }),
    });
    return conn;
  }

  for (const error of [false, true]) {
    test(`no presence leaves until the carbons <enable/> is answered (${error ? "an error: presence follows anyway" : "a result"})`, async () => {
      let held!: () => void;
      const release = new Promise<void>((r) => (held = r));
      srv = await startFakeXmppServer(async (c) => {
        await login(c);
        await c.expect(/<enable xmlns=['"]urn:xmpp:carbons:2['"]/);
        await release;
        // Answered now (expect() moved past the request: answer by the id in what was received).
        const id = /<iq [^>]*id=['"]([^'"]+)['"][^>]*>\s*<enable xmlns=['"]urn:xmpp:carbons:2/.exec(c.received)![1];
        c.send(error ? `<iq type='error' id='${id}'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>` : `<iq type='result' id='${id}'/>`);
        await c.expect(/<presence[\s>/]/);
        await closeWhenAsked(c);
      });
      const x = connect(srv);
      await x.start();
      assert.equal(x.state, "online");
      await srv.connectionCount(1);
      const c = srv.connections[0]!;
      await sleep(400); // the server sits on its answer
      assert.doesNotMatch(c.received, /<presence[\s>/]/, "no presence while carbons are not enabled");
      held();
      await c.expect(/<presence[\s>/]/, 5000);
      const received = c.received;
      assert.ok(received.indexOf("urn:xmpp:carbons:2") < received.search(/<presence[\s>/]/), "the carbons request went first");
    });
  }

  test("a presence set while carbons are pending waits for them too, and goes out once", async () => {
    let held!: () => void;
    const release = new Promise<void>((r) => (held = r));
    srv = await startFakeXmppServer(async (c) => {
      await login(c);
      await release;
      await c.answerCarbons();
      await closeWhenAsked(c);
    });
    const x = connect(srv);
    await x.start();
    await x.setPresence("dnd", "in a meeting");
    await sleep(300);
    const c = srv.connections[0]!;
    assert.doesNotMatch(c.received, /<presence[\s>/]/);
    held();
    await c.expect(/<presence[\s>/][\s\S]*<show>dnd<\/show>/, 5000);
    await sleep(200);
    assert.equal(c.received.match(/<presence[\s>/]/g)?.length, 1, c.received);
  });
});
