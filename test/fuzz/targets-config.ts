// Fuzz target for configuration files: config/example.yaml with random keys
// set, removed or retyped, its text cut and spliced, and YAML's sharp edges
// (alias bombs, tags, merge keys, duplicate keys, several documents). A bad
// file must fail with ConfigError (exit 78 at start, bad-argument on reload),
// never another exception; a good one must satisfy the schema.
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { parse as parseYaml, stringify } from "yaml";
import { loadConfigFile } from "../../src/config/load.js";
import { configSchema } from "../../src/config/schema.js";
import { ConfigError } from "../../src/util/errors.js";
import { TEST_DIR } from "./xml-mutate.js";
import type { FuzzTarget } from "./target.js";

const EXAMPLE_TEXT = readFileSync(join(TEST_DIR, "..", "config", "example.yaml"), "utf8");
const EXAMPLE = parseYaml(EXAMPLE_TEXT) as Record<string, unknown>;

/** Every key path of the example (sections and leaves). */
function paths(o: unknown, prefix: string[] = []): string[][] {
  if (typeof o !== "object" || o === null || Array.isArray(o)) return [prefix];
  return [prefix, ...Object.entries(o).flatMap(([k, v]) => paths(v, [...prefix, k]))];
}
const PATHS = paths(EXAMPLE).filter((p) => p.length > 0);

const value: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(null, -1, 0, 1.5, 65536, 1e308, "", "opus", "relay", "everyone", "roster", "require", "off", "/abs/path", "rel/path", "xmpp://h:5222", "stun:h", "turn:h?transport=tcp", "a@b", "*@b", true, "yes", "0x10"),
  fc.array(fc.constantFrom("opus", "pcmu", "127.0.0.1", "::1", "not-an-ip", 40000, 50000), { maxLength: 3 }),
);

type Edit = { path: number; op: "set" | "delete" | "unknownKey"; v: unknown };
const edit: fc.Arbitrary<Edit> = fc.record({ path: fc.nat(), op: fc.constantFrom("set" as const, "delete" as const, "unknownKey" as const), v: value });

function applyConfigEdits(edits: Edit[]): string {
  const doc = structuredClone(EXAMPLE);
  for (const e of edits) {
    const path = PATHS[e.path % PATHS.length]!;
    let parent: Record<string, unknown> = doc;
    for (const k of path.slice(0, -1)) {
      const next = parent[k];
      if (typeof next !== "object" || next === null || Array.isArray(next)) {
        parent = {};
        break;
      }
      parent = next as Record<string, unknown>;
    }
    const key = path[path.length - 1]!;
    if (e.op === "set") parent[key] = e.v;
    else if (e.op === "delete") delete parent[key];
    else parent[`${key}X`] = e.v;
  }
  return stringify(doc);
}

const SHARP_EDGES = [
  // Billion laughs: yaml's alias limit must surface as a configuration error.
  "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
  "account: {jid: a@b, password: x}\naccount: {jid: c@d}\n",
  "account: !!binary aGVsbG8=\n",
  "account: !foo {jid: a@b}\n",
  "<<: {account: {jid: a@b, password: p}}\n",
  "account: &x {jid: a@b, password: p}\ncontrol: *x\n",
  "account: {jid: a@b, password: p}\n---\naccount: {jid: c@d}\n",
  "account: {jid: a@b, password: p, __proto__: {polluted: 1}}\n",
  "__proto__: {account: {jid: a@b, password: p}}\n",
  "account: {jid: a@b, password: p}\nmedia: {input: {type: file, path: !!null ''}}\n",
  "account: {jid: a@b, password: p}\ncalls: {maxCalls: !!float .inf}\n",
  "account: {jid: a@b, password: p}\nice: {portRange: [50000, 40000]}\n",
  "\t- x\n",
  "%YAML 9.9\n---\na: 1\n",
  "? [a, b]\n: c\n",
  "",
  "account: *undefined_alias\n",
];

const configText: fc.Arbitrary<string> = fc.oneof(
  { weight: 6, arbitrary: fc.array(edit, { minLength: 1, maxLength: 5 }).map(applyConfigEdits) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.nat(), fc.nat(), fc.string({ maxLength: 8 })).map(([a, b, ins]) => {
      const i = a % (EXAMPLE_TEXT.length + 1);
      const j = Math.min(EXAMPLE_TEXT.length, i + (b % 40));
      return EXAMPLE_TEXT.slice(0, i) + ins + EXAMPLE_TEXT.slice(j);
    }),
  },
  { weight: 1, arbitrary: fc.constantFrom(...SHARP_EDGES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
);

let dir: string | undefined;

/** A config file: loaded, or refused with ConfigError naming the problem; nothing else. */
export const configYaml: FuzzTarget<string> = {
  name: "config-yaml",
  description: "mutated example.yaml and YAML edge cases -> loadConfigFile gives a schema-valid config or a ConfigError",
  arbitrary: configText,
  runs: 250,
  encode: (s) => Buffer.from(s, "utf8"),
  decode: (b) => b.toString("utf8"),
  ext: "yaml",
  async setup() {
    dir ??= mkdtempSync(join(tmpdir(), "jingled-fuzz-cfg-"));
  },
  async teardown() {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  },
  check(text) {
    dir ??= mkdtempSync(join(tmpdir(), "jingled-fuzz-cfg-"));
    const file = join(dir, "jingled.yaml");
    writeFileSync(file, text);
    // passwordFile in the example points nowhere here: give the password the usual way.
    let cfg;
    try {
      cfg = loadConfigFile(file, { JINGLED_PASSWORD: "pw" });
    } catch (err) {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
      assert.ok(err.message.length > 0);
      return;
    }
    const { secret, file: from, ...rest } = cfg;
    assert.equal(secret, "pw");
    assert.equal(from, file);
    assert.ok(configSchema.safeParse(rest).success, "a loaded config satisfies the schema");
    assert.equal(Object.getPrototypeOf({}).polluted, undefined, "prototype polluted");
  },
};

export const CONFIG_TARGETS = [configYaml];
