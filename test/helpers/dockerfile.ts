// Runs a Dockerfile's build steps outside a container, for machines without a
// container engine: each stage gets a directory standing for its root
// filesystem; WORKDIR, ENV, COPY (from the build context, honouring
// .dockerignore, or --from an earlier stage) and RUN happen there for real.
// A RUN that installs Debian packages (apt-get) cannot: it is checked instead
// that the host has those packages, so the other steps see what the image
// would have. USER is recorded, not switched to. What differs from a real
// build: the host's Node and Debian release instead of the base image's.
import { execFileSync, spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, posix, relative } from "node:path";

export interface Instruction {
  op: string;
  args: string;
  line: number;
}

export interface Stage {
  from: string;
  name?: string;
  instructions: Instruction[];
}

export interface BuiltStage {
  stage: Stage;
  /** The directory standing for the stage's root filesystem. */
  root: string;
  /** WORKDIR at the end, as a path in the container. */
  workdir: string;
  env: Record<string, string>;
  user?: string;
  /** The HEALTHCHECK's CMD (exec form), and CMD. */
  healthcheck?: string[];
  cmd?: string[];
  /** Debian packages the stage's apt-get steps install. */
  packages: string[];
}

/** Instructions with continuation lines joined and comments dropped, split into stages. */
export function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const start = i;
    let line = lines[i]!;
    if (/^\s*(#|$)/.test(line)) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) {
      i += 1;
      const next = lines[i]!;
      if (/^\s*#/.test(next)) continue;
      line = line.slice(0, -1) + " " + next.trim();
    }
    const m = /^\s*([A-Za-z]+)\s+(.*)$/.exec(line);
    if (!m) throw new Error(`Dockerfile line ${start + 1}: cannot read ${JSON.stringify(line)}`);
    const op = m[1]!.toUpperCase();
    const args = m[2]!.trim();
    if (op === "FROM") {
      const f = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args)!;
      stages.push({ from: f[1]!, ...(f[2] ? { name: f[2] } : {}), instructions: [] });
      continue;
    }
    if (stages.length === 0) throw new Error(`Dockerfile line ${start + 1}: ${op} before FROM`);
    stages.at(-1)!.instructions.push({ op, args, line: start + 1 });
  }
  return stages;
}

function execForm(args: string): string[] {
  const parsed = JSON.parse(args) as unknown;
  if (!Array.isArray(parsed) || parsed.some((a) => typeof a !== "string")) throw new Error(`expected an exec-form JSON array: ${args}`);
  return parsed as string[];
}

function ignoredBy(patterns: string[]): (rel: string) => boolean {
  return (rel) =>
    patterns.some((p) => {
      if (p.includes("*")) return new RegExp(`^${p.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, "[^/]*")}$`).test(basename(rel));
      return rel === p || rel.startsWith(`${p}/`);
    });
}

/** apt-get install's package names in a RUN command. */
function aptPackages(cmd: string): string[] {
  const out: string[] = [];
  for (const part of cmd.split(/&&|;/)) {
    const words = part.trim().split(/\s+/);
    const i = words.indexOf("install");
    if (words[0] !== "apt-get" || i < 0) continue;
    out.push(...words.slice(i + 1).filter((w) => !w.startsWith("-")));
  }
  return out;
}

export function hostHasPackage(pkg: string): boolean {
  const r = spawnSync("dpkg-query", ["-W", "-f=${Status}", pkg], { encoding: "utf8" });
  return r.status === 0 && r.stdout.includes("install ok installed");
}

export class MissingPackagesError extends Error {
  constructor(
    readonly packages: string[],
    line: number,
  ) {
    super(`Dockerfile line ${line} installs Debian packages this machine lacks: ${packages.join(" ")}`);
  }
}

export interface RunOptions {
  /** The build context (the repository). */
  context: string;
  dockerfile: string;
  /** An empty directory; stage N is built in dir/stage-N. */
  dir: string;
  /** Called with each step before it runs, for the test's log. */
  onStep?: (stage: number, ins: Instruction) => void;
}

export function runDockerfileSteps(o: RunOptions): BuiltStage[] {
  const stages = parseDockerfile(readFileSync(o.dockerfile, "utf8"));
  const dockerignore = join(o.context, ".dockerignore");
  const ignored = ignoredBy(existsSync(dockerignore) ? readFileSync(dockerignore, "utf8").split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#")) : []);
  const built: BuiltStage[] = [];
  stages.forEach((stage, n) => {
    const b: BuiltStage = { stage, root: join(o.dir, `stage-${n}`), workdir: "/", env: {}, packages: [] };
    mkdirSync(b.root, { recursive: true });
    const inRoot = (p: string): string => join(b.root, posix.resolve(b.workdir, p));
    for (const ins of stage.instructions) {
      o.onStep?.(n, ins);
      switch (ins.op) {
        case "WORKDIR":
          b.workdir = posix.resolve(b.workdir, ins.args);
          mkdirSync(inRoot("."), { recursive: true });
          break;
        case "ENV":
          for (const [, k, v] of ins.args.matchAll(/(\w+)=(\S+)/g)) b.env[k!] = v!;
          break;
        case "USER":
          b.user = ins.args;
          break;
        case "COPY": {
          const words = ins.args.split(/\s+/);
          const from = words[0]!.startsWith("--from=") ? words.shift()!.slice("--from=".length) : undefined;
          const dest = words.pop()!;
          const source = from === undefined ? undefined : built.find((s) => s.stage.name === from || String(built.indexOf(s)) === from);
          if (from !== undefined && !source) throw new Error(`line ${ins.line}: no stage ${from}`);
          const toDir = dest.endsWith("/") || words.length > 1;
          for (const src of words) {
            const path = source ? join(source.root, src) : join(o.context, src);
            if (!existsSync(path)) throw new Error(`line ${ins.line}: COPY source ${src} does not exist${source ? ` in stage ${from}` : ""}`);
            const target = toDir ? join(inRoot(dest), basename(src)) : inRoot(dest);
            mkdirSync(statSync(path).isDirectory() ? target : dirname(target), { recursive: true });
            cpSync(path, target, { recursive: true, filter: (p) => source !== undefined || !ignored(relative(o.context, p)) });
          }
          break;
        }
        case "RUN": {
          const pkgs = aptPackages(ins.args);
          if (ins.args.includes("apt-get")) {
            // A system step: the host must have what the image would install.
            b.packages.push(...pkgs);
            const missing = pkgs.filter((p) => !hostHasPackage(p));
            if (missing.length) throw new MissingPackagesError(missing, ins.line);
            break;
          }
          // npm may answer from its cache first (the command itself is the Dockerfile's).
          const env = { ...process.env, npm_config_prefer_offline: "true", npm_config_update_notifier: "false", ...b.env };
          execFileSync("sh", ["-c", ins.args], { cwd: inRoot("."), env, stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
          break;
        }
        case "HEALTHCHECK": {
          const i = ins.args.indexOf("CMD ");
          b.healthcheck = execForm(ins.args.slice(i + 4).trim());
          break;
        }
        case "CMD":
          b.cmd = execForm(ins.args);
          break;
        case "ENTRYPOINT":
        case "STOPSIGNAL":
        case "EXPOSE":
        case "LABEL":
          break;
        default:
          throw new Error(`line ${ins.line}: ${ins.op} is not handled here`);
      }
    }
    built.push(b);
  });
  return built;
}

/** A container path as it is in the stage's directory ("/etc/x" -> ROOT/etc/x); other words unchanged. */
export function hostPath(b: BuiltStage, word: string): string {
  return word.startsWith("/") ? join(b.root, word) : word;
}
