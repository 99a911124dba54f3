#!/usr/bin/env bash
# Vendors the crates of crates-wasm/Cargo.lock (wasm-bindgen and its dependencies, xxhash-rust) into ONE
# directory that Debian's offline cargo builds from, and prints its path.
#
# Debian's cargo 1.65 cannot fetch (and its registry, /usr/share/cargo/registry, has wasm-bindgen only at
# 0.2.83, whose CLI no longer compiles), so the rustup toolchain's `cargo vendor` downloads the locked
# versions from crates.io once. Like the kube tools, the directory lives OUTSIDE the clone, keyed by a
# hash of Cargo.lock:
#   ${DYNAMO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-ts/bin}/../cargo-vendor/<sha256[:16]>
# so a fresh clone with the same lockfile reuses it, and a changed lockfile vendors again.
#
# To change a dependency: edit crates-wasm/Cargo.toml, then
#   CARGO_NET_OFFLINE=false CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback ~/.cargo/bin/cargo update
# in crates-wasm/ (the fallback resolver honours `rust-version = "1.63"`; the lockfile stays version 3).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRATE="$ROOT/crates-wasm"
RUSTUP_CARGO=${RUSTUP_CARGO:-${CARGO_HOME:-$HOME/.cargo}/bin/cargo}
CACHE=$(dirname "${DYNAMO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-ts/bin}")/cargo-vendor
key=$(sha256sum "$CRATE/Cargo.lock" | cut -c1-16)
out="$CACHE/$key"

if [[ ! -f "$out/.complete" ]]; then
  [[ -x "$RUSTUP_CARGO" ]] || {
    echo "vendor-wasm-crates: no rustup cargo at $RUSTUP_CARGO (install rustup, or set RUSTUP_CARGO)" >&2
    exit 1
  }
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9
  if [[ ! -f "$out/.complete" ]]; then
    tmp="$CACHE/.$key.tmp.$$"
    trap 'rm -rf "$tmp"' EXIT
    # --locked: vendor exactly Cargo.lock (a stale lock fails here instead of being rewritten);
    # the crate's .cargo/config.toml says offline, which vendoring must not be.
    (cd "$CRATE" && CARGO_NET_OFFLINE=false nice -n 5 "$RUSTUP_CARGO" vendor --locked --quiet \
      --versioned-dirs "$tmp" >/dev/null) || {
      echo "vendor-wasm-crates: 'cargo vendor' failed (is crates.io reachable? is Cargo.lock current?)" >&2
      exit 1
    }
    touch "$tmp/.complete"
    rm -rf "$out"
    mv "$tmp" "$out"
    trap - EXIT
    echo "vendor-wasm-crates: vendored $(find "$out" -mindepth 1 -maxdepth 1 -type d | wc -l) crates into $out" >&2
  fi
fi
echo "$out"
