// The Dockerfile, without a container engine: its instructions are checked
// (an LTS Node base, two stages, the native Opus backend compiled against
// libopus, a non-root user, a HEALTHCHECK on the control socket, the daemon's
// V8 flag), then its build steps run for real in a clean directory
// (test/helpers/dockerfile.ts), and the image's CMD and HEALTHCHECK run from
// the result against a real Prosody.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { JINGLED_NODE_FLAGS, REPO_ROOT } from "../../scripts/lab/daemon.js";
import { MissingPackagesError, hostPath, parseDockerfile, runDockerfileSteps, type BuiltStage } from "../helpers/dockerfile.js";
import { startProcess, type ManagedProcess } from "../../scripts/lab/process.js";
import { startProsody, type ProsodyServer } from "../../scripts/lab/prosody.js";

const DOCKERFILE = join(REPO_ROOT, "Dockerfile");

test("Dockerfile: Node LTS base, two stages, libopus in both, non-root, healthcheck on the control socket, the daemon's V8 flag", () => {
  const stages = parseDockerfile(readFileSync(DOCKERFILE, "utf8"));
  assert.equal(stages.length, 2, "a build stage and a runtime stage");
  for (const s of stages) assert.match(s.from, /^node:(22|24)-bookworm-slim$/, "Node 22 or 24 LTS (20 is past its end of life)");
  assert.equal(stages[0]!.from, stages[1]!.from, "the addon is built against the runtime's Node and Debian");
  const text = (s: number) => stages[s]!.instructions.map((i) => `${i.op} ${i.args}`).join("\n");
  assert.match(text(0), /apt-get install[^\n]*libopus-dev/);
  assert.match(text(0), /node scripts\/build-native\.mjs[^\n]*&& test -f native\/opus\/build\/jingled_opus\.node/, "the build fails without the native backend");
  assert.match(text(1), /apt-get install[^\n]*libopus0/);
  assert.match(text(1), /COPY --from=build \/src\/native\/opus\/build\/jingled_opus\.node/);
  const user = stages[1]!.instructions.filter((i) => i.op === "USER").at(-1)?.args;
  assert.ok(user && user !== "root" && user !== "0", `runs as ${user}`);
  const health = stages[1]!.instructions.find((i) => i.op === "HEALTHCHECK")!.args;
  assert.match(health, /CMD \["node", "bin\/jinglectl\.js", "status"\]/);
  const cmd = JSON.parse(stages[1]!.instructions.find((i) => i.op === "CMD")!.args) as string[];
  assert.deepEqual(cmd.slice(1, 1 + JINGLED_NODE_FLAGS.length), JINGLED_NODE_FLAGS, "the same V8 flags as bin/jingled.js");
});

describe("the Dockerfile's build steps, run outside a container", { timeout: 400_000 }, () => {
  let dir: string;
  let built: BuiltStage[] = [];
  let skip = "";
  let prosody: ProsodyServer | undefined;
  let daemon: ManagedProcess | undefined;
  const steps: string[] = [];

  before(() => {
    dir = mkdtempSync(join(tmpdir(), "jingled-image-"));
    try {
      built = runDockerfileSteps({ context: REPO_ROOT, dockerfile: DOCKERFILE, dir, onStep: (n, i) => steps.push(`stage ${n}: ${i.op} ${i.args}`) });
    } catch (err) {
      if (err instanceof MissingPackagesError && process.getuid?.() !== 0) {
        skip = `${err.message} (scripts/bootstrap.sh installs them as root)`;
        return;
      }
      const e = err as Error & { stderr?: Buffer };
      throw new Error(`${e.message}\n${e.stderr?.toString().slice(-2000) ?? ""}\nsteps so far:\n${steps.join("\n")}`);
    }
  });

  after(async () => {
    await daemon?.stop("SIGTERM", 8000);
    await prosody?.stop();
    if (dir && !process.env.KEEP_TEST_DIR) rmSync(dir, { recursive: true, force: true });
  });

  test("the image holds the built daemon, its production dependencies and a native Opus backend that loads", (t) => {
    if (skip) return t.skip(skip);
    const image = built.at(-1)!;
    const app = hostPath(image, image.workdir);
    const r = spawnSync(process.execPath, ["bin/jingled.js", "--version"], { cwd: app, encoding: "utf8" });
    assert.equal(r.stdout.trim(), `jingled ${(JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")) as { version: string }).version}`);
    const modules = spawnSync("ls", [join(app, "node_modules")], { encoding: "utf8" }).stdout.split("\n");
    assert.ok(modules.includes("mqtt") && modules.includes("werift-ice"), "production dependencies");
    assert.ok(!modules.includes("typescript") && !modules.includes("esbuild"), "no development dependencies");
    assert.ok(steps.some((s) => s.includes("opus-addon.js")), "the image's own check that the addon loads ran");
  });

  test("CMD starts the daemon from the image; HEALTHCHECK is healthy while it answers, unhealthy once it is gone", async (t) => {
    if (skip) return t.skip(skip);
    const image = built.at(-1)!;
    const app = hostPath(image, image.workdir);
    prosody = await startProsody({ users: [{ username: "door", password: "door-pw" }] });
    const config = hostPath(image, image.cmd!.at(-1)!);
    mkdirSync(join(config, ".."), { recursive: true });
    writeFileSync(config, stringify({
      account: { jid: `door@${prosody.domain}`, password: "door-pw", server: `xmpp://127.0.0.1:${prosody.port}` },
      tls: { caFile: prosody.caFile },
      ice: { addresses: ["127.0.0.1"] },
      media: { opus: { backend: "native" } },
      log: { format: "json" },
    }), { mode: 0o600 });
    // The image's environment, its paths inside the stage's directory (XDG_RUNTIME_DIR=/run -> ROOT/run).
    const env = Object.fromEntries(Object.entries(image.env).map(([k, v]) => [k, hostPath(image, v)]));
    mkdirSync(env.XDG_RUNTIME_DIR!, { recursive: true });
    const [node, ...args] = image.cmd!;
    assert.equal(node, "node");
    daemon = await startProcess(process.execPath, args.map((a) => hostPath(image, a)), { cwd: app, env, name: "jingled (image)", readyPattern: /"state":"online"/, readyTimeoutMs: 30_000 });
    const [hnode, ...hargs] = image.healthcheck!;
    assert.equal(hnode, "node");
    const health = () => spawnSync(process.execPath, hargs, { cwd: app, env: { ...process.env, ...env }, encoding: "utf8", timeout: 20_000 });
    const healthy = health();
    assert.equal(healthy.status, 0, healthy.stderr);
    assert.match(healthy.stdout, /account door@localhost\/jingled online/);
    const status = spawnSync(process.execPath, ["bin/jinglectl.js", "--json", "status"], { cwd: app, env: { ...process.env, ...env }, encoding: "utf8" });
    assert.equal((JSON.parse(status.stdout) as { media: { opusBackend: string } }).media.opusBackend, "native", "FEC-capable libopus in the image");
    assert.equal(await daemon.stop("SIGTERM", 8000), 0, "SIGTERM: a clean stop");
    const gone = health();
    assert.notEqual(gone.status, 0, "unhealthy without a daemon");
  });
});
