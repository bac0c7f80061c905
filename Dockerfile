# jingled in a container (used by docker-compose.yml). Node 20.19 or later.
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY test ./test
COPY scripts ./scripts
RUN npx tsc -p tsconfig.json

FROM node:20-bookworm-slim
# alsa-utils and pulseaudio-utils: capture and playback through devices or a sound server.
RUN apt-get update \
 && apt-get install -y --no-install-recommends alsa-utils pulseaudio-utils \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o node -g node -m 0700 /var/lib/jingled /var/lib/jingled/recordings /run/jingled
WORKDIR /opt/jingled
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --from=build /src/dist/src ./dist/src
COPY bin ./bin
COPY README.md config/example.yaml ./
USER node
ENV XDG_RUNTIME_DIR=/run
# SIGTERM: every call ends with session-terminate, exit 0. SIGHUP: reload the config.
STOPSIGNAL SIGTERM
ENTRYPOINT []
CMD ["node", "--max-semi-space-size=2", "bin/jingled.js", "--config", "/etc/jingled/jingled.yaml"]
