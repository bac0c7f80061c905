// What a valid configuration still needs from this machine: checked when the
// daemon starts, by --check-config and on reload, not by the schema, so that
// validating a configuration (jinglectl, tests, tools) loads no native code.
import type { LoadedConfig } from "../config/load.js";
import { OpusBackendChoice, nativeOpusProblem } from "../media/codecs/opus-backend.js";
import { checkHostConfig } from "../ice/host-check.js";
import { ConfigError } from "../util/errors.js";

/**
 * Throws a ConfigError naming the key, worded as validation words its issues,
 * when `cfg` cannot run here: ice.addresses / ice.interfaces this machine
 * does not have (ice/host-check.ts), a native Opus backend that is not built.
 */
export function checkRuntime(cfg: LoadedConfig): void {
  checkHostConfig(cfg);
  const problem = cfg.media.opus.backend === OpusBackendChoice.Native ? nativeOpusProblem() : undefined;
  if (!problem) return;
  const issue = `media.opus.backend: found string "native"; the native Opus backend is not available: ${problem}`;
  throw new ConfigError(`invalid configuration${cfg.file ? ` in ${cfg.file}` : ""}:\n  ${issue}`, [issue]);
}
