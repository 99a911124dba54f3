#!/usr/bin/env bash
# Builds test/epp-client (the upstream ext_proc v3 client the EPP tests drive `dynamo epp` with: Envoy's
# generated client from github.com/envoyproxy/go-control-plane) and links it to .cache/bin/epp-client.
# As build-kube-tools.sh does, the binary is kept OUTSIDE the clone, keyed by the pinned go-control-plane
# version and a hash of the client's sources, so another clone or a rerun only links it.
# Prints the binary's path.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
CACHE=${DYNAMO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-ts/bin}
BIN="$ROOT/.cache/bin"
SRC="$ROOT/test/epp-client"

VERSION=$(awk '$1 == "github.com/envoyproxy/go-control-plane/envoy" { print $2; exit }' "$SRC/go.mod")
[[ -n "$VERSION" ]] || { echo "build-epp-client: no go-control-plane pin in $SRC/go.mod" >&2; exit 1; }
HASH=$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC"/*.go | sha256sum | cut -c1-12)
out="$CACHE/epp-client-$VERSION-$HASH"

mkdir -p "$CACHE" "$BIN"
# Not build-kube-tools.sh's lock: that script runs this one while it holds it.
exec 9>"$CACHE/.epp-client.lock"
flock 9
if [[ ! -x "$out" ]]; then
  echo "build-epp-client: building epp-client ($VERSION)" >&2
  (cd "$SRC" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS='-mod=readonly -buildvcs=false' nice -n 10 \
    "$GO" build -p "${KUBE_TOOLS_BUILD_JOBS:-2}" -trimpath -ldflags "-s -w" -o "$out.tmp.$$" .)
  mv -f "$out.tmp.$$" "$out"
fi
ln -sfn "$out" "$BIN/epp-client"
echo "$BIN/epp-client"
