#!/usr/bin/env bash
# One device call (after bench/gpu/prepare.sh here):
#   run(command="bash bench/gpu/run.sh", carry=[".device"], timeout_s=600)
# 1. node from .device/node.xz; 2. build the addon against the machine's
# python torch (CUDA); 3. correctness vs the cpu backend on cuda:0;
# 4. tiny CLIP step and ViT-B/16 CLIP training throughput vs PyTorch
# (bf16 autocast + SDPA); a table last. Logs go to $OUT.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT="${OUT:-/tmp/clipts-gpu-out}"; mkdir -p "$OUT"
xz -d < .device/node.xz > /tmp/node && chmod +x /tmp/node && export PATH=/tmp:$PATH
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader; node --version; g++ --version | head -1;
  python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"; } 2>&1 | tee "$OUT/env.txt"
TORCH_DIR="$(python3 -c 'import torch,os;print(os.path.dirname(torch.__file__))')"
export LD_LIBRARY_PATH="$TORCH_DIR/lib:${LD_LIBRARY_PATH:-}"
t0=$(date +%s)
CLIPTS_NODE_API_HEADERS=$PWD/.device/napi CLIPTS_NODE_ADDON_API=$PWD/.device/napi CLIPTS_REQUIRE_NATIVE=1 \
  node scripts/build-native.js --direct > "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s" | tee -a "$OUT/env.txt"
grep "clipts native" "$OUT/build.log" | tee -a "$OUT/env.txt"  # CUDA headers found? NCCL built?
export CLIPTS_TORCH_ADDON="$PWD/native/build/Release/clipts_torch.node"
cp "$CLIPTS_TORCH_ADDON" "$OUT/" 2>/dev/null || true

timeout 150 node .device/js/check.js --device cuda:0 2>&1 | grep -v -e '^====' -e 'Hi, looks like' -e '^$' | tee "$OUT/check.log"
# The same checks with attention on the math path (SDPA has run only on the CPU, with PyTorch 2.13).
CLIPTS_TORCH_SDPA=0 timeout 90 node .device/js/check.js --device cuda:0 2>&1 | grep -e '^check:' -e FAIL -e attention | sed 's/^/math attention: /' | tee -a "$OUT/check.log"
bench() { # name, args...
  local name=$1; shift
  timeout 200 node .device/js/torch-step.js --python python3 --pyscript bench/torch-step.py "$@" 2>&1 \
    | grep -v -e '^====' -e 'Hi, looks like' -e '^$' | tee "$OUT/$name.log"
}
bench tiny-fp32 --device cuda:0 --model tiny --batch 32 --steps 10
bench vitb16-bf16 --device cuda:0 --model ViT-B-16 --batch 64 --steps 5 --warmup 2 --bf16
# Host work per step (target <= 15 ms for ViT-B/16). On cuda:0 native calls only enqueue work, so the
# projected column uses the GPU build's own per-call cost and the wall column shows whether the GPU keeps up.
timeout 120 node .device/js/host-overhead.js --device cuda:0 --models tiny,ViT-B-16 --steps 3 --python python3 --pyscript bench/torch-step.py 2>&1 | grep -v -e '^====' -e 'Hi, looks like' -e '^$' | tee "$OUT/host-overhead.log"
echo "== summary =="
grep -h -e '^check:' -e 'FAIL' -e 'rank' "$OUT/check.log"
for f in tiny-fp32 vitb16-bf16; do echo "-- $f"; grep -h -e 'ms/step' -e 'samples/s' -e 'peak' -e 'FLOP' -e 'torch backend (' "$OUT/$f.log"; done
echo "-- host overhead"; grep -h -e 'train step' -e 'fixed cost' -e 'host-bound' -e 'clipts ' "$OUT/host-overhead.log"
