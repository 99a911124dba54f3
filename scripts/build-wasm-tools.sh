#!/usr/bin/env bash
# Builds wasm-bindgen-cli and wasm-pack (what turns crates-wasm/ into a wasm-pack package: JS glue, .d.ts,
# package.json) and links them into .cache/bin/.
#
# Neither is a Debian package, and Debian's rustc 1.63 (the one with the wasm32 standard library) is too
# old for them, so they build with the rustup toolchain from crates.io sources (`cargo install --locked`,
# about 4 and 5 minutes on a small machine). Like scripts/build-kube-tools.sh, each binary is kept OUTSIDE
# the clone, keyed by its pinned version:
#   ${DYNAMO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-ts/bin}/<name>-<version>
# A fresh clone on the same machine only links them; bumping a pin below builds that tool again.
# A lock makes concurrent runs (several clones) wait for one build instead of each starting their own.
set -euo pipefail

# wasm-bindgen-cli must be the exact version of the `wasm-bindgen` crate the module links: 0.2.92 is the
# newest whose dependencies still resolve for Debian's rustc 1.63 (docs/architecture.md).
WASM_BINDGEN_VERSION=0.2.92
WASM_PACK_VERSION=0.15.1

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The rustup toolchain's cargo, not Debian's /usr/bin/cargo (1.65, too old for these tools' sources).
RUSTUP_CARGO=${RUSTUP_CARGO:-${CARGO_HOME:-$HOME/.cargo}/bin/cargo}
CACHE=${DYNAMO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-ts/bin}
BIN="$ROOT/.cache/bin"

[[ -x "$RUSTUP_CARGO" ]] || {
  echo "build-wasm-tools: no rustup cargo at $RUSTUP_CARGO (install rustup, https://rustup.rs, or set RUSTUP_CARGO)" >&2
  exit 1
}

mkdir -p "$CACHE" "$BIN"
exec 9>"$CACHE/.wasm-tools.lock"
flock 9

# Low priority and two parallel compiles: the machine's cores are shared.
build() { # <crate> <version> <binary>
  local out="$CACHE/$3-$2" tmp="$CACHE/.$1-$2.tmp.$$"
  echo "build-wasm-tools: building $3 $2 (first time for this version; this takes a while)"
  local start=$SECONDS
  trap 'rm -rf "$tmp"' EXIT
  nice -n 10 "$RUSTUP_CARGO" install --locked --quiet --jobs "${WASM_TOOLS_BUILD_JOBS:-2}" \
    --root "$tmp" --target-dir "$tmp/target" "$1" --version "$2"
  mv -f "$tmp/bin/$3" "$out"
  rm -rf "$tmp"
  trap - EXIT
  echo "build-wasm-tools: built $3 $2 in $((SECONDS - start))s"
}

out="$CACHE/wasm-bindgen-$WASM_BINDGEN_VERSION"
[[ -x "$out" ]] || build wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
ln -sfn "$out" "$BIN/wasm-bindgen"

out="$CACHE/wasm-pack-$WASM_PACK_VERSION"
[[ -x "$out" ]] || build wasm-pack "$WASM_PACK_VERSION" wasm-pack
ln -sfn "$out" "$BIN/wasm-pack"
