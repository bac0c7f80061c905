// Loading: YAML file -> validated Config, with the password resolved from
// (in order) JINGLED_PASSWORD, account.passwordFile, account.password.
import { readFileSync } from "node:fs";
import { dirname, isAbsolute, resolve } from "node:path";
import { parse as parseYaml } from "yaml";
import type { z } from "zod";
import { ConfigError } from "../util/errors.js";
import { configSchema, type Config } from "./schema.js";
import { knownKeysAt, suggestKey } from "./did-you-mean.js";

export interface LoadedConfig extends Config {
  /** The resolved password (never logged). */
  readonly secret: string;
  /** The file it came from, for reload. */
  readonly file?: string;
  /** The MQTT broker password, from JINGLED_MQTT_PASSWORD, mqtt.passwordFile or mqtt.password (never logged). */
  readonly mqttSecret?: string;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "object") return "a mapping";
  const s = JSON.stringify(value);
  return s.length > 40 ? `${typeof value} ${s.slice(0, 37)}...` : `${typeof value} ${s}`;
}

function lookup(root: unknown, path: PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const key of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[key];
  }
  return cur;
}

/**
 * One line per problem: the key, what was found, what was expected. With
 * `schema`, an unknown key gets a line of its own and the nearest known key
 * at that place ("calls: unknown key autoanswer (did you mean autoAnswer?)").
 */
export function formatIssues(issues: z.core.$ZodIssue[], input: unknown, schema?: z.ZodType): string[] {
  return issues.flatMap((issue) => {
    const key = issue.path.length ? issue.path.map(String).join(".") : "(top level)";
    if (issue.code === "unrecognized_keys") {
      if (!schema) return [`${key}: unknown key${issue.keys.length > 1 ? "s" : ""} ${issue.keys.join(", ")}`];
      const known = knownKeysAt(schema, input, issue.path);
      return issue.keys.map((k) => {
        const hint = suggestKey(k, known);
        return `${key}: unknown key ${k}${hint ? ` (did you mean ${hint}?)` : known.length ? ` (known here: ${known.join(", ")})` : ""}`;
      });
    }
    const found = describe(lookup(input, issue.path));
    return `${key}: found ${found}; ${issue.message.replace(/^Invalid (input|option): /, "")}`;
  });
}

/** Validates an already-parsed object. `baseDir` resolves relative file paths. */
export function validateConfig(input: unknown, opts: { baseDir?: string; env?: NodeJS.ProcessEnv; file?: string } = {}): LoadedConfig {
  const result = configSchema.safeParse(input ?? {});
  if (!result.success) {
    const issues = formatIssues(result.error.issues, input, configSchema);
    throw new ConfigError(`invalid configuration${opts.file ? ` in ${opts.file}` : ""}:\n  ${issues.join("\n  ")}`, issues);
  }
  const cfg = result.data;
  const baseDir = opts.baseDir ?? process.cwd();
  const abs = (p: string) => (isAbsolute(p) ? p : resolve(baseDir, p));
  if (cfg.tls.caFile) cfg.tls.caFile = abs(cfg.tls.caFile);
  if (cfg.account.passwordFile) cfg.account.passwordFile = abs(cfg.account.passwordFile);
  if (cfg.media.input.type === "file") cfg.media.input.path = abs(cfg.media.input.path);
  if (cfg.media.output.type === "file") cfg.media.output.path = abs(cfg.media.output.path);
  if (cfg.control.socket) cfg.control.socket = abs(cfg.control.socket);
  for (const key of ["caFile", "certFile", "keyFile", "passwordFile"] as const) {
    const p = cfg.mqtt[key];
    if (p) cfg.mqtt[key] = abs(p);
  }
  // A program named with a path is taken from the config's directory; a bare name is looked up in PATH.
  for (const hook of cfg.hooks.run) if (hook.command[0]!.includes("/")) hook.command[0] = abs(hook.command[0]!);
  if (cfg.ice.portRange && cfg.ice.portRange[0] > cfg.ice.portRange[1]) {
    throw new ConfigError("invalid configuration: ice.portRange: the first port must not exceed the second", [
      "ice.portRange: first port > second port",
    ]);
  }

  const env = opts.env ?? process.env;
  let secret = env.JINGLED_PASSWORD;
  if (!secret && cfg.account.passwordFile) {
    try {
      secret = readFileSync(cfg.account.passwordFile, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new ConfigError(`account.passwordFile: cannot read ${cfg.account.passwordFile}: ${(err as Error).message}`);
    }
  }
  // An empty JINGLED_PASSWORD counts as unset.
  if (!secret) secret = cfg.account.password;
  if (!secret) {
    throw new ConfigError(
      "invalid configuration: no password: set account.password, account.passwordFile or JINGLED_PASSWORD",
      ["account.password: found nothing; expected a password, a passwordFile or JINGLED_PASSWORD"],
    );
  }
  const mqttSecret = readMqttSecret(cfg, env);
  return { ...cfg, secret, ...(opts.file ? { file: opts.file } : {}), ...(mqttSecret !== undefined ? { mqttSecret } : {}) };
}

function readMqttSecret(cfg: Config, env: NodeJS.ProcessEnv): string | undefined {
  if (!cfg.mqtt.enabled) return undefined;
  if (env.JINGLED_MQTT_PASSWORD) return env.JINGLED_MQTT_PASSWORD;
  if (cfg.mqtt.passwordFile) {
    try {
      return readFileSync(cfg.mqtt.passwordFile, "utf8").replace(/\r?\n$/, "");
    } catch (err) {
      throw new ConfigError(`mqtt.passwordFile: cannot read ${cfg.mqtt.passwordFile}: ${(err as Error).message}`);
    }
  }
  return cfg.mqtt.password;
}

export function loadConfigFile(file: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (err) {
    // Not only YAMLParseError: yaml throws plain errors for an alias without
    // its anchor or too many aliases (a "billion laughs" file).
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message.split("\n")[0]}`);
  }
  return validateConfig(doc, { baseDir: dirname(resolve(file)), env, file });
}
