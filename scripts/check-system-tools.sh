#!/usr/bin/env bash
# Proves that every system tool the project calls comes from a Debian package that
# scripts/install-system-packages.sh installs, directly or as a hard dependency (Depends/PreDepends,
# never Recommends, which --no-install-recommends skips). It fails on any machine where that is not so,
# including one where the tool happens to be present (installed by hand, or pulled in by a Recommends):
# that is how `lld-14` once reached the build machines and not a fresh one.
#
# For each tool: the file on PATH and the file it finally resolves to (`/usr/bin/rust-lld` → lld-14's
# `/usr/lib/llvm-14/bin/lld`) must each be owned by a package in that closure. A tool that is missing
# altogether fails too. Run by `make test`; exit 1 names the tool and the package to add.
#
#   scripts/check-system-tools.sh [--packages 'pkg ...']   (--packages: check against another list; tests)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# tool (name on PATH, or an absolute path)    what calls it
TOOLS=(
  /usr/bin/rustc    # the WASM build (scripts/build-wasm-pkg.sh: Debian's, not rustup's)
  /usr/bin/cargo    # the WASM build (scripts/build-wasm-pkg.sh)
  /usr/bin/rust-lld # rustc's linker for wasm32-unknown-unknown
  wasm-opt          # the WASM build (scripts/build-wasm-pkg.sh)
  make              # the README's commands
  etcd              # test harness, make dev-cluster
  nats-server       # test harness, bench:runtime
  prometheus        # test harness
  openssl           # test harness certificates
  flock             # scripts/build-kube-tools.sh, build-wasm-tools.sh, vendor-wasm-crates.sh
  awk               # scripts/build-kube-tools.sh
  /usr/bin/python3  # scripts/python-env.sh (Debian's, not pyenv's)
)
# Files the build reads that no tool on PATH names.
FILES=(
  /usr/lib/rustlib/wasm32-unknown-unknown/lib # the wasm32 standard library
)
# Tools that are not Debian packages, on purpose: Go comes with the machine (/usr/local/go; Debian 12's
# golang is too old for the kube tools), Node.js from the `node` npm package (package.json), rustup's
# cargo (~/.cargo/bin; Debian's 1.65 is too old to build wasm-pack and wasm-bindgen-cli or to vendor).

fail=0
problem() {
  echo "check-system-tools: $*" >&2
  fail=1
}

if [[ "${1:-}" == --packages ]]; then
  read -r -a listed <<<"${2:?--packages takes a list}"
else
  mapfile -t listed < <("$ROOT/scripts/install-system-packages.sh" --list)
fi
# The hard-dependency closure of the install list: top-level lines of apt-cache's recursive listing
# (virtual packages print as <name> and are provided by a real package that is listed too).
declare -A closure=()
while IFS= read -r line; do
  [[ -z "$line" || "$line" == " "* || "$line" == "<"* ]] && continue
  closure["${line%%:*}"]=1
done < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks \
  --no-replaces --no-enhances "${listed[@]}" 2>/dev/null)
[[ ${#closure[@]} -gt 0 ]] || {
  echo "check-system-tools: 'apt-cache depends' listed nothing for ${listed[*]}; run 'apt-get update' first" >&2
  exit 1
}

# The package owning a path, trying the other side of Debian's merged /usr (dpkg may know /bin/x for /usr/bin/x).
owner() {
  local path=$1 alt out
  case "$path" in
    /usr/bin/* | /usr/sbin/* | /usr/lib/*) alt=${path#/usr} ;;
    /bin/* | /sbin/* | /lib/*) alt=/usr$path ;;
    *) alt=$path ;;
  esac
  for p in "$path" "$alt"; do
    if out=$(dpkg-query -S "$p" 2>/dev/null); then
      # "pkg[:arch][, pkg2]: path" — a directory may belong to several packages; any listed one will do.
      local owners=${out%%: /*}
      echo "${owners//,/ }"
      return 0
    fi
  done
  return 1
}

check_path() { # <what> <path>
  local what=$1 path=$2 owners pkg
  if ! owners=$(owner "$path"); then
    problem "$what: $path belongs to no Debian package (installed by hand?); install it from a package and add that package to scripts/install-system-packages.sh"
    return
  fi
  for pkg in $owners; do
    [[ -n "${closure[${pkg%%:*}]:-}" ]] && return
  done
  problem "$what: $path comes from package '${owners%% *}', which scripts/install-system-packages.sh neither installs nor pulls in as a hard dependency: add '${owners%% *}' to its list"
}

for tool in "${TOOLS[@]}"; do
  if [[ "$tool" == /* ]]; then path=$tool; else path=$(command -v "$tool" || true); fi
  if [[ -z "$path" || ! -e "$path" ]]; then
    problem "$tool: not found; run scripts/install-system-packages.sh --all (or add its package there)"
    continue
  fi
  target=$(readlink -f "$path")
  # A link through /etc/alternatives (awk → mawk) belongs to no package; the file it reaches does.
  [[ "$target" != "$path" && -L "$path" ]] && ! owner "$path" >/dev/null || check_path "$tool" "$path"
  [[ "$target" == "$path" ]] || check_path "$tool (→ $target)" "$target"
done
for file in "${FILES[@]}"; do
  [[ -e "$file" ]] || { problem "$file: missing; run scripts/install-system-packages.sh"; continue; }
  check_path "$file" "$file"
done

[[ $fail -eq 0 ]] || exit 1
echo "check-system-tools: ${#TOOLS[@]} tools and ${#FILES[@]} paths come from the install list's packages"
