// Which BLAS the torch backend really uses and how fast it multiplies. Debian's
// libtorch links the generic libblas.so.3, which update-alternatives points at
// whatever is installed: `apt-get install libtorch-dev` alone brings the
// reference BLAS, whose matmul is ~10x slower than OpenBLAS's (measured: 6 vs
// 43 GFLOP/s at 1024³), so training is ~10x slower with no other symptom.
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs-core";

export type BlasKind = "openblas" | "mkl" | "blis" | "atlas" | "reference" | "unknown";

export interface BlasLibrary {
  kind: BlasKind;
  /** Path of the mapped library (from /proc/self/maps), or "" when none is mapped. */
  path: string;
}

/**
 * The BLAS library mapped into this process (Linux only: /proc/self/maps).
 * Call after the torch addon is loaded, which loads libtorch and its BLAS.
 */
export function loadedBlas(maps = readMaps()): BlasLibrary {
  const libs = mappedFiles(maps);
  const find = (re: RegExp) => libs.find((p) => re.test(p));
  const table: Array<[BlasKind, RegExp]> = [
    // Debian's reference implementation, /usr/lib/<triplet>/blas/libblas.so.3,
    // first: libtorch binds sgemm to libblas.so.3, even when OpenBLAS is also
    // mapped (through liblapack.so.3, say).
    ["reference", /\/blas\/libblas\.so/],
    ["openblas", /openblas/i],
    ["mkl", /libmkl_/],
    ["blis", /blis/i],
    ["atlas", /atlas/i],
  ];
  for (const [kind, re] of table) {
    const p = find(re);
    if (p) return { kind, path: p };
  }
  const generic = find(/libblas\.so/);
  return generic ? { kind: "unknown", path: generic } : { kind: "unknown", path: "" };
}

/** Paths of the files mapped into this process (from /proc/self/maps text; [] off Linux). */
export function mappedFiles(maps = readMaps()): string[] {
  return [...new Set(maps.split("\n").map((l) => l.split(/\s+/).slice(5).join(" ")).filter((p) => p.startsWith("/")))];
}

function readMaps(): string {
  try {
    return readFileSync("/proc/self/maps", "utf8");
  } catch {
    return "";
  }
}

/**
 * float32 matmul speed of the active tfjs backend: an n³ product, best of
 * `reps` after one warm-up, in GFLOP/s (2n³ FLOPs per product).
 */
export function matmulGflops(n = 1024, reps = 3): number {
  const [a, b] = [tf.randomNormal([n, n]), tf.randomNormal([n, n])];
  let best = Infinity;
  for (let i = 0; i <= reps; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    c.dataSync(); // waits for the product
    const ms = performance.now() - t0;
    c.dispose();
    if (i > 0) best = Math.min(best, ms);
  }
  tf.dispose([a, b]);
  return (2 * n ** 3) / (best / 1000) / 1e9;
}

/**
 * Lowest float32 matmul speed (GFLOP/s, whatever the thread count) that an
 * optimized BLAS gives on this CPU, as a judgement line. A core with AVX2 and
 * FMA peaks at 32 float32 FLOPs per cycle, ~64-100 GFLOP/s at 2-3 GHz, and
 * OpenBLAS reaches most of that on one thread (measured here: 43-111); the
 * reference BLAS gets 3-6 whatever the CPU. 20 sits well between the two.
 * Without AVX2 the gap is smaller, so the floor is lower.
 */
export function blasFloorGflops(cpuinfo = readCpuinfo()): number {
  return /\bavx2\b/.test(cpuinfo) && /\bfma\b/.test(cpuinfo) ? 20 : 8;
}

function readCpuinfo(): string {
  try {
    return readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return "";
  }
}

export interface BlasJudgement {
  ok: boolean;
  message: string;
}

/** Whether a measured speed and the mapped library look like an optimized BLAS; the message says how to fix it. */
export function judgeBlas(gflops: number, lib: BlasLibrary, floor = blasFloorGflops()): BlasJudgement {
  const fix = "install an optimized BLAS: apt-get install libopenblas0-pthread (Debian picks it for libblas.so.3 by itself)";
  if (lib.kind === "reference") {
    return { ok: false, message: `the reference BLAS is loaded (${lib.path}): matmul ${gflops.toFixed(1)} GFLOP/s; ${fix}` };
  }
  if (gflops < floor) {
    return { ok: false, message: `matmul ${gflops.toFixed(1)} GFLOP/s, below the ${floor} GFLOP/s an optimized BLAS gives on this CPU (${lib.path || "no BLAS library found in the process"}); ${fix}` };
  }
  return { ok: true, message: `${lib.kind} (${lib.path || "linked in"}), matmul ${gflops.toFixed(1)} GFLOP/s` };
}

/**
 * A one-line warning when this process multiplies at reference-BLAS speed
 * (`clipts train` prints it at start), else null. A ~0.1 s check at 512³.
 */
export function slowBlasWarning(): string | null {
  const j = judgeBlas(matmulGflops(512, 2), loadedBlas());
  return j.ok ? null : `warning: training will be slow: ${j.message} (clipts doctor tells more)`;
}
