#!/usr/bin/env bash
# Builds kube-apiserver, kubectl and helm from Go modules at the versions pinned in test/kube/go.mod and
# test/kube/helm/go.mod, and links them into .cache/bin/ for the test harness and `make dev-cluster`.
#
# No Docker and no envtest downloads here, so the binaries come from source. A build takes a long time on
# a small machine, so each binary is kept OUTSIDE the clone, keyed by its pinned version:
#   ${DYNAMO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-ts/bin}/<name>-<version>
# A fresh clone on the same machine only links them; bumping a pin in go.mod builds that tool again.
# A lock makes concurrent runs (several clones) wait for one build instead of each starting their own.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
CACHE=${DYNAMO_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-ts/bin}
BIN="$ROOT/.cache/bin"

# The pins live in go.mod only, so the build and its cache key cannot drift apart.
pinned() { awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1"; }
KUBE_VERSION=$(pinned "$ROOT/test/kube/go.mod" k8s.io/kubernetes)
HELM_VERSION=$(pinned "$ROOT/test/kube/helm/go.mod" helm.sh/helm/v4)
[[ -n "$KUBE_VERSION" && -n "$HELM_VERSION" ]] || { echo "build-kube-tools: no pinned version found in test/kube" >&2; exit 1; }

mkdir -p "$CACHE" "$BIN"
exec 9>"$CACHE/.build.lock"
flock 9

# Low priority and two parallel compiles: the machine's cores are shared.
build() { # <module dir> <output> <package> <ldflags>
  local tmp="$2.tmp.$$"
  echo "build-kube-tools: building $(basename "$2") (first time for this version; this takes a while)"
  local start=$SECONDS
  (cd "$1" && CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS='-mod=readonly -buildvcs=false' nice -n 10 \
    "$GO" build -p "${KUBE_TOOLS_BUILD_JOBS:-2}" -trimpath -ldflags "-s -w $4" -o "$tmp" "$3")
  mv -f "$tmp" "$2"
  echo "build-kube-tools: built $(basename "$2") in $((SECONDS - start))s"
}

kube_ldflags() {
  local major=${KUBE_VERSION#v}; major=${major%%.*}
  local minor=${KUBE_VERSION#v*.}; minor=${minor%%.*}
  local flags="" pkg
  # Both packages carry the version: component-base for the server, client-go for client user agents.
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}

for name in kube-apiserver kubectl; do
  out="$CACHE/$name-$KUBE_VERSION"
  [[ -x "$out" ]] || build "$ROOT/test/kube" "$out" "k8s.io/kubernetes/cmd/$name" "$(kube_ldflags)"
  ln -sfn "$out" "$BIN/$name"
done

out="$CACHE/helm-$HELM_VERSION"
[[ -x "$out" ]] || build "$ROOT/test/kube/helm" "$out" helm.sh/helm/v4/cmd/helm \
  "-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION -X helm.sh/helm/v4/internal/version.metadata="
ln -sfn "$out" "$BIN/helm"

# The ext_proc client of the endpoint picker's tests (cached the same way; see that script).
"$ROOT/scripts/build-epp-client.sh" >/dev/null
