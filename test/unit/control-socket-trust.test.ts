// jinglectl (its real main(), through the control client) refuses to talk to
// a socket another local user could have put there: a squatted directory
// (the /tmp/jingled-UID fallback made first by someone else), one open to
// others, a symbolic link, a socket owned by someone else. The squatter's
// listening socket must see no connection at all. The daemon refuses to
// listen in such a directory by the same checks.
import { afterEach, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { main } from "../../src/cli/jinglectl.js";
import { createControlServer } from "../../src/control/server.js";
import { silentLogger } from "../../src/util/logger.js";
import { ExitCode } from "../../src/cli/usage.js";

const OTHER_UID = 65534; // nobody
const isRoot = process.getuid?.() === 0;

let base: string;
let squatter: net.Server | undefined;
let connections = 0;

beforeEach(() => {
  base = mkdtempSync(join(tmpdir(), "jingled-trust-"));
  connections = 0;
});

afterEach(async () => {
  if (squatter) await new Promise<void>((r) => squatter!.close(() => r()));
  squatter = undefined;
  rmSync(base, { recursive: true, force: true });
});

/** A fake daemon at `path`: says hello like jingled and answers status, counting who connects. */
async function listenAsSquatter(path: string): Promise<void> {
  squatter = net.createServer((s) => {
    connections++;
    s.write(JSON.stringify({ event: "hello", seq: 0, time: new Date().toISOString(), protocol: 1, version: "evil", snapshot: { account: { jid: "evil@example.org", state: "online" }, calls: [] } }) + "\n");
    s.on("data", (d) => {
      const id = (JSON.parse(d.toString().split("\n")[0]!) as { id: number }).id;
      s.write(JSON.stringify({ id, ok: true, result: { account: { jid: "evil@example.org/x", state: "online" }, calls: [] } }) + "\n");
    });
    s.on("error", () => undefined);
  });
  await new Promise<void>((r) => squatter!.listen(path, r));
}

async function jinglectl(socket: string): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const code = await main(["--socket", socket, "status"], { stdout: { write: (s: string) => (out += s) }, stderr: { write: (s: string) => (err += s) }, env: {} });
  return { code, out, err };
}

test("a socket directory owned by another user: refused, nothing connects", { skip: !isRoot && "needs root to give a directory to another uid" }, async () => {
  const dir = join(base, "jingled-1000");
  mkdirSync(dir, { mode: 0o700 });
  const sock = join(dir, "control.sock");
  await listenAsSquatter(sock);
  chownSync(sock, OTHER_UID, OTHER_UID);
  chownSync(dir, OTHER_UID, OTHER_UID);
  const r = await jinglectl(sock);
  assert.equal(r.code, ExitCode.NoDaemon);
  assert.match(r.err, /control socket directory .* is owned by uid 65534, not by us/);
  assert.doesNotMatch(r.err, /Is the daemon running/);
  assert.equal(r.out, "");
  assert.equal(connections, 0, "the squatter's socket saw no connection");
});

test("a socket directory open to other users: refused", async () => {
  const dir = join(base, "open");
  mkdirSync(dir);
  chmodSync(dir, 0o777);
  const sock = join(dir, "control.sock");
  await listenAsSquatter(sock);
  const r = await jinglectl(sock);
  assert.equal(r.code, ExitCode.NoDaemon);
  assert.match(r.err, /has mode 777: other users could reach the socket/);
  assert.equal(connections, 0);
});

test("a socket directory that is a symbolic link: refused", async () => {
  const real = join(base, "real");
  mkdirSync(real, { mode: 0o700 });
  await listenAsSquatter(join(real, "control.sock"));
  symlinkSync(real, join(base, "link"));
  const r = await jinglectl(join(base, "link", "control.sock"));
  assert.match(r.err, /is a symbolic link; refusing to use it/);
  assert.equal(connections, 0);
});

test("a socket owned by another user in our own directory: refused", { skip: !isRoot && "needs root to give a socket to another uid" }, async () => {
  const dir = join(base, "mine");
  mkdirSync(dir, { mode: 0o700 });
  const sock = join(dir, "control.sock");
  await listenAsSquatter(sock);
  chownSync(sock, OTHER_UID, OTHER_UID);
  const r = await jinglectl(sock);
  assert.match(r.err, /control socket .* is owned by uid 65534, not by us .* refusing to connect/);
  assert.equal(connections, 0);
});

test("our own private directory and socket: connects (the checks let the real thing through)", async () => {
  const dir = join(base, "ours");
  mkdirSync(dir, { mode: 0o700 });
  const sock = join(dir, "control.sock");
  await listenAsSquatter(sock);
  chmodSync(sock, 0o600);
  const r = await jinglectl(sock);
  assert.equal(r.code, ExitCode.Ok, r.err);
  assert.equal(connections, 1);
});

function daemonAt(path: string) {
  return createControlServer({ path, logger: silentLogger(), version: "test", snapshot: () => ({}), handlers: {} });
}

test("the daemon does not listen in a socket directory owned by another user", { skip: !isRoot && "needs root to give a directory to another uid" }, async () => {
  const dir = join(base, "jingled-1000");
  mkdirSync(dir, { mode: 0o700 });
  chownSync(dir, OTHER_UID, OTHER_UID);
  await assert.rejects(daemonAt(join(dir, "control.sock")).listen(), /is owned by uid 65534, not by us .* refusing to use it/);
});

test("the daemon does not listen in a socket directory that is a symbolic link", async () => {
  const real = join(base, "real");
  mkdirSync(real, { mode: 0o700 });
  symlinkSync(real, join(base, "link"));
  await assert.rejects(daemonAt(join(base, "link", "control.sock")).listen(), /is a symbolic link; refusing to use it/);
});
