# jingled in a container (used by docker-compose.yml).
#
# Why it is built this way:
# - Base node:24-bookworm-slim: Node 24 is the active LTS (Node 20 reached its
#   end of life on 2026-04-30); Debian bookworm, as on the machines where
#   test/integration/container-build.test.ts runs these steps outside a
#   container (there is no container engine there), so both see the same
#   libopus.
# - Two stages. The build stage has a C compiler, libopus-dev and the
#   development dependencies (TypeScript); it compiles dist/src and the native
#   Opus backend (native/opus, N-API, against the system libopus: in-band FEC,
#   no call limit). The runtime stage gets libopus0, the production
#   dependencies and the built files only. Building the addon is checked: an
#   image without it would silently fall back to opusscript (WASM, no FEC).
# - No dependency needs an install script (package.json allowScripts), so
#   npm ci runs with --ignore-scripts.
# - It runs as the unprivileged node user; the control socket is
#   /run/jingled/control.sock ($XDG_RUNTIME_DIR/jingled), in a 0700 directory.
# - HEALTHCHECK asks that socket (jinglectl status): healthy while the daemon
#   answers, whatever the XMPP account's state (status says that).
# - --max-semi-space-size=2: the V8 flag of bin/jingled.js's shebang and the
#   systemd unit (docs/performance.md).
FROM node:24-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc libc6-dev libopus-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY native ./native
COPY scripts/build-native.mjs ./scripts/build-native.mjs
RUN npx tsc -p tsconfig.build.json \
 && node scripts/build-native.mjs --force \
 && test -f native/opus/build/jingled_opus.node \
 && test -f native/system/build/jingled_system.node

FROM node:24-bookworm-slim
# libopus0: the native Opus backend's library. alsa-utils and pulseaudio-utils:
# capture and playback through devices or a sound server.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libopus0 alsa-utils pulseaudio-utils \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o node -g node -m 0700 /var/lib/jingled /var/lib/jingled/recordings /run/jingled
WORKDIR /opt/jingled
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/native/opus/build/jingled_opus.node ./native/opus/build/jingled_opus.node
COPY --from=build /src/native/system/build/jingled_system.node ./native/system/build/jingled_system.node
COPY bin ./bin
COPY README.md LICENSE config/example.yaml ./
# The addon loads here, against this stage's libopus.
RUN node --input-type=module -e "const m = await import('./dist/src/media/codecs/opus-addon.js'); const r = m.loadOpusAddon(); if (!('addon' in r)) { console.error(r.problem); process.exit(1); } console.log('native Opus backend:', r.addon.version());"
USER node
ENV XDG_RUNTIME_DIR=/run
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 CMD ["node", "bin/jinglectl.js", "status"]
# SIGTERM: every call ends with session-terminate, exit 0. SIGHUP: reload the config.
STOPSIGNAL SIGTERM
ENTRYPOINT []
CMD ["node", "--max-semi-space-size=2", "bin/jingled.js", "--config", "/etc/jingled/jingled.yaml"]
