// Paths a control client names (play, record, set-input/set-output file:):
// checked on real temporary directories, /proc and /sys, symbolic links into
// them, FIFOs, read-only mounts and unprivileged users; the fake file system
// only where the machine cannot produce the case (a pseudo file system
// mounted elsewhere, EACCES for root).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, closeSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { CommandError } from "../../src/util/errors.js";
import { checkReadableFile, claimUnusedFile, claimWritableFile, nodePathFs, type PathFs } from "../../src/media/client-path.js";
import { WavFileWriter, readWavMono } from "../../src/media/wav.js";

let dir: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "jingled-client-path-"));
});

after(() => rmSync(dir, { recursive: true, force: true }));

/** Rejects with bad-argument and a message matching `message`. */
async function refused(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof CommandError, String(err));
    assert.equal(err.code, "bad-argument");
    assert.match(err.message, message);
    return true;
  });
}

test("the path must be an absolute string without NUL; the command names itself", async () => {
  await refused(claimWritableFile("greeting.wav", { cmd: "record" }), /^record: the path must be absolute .*found "greeting\.wav"$/);
  await refused(checkReadableFile("./a.wav"), /must be absolute/);
  await refused(claimWritableFile(""), /a file path is required/);
  await refused(claimWritableFile(42), /a file path is required/);
  await refused(checkReadableFile(`${dir}/a\0.wav`), /NUL byte/);
});

test("/proc and /sys are refused by name, at once, for writing and reading", async () => {
  // The path that once sent the daemon into an endless mkdir: refused before any file-system call.
  const calls: string[] = [];
  const spy: PathFs = Object.fromEntries(
    Object.entries(nodePathFs).map(([k, f]) => [k, (...a: unknown[]) => (calls.push(k), (f as (...x: unknown[]) => unknown)(...a))]),
  ) as unknown as PathFs;
  await refused(claimWritableFile("/proc/nope/x.wav", { cmd: "record", fs: spy }), /^record: \/proc\/nope\/x\.wav is in \/proc, the kernel's own file system/);
  await refused(claimWritableFile("/sys/class/x.wav", { fs: spy }), /is in \/sys/);
  await refused(checkReadableFile("/proc/self/status", { fs: spy }), /is in \/proc/);
  await refused(claimWritableFile("/tmp/../proc/1/x.wav", { fs: spy }), /is in \/proc/);
  assert.deepEqual(calls, [], "no file-system call for a path under /proc or /sys");
});

test("a symbolic link into /proc is followed and refused (directory and file)", async () => {
  const link = join(dir, "procdir");
  symlinkSync("/proc/self", link);
  await refused(claimWritableFile(join(link, "x.wav")), /procdir\/x\.wav leads into \/proc \(\/proc\/\d+\)/);
  const fileLink = join(dir, "status.wav");
  symlinkSync("/proc/self/status", fileLink);
  await refused(checkReadableFile(fileLink), /status\.wav leads into \/proc \(\/proc\/\d+\/status\)/);
  const sysLink = join(dir, "sysdir");
  symlinkSync("/sys/kernel", sysLink);
  await refused(claimWritableFile(join(sysLink, "x.wav")), /leads into \/sys/);
});

test("a pseudo file system mounted elsewhere (statfs says proc) is refused", async () => {
  const fakeProc: PathFs = { ...nodePathFs, statfs: async () => ({ type: 0x9fa0 }) };
  await refused(claimWritableFile(join(dir, "x.wav"), { fs: fakeProc }), /x\.wav is on a proc file system/);
  const fakeCgroup: PathFs = { ...nodePathFs, statfs: async () => ({ type: 0x63677270 }) };
  await refused(checkReadableFile(join(dir, "any.wav"), { fs: fakeCgroup }), /on a cgroup2 file system/);
});

test("a file where a directory is expected, and a missing directory, are named", async () => {
  const greeting = join(dir, "greeting.wav");
  writeFileSync(greeting, "RIFF");
  await refused(claimWritableFile(join(greeting, "x.wav"), { cmd: "record" }), new RegExp(`^record: ${greeting.replace(/[.]/g, "\\.")} is a file, not a directory$`));
  await refused(claimWritableFile(join(greeting, "deeper", "x.wav")), /greeting\.wav is a file, not a directory$/);
  await refused(checkReadableFile(join(greeting, "x.wav")), /greeting\.wav is a file, not a directory$/);
  await refused(claimWritableFile(join(dir, "door", "rec", "x.wav")), new RegExp(`the directory ${dir}/door does not exist$`));
  assert.equal(readFileSync(greeting, "utf8"), "RIFF", "nothing was written");
});

test("createDirectories (configuration paths only): missing directories made 0700, never through /proc or a file", async () => {
  const nested = join(dir, "recordings", "bob@example.org", "c1.wav");
  const { fd } = await claimWritableFile(nested, { createDirectories: true });
  closeSync(fd);
  assert.equal(statSync(join(dir, "recordings")).mode & 0o777, 0o700);
  assert.equal(statSync(join(dir, "recordings", "bob@example.org")).mode & 0o777, 0o700);
  // A link into /proc as the nearest existing directory: refused before any mkdir (the endless one of Node 20).
  const link = join(dir, "procrec");
  symlinkSync("/proc/self", link);
  const made: string[] = [];
  const spy: PathFs = { ...nodePathFs, mkdir: async (p, o) => (made.push(p), nodePathFs.mkdir(p, o)) };
  await refused(claimWritableFile(join(link, "a", "b", "x.wav"), { createDirectories: true, fs: spy }), /procrec\/a\/b\/x\.wav leads into \/proc/);
  await refused(claimWritableFile("/proc/nope/a/x.wav", { createDirectories: true, fs: spy }), /is in \/proc/);
  const file = join(dir, "plain.txt");
  writeFileSync(file, "x");
  await refused(claimWritableFile(join(file, "a", "x.wav"), { createDirectories: true, fs: spy }), /plain\.txt is a file, not a directory$/);
  assert.deepEqual(made, [], "no mkdir for any of them");
});

test("a new recording is created 0600 (O_EXCL) and the descriptor is handed over", async () => {
  const old = process.umask(0);
  try {
    const path = join(dir, "new.wav");
    const { path: p, fd } = await claimWritableFile(path, { cmd: "record" });
    assert.equal(p, path);
    const w = WavFileWriter.open(path, 8000, 1, { fd });
    w.write(new Int16Array(800).fill(1000));
    await w.close();
    assert.equal(statSync(path).mode & 0o777, 0o600);
    assert.equal(readWavMono(readFileSync(path), 8000).length, 800);
  } finally {
    process.umask(old);
  }
});

test("an existing file is never replaced unless overwrite is given", async () => {
  const greeting = join(dir, "keep.wav");
  writeFileSync(greeting, "the greeting", { mode: 0o644 });
  await refused(claimWritableFile(greeting, { cmd: "record" }), /^record: .*keep\.wav already exists; it is replaced only when asked \(overwrite: true\)$/);
  assert.equal(readFileSync(greeting, "utf8"), "the greeting");
  const { fd } = await claimWritableFile(greeting, { overwrite: true });
  writeSync(fd, "new");
  closeSync(fd);
  assert.equal(readFileSync(greeting, "utf8"), "new", "truncated, then written");
  assert.equal(statSync(greeting).mode & 0o777, 0o644, "an overwritten file keeps its mode");
});

test("claimUnusedFile (the configured output): a taken name gives NAME-2.wav, NAME-3.wav ...; nothing is replaced", async () => {
  const sub = join(dir, "numbered");
  mkdirSync(sub);
  const first = join(sub, "c1.wav");
  writeFileSync(first, "yesterday's call");
  const a = await claimUnusedFile(first);
  const b = await claimUnusedFile(first);
  closeSync(a.fd);
  closeSync(b.fd);
  assert.deepEqual([a.path, b.path], [join(sub, "c1-2.wav"), join(sub, "c1-3.wav")]);
  assert.equal(readFileSync(first, "utf8"), "yesterday's call");
  assert.equal(statSync(a.path).mode & 0o777, 0o600);
  // No extension: the number goes at the end; a dot in a directory name is not an extension.
  mkdirSync(join(sub, "v1.d"));
  writeFileSync(join(sub, "v1.d", "rec"), "x");
  const c = await claimUnusedFile(join(sub, "v1.d", "rec"));
  closeSync(c.fd);
  assert.equal(c.path, join(sub, "v1.d", "rec-2"));
  // Other refusals are not retried under another name.
  await refused(claimUnusedFile(join(first, "x.wav"), { cmd: "media.output" }), /^media\.output: .*c1\.wav is a file, not a directory$/);
});

test("a symbolic link, a directory or a FIFO at the name is refused, even with overwrite", async () => {
  const real = join(dir, "real.wav");
  writeFileSync(real, "precious");
  const link = join(dir, "link.wav");
  symlinkSync(real, link);
  await refused(claimWritableFile(link), /link\.wav is a symbolic link, not a file/);
  await refused(claimWritableFile(link, { overwrite: true }), /link\.wav is a symbolic link, not a file/);
  assert.equal(readFileSync(real, "utf8"), "precious");
  const sub = join(dir, "sub");
  mkdirSync(sub);
  await refused(claimWritableFile(sub, { overwrite: true }), /sub is a directory, not a file/);
  await refused(checkReadableFile(sub), /sub is a directory, not a file/);
  const fifo = join(dir, "in.fifo");
  assert.equal(spawnSync("mkfifo", [fifo]).status, 0);
  // Opening a FIFO with no writer would wait forever: refused from its type.
  await refused(checkReadableFile(fifo, { cmd: "play" }), /^play: .*in\.fifo is a FIFO, not a file \(a FIFO is read by a pipe source, pipe:PATH\)$/);
  await refused(claimWritableFile(fifo, { overwrite: true }), /in\.fifo is a FIFO, not a file/);
});

test("reading: a missing file, an unreadable one, a good one", async () => {
  await refused(checkReadableFile(join(dir, "missing.wav"), { cmd: "play" }), /^play: .*missing\.wav does not exist$/);
  const good = join(dir, "good.wav");
  writeFileSync(good, "RIFF");
  assert.equal(await checkReadableFile(good), good);
  assert.equal(await checkReadableFile(`${dir}//./good.wav`), good, "normalised");
  const denied: PathFs = { ...nodePathFs, access: async () => Promise.reject(Object.assign(new Error("EACCES"), { code: "EACCES" })) };
  await refused(checkReadableFile(good, { fs: denied }), /cannot read .*good\.wav: permission denied$/);
});

test("an unwritable directory: permission denied (EACCES from the kernel, as the daemon's user would get it)", async (t) => {
  // The kernel's own answer, for an unprivileged user: the tests run as root, who may write anywhere.
  const locked = join(dir, "locked");
  mkdirSync(locked);
  chmodSync(dir, 0o755);
  chmodSync(locked, 0o555);
  const denied: PathFs = { ...nodePathFs, access: async () => Promise.reject(Object.assign(new Error("EACCES"), { code: "EACCES" })) };
  await refused(claimWritableFile(join(locked, "x.wav"), { cmd: "record", fs: denied }), new RegExp(`^record: cannot write into ${locked}: permission denied$`));
  if (process.getuid?.() !== 0 || spawnSync("setpriv", ["--version"]).status !== 0) {
    t.diagnostic("not root or no setpriv: the unprivileged-user case was not run");
    return;
  }
  const r = asUser65534(`await claimWritableFile(${JSON.stringify(join(locked, "x.wav"))}, { cmd: "record" })`);
  assert.match(r, new RegExp(`^bad-argument record: cannot write into ${locked}: permission denied$`), r);
});

test("a read-only mount: refused before anything is created", (t) => {
  if (process.getuid?.() !== 0 || spawnSync("unshare", ["--mount", "true"]).status !== 0) {
    t.skip("needs root and unshare --mount");
    return;
  }
  const ro = join(dir, "ro");
  mkdirSync(ro);
  // A private mount namespace: the read-only bind mount exists only for that one process.
  const script = `await claimWritableFile(${JSON.stringify(join(ro, "x.wav"))}, { cmd: "record" })`;
  const sh = `mount --bind '${ro}' '${ro}' && mount -o remount,ro,bind '${ro}' && exec "$0" --input-type=module -e "$1"`;
  const r = spawnSync("unshare", ["--mount", "--propagation", "private", "sh", "-c", sh, process.execPath, childScript(script)], { encoding: "utf8", timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout.trim(), new RegExp(`^bad-argument record: cannot write into ${ro}: read-only file system$`));
});

const MODULE = fileURLToPath(new URL("../../src/media/client-path.js", import.meta.url));

/** A Node script that runs `body` with claimWritableFile in scope and prints "code message" (or "ok"). */
function childScript(body: string): string {
  return `const { claimWritableFile } = await import(${JSON.stringify(MODULE)});
try { ${body}; console.log("ok"); } catch (e) { console.log(e.code + " " + e.message); }`;
}

function asUser65534(body: string): string {
  const r = spawnSync("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, "--input-type=module", "-e", childScript(body)], { encoding: "utf8", timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}
