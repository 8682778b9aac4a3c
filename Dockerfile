# syntax=docker/dockerfile:1
#
# Herald container image.
#   docker build -t herald .
#   docker run -p 8080:8080 -v "$PWD/herald.yaml:/etc/herald/herald.yaml:ro" herald
#
# The config is read from /etc/herald/herald.yaml (mount yours there, read-only); the image
# ships config/herald.yaml at that path so it also starts without a mount. HERALD_* environment
# variables override the file (see docs/configuration.md).
#
# bookworm-slim (glibc), not alpine: uWebSockets.js ships prebuilt binaries linked against glibc.

ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: nothing here needs an install script (uWebSockets.js is prebuilt; the
# optional ws accelerators load prebuilds at run time), and it keeps the build hermetic.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src/ ./src/
# The browser client (served at /client.js) is built by the same `npm run build`.
COPY client/ ./client/
RUN npm run build

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist/ ./dist/
COPY --from=build /app/client/dist/ ./client/dist/
COPY config/ ./config/
COPY config/herald.yaml /etc/herald/herald.yaml
# The files stay owned by root and read-only to the service user: a compromised process
# cannot rewrite its own code or config.
USER node

EXPOSE 8080
# SIGTERM starts the drain: stop accepting, tell clients to reconnect elsewhere, close within
# drain.deadline (default 20s). Keep that below the orchestrator's grace period (Docker's
# `docker stop -t`, Kubernetes terminationGracePeriodSeconds: set 30s) so the drain finishes
# before SIGKILL. Run with `docker run --init` (or tini) only if you need zombie reaping;
# node is PID 1 here and handles SIGTERM itself.
STOPSIGNAL SIGTERM

# No curl in slim images: probe with node's own fetch. Port 8080 is server.port's default;
# if you change it in the config, override this HEALTHCHECK too.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

CMD ["node", "dist/main.js", "start", "--config", "/etc/herald/herald.yaml", "--host", "0.0.0.0"]
