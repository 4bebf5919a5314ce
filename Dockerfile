# mesh-dns container image. Build: docker build -t mesh-dns .
# Run (port 53 as the non-root user `node`, no capabilities):
#   docker run --rm --cap-drop ALL --sysctl net.ipv4.ip_unprivileged_port_start=53 \
#     -e MCP_MESH_REGISTRY_URL=http://registry:8000 mesh-dns
# config/examples/compose/mesh/docker-compose.yml runs it beside an MCP Mesh registry and agents.

# Build stage: only what compiling needs. package.json's devDependencies also hold test tools
# (the MCP Mesh registry binaries, ~150 MB; the `node` package; vitest) that must not be
# downloaded into any stage, so the lockfile is cut down to typescript and @types/node and what
# they depend on, and `npm ci` installs exactly those locked versions, integrity-checked.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN node -e ' \
      const fs = require("node:fs"); \
      const BUILD_TOOLS = new Set(["typescript", "@types/node"]); \
      const pkg = JSON.parse(fs.readFileSync("package.json", "utf8")); \
      const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8")); \
      const root = lock.packages[""]; \
      for (const manifest of [pkg, root]) { \
        manifest.devDependencies = Object.fromEntries(Object.entries(manifest.devDependencies).filter(([name]) => BUILD_TOOLS.has(name))); \
      } \
      const kept = new Set([""]); \
      const visit = (from, name) => { \
        for (let base = from; ; base = base.replace(/\/?node_modules\/(@[^/]+\/)?[^/]+$/, "")) { \
          const path = (base ? base + "/" : "") + "node_modules/" + name; \
          const entry = lock.packages[path]; \
          if (entry) { \
            if (!kept.has(path)) { kept.add(path); for (const dep of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies })) visit(path, dep); } \
            return; \
          } \
          if (!base) throw new Error("not in package-lock.json: " + name); \
        } \
      }; \
      for (const dep of Object.keys({ ...root.dependencies, ...root.devDependencies })) visit("", dep); \
      lock.packages = Object.fromEntries(Object.entries(lock.packages).filter(([path]) => kept.has(path))); \
      fs.writeFileSync("package.json", JSON.stringify(pkg, null, 2)); \
      fs.writeFileSync("package-lock.json", JSON.stringify(lock, null, 2)); \
    ' \
 && npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN node_modules/.bin/tsc -p tsconfig.build.json

# Runtime dependencies, from the unmodified lockfile.
FROM node:24-bookworm-slim AS runtime-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    MESH_DNS_CONFIG=/app/config/container.yaml
WORKDIR /app
COPY package.json ./
COPY --from=runtime-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY bin ./bin
COPY config ./config
RUN mkdir -p /var/lib/mesh-dns && chown node:node /var/lib/mesh-dns
# No file capability on node (a setcap layer would copy the 120 MB binary): port 53 comes from the
# runtime, as the README's Container section shows. Docker >= 20.10 already sets
# net.ipv4.ip_unprivileged_port_start=0 in a container's network namespace; podman and
# Kubernetes need the sysctl (or cap_add NET_BIND_SERVICE where the runtime raises it as an
# ambient capability for a non-root user, as podman does).
USER node
VOLUME ["/var/lib/mesh-dns"]
EXPOSE 53/udp 53/tcp 9153/tcp
# "Serving", not merely "alive": /ready is 200 once a zone is loaded (registry poll or snapshot).
# The subcommand reads the same config as the server, so it follows a changed listen.http.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "dist/main.js", "healthcheck"]
# bin/mesh-dns is the npm bin too: it execs node with the V8 flags mesh-dns ships with (the young
# generation capped at 1 MiB and the old generation's growth at 20%: --max-semi-space-size=1
# --heap-growing-percent=20; why, and what they save, is written there),
# so the image and `npx mesh-dns` run alike, with no second process.
ENTRYPOINT ["bin/mesh-dns"]
