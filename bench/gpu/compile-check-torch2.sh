#!/usr/bin/env bash
# Compile-checks native/torch_addon.cc and native/dist.cc against PyTorch 2
# headers on a machine that only has Debian bookworm's libtorch 1.13: fetches
# Debian trixie's libtorch-dev .deb (headers only, from the Debian mirror apt
# uses), unpacks it under /tmp and runs g++ -fsyntax-only. The GPU machines
# have a newer PyTorch 2.x; this catches API moves before a GPU call does.
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
for f in native/torch_addon.cc native/dist.cc; do
  g++ -std=c++17 -fsyntax-only -DNAPI_VERSION=8 -DNAPI_CPP_EXCEPTIONS -I"$napi" -I"$addon" -I"$inc" -I"$inc/torch/csrc/api/include" "$f"
  echo "ok: $f"
done
