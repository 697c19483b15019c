#!/usr/bin/env bash
# Run HERE (not on the device) before the GPU call: fills .device/ with what
# bench/gpu/run.sh needs on a machine that has no node_modules and maybe no
# node: a compressed node binary, N-API + node-addon-api headers, and the JS
# entry points bundled with tfjs (rolldown, from vitest's toolchain).
# Then: run(command="bash bench/gpu/run.sh", carry=[".device"]).
set -euo pipefail
cd "$(dirname "$0")/../.."
grep -qx '/.device/' .gitignore || echo "prepare: warning: /.device/ is not in .gitignore"
mkdir -p .device/napi .device/js
[ -s .device/node.xz ] || xz -T2 -9 < "$(command -v node)" > .device/node.xz
hdr="$(dirname "$(command -v node)")/../include/node"
for h in node_api.h node_api_types.h js_native_api.h js_native_api_types.h; do cp "$hdr/$h" .device/napi/; done
cp node_modules/node-addon-api/napi.h node_modules/node-addon-api/napi-inl.h node_modules/node-addon-api/napi-inl.deprecated.h .device/napi/
npm run build >/dev/null
rm -rf .device/js/*
# One bundle per entry; chunks share tfjs. The addon path comes from
# CLIPTS_TORCH_ADDON at run time (import.meta.url points into .device/js).
node_modules/.bin/rolldown bench/gpu/check.js bench/torch-step.js bench/host-overhead.js --dir .device/js --format esm --platform node >/dev/null
du -sh .device/* | sed 's/^/prepare: /'
