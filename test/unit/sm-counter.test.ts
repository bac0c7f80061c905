// The XEP-0198 inbound counter (src/xmpp/sm-counter.ts) composed with the
// real @xmpp middleware, stream features, resource binding, iq caller and
// stream management, as src/xmpp/connection.ts composes them, on a fake
// entity: the seam is the parsed XML stream. Elements given to one
// receive() call are dispatched synchronously, as the parser does for one
// TCP read.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { xml } from "@xmpp/xml";
import type { Element } from "ltx";
import _middleware from "@xmpp/middleware";
import _streamFeatures from "@xmpp/stream-features";
import _iqCaller from "@xmpp/iq/caller.js";
import _resourceBinding from "@xmpp/resource-binding";
import _streamManagement from "@xmpp/stream-management";
import { NS_SM, inboundCounter } from "../../src/xmpp/sm-counter.js";

const NS_STREAMS = "http://etherx.jabber.org/streams";
const NS_BIND = "urn:ietf:params:xml:ns:xmpp-bind";

class FakeEntity extends EventEmitter {
  jid: unknown = null;
  options = { domain: "example.org" };
  sent: Element[] = [];
  async send(el: Element): Promise<void> {
    this.sent.push(el);
    this.emit("send", el);
  }
  async sendMany(els: Element[]): Promise<void> {
    for (const el of els) await this.send(el);
  }
  hook(): void {}
  _jid(jid: string): void {
    this.jid = jid;
  }
  _ready(): void {}
  async disconnect(): Promise<void> {}
  receive(...els: Element[]): void {
    for (const el of els) {
      this.emit("element", el);
      this.emit(["iq", "message", "presence"].includes(el.name) ? "stanza" : "nonza", el);
    }
  }
  acks(): number[] {
    return this.sent.filter((e) => e.is("a", NS_SM)).map((e) => Number(e.attrs.h));
  }
}

function compose(ours: boolean) {
  const entity = new FakeEntity();
  const middleware = _middleware({ entity });
  const streamFeatures = _streamFeatures({ middleware });
  const counter = ours ? inboundCounter(middleware, entity) : undefined;
  const iqCaller = _iqCaller({ middleware, entity });
  _resourceBinding({ iqCaller, streamFeatures }, "jingled");
  const sm = _streamManagement({ streamFeatures, entity, middleware });
  counter?.attach(sm);
  return { entity, iqCaller, sm };
}

const settle = () => new Promise<void>((r) => setImmediate(r));

/** Features -> bind -> (stanzas before <enabled/>) -> enable. */
async function login(entity: FakeEntity, beforeEnabled: Element[] = []): Promise<void> {
  entity.receive(xml("stream:features", { "xmlns:stream": NS_STREAMS }, xml("bind", { xmlns: NS_BIND }), xml("sm", { xmlns: NS_SM })));
  await settle();
  const bindIq = entity.sent.find((e) => e.is("iq") && e.getChild("bind", NS_BIND));
  assert.ok(bindIq, "resource binding was requested");
  entity.receive(xml("iq", { type: "result", id: bindIq.attrs.id }, xml("bind", { xmlns: NS_BIND }, xml("jid", {}, "alice@example.org/jingled"))));
  await settle();
  assert.ok(entity.sent.some((e) => e.is("enable", NS_SM)), "stream management enable sent");
  if (beforeEnabled.length) entity.receive(...beforeEnabled);
}

test("a stanza and <r/> in the same read as <enabled/>: h counts only what came after <enabled/>", async () => {
  const run = async (ours: boolean) => {
    const { entity } = compose(ours);
    await login(entity, [xml("presence", { from: "bob@example.org/x" })]);
    entity.receive(xml("enabled", { xmlns: NS_SM, id: "s1", resume: "true" }), xml("message", { from: "bob@example.org/x" }), xml("r", { xmlns: NS_SM }));
    await settle();
    entity.emit("disconnect"); // clears the library's ack timers
    return entity.acks();
  };
  assert.deepEqual(await run(true), [1]);
  // The library alone answers with the stale pre-enable count (what made
  // Prosody close the stream): the fixture really exercises the race.
  assert.deepEqual(await run(false), [2]);
});

test("results of our own iq requests are counted", async () => {
  const run = async (ours: boolean) => {
    const { entity, iqCaller } = compose(ours);
    await login(entity);
    entity.receive(xml("enabled", { xmlns: NS_SM, id: "s1", resume: "true" }));
    await settle();
    for (let i = 0; i < 3; i++) {
      const reply = iqCaller.request(xml("iq", { type: "get", to: "example.org" }, xml("query", { xmlns: "http://jabber.org/protocol/disco#info" })));
      await settle();
      const req = entity.sent.filter((e) => e.is("iq") && e.attrs.type === "get").at(-1)!;
      entity.receive(xml("iq", { type: i === 2 ? "error" : "result", id: req.attrs.id, from: "example.org" }, i === 2 ? xml("error", { type: "cancel" }, xml("item-not-found", { xmlns: "urn:ietf:params:xml:ns:xmpp-stanzas" })) : undefined));
      await reply.catch(() => undefined);
    }
    entity.receive(xml("presence", { from: "bob@example.org/x" }), xml("r", { xmlns: NS_SM }));
    await settle();
    entity.emit("disconnect");
    return entity.acks();
  };
  assert.deepEqual(await run(true), [4], "three iq replies and a presence");
  assert.deepEqual(await run(false), [1], "the library alone misses the iq replies");
});

test("the count survives a disconnect for <resume h/> and restarts when the stream is gone for good", async () => {
  const { entity, sm } = compose(true);
  await login(entity);
  entity.receive(xml("enabled", { xmlns: NS_SM, id: "s1", resume: "true" }), xml("message", {}), xml("message", {}));
  await settle();
  entity.emit("disconnect", { clean: false });
  assert.equal((sm as unknown as { inbound: number }).inbound, 2, "kept for resumption");
  entity.emit("offline");
  assert.equal((sm as unknown as { inbound: number }).inbound, 0);
});
