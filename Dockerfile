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

# --- build: the WASM module (Debian's Rust with the wasm32 std, binaryen) and the TypeScript -------
FROM node:${NODE_VERSION}-bookworm AS build
WORKDIR /src
# The same list as `make run` installs (Debian's Rust with the wasm32 std and rust-lld, binaryen, make).
COPY scripts/install-system-packages.sh scripts/
RUN scripts/install-system-packages.sh && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
RUN ONNXRUNTIME_NODE_INSTALL=skip npm ci --no-audit --no-fund
COPY . .
# System packages are installed above; the stamp tells `make build` not to look for them again.
RUN mkdir -p .cache/stamps && touch .cache/stamps/system-run .cache/stamps/node_modules && make build

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
COPY --from=build /src/crds ./crds
RUN ln -s /app/bin/dynamo.js /usr/local/bin/dynamo
USER 65532:65532
EXPOSE 8000 9090 8080 8081 9443
ENTRYPOINT ["node", "/app/bin/dynamo.js"]
CMD ["--help"]
