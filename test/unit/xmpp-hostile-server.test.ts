// The account connection (src/xmpp/connection.ts, the real code) against a
// scripted server on a loopback socket that plays a man in the middle or an
// impostor: it skips STARTTLS, skips SASL, offers <bind/> straight away —
// on the first login and on a reconnect after a real login — or it runs
// SCRAM without knowing the password. The daemon must never come online
// through it, and nothing but the stream header (and STARTTLS, SASL) may
// leave before TLS and authentication.
import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import { pino } from "pino";
import { XmppConnection, type AccountState, type XmppOptions } from "../../src/xmpp/connection.js";
import { FEATURES, scramSha1Server, startFakeXmppServer, type FakeConnection, type FakeXmppServer, type ScramFinal } from "../fakes/fake-xmpp-server.js";

interface LogLine {
  level: number;
  msg: string;
  err?: string;
}

function capture(): { logger: XmppOptions["logger"]; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines };
}

/** What the client wrote besides stream headers and the closing tag. */
function beyondHeaders(received: string): string {
  return received
    .replace(/<\?xml[^>]*\?>/g, "")
    .replace(/<stream:stream[^>]*>/g, "")
    .replace(/<\/stream:stream>/g, "")
    .trim();
}

const STANZA = /<(iq|message|presence)[\s>/]/;

/** The impostor's whole login: <bind/> at once, and a JID for whoever asks. */
async function bindAtOnce(c: FakeConnection): Promise<void> {
  await c.openStream(FEATURES.bind);
  await c.bind("alice@localhost/test");
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("login against a hostile server", { timeout: 60_000 }, () => {
  let srv: FakeXmppServer | undefined;
  let conn: XmppConnection | undefined;

  afterEach(async () => {
    await conn?.stop();
    await srv?.stop();
    conn = srv = undefined;
  });

  function connect(server: FakeXmppServer, over: Partial<XmppOptions> = {}) {
    const log = capture();
    const states: [AccountState, string | undefined][] = [];
    conn = new XmppConnection({
      jid: "alice@localhost",
      password: "alice-pw",
      resource: "test",
      service: server.service,
      allowPlaintext: false,
      caFile: server.caFile,
      priority: 0,
      features: [],
      logger: log.logger,
      ...over,
    });
    conn.on("state", (s, reason) => states.push([s, reason]));
    return { conn, states, lines: log.lines };
  }

  const refusals = (lines: LogLine[]) => lines.filter((l) => l.level >= 50);

  test("first login: a server offering only <bind/> in plaintext is refused before any stanza leaves", async () => {
    srv = await startFakeXmppServer(bindAtOnce);
    const { conn, states, lines } = connect(srv);
    await assert.rejects(conn.start(), /offered no STARTTLS; refusing to go on in plaintext/);
    await sleep(300);
    assert.equal(conn.state, "offline");
    assert.deepEqual(states.map((s) => s[0]), ["connecting", "offline"]);
    assert.match(states[1]![1] ?? "", /offered no STARTTLS/);
    const c = srv.connections[0]!;
    assert.equal(beyondHeaders(c.received), "", `nothing but the stream header left: ${c.received}`);
    assert.equal(c.closed, true, "the connection was dropped");
    assert.deepEqual(refusals(lines).map((l) => l.msg), ["login refused"], "one logged error");
  });

  test("after STARTTLS, a server offering <bind/> without SASL is refused; nothing but the stream header went inside TLS", async () => {
    srv = await startFakeXmppServer(async (c) => {
      await c.openStream(FEATURES.starttls);
      await c.startTls();
      await bindAtOnce(c);
    });
    const { conn, lines } = connect(srv);
    await assert.rejects(conn.start(), /offered no SASL authentication/);
    const c = srv.connections[0]!;
    assert.ok(c.secure, "TLS was negotiated");
    assert.equal(beyondHeaders(c.received).replace(/<starttls[^>]*\/>/, ""), "", c.received);
    assert.equal(refusals(lines).length, 1);
  });

  test("plaintext allowed: SASL is still required before <bind/>", async () => {
    srv = await startFakeXmppServer(bindAtOnce);
    const { conn } = connect(srv, { allowPlaintext: true });
    await assert.rejects(conn.start(), /offered no SASL authentication/);
    assert.doesNotMatch(srv.connections[0]!.received, STANZA);
  });

  test("stanzas a server pushes before authentication are not answered", async () => {
    srv = await startFakeXmppServer(async (c) => {
      await c.openStream(FEATURES.starttls);
      await c.startTls();
      // With the SASL offer, a ping and a roster push: both would be answered once online.
      await c.openStream(FEATURES.mechanisms("SCRAM-SHA-1"));
      c.send("<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq><iq type='set' id='r1'><query xmlns='jabber:iq:roster'><item jid='mallory@evil'/></query></iq>");
    });
    const { conn } = connect(srv);
    conn.start().catch(() => undefined); // left waiting for the SASL challenge
    await srv.connectionCount(1);
    await srv.connections[0]!.expect(/<auth /);
    await sleep(300);
    assert.doesNotMatch(srv.connections[0]!.received, STANZA);
  });

  test("reconnect: after a real login, a man in the middle offering plaintext <bind/> gets no stanza; never online again; one error and one account event per attempt", async () => {
    const legit = async (c: FakeConnection) => {
      await c.openStream(FEATURES.starttls);
      await c.startTls();
      await c.openStream(FEATURES.mechanisms("PLAIN"));
      await c.acceptPlain();
      await c.openStream(FEATURES.bind);
      await c.bind("alice@localhost/test");
      await c.answerCarbons();
      await c.expect(/<presence/); // online: initial presence
      await sleep(200);
      c.close(); // the man in the middle cuts the connection ...
    };
    srv = await startFakeXmppServer((c) => (c.index === 0 ? legit(c) : bindAtOnce(c))); // ... and answers the reconnect itself
    const { conn, states, lines } = connect(srv);
    await conn.start();
    assert.equal(conn.state, "online");
    // First retry after ~2 s, the next ~4 s later (backoff doubles after each refusal).
    await srv.connectionCount(3, 20_000);
    await sleep(500);
    const after = states.slice(states.findIndex((s) => s[0] === "online") + 1);
    assert.ok(!after.some((s) => s[0] === "online"), `never online again: ${JSON.stringify(after)}`);
    assert.equal(conn.state, "reconnecting");
    const refusedEvents = after.filter((s) => /offered no STARTTLS/.test(s[1] ?? ""));
    const attempts = srv.connections.length - 1;
    for (const c of srv.connections.slice(1)) {
      assert.equal(beyondHeaders(c.received), "", `reconnect ${c.index}: nothing but the stream header left: ${c.received}`);
    }
    const errors = refusals(lines);
    assert.ok(errors.every((l) => l.msg === "login refused" && /offered no STARTTLS/.test(l.err ?? "")), JSON.stringify(errors));
    // The attempt in progress when we looked may not have been refused yet.
    assert.ok(errors.length >= attempts - 1 && errors.length <= attempts, `one error per refused attempt: ${errors.length} for ${attempts}`);
    assert.equal(refusedEvents.length, errors.length, "one account event per refusal");
  });

  describe("SCRAM with a server that does not know the password", () => {
    /** STARTTLS, then SCRAM-SHA-1 played by the fake server, then <bind/> for whoever gets there. */
    const scramLogin = (o: { password?: string; final: ScramFinal }) => async (c: FakeConnection) => {
      await c.openStream(FEATURES.starttls);
      await c.startTls();
      await c.openStream(FEATURES.mechanisms("SCRAM-SHA-1"));
      await scramSha1Server(c, o);
      await bindAtOnce(c);
    };

    for (const [final, where] of [
      ["success-data", "in <success/> (as Prosody sends it)"],
      ["challenge", "in a last <challenge/>"],
    ] as const) {
      test(`the server's signature ${where} is checked: right -> online`, async () => {
        srv = await startFakeXmppServer(scramLogin({ password: "alice-pw", final }));
        const { conn } = connect(srv);
        await conn.start();
        assert.equal(conn.state, "online");
      });

      test(`a wrong signature ${where}: login refused, nothing sent after SASL`, async () => {
        srv = await startFakeXmppServer(scramLogin({ final }));
        const { conn, states, lines } = connect(srv);
        await assert.rejects(conn.start(), /refusing the server: SCRAM-SHA-1: the server's signature is wrong/);
        assert.equal(conn.state, "offline");
        assert.ok(!states.some((s) => s[0] === "online"));
        const afterSasl = srv.connections[0]!.received.split(/<response[^>]*>[^<]*<\/response>|<response[^>]*\/>/).pop()!;
        assert.equal(beyondHeaders(afterSasl), "", `nothing after SASL: ${afterSasl}`);
        assert.deepEqual(refusals(lines).map((l) => l.msg), ["login refused"]);
      });
    }

    test("no signature at all (<success/> without data, no final challenge): login refused", async () => {
      srv = await startFakeXmppServer(scramLogin({ final: "none" }));
      const { conn } = connect(srv);
      await assert.rejects(conn.start(), /the server did not prove it knows the password/);
      assert.doesNotMatch(srv.connections[0]!.received, STANZA);
    });
  });
});
