# syntax=docker/dockerfile:1
#
# Container image of the `reprocess` CLI.
#
#   docker build -t kafka-reprocessor .
#   docker run --rm --init --network host -v "$PWD:/work" kafka-reprocessor plan jobs/my-job.yaml
#
# The working directory is /work (mount your job specs there); the CLI's own files are in /app.
# `--init` lets a worker receive SIGTERM/SIGINT as it would outside a container, so it can finish
# or abort its open Kafka transaction before it exits.

ARG NODE_IMAGE=node:22-slim

# --- build: compile TypeScript, then drop the dev dependencies --------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src

COPY package.json package-lock.json ./
RUN npm ci

COPY . .
RUN npm run build \
 && npm prune --omit=dev \
 && mkdir -p /out \
 && cp -R package.json package-lock.json node_modules dist /out/ \
 && for dir in schemas examples; do \
      if [ -d "$dir" ]; then cp -R "$dir" /out/; fi; \
    done

# --- runtime ----------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production

# Code owned by root and read-only for the process; /work is the user's writable directory.
COPY --from=build /out /app
RUN mkdir -p /work && chown node:node /work

USER node
WORKDIR /work

# Default /metrics ports: replay worker, aggregator.
EXPOSE 9464 9465

# Absolute path, so that relative paths given to the CLI resolve against /work.
ENTRYPOINT ["node", "/app/dist/bin/reprocess.js"]
