// Abuse of a real daemon's control socket (issue 8 item 4): 100 concurrent
// clients, clients that never read, a 10 MB line, partial lines and binary
// garbage — all at once — while a well-behaved client measures how long a
// `status` request takes. The daemon must stay responsive and bounded.
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import net from "node:net";
import type { Daemon } from "../../scripts/lab/daemon.js";
import { latencyProbe, procFigures, sleep } from "../helpers/hostile.js";
import { withLab } from "../helpers/with-lab.js";

/** A raw client that counts reply lines and bytes. */
function rawClient(path: string, read = true): Promise<{ sock: net.Socket; replies: () => number; errors: () => Record<string, number>; closed: () => boolean }> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(path);
    let buf = "";
    let replies = 0;
    let closed = false;
    const errors: Record<string, number> = {};
    sock.on("error", () => undefined);
    sock.on("close", () => (closed = true));
    if (read) {
      sock.setEncoding("utf8");
      sock.on("data", (t: string) => {
        buf += t;
        let nl;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const msg = JSON.parse(buf.slice(0, nl)) as { ok?: boolean; error?: { code: string } };
          buf = buf.slice(nl + 1);
          if ("ok" in msg) replies++;
          if (msg.error) errors[msg.error.code] = (errors[msg.error.code] ?? 0) + 1;
        }
      });
    } else {
      sock.pause(); // never reads: what the daemon writes piles up
    }
    sock.once("connect", () => resolve({ sock, replies: () => replies, errors: () => errors, closed: () => closed }));
    sock.once("error", reject);
  });
}

/** Writes `data`, resolving when the kernel took it (or the peer closed). */
function write(sock: net.Socket, data: string | Buffer): Promise<void> {
  return new Promise((resolve) => {
    if (sock.destroyed) return resolve();
    sock.write(data, () => resolve());
  });
}

describe("control socket abuse", { timeout: 120_000 }, () => {
  let daemon: Daemon;
  const lab = withLab({
    name: "hostile-ctl",
    users: { alice: "a-pw" },
    daemons: { alice: { logLevel: "info", config: { calls: { acceptFrom: "roster" } } } },
  });
  before(() => ({ daemons: { alice: daemon } } = lab));

  interface Round {
    latency: { count: number; p50: number; p99: number; max: number; failures: number };
    goodReplies: number;
    deafClosed: number;
    big: { replies: number; errors: Record<string, number> };
    junk: { replies: number; errors: Record<string, number> };
    rssKiB: number;
    cpuMs: number;
    fdsDuring: number;
    fdsAfter: number;
  }

  /** One round of every abuse at once, with a latency probe; returns what was measured once the abusers left. */
  async function abuse(): Promise<Round> {
    const path = daemon.socketPath;
    const pid = daemon.process.pid;
    const cpu0 = procFigures(pid).cpuMs;
    const probe = latencyProbe(() => daemon.control.request("status"), 20);

    // 100 well-behaved clients, 20 pipelined requests each.
    const good = await Promise.all(Array.from({ length: 100 }, () => rawClient(path)));
    // 20 clients that pipeline `status` and never read a byte.
    const deaf = await Promise.all(Array.from({ length: 20 }, () => rawClient(path, false)));
    // One 10 MB line (no newline until the end), one with garbage, one that stops mid-line and vanishes.
    const big = await rawClient(path);
    const junk = await rawClient(path);
    const partial = await rawClient(path);

    const line = (i: number) => `{"id":${i},"cmd":"status"}\n`;
    const work: Promise<unknown>[] = [];
    work.push(...good.map(async (c) => write(c.sock, Array.from({ length: 20 }, (_, i) => line(i)).join(""))));
    const deafPayload = Array.from({ length: 2000 }, (_, i) => line(i)).join("");
    work.push(
      ...deaf.map(async (c) => {
        for (let k = 0; k < 20 && !c.closed(); k++) await Promise.race([write(c.sock, deafPayload), sleep(200)]);
      }),
    );
    work.push(
      (async () => {
        const chunk = Buffer.alloc(1024 * 1024, 0x61);
        for (let i = 0; i < 10; i++) await write(big.sock, chunk);
        await write(big.sock, `\n${line(1)}`);
      })(),
    );
    work.push(
      (async () => {
        // Binary garbage, invalid UTF-8 included; newlines only where we put them.
        for (let i = 0; i < 50; i++) await write(junk.sock, Buffer.concat([randomBytes(2000).map((b) => (b === 0x0a ? 0x0b : b)), Buffer.from("\n")]));
        await write(junk.sock, line(7));
      })(),
    );
    work.push(
      (async () => {
        await write(partial.sock, '{"id":1,"cmd":"sta');
        partial.sock.destroy();
      })(),
    );
    await Promise.all(work);
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline && (good.some((c) => c.replies() < 20) || big.replies() < 2 || junk.replies() < 51 || deaf.some((c) => !c.closed()))) await sleep(50);
    const latency = await probe.stop();
    const fdsDuring = procFigures(pid).fds;
    const round = {
      latency,
      goodReplies: good.reduce((n, c) => n + c.replies(), 0),
      deafClosed: deaf.filter((c) => c.closed()).length,
      big: { replies: big.replies(), errors: big.errors() },
      junk: { replies: junk.replies(), errors: junk.errors() },
    };
    for (const c of [...good, ...deaf, big, junk]) c.sock.destroy();
    await sleep(500);
    const after_ = procFigures(pid);
    return { ...round, rssKiB: after_.rssKiB, cpuMs: after_.cpuMs - cpu0, fdsDuring, fdsAfter: after_.fds };
  }

  test("three rounds of 100 concurrent clients, 20 never-reading clients, a 10 MB line, partial lines and garbage at once; every good request answered, status stays prompt, memory and sockets bounded", async (t) => {
    await sleep(300);
    const start = procFigures(daemon.process.pid);
    const rounds: Round[] = [];
    for (let i = 0; i < Number(process.env.ABUSE_ROUNDS ?? 3); i++) rounds.push(await abuse());
    rounds.forEach((r, i) => {
      t.diagnostic(`round ${i + 1}: status latency n=${r.latency.count} p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, max ${r.latency.max} ms`);
      t.diagnostic(`round ${i + 1}: good clients ${r.goodReplies}/2000 replies; never-reading clients disconnected ${r.deafClosed}/20; 10 MB line ${JSON.stringify(r.big.errors)}; garbage ${JSON.stringify(r.junk.errors)}`);
      t.diagnostic(`round ${i + 1}: daemon RSS ${r.rssKiB} KiB (start ${start.rssKiB}), CPU ${r.cpuMs} ms, fds ${start.fds} -> ${r.fdsDuring} during -> ${r.fdsAfter} after`);
    });
    for (const r of rounds) {
      assert.equal(r.goodReplies, 2000, "every request of the well-behaved clients answered");
      assert.equal(r.deafClosed, 20, "clients that never read are disconnected (1 MiB unread)");
      assert.deepEqual(r.big.errors, { "line-too-long": 1 }, "the 10 MB line: one line-too-long, then the next request answered");
      assert.equal(r.big.replies, 2);
      assert.deepEqual(r.junk.errors, { "bad-json": 50 }, "one bad-json per garbage line");
      assert.equal(r.junk.replies, 51, "and the request after them answered");
      assert.equal(r.latency.failures, 0, "the probe's requests all answered");
      // Measured here: max 110-210 ms (1.2-2 s before the control server took turns between clients and
      // coalesced writes to slow readers). Generous bound: the test process and other tests share the CPU.
      assert.ok(r.latency.p50 < 100 && r.latency.max < 1500, `status stayed prompt (p50 ${r.latency.p50} ms, max ${r.latency.max} ms)`);
      assert.ok(r.fdsAfter <= start.fds + 1, "every client socket released");
    }
    // Bounded, not leaking: up to 1 MiB queued per unread client plus V8's lazily collected heap; the rounds go up and down
    // (6 rounds measured 174 to 236 MiB from a 104 to 111 MiB start), never past this.
    for (const r of rounds) assert.ok(r.rssKiB - start.rssKiB < 200 * 1024, `RSS ${start.rssKiB} -> ${r.rssKiB} KiB`);
    assert.equal(((await daemon.control.request("status")) as { account: { state: string } }).account.state, "online");
  });
});
