#!/usr/bin/env bash
# Builds the torch addon against another libtorch than the one npm ci found
# (a PyTorch 2 wheel, say, where Debian has 1.13) and runs the torch
# backend's tests with it, in a copy of the working tree under /tmp, so the
# checkout's own build is untouched. This is how PyTorch 2 code paths (SDPA,
# C++20 headers, CUDA/NCCL headers) get checked on a machine without a GPU.
#
#   scripts/check-libtorch.sh [--build-only] SITE|WHEEL... [-- vitest args]
#
# SITE is a site-packages-like directory holding torch/ (and, for CUDA
# builds, the nvidia/ packages beside it); WHEELs are unpacked together into
# /tmp/clipts-libtorch/site, as pip would install them. --build-only stops
# after the build. A CUDA libtorch builds with its headers' wheels alone;
# to load (and run the tests on the CPU device, no GPU needed) it also needs
# every CUDA library wheel libtorch_cuda.so links (cudnn, cublas, nccl, ...,
# ~2 GB). Without vitest args the torch backend's test files run. Python references (bf16 parity, torchrun) use python3's
# own torch unless PYTHONPATH points at a matching one; torchrun must be the
# same major version as the addon's libtorch (their TCPStore protocols differ).
#
# On this project's development machines (no network to download.pytorch.org):
#   CPU:  /opt/wheels/torch-2.13.0+cpu-cp311-*.whl
#   CUDA: /opt/pypi-more/files/torch-2.14.1-cp311-*.whl (cu130) with the
#         nvidia_* wheels of /opt/pypi/files and /opt/pypi-more/files:
#         headers: cuda_runtime, cuda_cccl, cuda_crt, cublas, cusparse,
#         cusolver, nccl_cu13; to load, also cufft, cufile, cusparselt_cu13,
#         curand, cudnn_cu13, cuda_nvrtc, cuda_cupti, nvshmem_cu13, nvjitlink
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="${CLIPTS_LIBTORCH_WORK:-/tmp/clipts-libtorch}"  # emptied and refilled on each run
build_only=0
site=""
wheels=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-only) build_only=1 ;;
    --) shift; break ;;
    *.whl) wheels+=("$1") ;;
    *) site="$1" ;;
  esac
  shift
done
if [ ${#wheels[@]} -gt 0 ]; then
  site="$work/site"
  rm -rf "$site" && mkdir -p "$site"
  for w in "${wheels[@]}"; do unzip -q -o "$w" -d "$site"; done
fi
# Both, or build-native.js would quietly fall back to another libtorch.
[ -n "$site" ] && [ -f "$site/torch/include/ATen/ATen.h" ] && [ -f "$site/torch/lib/libtorch.so" ] ||
  { echo "check-libtorch: no torch/include/ATen/ATen.h and torch/lib/libtorch.so under '${site}'" >&2; exit 2; }
echo "check-libtorch: libtorch $(grep -ho "__version__ = '[^']*'" "$site/torch/version.py" 2>/dev/null | cut -d"'" -f2) from $site"

# The working tree as it is (tracked and untracked, not ignored), with the
# checkout's node_modules.
tree="$work/tree"
rm -rf "$tree" && mkdir -p "$tree"
# (--ignore-failed-read: files deleted but not yet committed are still listed.)
(cd "$root" && git ls-files -z -co --exclude-standard | tar --null --ignore-failed-read -T - -cf - 2>/dev/null) | tar -xf - -C "$tree"
ln -s "$root/node_modules" "$tree/node_modules"
cd "$tree"
LIBTORCH="$site/torch" CLIPTS_REQUIRE_NATIVE=1 node scripts/build-native.js --direct 2>&1 | tee build.log
# A build that fell back (no c10d, or no NCCL with a CUDA libtorch) would
# skip the tests of what it dropped and still pass: fail instead.
grep -q "building against LIBTORCH=$site/torch" build.log || { echo "check-libtorch: built against another libtorch" >&2; exit 1; }
grep -q "with c10d/gloo" build.log || { echo "check-libtorch: built without c10d" >&2; exit 1; }
if [ -f "$site/torch/lib/libtorch_cuda.so" ] && ! grep -q "with c10d/gloo/nccl" build.log; then
  echo "check-libtorch: a CUDA libtorch built without NCCL (see build.log above)" >&2; exit 1
fi
readelf -d native/build/Release/clipts_torch.node | grep -o "NEEDED.*" | tr -s " " | sed 's/^/check-libtorch: /'
[ "$build_only" = 1 ] && exit 0
npx tsc -p .
[ $# -gt 0 ] || set -- test/backend test/loss test/model test/train/run.test.ts test/train/distributed.test.ts
npx vitest run "$@"
