// docker-compose.yml is a real deployment sketch: Debian's docker-compose
// accepts it (`docker-compose config`, no container engine needed), every
// file it references exists, and each jingled service's config passes
// jingled's own validation, with the password and recordings where the
// compose file puts them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { isAbsolute } from "node:path";
import { parse } from "yaml";
import { REPO_ROOT } from "../../scripts/lab/daemon.js";
import { loadConfigFile } from "../../src/config/load.js";

interface ComposeService {
  image?: string;
  build?: { context: string };
  command?: string[];
  volumes?: string[];
  secrets?: { source: string; target?: string }[];
  depends_on?: Record<string, unknown>;
}
interface Compose {
  services: Record<string, ComposeService>;
  secrets?: Record<string, { file: string }>;
  volumes?: Record<string, unknown>;
}

function haveDockerCompose(): boolean {
  return spawnSync("docker-compose", ["version"], { encoding: "utf8" }).status === 0;
}

test("docker-compose.yml: valid for docker-compose, its files exist, its jingled configs pass validation", (t) => {
  if (!haveDockerCompose()) {
    // scripts/bootstrap.sh installs it (Debian package docker-compose) when run as root.
    if (process.getuid?.() === 0) assert.fail("docker-compose is missing: run scripts/bootstrap.sh");
    t.skip("docker-compose is not installed (apt-get install docker-compose)");
    return;
  }
  const r = spawnSync("docker-compose", ["--file", "docker-compose.yml", "config"], { cwd: REPO_ROOT, encoding: "utf8", timeout: 60_000 });
  assert.equal(r.status, 0, `docker-compose config failed:\n${r.stderr}`);
  const compose = parse(r.stdout) as Compose;

  const services = Object.entries(compose.services);
  const images = services.map(([, s]) => s.image ?? "");
  assert.ok(images.some((i) => i.startsWith("prosody/")), "a Prosody service");
  assert.ok(images.some((i) => i.startsWith("coturn/")), "a coturn service");
  const jingled = services.filter(([, s]) => s.command?.some((c) => c.endsWith("bin/jingled.js")));
  assert.ok(jingled.length >= 2, "two jingled services");
  assert.ok(existsSync(`${REPO_ROOT}/Dockerfile`), "the jingled image can be built");

  // Every bind mount's source exists.
  for (const [name, s] of services) {
    for (const v of s.volumes ?? []) {
      const source = v.split(":")[0]!;
      if (isAbsolute(source)) assert.ok(existsSync(source), `${name}: ${source} does not exist`);
      else assert.ok(compose.volumes && source in compose.volumes, `${name}: named volume ${source} is declared`);
    }
  }
  for (const [name, secret] of Object.entries(compose.secrets ?? {})) assert.ok(existsSync(secret.file), `secret ${name}: ${secret.file}`);

  for (const [name, s] of jingled) {
    assert.ok(s.depends_on && "prosody" in s.depends_on, `${name} starts after prosody`);
    const target = s.command![s.command!.indexOf("--config") + 1]!;
    const mount = (s.volumes ?? []).find((v) => v.split(":")[1] === target);
    assert.ok(mount, `${name}: ${target} is mounted from the repository`);
    // JINGLED_PASSWORD stands in for the secret file, which exists only in the container.
    const cfg = loadConfigFile(mount.split(":")[0]!, { JINGLED_PASSWORD: "x" });
    const secretTargets = (s.secrets ?? []).map((x) => x.target ?? `/run/secrets/${x.source}`);
    assert.ok(cfg.account.passwordFile && secretTargets.includes(cfg.account.passwordFile), `${name}: passwordFile ${cfg.account.passwordFile} is a compose secret`);
    if (cfg.media.output.type === "file") {
      const out = cfg.media.output.path;
      assert.ok((s.volumes ?? []).some((v) => out.startsWith(`${v.split(":")[1]}/`)), `${name}: recordings (${out}) go to a volume`);
    }
    assert.match(cfg.account.server ?? "", /^xmpp:\/\/127\.0\.0\.1:5222$/, `${name}: reaches Prosody's published port`);
  }
});
