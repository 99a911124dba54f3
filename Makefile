# dynamo-ts — a newcomer needs two targets: `make run` and `make test`. Both set up what is missing first.
#
# Every target runs on the project's pinned Node.js (the `node` npm package in node_modules/.bin), not
# the machine's: PATH puts node_modules/.bin first.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
MAKEFLAGS += --no-print-directory

export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
# onnxruntime-node's install script would fetch CUDA libraries from NuGet (unreachable); CPU ships inside.
export ONNXRUNTIME_NODE_INSTALL := skip

STAMPS := .cache/stamps
TS_SOURCES := $(shell find src -name '*.ts' 2>/dev/null)
# The WebAssembly hot path (crates-wasm/: block hashing, tokenizer, logits kernels) is a wasm-pack package
# checked in at crates-wasm/pkg/, so serving needs no Rust; `make wasm-pkg` regenerates it (Debian's Rust,
# offline from vendored crates, wasm-pack + wasm-bindgen, binaryen's wasm-opt), and a unit test fails
# when it is stale.

.PHONY: help setup setup-run check-system-tools build run test lint typecheck test-unit test-integration e2e format clean dev-cluster crds wasm-tools wasm-pkg

help:
	@echo 'make run      serve the OpenAI API on :8000 (sets up what serving needs first: npm, the build)'
	@echo 'make test     lint + typecheck + unit + integration + e2e tests (sets up everything first)'
	@echo 'make setup    install everything: Debian packages, npm dependencies, kube and wasm tools, the build (idempotent)'
	@echo 'make wasm-pkg rebuild the checked-in WebAssembly package crates-wasm/pkg/ after a change to crates-wasm/'
	@echo 'make dev-cluster  etcd + kube-apiserver in the foreground; prints `export KUBECONFIG=...`'
	@echo 'make e2e      operator + examples/dgd-agg.yaml + 50 chat requests with a worker killed (part of make test)'
	@echo 'make build | lint | typecheck | test-unit | test-integration | format | clean | wasm-tools'

# Two levels: what serving needs (`make run`: npm, the TypeScript build; the WASM package is checked in)
# and everything (`make setup`, `make test`: also Debian's Rust, etcd, NATS, Prometheus, openssl, the
# Go-built kube-apiserver, kubectl, helm, and the wasm tools + vendored crates the package test rebuilds with).
setup: $(STAMPS)/system $(STAMPS)/node_modules $(STAMPS)/kube-tools $(STAMPS)/wasm-tools build

setup-run: $(STAMPS)/node_modules build

$(STAMPS)/system: scripts/install-system-packages.sh
	scripts/install-system-packages.sh --all
	@mkdir -p $(@D) && touch $@

# npm ci runs on the machine's npm; the lock pins the `node` package whose binary everything else runs on.
$(STAMPS)/node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@mkdir -p $(@D) && touch $@

# kube-apiserver, kubectl and helm built from Go modules at the versions pinned in test/kube/**/go.mod,
# kept per version outside the clone (~/.cache/dynamo-ts/bin): a fresh clone only links them.
$(STAMPS)/kube-tools: scripts/build-kube-tools.sh test/kube/go.mod test/kube/go.sum test/kube/helm/go.mod test/kube/helm/go.sum
	scripts/build-kube-tools.sh
	@mkdir -p $(@D) && touch $@

build: $(STAMPS)/node_modules dist/.built

dist/.built: $(TS_SOURCES) tsconfig.json tsconfig.build.json
	tsc -p tsconfig.build.json
	@touch $@

# ARGS passes options through: make run ARGS='--engine mocker --workers 4'
run: setup-run
	node bin/dynamo.js run $(ARGS)

# Node runs the harness's TypeScript from source (transform-types: it has parameter properties);
# ts-resolve maps its `.js` imports to the `.ts` files.
dev-cluster: $(STAMPS)/system $(STAMPS)/node_modules $(STAMPS)/kube-tools
	node --experimental-transform-types --disable-warning=ExperimentalWarning \
	  --import ./test/harness/ts-resolve.ts test/harness/dev-cluster.ts

lint: $(STAMPS)/node_modules
	biome check --error-on-warnings .

typecheck: $(STAMPS)/node_modules
	tsc -p tsconfig.json --noEmit

test-unit: setup
	vitest run --project unit

test-integration: setup
	vitest run --project integration

# The end-to-end test: harness etcd + NATS + kube-apiserver, the operator out of cluster, the pods of
# examples/dgd-agg.yaml as local processes (test/e2e/agg.test.ts).
e2e: setup
	vitest run --project e2e

# Every tool the project calls must come from a package the install script names (or its hard
# dependencies): a tool that is only here by chance (a Recommends, a hand install) fails this check.
check-system-tools: $(STAMPS)/system
	scripts/check-system-tools.sh

test: setup
	$(MAKE) check-system-tools
	$(MAKE) lint
	$(MAKE) typecheck
	$(MAKE) test-unit
	$(MAKE) test-integration
	$(MAKE) e2e

# The CRDs under crds/ are generated from the zod schemas in src/api/k8s (a unit test fails when stale).
crds: build
	node bin/dynamo.js crds --out-dir crds
	cp crds/*.yaml charts/dynamo-platform/crds/

# wasm-bindgen-cli and wasm-pack, built once per version outside the clone with the rustup toolchain,
# and Cargo.lock's crates vendored outside it too (keyed by the lock's hash): what `make wasm-pkg` and the
# package's staleness test build with. Not needed by `make run`.
$(STAMPS)/wasm-tools: scripts/build-wasm-tools.sh scripts/vendor-wasm-crates.sh crates-wasm/Cargo.lock
	scripts/build-wasm-tools.sh
	scripts/vendor-wasm-crates.sh >/dev/null
	@mkdir -p $(@D) && touch $@

wasm-tools: $(STAMPS)/wasm-tools

# Rebuilds the checked-in package from crates-wasm/ (seconds once the dependencies are built), replacing
# crates-wasm/pkg/ only when the build succeeds.
wasm-pkg: $(STAMPS)/system $(STAMPS)/wasm-tools
	scripts/build-wasm-pkg.sh

format: $(STAMPS)/node_modules
	biome check --write .

clean:
	rm -rf dist .cache/stamps
