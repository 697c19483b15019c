// Loads the libtorch addon (native/, built by scripts/build-native.js) and
// types its interface. Tensors stay in the addon; JS holds numeric ids.
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** [id, dtypeCode, ...shape] as returned by every addon op. */
export type Meta = number[];

/**
 * Op and dtype codes, each table {name: code}. The addon exports them from
 * the *_CODES lists in native/torch_addon.cc (their one definition), so the
 * TypeScript side reads them instead of repeating them. Names are tfjs'
 * (kernel names, dtypes, fused-matmul activations).
 */
export interface OpCodes {
  dtype: Record<string, number>;
  unary: Record<string, number>;
  binary: Record<string, number>;
  reduce: Record<string, number>;
  activation: Record<string, number>;
}

type Id = number;

/** Addon facts: device and modes, and (for `clipts doctor`) the libtorch it was built against. */
export interface TorchInfo {
  cuda: boolean;
  device: string;
  threads: number;
  bf16: boolean;
  /** libtorch's version, e.g. "1.13.0". */
  torchVersion: string;
  /** at::show_config(): BLAS, CUDA, compiler and other build settings. */
  buildConfig: string;
  /** at::get_parallel_info(): thread pools and their settings. */
  parallelInfo: string;
  /** CUDA devices visible (CUDA builds only). */
  cudaDevices?: number;
}

/** What the addon holds: handles, bytes once per storage, peak bytes since the last reset. */
export interface NativeMemory {
  live: number;
  bytes: number;
  peakBytes: number;
  /** CUDA caching allocator's peak allocated bytes (builds with CUDA runtime headers, on a GPU). */
  cudaPeakBytes?: number;
}
export interface TorchAddon {
  fromArray(values: Float32Array | Int32Array | Uint8Array, shape: number[], dtype: number): Meta;
  /** CPU device only: a tensor over `values` without a copy, and its lease (see releaseView). */
  viewArray(values: Float32Array, shape: number[]): [lease: number, meta: Meta];
  /** Ends a viewArray lease before its bytes are rewritten; a tensor still alive gets its own copy (returns true). */
  releaseView(lease: number): boolean;
  toArray(id: Id): Float32Array | Int32Array | Uint8Array;
  free(id: Id): boolean;
  memory(resetPeak?: boolean): NativeMemory;
  configure(o: { device?: string; threads?: number; tf32?: boolean; bf16?: boolean }): void;
  info(): TorchInfo;
  opCodes(): OpCodes;
  sync(): void;
  unary(code: number, x: Id): Meta;
  binary(code: number, a: Id, b: Id, outDtype: number): Meta;
  cast(x: Id, dtype: number): Meta;
  leakyRelu(x: Id, alpha: number): Meta;
  step(x: Id, alpha: number): Meta;
  clip(x: Id, lo: number, hi: number): Meta;
  select(c: Id, a: Id, b: Id): Meta;
  matmul(a: Id, b: Id, ta: boolean, tb: boolean, bias: Id, act: number, preluAlpha: Id, leakyAlpha: number): Meta;
  einsum(eq: string, xs: Id[]): Meta;
  reduce(code: number, x: Id, axes: number[], keepDims: boolean, outDtype: number): Meta;
  argReduce(isMin: boolean, x: Id, axis: number): Meta;
  softmax(x: Id, dim: number, log: boolean): Meta;
  cumsum(x: Id, axis: number, exclusive: boolean, reverse: boolean, product: boolean): Meta;
  reshape(x: Id, shape: number[]): Meta;
  transpose(x: Id, perm: number[]): Meta;
  broadcastTo(x: Id, shape: number[]): Meta;
  tile(x: Id, reps: number[]): Meta;
  reverse(x: Id, dims: number[]): Meta;
  concat(xs: Id[], axis: number): Meta;
  stack(xs: Id[], axis: number): Meta;
  unstack(x: Id, axis: number): Meta[];
  split(x: Id, sizes: number[], axis: number): Meta[];
  slice(x: Id, begin: number[], size: number[]): Meta;
  stridedSlice(x: Id, begin: number[], strides: number[], counts: number[], finalShape: number[]): Meta;
  pad(x: Id, paddings: number[], value: number): Meta;
  fill(shape: number[], value: number, dtype: number): Meta;
  range(start: number, step: number, n: number, dtype: number): Meta;
  gather(x: Id, indices: Id, axis: number): Meta;
  gatherNd(x: Id, indices: Id): Meta;
  scatterNd(indices: Id, updates: Id, shape: number[]): Meta;
  segmentSum(x: Id, segmentIds: Id, numSegments: number): Meta;
  oneHot(indices: Id, depth: number, on: number, off: number, dtype: number): Meta;
  where(c: Id): Meta;
  topk(x: Id, k: number, sorted: boolean): Meta[];
  conv2d(x: Id, f: Id, strides: number[], pads: number[], dilations: number[]): Meta;
  conv2dBackprop(
    dy: Id, x: Id, f: Id, inShape: number[], fShape: number[], strides: number[], pads: number[],
    dilations: number[], wantInput: boolean,
  ): Meta;
  layerNorm(x: Id, gamma: Id, beta: Id, eps: number): Meta[];
  layerNormBackward(dy: Id, x: Id, mean: Id, rstd: Id, gamma: Id, beta: Id): Meta[];
  gelu(x: Id, tanh: boolean): Meta;
  geluBackward(dy: Id, x: Id, tanh: boolean): Meta;
  quickGelu(x: Id): Meta;
  quickGeluBackward(dy: Id, x: Id): Meta;
  linear(x: Id, w: Id, b: Id): Meta;
  linearBackward(dy: Id, x: Id, w: Id, hasBias: boolean): Meta[];
  attention(q: Id, k: Id, v: Id, causal: boolean, mask: Id, scale: number): Meta[];
  attentionBackward(dOut: Id, q: Id, k: Id, v: Id, probs: Id, scale: number): Meta[];
  softmaxCrossEntropy(logits: Id, labels: Id): Meta[];
  /** A pre-LN residual block; with needGrad also a handle tensor that keys its recorded graph. */
  blockForward(x: Id, params: Id[], heads: number, causal: boolean, quickGelu: boolean, eps: number, needGrad: boolean): Meta[];
  /** [dx, then one gradient per parameter] of the block recorded under `handle`. */
  blockBackward(handle: Id, dy: Id): Meta[];
  /** AdamW over many parameters in one call; per parameter undefined (in place) or [p, m, v] copies. */
  adamw(
    p: Id[], g: Id[], m: Id[], v: Id[], wd: number[], inPlace: boolean[], lr: number, b1: number, b2: number,
    eps: number, step: number,
  ): Array<Meta[] | undefined>;
  softmaxCrossEntropyBackward(dLoss: Id, logProbs: Id, labels: Id): Meta;
}

const here = dirname(fileURLToPath(import.meta.url));

/** Where the addon is looked for: $CLIPTS_TORCH_ADDON, then <package>/native/build/Release. */
export function addonPath(): string {
  if (process.env.CLIPTS_TORCH_ADDON) return process.env.CLIPTS_TORCH_ADDON;
  // src/backend and dist/backend are both two levels below the package root.
  return join(resolve(here, "..", ".."), "native", "build", "Release", "clipts_torch.node");
}

let cached: { addon: TorchAddon | null; reason: string } | undefined;

/** The addon, or null with the reason it could not be loaded. Never throws. */
export function loadTorchAddon(): { addon: TorchAddon | null; reason: string } {
  if (cached) return cached;
  const path = addonPath();
  if (!existsSync(path)) {
    cached = {
      addon: null,
      reason: `torch addon not built (${path} missing; run \`node scripts/build-native.js\` with libtorch installed)`,
    };
    return cached;
  }
  try {
    const addon = createRequire(import.meta.url)(path) as TorchAddon;
    cached = { addon, reason: "" };
  } catch (e) {
    cached = { addon: null, reason: `torch addon at ${path} failed to load: ${(e as Error).message}` };
  }
  return cached;
}

let codes: { tables: OpCodes; dtypeNames: string[] } | undefined;

/** The addon's code tables (read once); throws when the addon is not loadable. */
export function opCodes(): OpCodes {
  return codeTables().tables;
}

function codeTables(): { tables: OpCodes; dtypeNames: string[] } {
  if (codes) return codes;
  const { addon, reason } = loadTorchAddon();
  if (!addon) throw new Error(reason);
  if (typeof addon.opCodes !== "function") {
    throw new Error(`torch addon at ${addonPath()} predates its op-code tables; rebuild it (node scripts/build-native.js)`);
  }
  const tables = addon.opCodes();
  const dtypeNames: string[] = [];
  for (const [name, code] of Object.entries(tables.dtype)) dtypeNames[code] = name;
  codes = { tables, dtypeNames };
  return codes;
}

/** One op's code; throws naming the op when the addon lacks it (built from other sources). */
export function opCode(table: keyof OpCodes, name: string): number {
  const code = codeTables().tables[table][name];
  if (code === undefined) throw new Error(`torch addon has no ${table} op "${name}"; rebuild it (node scripts/build-native.js)`);
  return code;
}

/** tfjs dtype of an addon dtype code (the second entry of a Meta). */
export function dtypeName(code: number): string {
  const name = codeTables().dtypeNames[code];
  if (name === undefined) throw new Error(`torch addon returned unknown dtype code ${code}`);
  return name;
}
