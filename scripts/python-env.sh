#!/usr/bin/env bash
# Prints the bin directory of a Python virtual environment with a requirements file's pinned PyPI
# packages, created on first use from Debian's python3 and cached outside the clone per file content
# (~/.cache/dynamo-ts/python/<name>-<sha>), like the Go-built kube tools. Used by tests and benchmarks
# that drive us with real Python clients (the openai SDK, aiperf, …) or make fixtures with HF tools.
#
#   scripts/python-env.sh test/python/<name>.txt     → /root/.cache/dynamo-ts/python/<name>-<sha>/bin
set -euo pipefail

req=${1:?usage: scripts/python-env.sh <requirements file>}
[[ -f "$req" ]] || { echo "python-env: no such requirements file: $req" >&2; exit 2; }
name=$(basename "$req" .txt)
sum=$(sha256sum "$req" | cut -c1-12)
root="${XDG_CACHE_HOME:-$HOME/.cache}/dynamo-ts/python"
dir="$root/$name-$sum"
mkdir -p "$root"

# One builder at a time per environment; the others wait, then reuse it.
exec 9>"$dir.lock"
flock 9
if [[ ! -f "$dir/.complete" ]]; then
  rm -rf "$dir"
  /usr/bin/python3 -m venv "$dir" || { echo "python-env: 'python3 -m venv' failed (Debian package python3-venv)" >&2; exit 1; }
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$req" >&2 ||
    { echo "python-env: 'pip install -r $req' failed (output above); PyPI must be reachable" >&2; rm -rf "$dir"; exit 1; }
  touch "$dir/.complete"
fi
echo "$dir/bin"
