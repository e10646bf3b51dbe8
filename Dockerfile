# obo-relay. Targets: `runtime` (the default, last stage) runs the relay; `dev` runs the dev stack's Entra
# emulator and sample MCP servers without a relay (docker-compose.yml, profile `dev`).
#   docker build -t obo-relay .            docker build --target dev -t obo-relay-dev-services .

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY dev ./dev
RUN npm run build

FROM node:24-bookworm-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

# What both targets share; owned by root, so the (non-root) process cannot change its own code.
FROM node:24-bookworm-slim AS app
ENV NODE_ENV=production
WORKDIR /app
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY deploy/healthcheck.mjs ./deploy/healthcheck.mjs

FROM app AS dev
COPY --from=build /app/dist/dev ./dist/dev
# The shared volume where the dev CA file appears for the relays (TRUSTED_CA_FILE).
RUN mkdir /certs && chown 1000:1000 /certs
ENV SERVICES_HOST=0.0.0.0 EMULATOR_CERT_DIR=/certs HEALTHCHECK_CA_FILE=/certs/ca.pem
# The CA file is written once all three listen, so an answering emulator that it verifies means ready.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "deploy/healthcheck.mjs", "https://127.0.0.1:8443/11111111-1111-1111-1111-111111111111/v2.0/.well-known/openid-configuration"]
# The node user of the base image, by number so that a runAsNonRoot check can verify it.
USER 1000:1000
EXPOSE 8443 9101 9102
CMD ["node", "dist/dev/services.js"]

FROM app AS runtime
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "deploy/healthcheck.mjs", "/healthz"]
USER 1000:1000
EXPOSE 8080
# Exec form: node is PID 1 and receives SIGTERM itself (src/server.ts closes gracefully).
CMD ["node", "dist/src/server.js"]
