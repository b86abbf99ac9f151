# The platform's own image: one image, `controller` (default) or `worker` (or `migrate`, …) as
# its command. Built by scripts/build-platform-image.sh (make platform-image), which prepares
# what this file copies and passes the base image:
#   BASE_IMAGE                   faas-runtime-base:<runtimes/VERSION>, Debian bookworm from
#                                debootstrap (runtimes/base/build.sh): no registry needed
#   .tmp/platform-image/node     the build machine's Node.js (>= 20.19, one static binary;
#                                Debian 12's nodejs is 18)
#   .tmp/platform-image/dist     src/ compiled with tsconfig.build.json, and the web dashboard
#                                built by Vite in dist/dashboard (served at / and /ui)
#   .tmp/platform-image/node_modules  production dependencies only (npm prune --omit=dev)
# No RUN step needs the network: nothing is downloaded.
ARG BASE_IMAGE=faas-runtime-base:1
FROM ${BASE_IMAGE}

COPY .tmp/platform-image/node /usr/local/bin/node

# The controller runs as this user; the worker needs root (see docker-compose.yml).
# /var/lib/faas holds stored code, the worker's work directory and the secrets key file;
# controller and worker must share it (a volume) when STORAGE_TYPE=local.
RUN groupadd --system --gid 10000 faas \
 && useradd --system --uid 10000 --gid faas --home-dir /var/lib/faas --no-create-home --shell /usr/sbin/nologin faas \
 && mkdir -p /var/lib/faas/functions /var/lib/faas/work \
 && chown -R faas:faas /var/lib/faas \
 && node --version

WORKDIR /app
# dist/ sits beside runtimes/ and prisma/ as src/ does in the repository: the code finds
# runtimes/VERSION and prisma/migrations relative to its own location.
COPY package.json /app/package.json
COPY runtimes/VERSION /app/runtimes/VERSION
COPY prisma/schema.prisma /app/prisma/schema.prisma
COPY prisma/migrations /app/prisma/migrations
COPY .tmp/platform-image/node_modules /app/node_modules
# With dist/dashboard: the controller serves the dashboard's built files from there.
COPY .tmp/platform-image/dist /app/dist

ENV NODE_ENV=production \
    SERVER_ADDR=:8080 \
    STORAGE_BASE_DIR=/var/lib/faas/functions \
    WORKER_WORK_DIR=/var/lib/faas/work \
    SECRETS_KEY_FILE=/var/lib/faas/secrets.key

USER faas
EXPOSE 8080
ENTRYPOINT ["node", "/app/dist/main.js"]
CMD ["controller"]
