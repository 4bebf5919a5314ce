# mesh-dns container image. Build: docker build -t mesh-dns .
# Run:   docker run --rm -p 53:53/udp -p 53:53/tcp -e MCP_MESH_REGISTRY_URL=http://registry:8000 mesh-dns

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npx tsc -p tsconfig.build.json

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    MESH_DNS_CONFIG=/app/config/container.yaml
WORKDIR /app
# Port 53 as a non-root user: give the node binary the one capability it needs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libcap2-bin \
 && setcap cap_net_bind_service=+ep "$(readlink -f "$(command -v node)")" \
 && apt-get purge -y libcap2-bin && apt-get autoremove -y && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
RUN mkdir -p /var/lib/mesh-dns && chown node:node /var/lib/mesh-dns
USER node
VOLUME ["/var/lib/mesh-dns"]
EXPOSE 53/udp 53/tcp 9153/tcp
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:9153/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "dist/main.js"]
