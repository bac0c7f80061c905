// The installable package: `npm pack` -> `npm install ./jingled-X.tgz` into an
// empty directory -> the commands run, the native Opus backend builds from
// the shipped source, and another program imports the control client with
// the daemon's own protocol types (type-checked by tsc, then run against the
// installed daemon logged into a real Prosody).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { REPO_ROOT } from "../../scripts/lab/daemon.js";
import { startProcess, type ManagedProcess } from "../../scripts/lab/process.js";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string; scripts: Record<string, string> };

function run(cmd: string, args: string[], cwd: string, timeout = 180_000): { stdout: string; stderr: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", timeout, env: { ...process.env, npm_config_update_notifier: "false" } });
  assert.equal(r.status, 0, `${cmd} ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}\n${r.stderr}`);
  return { stdout: r.stdout, stderr: r.stderr };
}

// Written to the consumer's directory: the @ts-expect-error lines only compile if the
// package's types are the daemon's own (tsc reports an unused directive otherwise).
const CONSUMER = `import { connectControl, ControlRequestError, defaultSocketPath, VERSION, type CommandArgs, type CommandResult, type Snapshot, type CallEvent } from "jingled";

export async function typesOnly(client: Awaited<ReturnType<typeof connectControl>>): Promise<void> {
  const args: CommandArgs<"call"> = { jid: "bob@example.org" };
  // @ts-expect-error: "jid" is a string in the daemon's CallArgs
  const wrong: CommandArgs<"call"> = { jid: 42 };
  void [args, wrong];
  const started: CommandResult<"call"> = await client.request("call", { jid: "bob@example.org", codecs: ["opus"] });
  // @ts-expect-error: a CallStartResult has no "state"
  void started.state;
  // @ts-expect-error: "dial" is not a command
  const nothing: CommandResult<"dial"> = undefined as never;
  void nothing;
  for await (const e of client.events()) {
    if (e.event === "call") {
      const c = e as unknown as CallEvent;
      const type: "ringing" | "active" | "ended" | string = c.type;
      void type;
    }
  }
}

const client = await connectControl(process.argv[2] ?? defaultSocketPath());
const status: Snapshot = await client.request("status");
let refused = "";
try {
  await client.request("hangup", { callId: "c404" });
} catch (e) {
  if (e instanceof ControlRequestError) refused = e.code;
}
await client.close();
console.log(JSON.stringify({ version: VERSION, daemon: client.hello.version, account: status.account.state, refused }));
`;

describe("npm pack -> npm install into an empty directory", { timeout: 300_000 }, () => {
  let dir: string;
  let files: string[];
  let app: string;
  let prosody: ProsodyServer | undefined;
  let daemon: ManagedProcess | undefined;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "jingled-package-"));
    // The tree is built already (npm test builds first): pack it as it is. `npm pack` on a
    // fresh clone builds it first itself (prepack).
    const packed = JSON.parse(run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", dir], REPO_ROOT).stdout) as { filename: string; files: { path: string }[] }[];
    files = packed[0]!.files.map((f) => f.path);
    app = join(dir, "app");
    mkdirSync(app);
    writeFileSync(join(app, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    const install = run("npm", ["install", join(dir, packed[0]!.filename), "--no-audit", "--no-fund", "--prefer-offline"], app, 240_000);
    assert.doesNotMatch(install.stderr, /install-scripts|deprecated/i, "installing prints no warning");
  });

  after(async () => {
    await daemon?.stop("SIGTERM", 8000);
    await prosody?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  test("the package holds dist/, the bins, the example config, the native addon's source and build script, README and LICENSE; nothing of test/ or secrets", () => {
    for (const f of ["bin/jingled.js", "bin/jinglectl.js", "dist/src/main.js", "dist/src/control/index.js", "dist/src/control/index.d.ts", "config/example.yaml", "native/opus/opus_addon.c", "scripts/build-native.mjs", "README.md", "LICENSE", "package.json"]) {
      assert.ok(files.includes(f), `${f} is in the package`);
    }
    const stray = files.filter((f) => /^(test|dist\/test|dist\/scripts|config\/compose|\.run)\//.test(f) || f.endsWith(".map") || f.endsWith(".node") || /secret|password/i.test(f));
    assert.deepEqual(stray, []);
    assert.equal(pkg.scripts.prepack, "npm run build", "npm pack builds dist/ first");
  });

  test("jingled --version and jinglectl --version from the installed package", () => {
    const bin = join(app, "node_modules", ".bin");
    assert.equal(run(join(bin, "jingled"), ["--version"], app).stdout, `jingled ${pkg.version}\n`);
    assert.match(run(join(bin, "jinglectl"), ["--version"], app).stdout, new RegExp(`^jinglectl ${pkg.version.replace(/\./g, "\\.")} \\(control protocol 1\\)\\n$`));
  });

  test("the native Opus backend builds from the shipped source; --check-config accepts backend native", (t) => {
    const installed = join(app, "node_modules", "jingled");
    const built = run("npm", ["run", "build:native"], installed).stdout;
    if (!existsSync(join(installed, "native", "opus", "build", "jingled_opus.node"))) {
      // scripts/bootstrap.sh installs libopus-dev as root; without it the package still runs on opusscript.
      if (process.getuid?.() === 0) assert.fail(`the addon did not build:\n${built}`);
      t.skip(`no native backend here: ${built.trim()}`);
      return;
    }
    const cfg = join(dir, "native.yaml");
    writeFileSync(cfg, "account: {jid: a@example.org, password: x}\nmedia: {opus: {backend: native}}\n");
    assert.match(run(join(app, "node_modules", ".bin", "jingled"), ["--check-config", cfg], app).stdout, /backend: native/);
  });

  test("another program imports the control client with the daemon's types (tsc), and talks to the installed daemon", async () => {
    writeFileSync(join(app, "consumer.ts"), CONSUMER);
    // The README's example must compile too (it is not run: it would call bob).
    const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
    const example = /```ts\n([\s\S]*?from "jingled";[\s\S]*?)```/.exec(readme)?.[1];
    assert.ok(example, "the README shows the control client in TypeScript");
    writeFileSync(join(app, "readme-example.ts"), example);
    writeFileSync(
      join(app, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: { target: "ES2022", module: "NodeNext", moduleResolution: "NodeNext", strict: true, outDir: "out", typeRoots: [join(REPO_ROOT, "node_modules", "@types")], types: ["node"], skipLibCheck: false },
        files: ["consumer.ts", "readme-example.ts"],
      }),
    );
    run(process.execPath, [join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.json"], app);

    prosody = await startProsody({ users: [{ username: "door", password: "door-pw" }] });
    const socket = join(dir, "run", "control.sock");
    const cfg = join(dir, "jingled.yaml");
    writeFileSync(cfg, stringify({
      account: { jid: `door@${prosody.domain}`, password: "door-pw", server: `xmpp://127.0.0.1:${prosody.port}` },
      tls: { caFile: prosody.caFile },
      control: { socket },
      ice: { addresses: ["127.0.0.1"] },
    }), { mode: 0o600 });
    daemon = await startProcess(join(app, "node_modules", ".bin", "jingled"), ["--config", cfg, "--log-format", "json"], { name: "installed jingled", readyPattern: /"account state".*"online"|"state":"online"/, readyTimeoutMs: 30_000 });
    const out = run(process.execPath, [join(app, "out", "consumer.js"), socket], app).stdout;
    assert.deepEqual(JSON.parse(out), { version: pkg.version, daemon: pkg.version, account: "online", refused: "unknown-call" });
  });
});
