#!/usr/bin/env bash
# Builds crates-wasm/ into its wasm-pack package (`make wasm-pkg`): JS glue for `--target web`, .d.ts,
# package.json and the .wasm after binaryen's `wasm-opt -O3`. The package is checked in
# (crates-wasm/pkg/), so `make run` needs no Rust; test/unit/wasm/wasm-pkg.test.ts rebuilds it with this
# script and fails when the checked-in one differs.
#
#   scripts/build-wasm-pkg.sh [OUT_DIR]     (default crates-wasm/pkg; replaced only when the build succeeds)
#
# Toolchain: Debian's rustc 1.63 and cargo 1.65 (the only ones here with the wasm32 standard library),
# offline, from the vendored crates of Cargo.lock (scripts/vendor-wasm-crates.sh); wasm-pack 0.15.1 and
# wasm-bindgen-cli 0.2.92 from scripts/build-wasm-tools.sh. The output is the same bytes from a clone at
# any path: the crate, vendor and cargo-home paths are remapped.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CRATE="$ROOT/crates-wasm"
OUT=$(realpath -m "${1:-$CRATE/pkg}")

for tool in /usr/bin/rustc /usr/bin/cargo /usr/bin/rust-lld wasm-opt; do
  command -v "$tool" >/dev/null || {
    echo "build-wasm-pkg: $tool is missing: run scripts/install-system-packages.sh --all" >&2
    exit 1
  }
done

VENDOR=$("$ROOT/scripts/vendor-wasm-crates.sh")
"$ROOT/scripts/build-wasm-tools.sh"

tmp=$(mktemp -d "$(dirname "$OUT")/.wasm-pkg.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
chmod 755 "$tmp"

# Every cargo call (wasm-pack runs `cargo metadata` before the build) reads a generated cargo home whose
# config replaces crates-io by the vendored directory and appends path remaps to the wasm32 rustflags
# (config arrays merge with crates-wasm/.cargo/config.toml's +simd128; RUSTFLAGS would replace it).
home="$VENDOR.cargo-home"
mkdir -p "$home"
cat >"$home/config.toml.$$" <<EOF
[source.crates-io]
replace-with = "vendored"

[source.vendored]
directory = "$VENDOR"

[target.wasm32-unknown-unknown]
rustflags = ["--remap-path-prefix=$CRATE=/crates-wasm", "--remap-path-prefix=$VENDOR=/cargo-vendor", "--remap-path-prefix=$home=/cargo-home"]
EOF
mv -f "$home/config.toml.$$" "$home/config.toml"

# Debian's cargo and rustc first on PATH (wasm-pack calls `cargo` and checks `rustc`), then the wasm tools.
(
  cd "$CRATE"
  CARGO_HOME="$home" PATH="/usr/bin:$ROOT/.cache/bin:$PATH" RUSTC=/usr/bin/rustc nice -n 5 wasm-pack --quiet \
    build --mode no-install --target web --release --out-dir "$tmp" --out-name dynamo_wasm -- --locked
)
nice -n 5 wasm-opt -O3 --strip-debug --strip-producers -o "$tmp/dynamo_wasm_bg.wasm" "$tmp/dynamo_wasm_bg.wasm"
# wasm-pack writes a .gitignore of `*` into the package: this one is checked in.
rm -f "$tmp/.gitignore"

rm -rf "$OUT"
mv "$tmp" "$OUT"
trap - EXIT
echo "build-wasm-pkg: $OUT ($(stat -c %s "$OUT/dynamo_wasm_bg.wasm") bytes of wasm)"
