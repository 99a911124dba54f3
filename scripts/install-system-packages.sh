#!/usr/bin/env bash
# Installs the Debian packages the project needs (Debian 12), only those missing: a second run with
# everything present does nothing but ask dpkg.
#   etcd-server, nats-server, prometheus   real services for tests and `make dev-cluster`
#   rustc, cargo, libstd-rust-dev-wasm32   Debian's Rust 1.63 with the wasm32 standard library
#   librust-wasm-bindgen-dev               wasm-bindgen and its dependencies as an offline crate registry
#   binaryen                               wasm-opt
#   openssl                                certificates for the test kube-apiserver and webhooks
#   golang-go is not listed: Go comes with the machine (/usr/local/go) and builds kube-apiserver, helm.
set -euo pipefail

PACKAGES=(
  etcd-server nats-server prometheus
  rustc cargo libstd-rust-dev-wasm32 librust-wasm-bindgen-dev binaryen
  ca-certificates openssl
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=()
[[ $(id -u) -eq 0 ]] || SUDO=(sudo)
echo "setup: installing Debian packages: ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
