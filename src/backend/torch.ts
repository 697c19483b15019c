// Entry point of the "torch" tfjs backend (libtorch through an N-API addon).
// src/backend/index.ts imports this module dynamically; importing it has no
// side effects until registerTorchBackend() is called.
import * as tf from "@tensorflow/tfjs-core";
import { TorchBackend, type TorchDevice } from "./torch-backend.js";
import { registerTorchFusedKernels, torchFusedOps } from "./torch-fused.js";
import { TORCH_BACKEND_NAME, torchKernelConfigs } from "./torch-kernels.js";
import { loadTorchAddon, type NativeMemory, type TorchInfo } from "./torch-native.js";
import { registerFusedOp, type OpName } from "../model/ops/registry.js";

export { TorchBackend } from "./torch-backend.js";
export { TORCH_BACKEND_NAME, torchKernelNames } from "./torch-kernels.js";
export * from "./torch-fused.js";

export interface TorchBackendOptions {
  /** "cpu" (default) or a CUDA device such as "cuda:0". */
  device?: TorchDevice;
  /** ATen intra-op threads (default: libtorch's choice). */
  threads?: number;
  /** TF32 for float32 matmuls on CUDA (default true, as PyTorch's autocast-free speed setting). */
  tf32?: boolean;
  /** Autocast: matmul, linear, conv and attention in bfloat16 with bf16 outputs (tfjs still sees float32; see native/torch_addon.cc). */
  bf16?: boolean;
  /** Leave the model's fused-op registry alone (tests compare fused vs reference). */
  noFusedOps?: boolean;
  /** Backend priority for tfjs' automatic choice (default 0: only used when set explicitly). */
  priority?: number;
}

let registeredDevice: string | undefined;

// The model's fused-op registry: registering there makes the model use the
// fused ops whenever "torch" is the active backend.
type Registry = { registerFusedOp(backend: string, op: OpName, impl: (...a: any[]) => unknown): void };
const registry: Registry = { registerFusedOp };

/**
 * Whether the model's residual blocks run as one fused op each (two addon
 * calls per block and step instead of ~90 tfjs kernels). On by default;
 * CLIPTS_TORCH_BLOCK=0 keeps the per-op path (attention, layer norm, GELU and
 * linear as separate fused ops), e.g. to compare the two.
 */
export function fusedBlockEnabled(): boolean {
  return process.env.CLIPTS_TORCH_BLOCK !== "0";
}

/** Registers the fused ops with the model's registry (or another one, e.g. a bundle's copy). */
export function registerTorchFusedOps(reg: Registry | null = registry): boolean {
  if (!reg) return false;
  for (const [op, impl] of Object.entries(torchFusedOps())) {
    if (op === "residualBlock" && !fusedBlockEnabled()) continue;
    reg.registerFusedOp(TORCH_BACKEND_NAME, op as OpName, impl);
  }
  return true;
}

/** Whether the addon is built and loadable, and why not. */
export function torchAvailable(): { available: boolean; reason: string } {
  const { addon, reason } = loadTorchAddon();
  return { available: addon !== null, reason };
}

/**
 * Registers the tfjs backend "torch" and all its kernels. Returns false when
 * the addon is not built (see torchAvailable().reason); throws when the
 * requested device is not usable (e.g. "cuda:0" on a CPU-only libtorch).
 * Call tf.setBackend("torch") afterwards.
 */
export function registerTorchBackend(opts: TorchBackendOptions = {}): boolean {
  const { addon } = loadTorchAddon();
  if (!addon) return false;
  const device = opts.device ?? "cpu";
  if (registeredDevice !== undefined) {
    if (registeredDevice !== device) {
      throw new Error(`torch backend already registered on ${registeredDevice}; cannot switch to ${device}`);
    }
    addon.configure({ bf16: opts.bf16 ?? false, ...(opts.threads ? { threads: opts.threads } : {}) });
    return true;
  }
  // Validate the device now so a bad option fails before any work starts.
  addon.configure({
    device,
    tf32: opts.tf32 ?? true,
    bf16: opts.bf16 ?? false,
    ...(opts.threads ? { threads: opts.threads } : {}),
  });
  tf.registerBackend(TORCH_BACKEND_NAME, () => new TorchBackend(addon, device), opts.priority ?? 0);
  for (const k of torchKernelConfigs()) tf.registerKernel(k);
  registerTorchFusedKernels();
  if (!opts.noFusedOps) registerTorchFusedOps(registry);
  registeredDevice = device;
  return true;
}

/**
 * Tensors the addon holds: count, bytes (once per storage) and the peak bytes
 * since the last `resetPeak` (leak checks, peak-memory reports).
 */
export function torchNativeMemory(resetPeak = false): NativeMemory {
  const { addon } = loadTorchAddon();
  if (!addon) throw new Error(loadTorchAddon().reason);
  return addon.memory(resetPeak);
}

/** Blocks until queued device work is done (benchmarks). */
export function torchSync(): void {
  loadTorchAddon().addon?.sync();
}

/** Addon facts: CUDA availability, device, intra-op threads, bf16 mode, libtorch version and build. */
export function torchInfo(): TorchInfo {
  const { addon, reason } = loadTorchAddon();
  if (!addon) throw new Error(reason);
  return addon.info();
}

export interface TorchAdamWOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1-based step count for the bias corrections. */
  step: number;
}

/** One parameter's part of an AdamW step: decoupled decay factor p *= 1 - lr·weightDecay (0 for excluded params). */
export interface TorchAdamWParam {
  param: tf.Variable;
  grad: tf.Tensor;
  expAvg: tf.Variable;
  expAvgSq: tf.Variable;
  weightDecay: number;
}

/**
 * One AdamW step over all `params` with PyTorch's semantics in a single addon
 * call (in-place ATen ops, as PyTorch's foreach AdamW) instead of ~15 tfjs
 * kernels per parameter. Active backend must be "torch". Variables whose data
 * another tensor shares are updated through assign() instead, so tfjs'
 * immutability holds.
 */
export function torchAdamWUpdate(params: TorchAdamWParam[], o: TorchAdamWOptions): void {
  const b = tf.backend();
  if (!(b instanceof TorchBackend)) throw new Error(`torchAdamWUpdate needs the torch backend, not "${tf.getBackend()}"`);
  if (params.length === 0) return;
  const ids = (k: "param" | "grad" | "expAvg" | "expAvgSq") => params.map((x) => b.id(x[k]));
  const inPlace = params.map((x) => b.exclusive(x.param) && b.exclusive(x.expAvg) && b.exclusive(x.expAvgSq));
  const out = b.native.adamw(
    ids("param"), ids("grad"), ids("expAvg"), ids("expAvgSq"), params.map((x) => x.weightDecay), inPlace,
    o.lr, o.beta1, o.beta2, o.eps, o.step,
  );
  const engine = tf.engine();
  out.forEach((metas, i) => {
    if (!metas) return; // updated in place (the addon may still decline and return copies)
    const [p, m, v] = metas.map((meta) => engine.makeTensorFromTensorInfo(b.out(meta), b) as tf.Tensor);
    params[i]!.param.assign(p!);
    params[i]!.expAvg.assign(m!);
    params[i]!.expAvgSq.assign(v!);
    tf.dispose([p!, m!, v!]);
  });
}
