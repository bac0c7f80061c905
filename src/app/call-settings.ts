// What a new call takes from the configuration in force: its codecs, audio
// devices, media preferences, ICE limits, ring timeout and DTLS policy
// (reload changes them for the calls made after it).
import type { LoadedConfig } from "../config/load.js";
import type { AddressSelection } from "../ice/addresses.js";
import type { CodecDescriptor } from "../media/codecs/codec.js";
import { codecIds, findCodecById } from "../media/codecs/index.js";
import type { MediaPreferences } from "../media/media-session.js";
import { CommandError } from "../util/errors.js";
import type { CallDeps } from "./call/call.js";

/** Codec ids (config media.codecs, the call command's codecs) to the registered codecs. */
export function resolveCodecs(ids: string[]): CodecDescriptor[] {
  return ids.map((id) => {
    const c = findCodecById(id);
    if (!c) throw new CommandError("bad-argument", `unknown codec "${id}" (known: ${codecIds().join(", ")})`);
    return c;
  });
}

/** The configuration's media section as what calls need. */
export function mediaPrefsOf(m: LoadedConfig["media"]): MediaPreferences {
  const { bitrate, complexity, fec, dtx } = m.opus;
  return {
    jitter: { minMs: m.jitterMinMs, maxMs: m.jitterMaxMs },
    encoder: { bitrate, complexity, fec, ...(dtx !== undefined ? { dtx } : {}) },
    ptimeMs: m.ptimeMs,
    dtmf: m.dtmf,
    onDeviceError: m.onDeviceError,
    rtcpIntervalMs: m.rtcpIntervalMs,
  };
}

/** ice.addresses / ice.interfaces: where host candidates come from. */
export function addressSelection(cfg: LoadedConfig): AddressSelection {
  return {
    ...(cfg.ice.addresses ? { addresses: cfg.ice.addresses } : {}),
    ...(cfg.ice.interfaces ? { interfaces: cfg.ice.interfaces } : {}),
    linkLocal: cfg.ice.linkLocal,
  };
}

/** The settings part of a call's dependencies; `ice` gets its addresses and servers from the app. */
export function callSettings(cfg: LoadedConfig): Pick<CallDeps, "input" | "output" | "jitterFrames" | "mediaPrefs" | "ringTimeoutMs" | "rtcpMux"> & {
  ice: Pick<CallDeps["ice"], "connectTimeoutMs" | "relayOnly" | "portRange">;
  dtlsPolicy: CallDeps["dtls"]["policy"];
} {
  return {
    input: cfg.media.input,
    output: cfg.media.output,
    jitterFrames: cfg.media.jitterFrames,
    mediaPrefs: mediaPrefsOf(cfg.media),
    ringTimeoutMs: cfg.calls.ringTimeoutSec * 1000,
    rtcpMux: cfg.media.rtcpMux,
    ice: { connectTimeoutMs: cfg.ice.connectTimeoutMs, relayOnly: cfg.ice.policy === "relay", ...(cfg.ice.portRange ? { portRange: cfg.ice.portRange } : {}) },
    dtlsPolicy: cfg.media.dtls,
  };
}
