#!/usr/bin/env bash
# The ONNX engine on a GPU host without network: installs onnxruntime's CUDA provider into
# onnxruntime-node from the onnxruntime-gpu wheel, runs the --device cuda tests, then the engine
# benchmark with --device cuda. What the host must already hold (nothing of it fits in an upload):
# docs/architecture.md, "ONNX engine on CUDA".
#
#   ORT_GPU_WHEEL=/path/onnxruntime_gpu-1.30.0-<tags>.whl scripts/gpu-check.sh [bench args…]
#
# Writes gpu-check.log, cuda-tests.log and bench-engine.json under $OUT (default ./gpu-check-out).
# Exit status: 0 all passed, 1 a check failed, 2 the host lacks something it needs (named on stderr).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-check-out}
mkdir -p "$out"
exec > >(tee "$out/gpu-check.log") 2>&1

missing() {
  echo "gpu-check: $*" >&2
  exit 2
}

command -v node >/dev/null || missing "no node on PATH (Node.js 24 is needed)"
[[ $(node -p 'process.versions.node.split(".")[0]') -ge 24 ]] || missing "node $(node --version): Node.js 24 is needed"
[[ -d node_modules/onnxruntime-node ]] || missing "node_modules is missing: run 'npm ci' with ONNXRUNTIME_NODE_INSTALL=skip on the image"
command -v nvidia-smi >/dev/null && nvidia-smi -L || missing "nvidia-smi is missing: no NVIDIA driver"

# The provider must come from the same onnxruntime release as onnxruntime-node's libonnxruntime.so.1:
# the two talk through an internal, unversioned interface.
ort_version=$(node -p 'require("./node_modules/onnxruntime-node/package.json").version')
bin=$(node -p 'require("path").join(require("path").dirname(require.resolve("onnxruntime-node/package.json")), "bin/napi-v6", process.platform, process.arch)')
if [[ ! -f $bin/libonnxruntime_providers_cuda.so ]]; then
  wheel=${ORT_GPU_WHEEL:-}
  if [[ -z $wheel ]]; then
    wheel=$(ls -1 "${WHEEL_DIR:-/opt/wheels}"/onnxruntime_gpu-"$ort_version"-*.whl 2>/dev/null | head -n1 || true)
  fi
  [[ -n $wheel && -f $wheel ]] ||
    missing "no onnxruntime_gpu-$ort_version wheel (set ORT_GPU_WHEEL, or put it in \$WHEEL_DIR, default /opt/wheels)"
  [[ $(basename "$wheel") == onnxruntime_gpu-"$ort_version"-* ]] ||
    missing "$wheel is not onnxruntime-gpu $ort_version (onnxruntime-node is $ort_version)"
  echo "installing the CUDA provider from $wheel into $bin"
  # A wheel is a zip; python3's zipfile reads it where unzip is not installed.
  python3 - "$wheel" "$bin" <<'PY'
import sys, zipfile, os
wheel, dest = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for lib in ("libonnxruntime_providers_cuda.so", "libonnxruntime_providers_shared.so"):
        with z.open(f"onnxruntime/capi/{lib}") as src, open(os.path.join(dest, lib), "wb") as dst:
            dst.write(src.read())
        print(f"  {lib}")
PY
fi

# The CUDA, cuBLAS, cuFFT, cuRAND and cuDNN libraries the provider links against must resolve.
echo "libraries of $bin/libonnxruntime_providers_cuda.so:"
ldd "$bin/libonnxruntime_providers_cuda.so" | grep -E 'cuda|cublas|cufft|curand|cudnn|not found' || true
if ldd "$bin/libonnxruntime_providers_cuda.so" | grep -q 'not found'; then
  missing "the CUDA provider's libraries above marked 'not found' must be on the image (LD_LIBRARY_PATH)"
fi

status=0
export PATH="$PWD/node_modules/.bin:$PATH"
echo "== --device cuda tests"
npx vitest run test/unit/engines/onnx/onnx-cuda.test.ts 2>&1 | tee "$out/cuda-tests.log" || status=1
if grep -q 'CUDA provider does not load' "$out/cuda-tests.log"; then
  echo "gpu-check: the CUDA provider did not load (reason above)" >&2
  status=1
fi

echo "== bench:engine --device cuda"
[[ -f dist/bench/engine-bench.js ]] || npx tsc -p tsconfig.build.json
[[ -f crates-wasm/pkg/dynamo_wasm_bg.wasm ]] || missing "crates-wasm/pkg/dynamo_wasm_bg.wasm is missing (it is checked in): restore it or run make wasm-pkg"
node dist/bench/engine-bench.js --device cuda "$@" | tee "$out/bench-engine.raw" || status=1
tail -n1 "$out/bench-engine.raw" >"$out/bench-engine.json"
exit "$status"
