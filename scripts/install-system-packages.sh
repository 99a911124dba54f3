#!/usr/bin/env bash
# Installs the Debian packages the project needs (Debian 12), only those missing: a second run with
# everything present does nothing but ask dpkg.
#
#   scripts/install-system-packages.sh          what `make run` needs (the WASM package is checked in)
#   scripts/install-system-packages.sh --all    also the WASM build, the services and tools of `make test`
#
# Every package whose files the build, `make run` or the tests execute is named here directly, never
# left to a Recommends (installs use --no-install-recommends): `scripts/check-system-tools.sh` proves it
# for each tool the project calls, and runs in `make test`.
#
#   make                                   the README's commands
#   rustc, cargo, libstd-rust-dev-wasm32   Debian's Rust 1.63 with the wasm32 standard library: `make
#                                          wasm-pkg` and the test that rebuilds crates-wasm/pkg/ (its crates
#                                          come vendored from crates.io: scripts/vendor-wasm-crates.sh)
#   lld-14                                 rust-lld, the wasm32 linker (/usr/bin/rust-lld → lld-14;
#                                          libstd-rust-dev-wasm32 only recommends it)
#   binaryen                               wasm-opt
#   etcd-server, nats-server, prometheus   real services for tests and `make dev-cluster`
#   openssl, ca-certificates               certificates for the test kube-apiserver and webhooks
#   util-linux, mawk                       flock and awk, for scripts/build-kube-tools.sh
#   python3, python3-venv                  venvs of pinned PyPI tools for tests (scripts/python-env.sh)
#   golang-go is not listed: Go comes with the machine (/usr/local/go) and builds kube-apiserver, helm.
set -euo pipefail

# Each list opens on a line of its own: the before-stop hook reads the package names with sed.
RUN_PACKAGES=(
  make
)
TEST_PACKAGES=(
  rustc cargo libstd-rust-dev-wasm32 lld-14 binaryen
  etcd-server nats-server prometheus ca-certificates openssl util-linux mawk python3 python3-venv
)

case "${1:-}" in
  --list-run) printf '%s\n' "${RUN_PACKAGES[@]}"; exit 0 ;;
  --list) printf '%s\n' "${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; exit 0 ;;
  --all) PACKAGES=("${RUN_PACKAGES[@]}" "${TEST_PACKAGES[@]}") ;;
  '') PACKAGES=("${RUN_PACKAGES[@]}") ;;
  *) echo "usage: $0 [--all | --list | --list-run]" >&2; exit 2 ;;
esac

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ "$status" == installed ]] || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

fail() { echo "setup: $*" >&2; exit 1; }
command -v apt-get >/dev/null || fail "apt-get is not available; install these Debian 12 packages by hand: ${missing[*]}"
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || fail "not root and no sudo; as root run: apt-get install ${missing[*]}"
  SUDO=(sudo)
fi

echo "setup: installing Debian packages: ${missing[*]}"
"${SUDO[@]}" apt-get update -qq || fail "'apt-get update' failed; the packages still to install are: ${missing[*]}"
if ! DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
  # Name the package that cannot be had, not just the failed command.
  for pkg in "${missing[@]}"; do
    apt-cache show "$pkg" >/dev/null 2>&1 || fail "Debian package '$pkg' cannot be found ('apt-cache show $pkg' fails); is this Debian 12 with its main archive?"
  done
  fail "'apt-get install --no-install-recommends ${missing[*]}' failed (output above)"
fi
