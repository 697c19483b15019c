// The c10d collectives of the libtorch addon (native/dist.cc): a TCPStore
// rendezvous plus a Gloo process group, over Float32Arrays or over the torch
// backend's tensors in place. Kept apart from torch-native.ts because the
// addon may be built without them (no gloo headers), in which case only
// distInfo() exists.
import * as tf from "@tensorflow/tfjs-core";
import { TorchBackend } from "./torch-backend.js";
import { loadTorchAddon, type Meta } from "./torch-native.js";

export interface DistInfo {
  available: boolean;
  /** Process-group backends compiled in ("gloo", and "nccl" in CUDA builds that found NCCL). */
  backends: string[];
  initialized: boolean;
  /** Whether CUDA tensors go through an NCCL group. */
  nccl?: boolean;
  rank?: number;
  worldSize?: number;
}

export interface DistAddon {
  distInfo(): DistInfo;
  /**
   * Rendezvous at addr:port and create the Gloo group (plus an NCCL group for
   * CUDA tensors with backend "nccl"); blocks until all ranks joined.
   * Without `prefix` rank 0 serves the store; with it (torchrun's agent store) all ranks are clients under the prefix.
   */
  distInit(rank: number, worldSize: number, addr: string, port: number, timeoutMs: number, ifname?: string, prefix?: string, backend?: "gloo" | "nccl"): void;
  /** In place: every rank's array becomes the element-wise sum over ranks. */
  distAllReduce(values: Float32Array): void;
  /** Rank r's n values at [r*n, (r+1)*n) of the result. */
  distAllGather(values: Float32Array): Float32Array;
  /** Torch backend tensors (handle ids): each summed over ranks and scaled, in one collective. */
  distAllReduceTensors(ids: number[], scale: number): Meta[];
  /** A torch backend tensor (handle id): every rank's, concatenated along axis 0 in rank order. */
  distAllGatherTensor(id: number): Meta;
  distBarrier(): void;
  distDestroy(): void;
}

/** The addon's collectives, or null with the reason they are unavailable. Never throws. */
export function loadDistAddon(): { dist: DistAddon | null; reason: string } {
  const { addon, reason } = loadTorchAddon();
  if (!addon) return { dist: null, reason };
  const a = addon as unknown as Partial<DistAddon>;
  if (typeof a.distInfo !== "function") {
    return { dist: null, reason: "the torch addon predates distributed support; rebuild it (node scripts/build-native.js)" };
  }
  if (!a.distInfo().available) {
    return {
      dist: null,
      reason: "the torch addon was built without c10d/gloo (install libgloo-dev, then node scripts/build-native.js)",
    };
  }
  return { dist: a as DistAddon, reason: "" };
}

/** The active torch backend, or null under any other backend. */
function torchBackend(): TorchBackend | null {
  const b = tf.getBackend() === "torch" ? tf.backend() : null;
  return b instanceof TorchBackend ? b : null;
}

/** Whether collectives can run on the active backend's tensors in place (torch). */
export function deviceCollectives(): boolean {
  return torchBackend() !== null;
}

/** Sum over ranks, times `scale`, of each tensor (torch backend; they stay on their device). */
export function allReduceTensors(dist: DistAddon, ts: tf.Tensor[], scale: number): tf.Tensor[] {
  const b = torchBackend();
  if (!b) throw new Error(`allReduceTensors needs the torch backend, not "${tf.getBackend()}"`);
  const metas = dist.distAllReduceTensors(ts.map((t) => b.id(t)), scale);
  return metas.map((m) => tf.engine().makeTensorFromTensorInfo(b.out(m), b) as tf.Tensor);
}

/** Every rank's tensor concatenated along axis 0 (torch backend; stays on its device). */
export function allGatherTensor(dist: DistAddon, t: tf.Tensor): tf.Tensor {
  const b = torchBackend();
  if (!b) throw new Error(`allGatherTensor needs the torch backend, not "${tf.getBackend()}"`);
  return tf.engine().makeTensorFromTensorInfo(b.out(dist.distAllGatherTensor(b.id(t))), b) as tf.Tensor;
}
