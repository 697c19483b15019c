#!/usr/bin/env node
// Builds the native addons (native/):
// - clipts_torch: the libtorch addon behind the "torch" tfjs backend;
// - clipts_image: libjpeg-turbo decoding + PIL's bicubic for the loader
//   (native/image; needs libjpeg's headers, Debian libjpeg-dev; without it
//   the loader decodes and resizes with sharp alone).
//
// libtorch is looked up in this order:
//   1. $LIBTORCH (a libtorch dir with include/ and lib/)
//   2. the torch package of `python3` on PATH (how GPU machines get CUDA)
//   3. Debian's libtorch-dev (/usr/include/ATen, /usr/lib/<arch>/libtorch.so)
// None found: one line on stderr, exit 0, so `npm ci` still succeeds and
// clipts runs on the fallback backends. CLIPTS_SKIP_NATIVE=1 skips both addons.
//
// Usage: node scripts/build-native.js [--direct]
//   --direct  compile with g++ directly (no node-gyp; needs only the N-API
//             headers, from $CLIPTS_NODE_API_HEADERS or the Node install, and
//             node-addon-api's, from $CLIPTS_NODE_ADDON_API or node_modules).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const nativeDir = join(root, "native");
const require = createRequire(import.meta.url);

function log(msg) {
  process.stderr.write(`clipts native: ${msg}\n`);
}

/** @returns {{source: string, includes: string[], libDir: string, abi?: string} | null} */
function fromDir(source, dir) {
  const inc = join(dir, "include");
  const lib = join(dir, "lib");
  if (!existsSync(join(inc, "ATen", "ATen.h")) || !existsSync(join(lib, "libtorch.so"))) return null;
  return { source, includes: [inc, join(inc, "torch", "csrc", "api", "include")], libDir: lib };
}

function fromPython() {
  const code =
    "import torch,os;print(os.path.dirname(torch.__file__));print(int(torch._C._GLIBCXX_USE_CXX11_ABI))";
  const r = spawnSync("python3", ["-c", code], { encoding: "utf8" });
  if (r.status !== 0 || !r.stdout) return null;
  const [dir, abi] = r.stdout.trim().split("\n");
  const found = fromDir(`python3 torch (${dir})`, dir);
  return found ? { ...found, abi } : null;
}

function fromDebian() {
  if (!existsSync("/usr/include/ATen/ATen.h")) return null;
  for (const d of ["/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/usr/lib"]) {
    if (existsSync(join(d, "libtorch.so"))) {
      return {
        source: "libtorch-dev",
        includes: ["/usr/include", "/usr/include/torch/csrc/api/include"],
        libDir: d,
      };
    }
  }
  return null;
}

export function findLibtorch() {
  if (process.env.LIBTORCH) {
    const found = fromDir(`LIBTORCH=${process.env.LIBTORCH}`, process.env.LIBTORCH);
    if (found) return found;
    log(`LIBTORCH=${process.env.LIBTORCH} has no include/ATen/ATen.h + lib/libtorch.so; trying others`);
  }
  return fromPython() ?? fromDebian();
}

function linkFlags(t) {
  const libs = ["-ltorch", "-ltorch_cpu", "-lc10"];
  // CUDA kernels register themselves when libtorch_cuda is loaded; nothing
  // references it by symbol, so keep the linker from dropping it.
  const cuda = existsSync(join(t.libDir, "libtorch_cuda.so"));
  if (cuda) libs.push("-Wl,--no-as-needed", "-ltorch_cuda", "-lc10_cuda", "-Wl,--as-needed");
  return { ldflags: [`-L${t.libDir}`, `-Wl,-rpath,${t.libDir}`], libs, cuda };
}

// CUDA's headers (for the caching allocator's peak-memory statistics and
// NCCL): the nvidia-* pip packages installed beside torch, which match its
// CUDA version (CUDA 13 wheels share nvidia/cu13/include; CUDA 12 ones have
// one dir each), then the toolkit's. All of them, since a toolkit may lack
// the library headers (cusparse.h, cublas_v2.h) that PyTorch's CUDA headers
// include. [] without the runtime's.
function cudaIncludes(t) {
  const sitePackages = dirname(dirname(t.libDir));
  const nvidia = join(sitePackages, "nvidia");
  const pip = existsSync(nvidia) ? readdirSync(nvidia).sort().map((d) => join(nvidia, d, "include")) : [];
  const dirs = [...pip, process.env.CUDA_HOME && join(process.env.CUDA_HOME, "include"), "/usr/local/cuda/include"]
    .filter((d) => d && existsSync(d));
  return dirs.some((d) => existsSync(join(d, "cuda_runtime_api.h"))) ? [...new Set(dirs)] : [];
}

// NCCL for data-parallel training on GPUs: PyTorch 2's ProcessGroupNCCL
// header, nccl.h (the nvidia-nccl pip package beside torch, or the system's)
// and CUDA's runtime headers. Returns the include dir to add, or null.
function ncclInclude(t) {
  const has = (rel) => t.includes.some((i) => existsSync(join(i, rel)));
  const needed = [join("torch", "csrc", "distributed", "c10d", "ProcessGroupNCCL.hpp"), join("c10", "cuda", "impl", "cuda_cmake_macros.h"), "cuda_runtime_api.h"];
  if (!needed.every(has)) return null;
  const sitePackages = dirname(dirname(t.libDir));
  const candidates = [join(sitePackages, "nvidia", "nccl", "include"), "/usr/include", "/usr/local/cuda/include"];
  return candidates.find((d) => existsSync(join(d, "nccl.h"))) ?? null;
}

function nodeGypPath() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "node_modules", "node-gyp", "bin", "node-gyp.js"),
  ];
  return candidates.find((p) => p && existsSync(p)) ?? null;
}

/** Preprocessor defines of a build attempt (see buildTorchAddon's fallbacks). */
function defines(t) {
  return [
    ...(t.abi !== undefined ? [`_GLIBCXX_USE_CXX11_ABI=${t.abi}`] : []),
    ...(t.dist ? [] : ["CLIPTS_NO_DIST"]),
    ...(t.dist && t.nccl ? ["CLIPTS_NCCL"] : []),
    ...(t.cudaStats ? [] : ["CLIPTS_NO_CUDA_STATS"]),
  ];
}

function buildWithGyp(t, link) {
  const gyp = nodeGypPath();
  if (!gyp) return false;
  const env = {
    ...process.env,
    CLIPTS_TORCH_INCLUDES: [...t.includes, ...(t.dist && t.nccl ? [t.nccl] : [])].join(" "),
    CLIPTS_TORCH_DEFINES: defines(t).join(" "),
    CLIPTS_TORCH_LDFLAGS: link.ldflags.join(" "),
    CLIPTS_TORCH_LIBS: link.libs.join(" "),
    CLIPTS_CXX_STD: cxxStd(t),
  };
  const args = [gyp, "rebuild", "--directory", nativeDir, "--jobs", "1"];
  // Use the local Node headers rather than downloading them (offline CI).
  const prefix = resolve(dirname(process.execPath), "..");
  const nodedir =
    process.env.CLIPTS_NODEDIR ??
    process.env.npm_config_nodedir ??
    (existsSync(join(prefix, "include", "node", "common.gypi")) ? prefix : undefined);
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  const r = spawnSync(process.execPath, args, { env, stdio: ["ignore", "inherit", "inherit"] });
  if (r.status !== 0) throw new Error(`node-gyp failed (exit ${r.status})`);
  return true;
}

function napiHeaderDir() {
  const candidates = [
    process.env.CLIPTS_NODE_API_HEADERS,
    join(dirname(process.execPath), "..", "include", "node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ];
  return candidates.find((p) => p && existsSync(join(p, "node_api.h"))) ?? null;
}

function buildDirect(t, link) {
  const headers = napiHeaderDir();
  if (!headers) throw new Error("no node_api.h found (set CLIPTS_NODE_API_HEADERS)");
  const out = join(nativeDir, "build", "Release");
  mkdirSync(out, { recursive: true });
  const compile = (std) => {
    const args = [
    `-std=${std}`, "-O2", "-fPIC", "-shared", "-fvisibility=hidden",
    "-DNAPI_VERSION=8", "-DNAPI_CPP_EXCEPTIONS", "-DBUILDING_NODE_EXTENSION", "-DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
    ...defines(t).map((d) => `-D${d}`),
    ...(t.dist && t.nccl ? [`-I${t.nccl}`] : []),
    `-I${headers}`, `-I${process.env.CLIPTS_NODE_ADDON_API ?? require("node-addon-api").include_dir}`,
    ...t.includes.map((i) => `-I${i}`),
    join(nativeDir, "torch_addon.cc"),
    join(nativeDir, "dist.cc"),
    "-o", join(out, "clipts_torch.node"),
    ...link.ldflags, ...link.libs,
    ];
    return spawnSync(process.env.CXX || "g++", args, { stdio: ["ignore", "inherit", "inherit"] }).status;
  };
  const status = compile(cxxStd(t));
  if (status !== 0) throw new Error(`g++ failed (exit ${status})`);
}

// The C++ standard the libtorch headers ask for: ATen.h errors out below its
// minimum ("C++20 or later compatible compiler is required" in 2.14; 2.13
// asks for C++17, 1.13 for C++14); never below C++17, the addon's own.
function cxxStd(t) {
  const aten = t.includes.map((i) => join(i, "ATen", "ATen.h")).find((f) => existsSync(f));
  const need = Number(/C\+\+(\d+) or later/.exec(aten ? readFileSync(aten, "utf8") : "")?.[1] ?? 17);
  return `c++${Math.max(17, need)}`;
}

// c10d's ProcessGroupGloo.hpp includes gloo's headers, which Debian ships
// separately (libgloo-dev); without them the distributed collectives in
// native/dist.cc are compiled out and reported unavailable.
function distHeaders(t) {
  const has = (rel) => t.includes.some((i) => existsSync(join(i, rel))) || existsSync(join("/usr/include", rel));
  return has(join("torch", "csrc", "distributed", "c10d", "ProcessGroupGloo.hpp")) && has(join("gloo", "context.h"));
}

function build(t, link) {
  const direct = process.argv.includes("--direct");
  if (direct || !buildWithGyp(t, link)) buildDirect(t, link);
}

// Plain g++ (the addon needs only N-API and libjpeg); built after the torch
// addon because node-gyp's rebuild empties native/build.
function buildImageAddon() {
  const headers = napiHeaderDir();
  if (!headers) {
    log("no node_api.h found (set CLIPTS_NODE_API_HEADERS); images decode with sharp only");
    return;
  }
  const out = join(nativeDir, "build", "Release");
  mkdirSync(out, { recursive: true });
  const args = [
    "-std=c++17", "-O3", "-fPIC", "-shared", "-fvisibility=hidden",
    "-DNAPI_VERSION=8", "-DNAPI_CPP_EXCEPTIONS", "-DBUILDING_NODE_EXTENSION",
    // A worker terminated in the middle of a call must not abort the process:
    // node-addon-api then drops the error it cannot throw any more.
    "-DNODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS",
    `-I${headers}`, `-I${process.env.CLIPTS_NODE_ADDON_API ?? require("node-addon-api").include_dir}`,
    join(nativeDir, "image", "image_addon.cc"), "-o", join(out, "clipts_image.node"), "-ljpeg",
  ];
  const r = spawnSync(process.env.CXX || "g++", args, { encoding: "utf8" });
  if (r.status === 0) log("built clipts_image.node (libjpeg-turbo + PIL bicubic)");
  else log(`image addon not built (no libjpeg headers? Debian: libjpeg-dev); images decode with sharp only\n${(r.stderr ?? "").split("\n").slice(0, 3).join("\n")}`);
}

function main() {
  if (process.env.CLIPTS_SKIP_NATIVE === "1") {
    log("CLIPTS_SKIP_NATIVE=1, skipping the native addons");
    return 0;
  }
  const status = buildTorchAddon();
  buildImageAddon();
  return status;
}

function buildTorchAddon() {
  const t = findLibtorch();
  if (!t) {
    log("no libtorch found ($LIBTORCH, python3 torch, libtorch-dev); skipping the torch backend addon");
    return 0;
  }
  const link = linkFlags(t);
  const cudaInc = link.cuda ? cudaIncludes(t) : [];
  t.includes.push(...cudaInc);
  log(`building against ${t.source} (${cxxStd(t)})${link.cuda ? `, CUDA headers: ${cudaInc.join(" ") || "none found, so no allocator statistics and no NCCL"}` : ""}`);
  const t0 = Date.now();
  t.dist = process.env.CLIPTS_NO_DIST !== "1" && distHeaders(t);
  if (!t.dist) {
    log(process.env.CLIPTS_NO_DIST === "1"
      ? "CLIPTS_NO_DIST=1: building without distributed training"
      : "no c10d/gloo headers (Debian: libgloo-dev); distributed training will be unavailable");
  }
  t.nccl = t.dist && link.cuda ? ncclInclude(t) : null;
  if (t.nccl) log(`NCCL headers: ${t.nccl}`);
  // Each fallback drops what may have broken the build: first NCCL and the
  // CUDA allocator statistics (neither has been compiled on a GPU machine
  // yet, none was lent so far), then c10d (symbols or gloo version).
  const attempts = [{ dist: t.dist, nccl: t.nccl, cudaStats: true }];
  if (t.nccl || link.cuda) attempts.push({ dist: t.dist, nccl: null, cudaStats: false });
  if (t.dist) attempts.push({ dist: false, nccl: null, cudaStats: false });
  for (const [i, a] of attempts.entries()) {
    Object.assign(t, a);
    try {
      build(t, link);
      return finish(t, t0);
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      const next = attempts[i + 1];
      if (next) {
        log(`build failed (${msg}); retrying ${next.dist ? "without NCCL and CUDA allocator statistics" : "without distributed support"}`);
        continue;
      }
      // A broken toolchain must not break `npm ci`; the backend reports the
      // missing addon clearly when someone asks for it.
      log(`build failed: ${msg}; the torch backend will be unavailable`);
      return process.env.CLIPTS_REQUIRE_NATIVE === "1" ? 1 : 0;
    }
  }
  return 0; // unreachable: the last attempt returns
}

function finish(t, t0) {
  const built = readdirSync(join(nativeDir, "build", "Release")).filter((f) => f.endsWith(".node"));
  log(`built ${built.join(", ")}${t.dist ? ` with c10d/gloo${t.nccl ? "/nccl" : ""}` : ""} in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  return 0;
}

process.exitCode = main();
