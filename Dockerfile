# syntax=docker/dockerfile:1
# dynamo-ts image: one image for the operator, frontend and workers (`dynamo <command>`).
#
#   docker build -t dynamo-ts .                                  # CPU
#   docker build -t dynamo-ts:cuda --build-arg VARIANT=cuda .    # + onnxruntime's CUDA provider
#
# The Node.js version is the one the project pins (package.json's `node` devDependency, .node-version).
ARG NODE_VERSION=24.21.0
ARG VARIANT=cpu
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# --- build: the TypeScript (the WASM module is the package checked in at crates-wasm/pkg/) ---------
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
COPY . .
# npm ci ran above; the stamp tells `make build` not to run it again.
RUN mkdir -p .cache/stamps && touch .cache/stamps/node_modules && make build

# --- production dependencies (with CUDA provider libraries for the cuda variant) -----------------
FROM node:${NODE_VERSION}-bookworm AS deps
ARG VARIANT
WORKDIR /src
COPY package.json package-lock.json .npmrc ./
RUN if [ "$VARIANT" = cuda ]; then export ONNXRUNTIME_NODE_INSTALL=cuda12; else export ONNXRUNTIME_NODE_INSTALL=skip; fi \
 && npm ci --omit=dev --no-audit --no-fund

# --- runtime bases -------------------------------------------------------------------------------
FROM node:${NODE_VERSION}-bookworm-slim AS base-cpu

FROM ${CUDA_IMAGE} AS base-cuda
COPY --from=build /usr/local/bin/node /usr/local/bin/node

# --- runtime: production dependencies only, non-root ---------------------------------------------
FROM base-${VARIANT} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /src/node_modules ./node_modules
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/bin ./bin
COPY --from=build /src/dist ./dist
COPY --from=build /src/crates-wasm/pkg ./crates-wasm/pkg
COPY --from=build /src/crds ./crds
RUN ln -s /app/bin/dynamo.js /usr/local/bin/dynamo
USER 65532:65532
EXPOSE 8000 9090 8080 8081 9443
ENTRYPOINT ["node", "/app/bin/dynamo.js"]
CMD ["--help"]
