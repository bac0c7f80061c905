// The environment of the helper processes the daemon starts (arecord, aplay,
// parec, pacat, pactl): what they need to find their program, the sound
// server and its configuration — nothing else. Not the password
// (JINGLED_PASSWORD, which main.ts also removes from our own environment once
// read), nor anything else the daemon was started with.
const PASSED = [
  "PATH",
  "HOME",
  "XDG_RUNTIME_DIR",
  "XDG_CONFIG_HOME",
  // PulseAudio / PipeWire's pulse server: where it is, how to authenticate, default devices.
  "PULSE_SERVER",
  "PULSE_COOKIE",
  "PULSE_RUNTIME_PATH",
  "PULSE_CONFIG_PATH",
  "PULSE_SINK",
  "PULSE_SOURCE",
  "PIPEWIRE_RUNTIME_DIR",
  "PIPEWIRE_REMOTE",
  // ALSA: its configuration and default card.
  "ALSA_CONFIG_PATH",
  "ALSA_CARD",
  "ALSA_PCM_CARD",
  "ALSA_PCM_DEVICE",
] as const;

/** A minimal environment for a helper process, taken from `env`. */
export function helperEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const key of PASSED) {
    const value = env[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
