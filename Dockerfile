# syntax=docker/dockerfile:1
# One image for every authmesh process; the command picks which one runs, e.g.
#   docker run authmesh:dev dist/services/global/main.js --listen 0.0.0.0:50051
# Build: docker build -t authmesh:dev .

# A supported Node.js LTS line (Node 20 reached its end of life on 2026-04-30); the code itself
# still runs on Node 20.19+, as package.json's engines field says.
ARG NODE_IMAGE=node:24-slim

# ---- build: TypeScript and the better-sqlite3 native addon, compiled from source ----
FROM ${NODE_IMAGE} AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json ./
# The npm workspaces (@authmesh/client, @authmesh/verifier) are part of the lock file.
COPY client/package.json client/
COPY verifier/package.json verifier/
RUN npm_config_build_from_source=true npm ci --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.json \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf dist/.tsbuildinfo \
 && find dist -name '*.map' -delete

# ---- runtime: compiled JavaScript, production node_modules, the protos the gateway's reflection reads ----
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
# The V8 flags of lib/runtime/node-flags.ts (a young generation capped at 16 MB; see there why).
ENV NODE_OPTIONS=--max-semi-space-size=8
WORKDIR /app
COPY --from=build --chown=0:0 /src/package.json /src/LICENSE ./
COPY --from=build --chown=0:0 /src/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/dist ./dist
COPY --from=build --chown=0:0 /src/proto ./proto
COPY --from=build --chown=0:0 /src/bin ./bin
# Files belong to root and are read-only for the process; state lives in mounted volumes.
RUN mkdir -p /var/lib/authmesh && chown 10001:10001 /var/lib/authmesh
USER 10001:10001
EXPOSE 50050 50051 50061 50071 50443
ENTRYPOINT ["node"]
CMD ["dist/gateway/main.js", "--help"]
