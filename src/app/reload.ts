// Configuration reload (SIGHUP, the reload command): which changed keys take
// effect now and which only after a restart. Pure: the app re-reads and
// validates the file, this decides, the app applies.
//
// Now: calls.* (policy), media.* and ice.* (every new call reads them),
// log.level, control.statsIntervalSec, hooks.*. Calls in progress keep what they
// started with.
// After a restart: account.* and the password (the XMPP login), tls.*,
// control.socket (the socket is bound once), media.dtls (the certificate
// and the advertised features are set at start), media.threads,
// media.preload and media.priority (the media threads are started once),
// mqtt.* and metrics.*
// (connections and listeners made at start) and log.format. hooks.* apply
// now: each event reads them.
import type { LoadedConfig } from "../config/load.js";

export interface ReloadPlan {
  /** Changed keys now in force, e.g. "calls.acceptFrom". */
  applied: string[];
  /** Changed keys that keep their old value until a restart. */
  restartRequired: string[];
}

// media.dtls: the DTLS certificate is made at start and disco#info advertises DTLS from then on; media.threads, media.preload, media.priority: the pool is made once.
// mqtt, metrics: the broker connection and the HTTP listener are made at start; log.format: the log destination.
const RESTART_ONLY = ["account", "tls", "control.socket", "media.dtls", "media.threads", "media.preload", "media.priority", "mqtt", "metrics", "log.format"] as const;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Dotted paths of the leaves that differ; lists compare as a whole. */
export function changedKeys(a: unknown, b: unknown, prefix = ""): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => changedKeys(a[k], b[k], prefix ? `${prefix}.${k}` : k));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

function restartOnly(key: string): boolean {
  return RESTART_ONLY.some((p) => key === p || key.startsWith(`${p}.`));
}

/**
 * The config to run with after a reload (`next`, except the restart-only
 * parts, which stay as `current` has them) and what changed.
 */
export function planReload(current: LoadedConfig, next: LoadedConfig): { config: LoadedConfig; plan: ReloadPlan } {
  const { secret: _s1, file: _f1, mqttSecret: _m1, ...cur } = current;
  const { secret: _s2, file: _f2, mqttSecret: _m2, ...nxt } = next;
  const changed = changedKeys(cur, nxt);
  // The password is not a config key when it comes from the environment or a file, but a change still needs a new login.
  if (current.secret !== next.secret && !changed.some((k) => k.startsWith("account.password"))) changed.push("account.password");
  const plan: ReloadPlan = {
    applied: changed.filter((k) => !restartOnly(k)),
    restartRequired: changed.filter(restartOnly),
  };
  const config: LoadedConfig = {
    ...next,
    account: current.account,
    tls: current.tls,
    control: { ...next.control, socket: current.control.socket },
    media: { ...next.media, dtls: current.media.dtls, threads: current.media.threads, preload: current.media.preload, priority: current.media.priority },
    mqtt: current.mqtt,
    metrics: current.metrics,
    log: { ...next.log, format: current.log.format },
    secret: current.secret,
    ...(current.file ? { file: current.file } : {}),
    ...(current.mqttSecret !== undefined ? { mqttSecret: current.mqttSecret } : {}),
  };
  return { config, plan };
}
