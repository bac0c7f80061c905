#!/usr/bin/env bash
# Installs what the tests and the demo need, and nothing when it is all there:
#   - node modules (npm ci from package-lock.json; npm install without a lock)
#   - Debian packages: prosody (prosody, prosodyctl), espeak-ng, sox, openssl
#   - for the browser interop test: chromium (/usr/bin/chromium) and iproute2
#     (ip); for the compose test: docker-compose; optional: without root they
#     are only reported (those tests skip)
#   - for the audio device tests: pulseaudio, pulseaudio-utils, alsa-utils (optional too)
#   - for the native Opus backend: libopus-dev, gcc, pkg-config (optional too: without them Opus
#     runs on opusscript); the container build test runs the Dockerfile's steps with them
#   - for the MQTT tests: mosquitto (a broker the tests start themselves) and mosquitto-clients (mosquitto_rr,
#     mosquitto_pub: the README example); for the
#     completion test: zsh (optional too)
#   - for the SRV discovery test: dnsmasq-base (optional too)
#   - for the second XMPP server in the integration tests: ejabberd (optional too);
#     the system service its packages would start is stopped and disabled:
#     the tests run their own throwaway servers, without epmd
# Idempotent; no apt-get update unless something has to be installed.
# Run from anywhere: it works in the repository root.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf 'bootstrap: %s\n' "$*"; }
did_something=0

# ---- node modules -----------------------------------------------------------
npm_flags=(--no-audit --no-fund)
if [[ -f package-lock.json ]]; then
  if [[ ! -d node_modules ]]; then
    say "node_modules missing: npm ci"
    npm ci "${npm_flags[@]}"
    did_something=1
  elif [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
    say "package-lock.json is newer than node_modules: npm ci"
    npm ci "${npm_flags[@]}"
    did_something=1
  fi
else
  if [[ ! -d node_modules || ! -f node_modules/.package-lock.json || package.json -nt node_modules/.package-lock.json ]]; then
    say "no package-lock.json: npm install"
    npm install "${npm_flags[@]}"
    did_something=1
  fi
fi

# ---- Debian packages --------------------------------------------------------
# command -> Debian package
declare -A pkg_of=(
  [prosody]=prosody
  [prosodyctl]=prosody
  [espeak-ng]=espeak-ng
  [sox]=sox
  [openssl]=openssl
)
missing_cmds=()
missing_pkgs=()
for cmd in prosody prosodyctl espeak-ng sox openssl; do
  if ! command -v "$cmd" >/dev/null 2>&1; then
    missing_cmds+=("$cmd")
    pkg="${pkg_of[$cmd]}"
    if [[ " ${missing_pkgs[*]-} " != *" $pkg "* ]]; then missing_pkgs+=("$pkg"); fi
  fi
done

# Optional, for test/integration/browser-interop: a real WebRTC peer (the
# tests use exactly /usr/bin/chromium, never a downloaded browser) and
# `ip netns` to keep its ICE checks inside a network namespace.
optional_missing=()
[[ -x /usr/bin/chromium ]] || optional_missing+=(chromium)
command -v ip >/dev/null 2>&1 || optional_missing+=(iproute2)
# Optional, for test/integration/nat-*.test.ts (the NAT lab: namespaces, NAT
# routers with iptables MASQUERADE, conntrack to flush and tune bindings) and
# the TURN tests (coturn's turnserver).
command -v iptables >/dev/null 2>&1 || optional_missing+=(iptables)
command -v conntrack >/dev/null 2>&1 || optional_missing+=(conntrack)
command -v turnserver >/dev/null 2>&1 || optional_missing+=(coturn)
# Optional, for test/integration/dtls-srtp: GnuTLS's gnutls-serv/gnutls-cli,
# the DTLS stack Dino uses, as a peer of our DTLS-SRTP.
command -v gnutls-serv >/dev/null 2>&1 || optional_missing+=(gnutls-bin)
# Optional, for test/integration/compose: Debian's docker-compose checks docker-compose.yml.
command -v docker-compose >/dev/null 2>&1 || optional_missing+=(docker-compose)
# Optional, for the audio device tests (test/integration/pulse-devices): a
# PulseAudio server with a null sink, parec/pacat, and arecord/aplay.
command -v pulseaudio >/dev/null 2>&1 || optional_missing+=(pulseaudio)
command -v parec >/dev/null 2>&1 || optional_missing+=(pulseaudio-utils)
command -v arecord >/dev/null 2>&1 || optional_missing+=(alsa-utils)
# Optional, for the native Opus backend (native/opus, built by npm run build):
# the system libopus and its headers. Without it Opus runs on opusscript (WASM).
[[ -f /usr/include/opus/opus.h ]] || optional_missing+=(libopus-dev)
command -v cc >/dev/null 2>&1 || optional_missing+=(gcc libc6-dev)
command -v pkg-config >/dev/null 2>&1 || optional_missing+=(pkg-config)
# Optional, for test/integration/mqtt-bridge and home-automation: Debian's
# Mosquitto, started by the tests on a free loopback port (never as a service).
command -v mosquitto >/dev/null 2>&1 || optional_missing+=(mosquitto)
# and the command-line clients the README's MQTT example uses (mosquitto_rr,
# mosquitto_pub; home-automation runs them as written): not a dependency of
# the broker's package.
command -v mosquitto_rr >/dev/null 2>&1 || optional_missing+=(mosquitto-clients)
# Optional, for test/unit/completion: the zsh completion is loaded into a real zsh.
command -v zsh >/dev/null 2>&1 || optional_missing+=(zsh)
# Optional, for test/integration/ejabberd: a second XMPP server implementation
# (scripts/lab/ejabberd.ts starts throwaway ones; without it that file skips).
[[ -x /usr/sbin/ejabberdctl ]] || optional_missing+=(ejabberd)
# Optional, for test/integration/xmpp-discovery: a DNS server (dnsmasq) the test
# starts in a network namespace of its own, serving SRV/A/AAAA records for test domains.
[[ -x /usr/sbin/dnsmasq ]] || optional_missing+=(dnsmasq-base)
if ((${#optional_missing[@]} > 0)); then
  if [[ "$(id -u)" == 0 ]]; then
    missing_pkgs+=("${optional_missing[@]}")
  else
    say "optional packages missing (the tests that need them skip): ${optional_missing[*]}"
    say "  as root: apt-get install -y --no-install-recommends ${optional_missing[*]}"
  fi
fi

# Stop a system-wide Prosody that the package's postinst started (by the PID
# in its pidfile, never by name). Our tests run their own throwaway servers.
stop_packaged_prosody() {
  local pidfile pid cmdline i
  for pidfile in /run/prosody/prosody.pid /var/run/prosody/prosody.pid; do
    [[ -r "$pidfile" ]] || continue
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" ]] || continue
    kill -0 "$pid" 2>/dev/null || continue
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmdline" == *prosody* ]] || continue
    say "stopping the system prosody started by the package (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      say "system prosody (pid $pid) ignored SIGTERM: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
}

# The same for a Mosquitto the package started (policy-rc.d normally prevents it).
stop_packaged_mosquitto() {
  local pidfile pid cmdline
  for pidfile in /run/mosquitto/mosquitto.pid /var/run/mosquitto/mosquitto.pid; do
    [[ -r "$pidfile" ]] || continue
    pid="$(tr -dc '0-9' <"$pidfile")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || continue
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
    [[ "$cmdline" == *mosquitto* ]] || continue
    say "stopping the system mosquitto started by the package (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
  done
}

# The units ejabberd's packages enable for boot (ejabberd.service, and
# erlang-base's epmd.socket/epmd.service, which it requires). Those this
# bootstrap's own install enabled are disabled again afterwards.
ejabberd_units=(ejabberd.service epmd.socket epmd.service)
unit_enabled() {
  local u="$1"
  [[ -e "/etc/systemd/system/multi-user.target.wants/$u" || -e "/etc/systemd/system/sockets.target.wants/$u" ]]
}

# Undo what installing ejabberd started or enabled: a running system ejabberd
# (by the PID in its pidfile, never by name), an epmd with no node registered
# (with epmd's own `-kill`, as ejabberdctl does), and the boot-time units that
# were not enabled before the install. The tests never use either: each test
# server gets its own Erlang distribution port and no epmd.
stop_packaged_ejabberd() {
  local pidfile=/run/ejabberd/ejabberd.pid pid cmdline i u
  if [[ -r "$pidfile" ]]; then
    pid="$(tr -dc '0-9' <"$pidfile")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)"
      if [[ "$cmdline" == *ejabberd* ]]; then
        say "stopping the system ejabberd started by the package (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do
          kill -0 "$pid" 2>/dev/null || break
          sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
      fi
    fi
  fi
  if command -v epmd >/dev/null 2>&1 && epmd -names >/dev/null 2>&1 && ! epmd -names 2>/dev/null | grep -q '^name '; then
    say "stopping the idle epmd started by the install (epmd -kill)"
    epmd -kill >/dev/null 2>&1 || true
  fi
  for u in "${ejabberd_units[@]}"; do
    [[ " ${units_enabled_before[*]-} " == *" $u "* ]] && continue
    unit_enabled "$u" || continue
    say "disabling $u (enabled by the package install)"
    # systemctl disables offline too (it only removes the links) when systemd is not running.
    if [[ -d /run/systemd/system ]]; then
      systemctl disable --now "$u" >/dev/null 2>&1 || true
    elif command -v systemctl >/dev/null 2>&1; then
      systemctl disable "$u" >/dev/null 2>&1 || true
    fi
  done
  if [[ -x /etc/init.d/ejabberd ]] && command -v update-rc.d >/dev/null 2>&1; then
    update-rc.d ejabberd disable >/dev/null 2>&1 || true
  fi
}

if ((${#missing_pkgs[@]} > 0)); then
  units_enabled_before=()
  for u in "${ejabberd_units[@]}"; do
    if unit_enabled "$u"; then units_enabled_before+=("$u"); fi
  done
  if [[ "$(id -u)" != 0 ]]; then
    say "missing commands: ${missing_cmds[*]}"
    say "install them as root with:"
    printf '  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends %s\n' "${missing_pkgs[*]}"
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  say "apt-get update"
  apt-get update -qq
  # Keep maintainer scripts from starting services (Debian's policy-rc.d
  # mechanism), unless the machine already has its own policy.
  policy=/usr/sbin/policy-rc.d
  own_policy=0
  if [[ ! -e "$policy" ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    own_policy=1
    trap 'if [[ $own_policy == 1 ]]; then rm -f "$policy"; fi' EXIT
  fi
  say "apt-get install ${missing_pkgs[*]}"
  if [[ " ${missing_pkgs[*]} " == *" chromium "* ]]; then say "(chromium is large: this takes a minute or two)"; fi
  apt-get install -y -qq --no-install-recommends "${missing_pkgs[@]}" >/dev/null
  if ((own_policy == 1)); then
    rm -f "$policy"
    own_policy=0
  fi
  did_something=1
  for cmd in "${missing_cmds[@]-}"; do
    [[ -n "$cmd" ]] || continue
    command -v "$cmd" >/dev/null 2>&1 || { say "still missing after install: $cmd"; exit 1; }
  done
  if [[ " ${missing_pkgs[*]} " == *" chromium "* && ! -x /usr/bin/chromium ]]; then
    say "still missing after install: /usr/bin/chromium"; exit 1
  fi
  if [[ " ${missing_pkgs[*]} " == *" prosody "* ]]; then stop_packaged_prosody; fi
  if [[ " ${missing_pkgs[*]} " == *" mosquitto "* ]]; then stop_packaged_mosquitto; fi
  if [[ " ${missing_pkgs[*]} " == *" ejabberd "* ]]; then stop_packaged_ejabberd; fi
fi

if ((did_something == 0)); then
  extra=""
  if ((${#optional_missing[@]} == 0)); then extra=", chromium, ip, iptables, conntrack, coturn, mosquitto, zsh, ejabberd"; fi
  say "ok (node modules and prosody, espeak-ng, sox, openssl${extra} present)"
fi
