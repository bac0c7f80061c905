// The STUN/TURN servers a new call gets (src/app/call-ice-servers.ts): the
// server is asked (XEP-0215) only when ice.serverServices and online, and a
// server that offers none is logged once at info, then at debug until the
// reason changes. How the lists merge is test/unit/ice-servers.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CallIceServers } from "../../src/app/call-ice-servers.js";
import type { Logger } from "../../src/util/logger.js";
import type { ExternalService } from "../../src/xmpp/extdisco.js";

function setup(o: { serverServices: boolean; online: boolean }) {
  const logged: string[] = [];
  const logger = {
    info: (_o: unknown, msg: string) => void logged.push(`info ${msg}`),
    debug: (_o: unknown, msg: string) => void logged.push(`debug ${msg}`),
  } as unknown as Logger;
  let asked = 0;
  let answer: () => Promise<ExternalService[]> = async () => [{ type: "stun", host: "s.server", port: 3478, transport: "udp" }];
  const servers = new CallIceServers({
    config: () => ({ serverServices: o.serverServices, stun: ["stun:s.mine"], turn: [] }),
    online: () => o.online,
    services: {
      get: () => {
        asked++;
        return answer();
      },
    },
    logger,
  });
  return { servers, logged, asked: () => asked, answer: (f: typeof answer) => (answer = f) };
}

test("configured servers, then the XMPP server's when ice.serverServices and online", async () => {
  const on = setup({ serverServices: true, online: true });
  assert.deepEqual((await on.servers.get()).stun, [["s.mine", 3478], ["s.server", 3478]]);
  assert.equal(on.asked(), 1);

  for (const o of [{ serverServices: true, online: false }, { serverServices: false, online: true }]) {
    const s = setup(o);
    assert.deepEqual((await s.servers.get()).stun, [["s.mine", 3478]], JSON.stringify(o));
    assert.equal(s.asked(), 0, `not asked: ${JSON.stringify(o)}`);
  }
});

test("a server that offers none: logged at info once per reason, the call gets the configured servers", async () => {
  const s = setup({ serverServices: true, online: true });
  s.answer(() => Promise.reject(new Error("feature-not-implemented")));
  assert.deepEqual((await s.servers.get()).stun, [["s.mine", 3478]]);
  await s.servers.get();
  s.answer(() => Promise.reject(new Error("remote-server-timeout")));
  await s.servers.get();
  s.answer(async () => []);
  await s.servers.get();
  s.answer(() => Promise.reject(new Error("remote-server-timeout")));
  await s.servers.get();
  const msg = "the server offers no external services (XEP-0215)";
  assert.deepEqual(s.logged, [`info ${msg}`, `debug ${msg}`, `info ${msg}`, `info ${msg}`]);
});
