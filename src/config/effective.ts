// `jingled --check-config FILE`: the configuration as the daemon would run it
// (defaults filled in, paths made absolute), with every secret masked, and
// where each password comes from.
import { stringify } from "yaml";
import type { LoadedConfig } from "./load.js";

export const MASK = "********";

/** A deep copy of the config without the resolved secrets, passwords replaced by MASK. */
export function maskedConfig(cfg: LoadedConfig): Record<string, unknown> {
  const { secret: _secret, mqttSecret: _mqttSecret, file: _file, ...rest } = cfg;
  const copy = structuredClone(rest) as Record<string, unknown> & {
    account: { password?: string };
    ice: { turn: { password: string }[] };
    mqtt: { password?: string };
  };
  if (copy.account.password !== undefined) copy.account.password = MASK;
  for (const t of copy.ice.turn) t.password = MASK;
  if (copy.mqtt.password !== undefined) copy.mqtt.password = MASK;
  return copy;
}

/** Where the account's (and the broker's) password comes from, never the password itself. */
export function secretSources(cfg: LoadedConfig, env: NodeJS.ProcessEnv): string[] {
  const account = env.JINGLED_PASSWORD ? "the JINGLED_PASSWORD environment variable" : cfg.account.passwordFile ? `account.passwordFile (${cfg.account.passwordFile})` : "account.password";
  const lines = [`account password: from ${account}`];
  if (cfg.mqtt.enabled && cfg.mqttSecret !== undefined) {
    const mqtt = env.JINGLED_MQTT_PASSWORD ? "the JINGLED_MQTT_PASSWORD environment variable" : cfg.mqtt.passwordFile ? `mqtt.passwordFile (${cfg.mqtt.passwordFile})` : "mqtt.password";
    lines.push(`MQTT password: from ${mqtt}`);
  }
  return lines;
}

/** The text --check-config prints: a comment header, then YAML. */
export function effectiveConfigText(cfg: LoadedConfig, env: NodeJS.ProcessEnv): string {
  const head = [
    `# ${cfg.file ?? "the configuration"} is valid. Effective configuration (defaults filled in, secrets masked):`,
    ...secretSources(cfg, env).map((l) => `# ${l}`),
  ];
  return `${head.join("\n")}\n${stringify(maskedConfig(cfg))}`;
}
