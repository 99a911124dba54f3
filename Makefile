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
# The WebAssembly hot path (crates-wasm/: block hashing, tokenizer): Debian's rustc, the one with the
# wasm32 standard library, through Debian's cargo, offline; then binaryen's wasm-opt. Not committed.
WASM := dist/wasm/dynamo_wasm.wasm
WASM_SOURCES := crates-wasm/Cargo.toml crates-wasm/Cargo.lock crates-wasm/.cargo/config.toml $(shell find crates-wasm/src -name '*.rs' 2>/dev/null)

.PHONY: help setup setup-run check-system-tools build run test lint typecheck test-unit test-integration e2e format clean dev-cluster crds wasm-tools

help:
	@echo 'make run      serve the OpenAI API on :8000 (sets up what serving needs first: Rust, npm, the build)'
	@echo 'make test     lint + typecheck + unit + integration + e2e tests (sets up everything first)'
	@echo 'make setup    install everything: Debian packages, npm dependencies, kube tools, the build (idempotent)'
	@echo 'make dev-cluster  etcd + kube-apiserver in the foreground; prints `export KUBECONFIG=...`'
	@echo 'make e2e      operator + examples/dgd-agg.yaml + 50 chat requests with a worker killed (part of make test)'
	@echo 'make build | lint | typecheck | test-unit | test-integration | format | clean | wasm-tools'

# Two levels: what serving needs (`make run`: the WASM toolchain, npm, the build) and everything (`make
# setup`, `make test`: also etcd, NATS, Prometheus, openssl and the Go-built kube-apiserver, kubectl, helm).
setup: $(STAMPS)/system $(STAMPS)/node_modules $(STAMPS)/kube-tools build

setup-run: $(STAMPS)/system-run $(STAMPS)/node_modules build

$(STAMPS)/system-run: scripts/install-system-packages.sh
	scripts/install-system-packages.sh
	@mkdir -p $(@D) && touch $@

$(STAMPS)/system: scripts/install-system-packages.sh
	scripts/install-system-packages.sh --all
	@mkdir -p $(@D) && touch $@ $(STAMPS)/system-run

# npm ci runs on the machine's npm; the lock pins the `node` package whose binary everything else runs on.
$(STAMPS)/node_modules: package.json package-lock.json
	npm ci --no-audit --no-fund
	@mkdir -p $(@D) && touch $@

# kube-apiserver, kubectl and helm built from Go modules at the versions pinned in test/kube/**/go.mod,
# kept per version outside the clone (~/.cache/dynamo-ts/bin): a fresh clone only links them.
$(STAMPS)/kube-tools: scripts/build-kube-tools.sh test/kube/go.mod test/kube/go.sum test/kube/helm/go.mod test/kube/helm/go.sum
	scripts/build-kube-tools.sh
	@mkdir -p $(@D) && touch $@

build: $(STAMPS)/node_modules dist/.built $(WASM)

# The WASM build needs Debian's Rust: order-only, so `make build` alone on a set-up machine stays quiet.
$(WASM): | $(STAMPS)/system-run

dist/.built: $(TS_SOURCES) tsconfig.json tsconfig.build.json
	tsc -p tsconfig.build.json
	@touch $@

$(WASM): $(WASM_SOURCES)
	cd crates-wasm && RUSTC=/usr/bin/rustc /usr/bin/cargo build --release --locked --target wasm32-unknown-unknown
	@mkdir -p $(@D)
	wasm-opt -O3 --strip-debug --strip-producers -o $@ crates-wasm/target/wasm32-unknown-unknown/release/dynamo_wasm.wasm

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

# wasm-bindgen-cli and wasm-pack, built once per version outside the clone (the wasm-pack build of
# crates-wasm: docs/architecture.md); not needed by `make run` or `make test` yet.
wasm-tools:
	scripts/build-wasm-tools.sh

format: $(STAMPS)/node_modules
	biome check --write .

clean:
	rm -rf dist .cache/stamps
