// jingled where home automation lives: two real daemons (through a real
// Prosody) driven purely over MQTT through a real Mosquitto, which is
// restarted mid-call; event hooks run a real script; Prometheus metrics are
// scraped during the call.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { ProsodyServer } from "../../scripts/lab/prosody.js";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { haveMosquitto, startMosquitto, type Mosquitto } from "../../scripts/lab/mosquitto.js";
import { mqttObserver, type Observer, type Received } from "../helpers/mqtt-observer.js";
import { freePort } from "../../scripts/lab/ports.js";
import { withLab } from "../helpers/with-lab.js";

interface Reply {
  id: unknown;
  ok: boolean;
  result?: Record<string, unknown>;
  error?: { code: string; message: string };
}

/** The samples of a Prometheus text page. */
async function scrape(port: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const m = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const sp = line.lastIndexOf(" ");
    m.set(line.slice(0, sp), Number(line.slice(sp + 1)));
  }
  return m;
}

describe("home automation: two daemons driven over MQTT, hooks, metrics", { timeout: 180_000 }, () => {
  let prosody: ProsodyServer;
  let broker: Mosquitto;
  let dir: string;
  let alice: Daemon;
  let bob: Daemon;
  let app: Observer;
  let metricsPort: number;
  let skip = "";

  const isJson = (m: Received, pred: (o: Record<string, unknown>) => boolean): boolean => {
    try {
      return pred(JSON.parse(m.text) as Record<string, unknown>);
    } catch {
      return false;
    }
  };

  /** MQTT 5 request/response on alice (the reply on our response topic, matched by correlation data). */
  let corr = 0;
  async function aliceRequest(cmd: string, args?: object): Promise<Reply> {
    const c = String(++corr);
    await app.client.publishAsync("jingled/alice/command", JSON.stringify({ id: c, cmd, ...(args ? { args } : {}) }), { qos: 1, properties: { responseTopic: "app/replies/alice", correlationData: Buffer.from(c) } });
    const m = await app.next((x) => x.topic === "app/replies/alice" && x.packet.properties?.correlationData?.toString() === c, `alice's reply to ${cmd}`);
    return JSON.parse(m.text) as Reply;
  }

  /** MQTT 3.1.1 on bob: the reply on PREFIX/reply, matched by id. */
  async function bobRequest(id: string, cmd: string, args?: object): Promise<Reply> {
    await app.client.publishAsync("jingled/bob/command", JSON.stringify({ id, cmd, ...(args ? { args } : {}) }), { qos: 1 });
    const m = await app.next((x) => x.topic === "jingled/bob/reply" && isJson(x, (o) => o.id === id), `bob's reply to ${cmd}`);
    return JSON.parse(m.text) as Reply;
  }

  const callEvent = (who: "alice" | "bob", type: string, callId?: string) => (m: Received) =>
    m.topic.startsWith(`jingled/${who}/call/`) && m.topic.endsWith("/call") && isJson(m, (o) => o.type === type && (callId === undefined || o.callId === callId));

  let hook: string;
  const lab = withLab({
    name: "home",
    users: { alice: "alice-pw", bob: "bob-pw" },
    unavailable: () => {
      if (haveMosquitto()) return undefined;
      if (process.getuid?.() === 0) throw new Error("mosquitto is missing: run scripts/bootstrap.sh");
      return "mosquitto is not installed (apt-get install mosquitto)";
    },
    setup: async ({ dir, adopt, cleanup }) => {
      hook = join(dir, "hook.sh");
      // A real hook: keeps the event it was given, named after its environment.
      writeFileSync(hook, `#!/bin/bash\nmkdir -p "${dir}/hooks"\ncat > "${dir}/hooks/$JINGLED_EVENT.$JINGLED_TYPE.$JINGLED_CALL_ID.json"\n`);
      chmodSync(hook, 0o755);
      broker = adopt(await startMosquitto());
      metricsPort = await freePort();
      app = await mqttObserver(broker.url);
      cleanup(() => app.close().catch(() => undefined));
      await app.client.subscribeAsync(["jingled/#", "homeassistant/#", "app/replies/#"], { qos: 1 });
    },
    daemons: () => ({
      alice: {
        input: { type: "tone", frequency: 440 }, logLevel: "info",
        config: {
          mqtt: { enabled: true, url: broker.url, topicPrefix: "jingled/alice", homeAssistant: { enabled: true, nodeId: "alice_door" } },
          metrics: { enabled: true, port: metricsPort },
          hooks: { run: [{ events: ["call.active", "call.ended"], command: [hook], timeoutSec: 10 }] },
        },
      },
      bob: {
        input: { type: "tone", frequency: 660 }, logLevel: "info",
        config: {
          mqtt: { enabled: true, url: broker.url, topicPrefix: "jingled/bob", protocolVersion: 4 },
          hooks: { run: [{ events: ["call.incoming"], command: [hook], timeoutSec: 10 }] },
        },
      },
    }),
  });

  before(async () => {
    if (lab.skipped) {
      skip = lab.skipped;
      return;
    }
    ({ prosody, dir, daemons: { alice, bob } } = lab);
    await app.next((m) => m.topic === "jingled/alice/status" && m.text === "online", "alice's bridge online");
    await app.next((m) => m.topic === "jingled/bob/status" && m.text === "online", "bob's bridge online");
  });

  test("Home Assistant discovery for the daemon's account; the answer button with no call gets unknown-call", async (t) => {
    if (skip) return t.skip(skip);
    const button = await app.next((m) => m.topic === "homeassistant/button/alice_door/answer/config", "answer button");
    const config = JSON.parse(button.text) as { command_topic: string; payload_press: string; device: { name: string } };
    assert.equal(config.device.name, `jingled alice@${prosody.domain}`);
    await app.client.publishAsync(config.command_topic, config.payload_press, { qos: 1 });
    const reply = await app.next((m) => m.topic === "jingled/alice/reply" && isJson(m, (o) => o.id === "ha-answer"), "the button's reply");
    assert.equal((JSON.parse(reply.text) as Reply).error?.code, "unknown-call");
  });

  test("a call placed, answered and hung up purely over MQTT; the broker restarts mid-call and the call goes on", async (t) => {
    if (skip) return t.skip(skip);
    const placed = await aliceRequest("call", { jid: bob.jid });
    assert.equal(placed.ok, true, JSON.stringify(placed));
    const callId = placed.result!.callId as string;

    const incoming = await app.next(callEvent("bob", "incoming"), "bob's incoming call on MQTT");
    const bobCallId = (JSON.parse(incoming.text) as { callId: string }).callId;
    await app.next((m) => m.topic === "jingled/bob/call_state" && m.text === "incoming", "bob's call state incoming");
    assert.equal((await app.next((m) => m.topic === "jingled/bob/last_caller", "bob's last caller")).text, `alice@${prosody.domain}`);

    const answered = await bobRequest("answer-1", "answer", { callId: bobCallId });
    assert.equal(answered.ok, true, JSON.stringify(answered));
    await app.next(callEvent("alice", "active", callId), "alice active");
    await app.next(callEvent("bob", "active", bobCallId), "bob active");
    await app.next((m) => m.topic === "jingled/alice/call_state" && m.text === "active", "alice's call state active");

    // Scraped during the call.
    await new Promise((r) => setTimeout(r, 1500));
    const during = await scrape(metricsPort);
    assert.equal(during.get('jingled_calls{state="active"}'), 1);
    assert.equal(during.get('jingled_calls_started_total{direction="outgoing"}'), 1);
    assert.equal(during.get("jingled_call_setup_seconds_count"), 1, "answer to media flowing, once");
    assert.ok((during.get("jingled_rtp_packets_received_total") ?? 0) > 20, "packets counted while the call runs");
    assert.ok((during.get(`jingled_call_jitter_seconds{call_id="${callId}"}`) ?? -1) >= 0, "jitter of the live call");
    assert.ok((during.get("process_resident_memory_bytes") ?? 0) > 20e6);
    t.diagnostic(`during the call: received ${during.get("jingled_rtp_packets_received_total")}, setup ${during.get("jingled_call_setup_seconds_sum")} s, MOS ${during.get(`jingled_call_mos{call_id="${callId}"}`)}`);

    // The broker goes away and comes back; the call does not notice.
    const beforeStats = (await alice.control.request("stats", { callId })) as { packetsReceived: number };
    const mark = app.seen.length;
    const afterRestart = (m: Received): boolean => app.seen.indexOf(m) >= mark;
    await broker.restart(500);
    await app.next((m) => afterRestart(m) && m.topic === "jingled/alice/status" && m.text === "online", "alice's bridge back", 30_000);
    await app.next((m) => afterRestart(m) && m.topic === "jingled/bob/status" && m.text === "online", "bob's bridge back", 30_000);
    assert.equal((await app.next((m) => afterRestart(m) && m.topic === "jingled/alice/call_state", "alice's call state republished")).text, "active");
    const afterStats = (await alice.control.request("stats", { callId })) as { state: string; packetsReceived: number };
    assert.equal(afterStats.state, "active");
    assert.ok(afterStats.packetsReceived > beforeStats.packetsReceived + 25, `media went on: ${beforeStats.packetsReceived} -> ${afterStats.packetsReceived}`);
    for (const d of [alice, bob]) assert.ok(!d.events.some((e) => e.event === "call" && e.type === "ended"), "no call ended");
    const statusReply = await aliceRequest("status");
    assert.equal((statusReply.result!.calls as { state: string }[])[0]!.state, "active", "commands work after the restart");

    const hungUp = await bobRequest("hangup-1", "hangup");
    assert.equal(hungUp.ok, true, JSON.stringify(hungUp));
    const endA = await app.next(callEvent("alice", "ended", callId), "alice ended");
    const endB = await app.next(callEvent("bob", "ended", bobCallId), "bob ended");
    assert.equal((JSON.parse(endA.text) as { reason: string }).reason, "success");
    assert.equal((JSON.parse(endB.text) as { reason: string }).reason, "success");
    await app.next((m) => m.topic === "jingled/alice/call_state" && m.text === "idle", "alice idle again");

    const afterCall = await scrape(metricsPort);
    assert.equal(afterCall.get('jingled_calls_ended_total{reason="success"}'), 1);
    assert.equal(afterCall.get('jingled_calls{state="active"}'), 0);
    assert.ok((afterCall.get("jingled_rtp_packets_received_total") ?? 0) >= (during.get("jingled_rtp_packets_received_total") ?? 0), "a counter never goes back");

    // The hooks ran with the events (bob: incoming; alice: active and ended).
    const hooks = join(dir, "hooks");
    const want = [`call.incoming.${bobCallId}.json`, `call.active.${callId}.json`, `call.ended.${callId}.json`];
    const deadline = Date.now() + 10_000;
    while (!want.every((f) => existsSync(join(hooks, f))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(want.filter((f) => !existsSync(join(hooks, f))), [], `hook files: ${existsSync(hooks) ? readdirSync(hooks).join(", ") : "none"}`);
    const ended = JSON.parse(readFileSync(join(hooks, `call.ended.${callId}.json`), "utf8")) as { event: string; reason: string };
    assert.deepEqual([ended.event, ended.reason], ["call", "success"]);
  });

  test("the documented command-line examples: mosquitto_rr (MQTT 5) and mosquitto_pub (3.1.1, reply on PREFIX/reply)", async (t) => {
    if (skip) return t.skip(skip);
    // Installed by scripts/bootstrap.sh (mosquitto-clients) where it can install packages.
    if ((spawnSync("mosquitto_rr", ["--help"]).error as NodeJS.ErrnoException | undefined)?.code === "ENOENT") return t.skip("mosquitto_rr is not installed (Debian: mosquitto-clients)");
    const where = ["-h", "127.0.0.1", "-p", String(broker.port)];
    const rr = spawnSync("mosquitto_rr", ["-V", "5", ...where, "-t", "jingled/alice/command", "-e", "app/replies/door", "-m", '{"id":1,"cmd":"status"}', "-W", "10"], { encoding: "utf8", timeout: 20_000 });
    assert.equal(rr.status, 0, rr.stderr);
    const status = JSON.parse(rr.stdout) as Reply;
    assert.equal(status.ok, true);
    assert.equal((status.result!.account as { state: string }).state, "online");
    const pub = spawnSync("mosquitto_pub", [...where, "-t", "jingled/alice/command", "-m", '{"id":"a7f3","cmd":"hangup"}'], { encoding: "utf8", timeout: 20_000 });
    assert.equal(pub.status, 0, pub.stderr);
    const reply = await app.next((m) => m.topic === "jingled/alice/reply" && isJson(m, (o) => o.id === "a7f3"), "the reply on PREFIX/reply");
    assert.deepEqual(JSON.parse(reply.text), { id: "a7f3", ok: false, error: { code: "unknown-call", message: "there is no call" } });
  });

  test("bad MQTT commands to a daemon: an error reply each, the daemon goes on", async (t) => {
    if (skip) return t.skip(skip);
    const big = await aliceRequest("status", { pad: "x".repeat(70_000) });
    assert.equal(big.error?.code, "line-too-long");
    assert.equal((await aliceRequest("shutdown")).error?.code, "not-allowed");
    assert.equal((await aliceRequest("record", { action: "start", file: "/etc/evil.wav" })).error?.code, "not-allowed");
    assert.equal((await aliceRequest("call", { jid: "not a jid" })).error?.code, "bad-argument");
    assert.equal((await aliceRequest("hangup", { callId: "c99" })).error?.code, "unknown-call");
    assert.ok(alice.process.running(), "still running");
    assert.equal((await aliceRequest("status")).ok, true);
  });
});
