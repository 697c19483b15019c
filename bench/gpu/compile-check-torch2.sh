#!/usr/bin/env bash
# Compile-checks native/torch_addon.cc and native/dist.cc against PyTorch 2
# headers on a machine that only has Debian bookworm's libtorch 1.13: fetches
# Debian trixie's libtorch-dev .deb (headers only, from the Debian mirror apt
# uses), unpacks it under /tmp and runs g++ -fsyntax-only. The GPU machines
# have a newer PyTorch 2.x; this catches API moves before a GPU call does.
# --cuda also fetches trixie's CUDA 12.4 (nvidia-cuda-dev, ~0.9 GB), libcu++
# and NCCL headers and checks the CUDA-only code too (allocator statistics,
# ProcessGroupNCCL), with the one generated c10 header a CPU package lacks
# written as a stub.
set -euo pipefail
cd "$(dirname "$0")/../.."
work=/tmp/clipts-torch2-headers
mirror=http://deb.debian.org/debian
mkdir -p "$work"
if [ ! -d "$work/root/usr/include/ATen" ]; then
  curl -sS -o "$work/Packages.xz" "$mirror/dists/trixie/main/binary-amd64/Packages.xz"
  deb=$(xz -dc "$work/Packages.xz" | awk '/^Package: libtorch-dev$/{p=1} p&&!f&&/^Filename:/{print $2; f=1}')
  curl -sS -o "$work/libtorch-dev.deb" "$mirror/$deb"
  dpkg -x "$work/libtorch-dev.deb" "$work/root"
fi
inc="$work/root/usr/include"
echo "PyTorch headers: $(grep -h "define TORCH_VERSION_M" "$inc/torch/csrc/api/include/torch/version.h" | tr -s " " | tr "\n" " ")"
napi="$(dirname "$(command -v node)")/../include/node"
addon="$(node -p "require('node-addon-api').include_dir")"
extra=()
if [ "${1:-}" = "--cuda" ]; then
  fetch() { # package, section -> unpacked under $work/$1
    [ -d "$work/$1" ] && return
    [ -s "$work/$2.xz" ] || curl -sS -o "$work/$2.xz" "$mirror/dists/trixie/$2/binary-amd64/Packages.xz"
    local f; f=$(xz -dc "$work/$2.xz" | awk -v p="$1" '$0=="Package: "p{x=1} x&&!d&&/^Filename:/{print $2; d=1}')
    curl -sS -o "$work/$1.deb" "$mirror/$f" && mkdir -p "$work/$1" && dpkg -x "$work/$1.deb" "$work/$1" && rm "$work/$1.deb"
  }
  fetch nvidia-cuda-dev non-free; fetch libcu++-dev main; fetch libnccl-dev contrib
  mkdir -p "$work/stub/c10/cuda/impl"
  printf '#pragma once\n#define C10_CUDA_BUILD_SHARED_LIBS\n' > "$work/stub/c10/cuda/impl/cuda_cmake_macros.h"
  extra=(-DCLIPTS_NCCL -I"$work/stub" -I"$work/nvidia-cuda-dev/usr/include" -I"$work/libcu++-dev/usr/include" -I"$work/libnccl-dev/usr/include")
fi
for f in native/torch_addon.cc native/dist.cc; do
  g++ -std=c++17 -fsyntax-only -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS "${extra[@]}" -I"$napi" -I"$addon" -I"$inc" -I"$inc/torch/csrc/api/include" "$f"
  cuda=$(g++ -std=c++17 -E -dM -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS "${extra[@]}" -I"$napi" -I"$addon" -I"$inc" -I"$inc/torch/csrc/api/include" "$f" \
    | grep -oE "define (CLIPTS_CUDA_STATS|CLIPTS_HAS_NCCL)" | sed 's/define //' | tr "\n" " " || true)
  echo "ok: $f${cuda:+ (with $cuda)}"
done
