// Backend selection. cpu and wasm ship with clipts; `tensorflow` (tfjs-node /
// tfjs-node-gpu) and `torch` (./torch.js, a libtorch N-API backend) are loaded
// only if present, so a missing optional package never breaks a plain install.
import * as tf from "@tensorflow/tfjs-core";
import "../model/tf-gradients.js";
import { createRequire } from "node:module";
import path from "node:path";
import { InputError } from "../util/errors.js";

import { BACKEND_NAMES, type BackendName } from "./names.js";

export { BACKEND_NAMES, type BackendName };
/** Preference order of `auto`, fastest first. */
const AUTO_ORDER: BackendName[] = ["torch", "tensorflow", "wasm", "cpu"];

const require = createRequire(import.meta.url);

// Dynamic specifiers stop TypeScript from requiring the optional packages' types.
async function importOptional(spec: string): Promise<unknown> {
  return import(spec);
}

async function loadCpu(): Promise<void> {
  await import("@tensorflow/tfjs-backend-cpu");
}

async function loadWasm(): Promise<void> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  // In Node the .wasm binaries are read from the package's dist folder.
  const dist = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm"));
  wasm.setWasmPaths(dist + path.sep);
}

async function loadTensorflow(): Promise<void> {
  const errors: string[] = [];
  for (const pkg of ["@tensorflow/tfjs-node-gpu", "@tensorflow/tfjs-node"]) {
    try {
      await importOptional(pkg);
      return;
    } catch (e) {
      errors.push(`${pkg}: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  throw new Error(`backend "tensorflow" needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node installed (${errors.join("; ")})`);
}

/** Options of the torch backend (device "cpu" or "cuda:N", bf16 autocast). */
export interface TorchOptions {
  device?: string;
  bf16?: boolean;
}
let torchOptions: TorchOptions = {};
let torchModule: typeof import("./torch.js") | undefined;

/**
 * The torch backend's one-call AdamW step (all parameters) when torch is the active backend,
 * else undefined (the optimizer then uses tfjs ops or a host loop).
 */
export function fusedAdamWUpdate(): (typeof import("./torch.js"))["torchAdamWUpdate"] | undefined {
  return tf.getBackend() === "torch" ? torchModule?.torchAdamWUpdate : undefined;
}

/**
 * A float32 tensor over `values`, a view of a buffer the caller rewrites
 * later (the loader's decode ring), and the `release` to call before
 * rewriting those bytes. The torch backend on the CPU makes the buffer itself
 * the tensor (no copy; release gives a tensor still alive its own copy);
 * every other backend copies now and release does nothing.
 */
export function uploadView(values: Float32Array, shape: number[]): { tensor: tf.Tensor; release: () => void } {
  const b = tf.backend() as tf.KernelBackend & { writeView?: (v: Float32Array, s: number[]) => { dataId: object; release: () => void } };
  if (tf.getBackend() === "torch" && b.writeView) {
    const { dataId, release } = b.writeView(values, shape);
    return { tensor: tf.engine().makeTensorFromDataId(dataId, shape, "float32", b), release };
  }
  // wasm copies into its own heap; cpu and tfjs-node keep the array they are given.
  const own = tf.getBackend() === "wasm" ? values : values.slice();
  return { tensor: tf.tensor(own, shape, "float32"), release: () => {} };
}

/**
 * Whether tensors may hold bf16 storage behind tfjs' float32 (the torch
 * backend in autocast mode), so that a weight's gradient needs a cast back.
 */
export function autocastActive(): boolean {
  return tf.getBackend() === "torch" && !!torchOptions.bf16;
}

/** Peak memory since the last reset; `sampled` when only step-end samples are known. */
export interface PeakMemory {
  /** Tensor bytes at the peak (the torch backend counts every tensor it holds, once per storage). */
  bytes: number;
  /** true on backends that cannot see inside a step: the value is the largest step-end sample. */
  sampled: boolean;
  /** CUDA caching allocator's peak allocated bytes (torch backend on a GPU; includes kernel temporaries). */
  cudaBytes?: number;
}

/**
 * The torch backend's peak tensor memory since the previous call with
 * `reset`, or null on other backends (the trainer then samples tf.memory()).
 */
export function torchPeakMemory(reset = false): PeakMemory | null {
  if (tf.getBackend() !== "torch" || !torchModule) return null;
  const m = torchModule.torchNativeMemory(reset);
  return { bytes: m.peakBytes, sampled: false, ...(m.cudaPeakBytes !== undefined ? { cudaBytes: m.cudaPeakBytes } : {}) };
}

async function loadTorch(): Promise<void> {
  let mod: typeof import("./torch.js");
  try {
    mod = (await importOptional("./torch.js")) as typeof mod;
  } catch (e) {
    throw new Error(`backend "torch" is not available: ${(e as Error).message.split("\n")[0]}`);
  }
  const device = torchOptions.device as "cpu" | "cuda:0" | undefined;
  if (!mod.registerTorchBackend({ device, bf16: torchOptions.bf16 })) {
    throw new Error(`backend "torch" is not available: ${mod.torchAvailable().reason}`);
  }
  torchModule = mod;
}

const loaders: Record<BackendName, () => Promise<void>> = { cpu: loadCpu, wasm: loadWasm, tensorflow: loadTensorflow, torch: loadTorch };

/** tfjs's registry name for each of our backend names. */
const TFJS_NAME: Record<BackendName, string> = { cpu: "cpu", wasm: "wasm", tensorflow: "tensorflow", torch: "torch" };

async function tryActivate(name: BackendName): Promise<void> {
  await loaders[name]();
  const tfName = TFJS_NAME[name];
  if (!tf.findBackendFactory(tfName)) throw new Error(`backend "${name}" loaded but registered no tfjs backend "${tfName}"`);
  const ok = await tf.setBackend(tfName);
  if (!ok) throw new Error(`backend "${name}" failed to initialize`);
  await tf.ready();
}

/**
 * Activate a backend. Explicit names fail with a clear error when unavailable;
 * "auto" takes the first that works of torch > tensorflow > wasm > cpu.
 * Returns the name of the active backend.
 */
export async function setBackend(name: BackendName | "auto", torch: TorchOptions = {}): Promise<BackendName> {
  torchOptions = torch;
  if (!BACKEND_NAMES.includes(name)) throw new InputError(`backend: unknown backend "${name}" (choose one of ${BACKEND_NAMES.join(", ")})`);
  if (name !== "auto") {
    await tryActivate(name);
    return name;
  }
  for (const n of AUTO_ORDER) {
    try {
      await tryActivate(n);
      return n;
    } catch {
      // not installed or failed to start: try the next one
    }
  }
  throw new Error("backend: no tfjs backend could be activated");
}

/** Backends that can be loaded here, in `auto` preference order (loads each to check). */
export async function availableBackends(): Promise<BackendName[]> {
  const out: BackendName[] = [];
  for (const n of AUTO_ORDER) {
    try {
      await loaders[n]();
      if (tf.findBackendFactory(TFJS_NAME[n])) out.push(n);
    } catch {
      // unavailable
    }
  }
  return out;
}
