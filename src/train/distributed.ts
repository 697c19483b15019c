// Data-parallel training over c10d (Gloo): each rank reads its own rows,
// computes features, all-gathers them *with gradient*, and evaluates the loss
// of its own rows against every rank's features (open_clip's local_loss=True,
// gather_with_grad=True: logits [B_local, B_global]; SigLIP: this rank's images
// against every rank's texts, block by block). The gradients are averaged over
// ranks after backward. Ranks start from the same seed, so weights stay identical.
//
// Why the averaging is right: the global loss is L = (1/W) Σ_r L_r, with L_r
// rank r's local loss (clip: mean over its rows of both cross-entropies;
// siglip: its image rows' pair sum / B_local). The gather's backward sums
// dL_r'/dG over ranks r' and keeps the local rows, so rank r's encoder gradient
// is Σ_r' dL_r'/dθ|rows of r; the mean over ranks is dL/dθ. Parameters entering
// L_r directly (logit scale/bias) get dL_r/dp, whose mean is dL/dp. The
// reported loss is the mean over ranks of L_r (ProcessGroup.meanValue).
//
// Global batch: data.batch_size is the global batch; rank r gets
// batch_size / W rows per step. With the loader's splitBy "row" the ranks
// read the stream's rows round-robin (row c goes to rank c mod W), so with
// no row shuffle buffer (data.shuffle_buffer: 0) a W-process run's global batch is the same set of
// rows as a 1-process run's batch (rows in the order
// [rank 0's rows, rank 1's rows, ...], i.e. de-interleaved); the contrastive
// losses are invariant to that permutation, so the losses agree to float
// tolerance (as long as the rows per epoch are a multiple of W).
import * as tf from "@tensorflow/tfjs-core";
import { allGatherTensor, allReduceTensors, deviceCollectives, loadDistAddon, type DistAddon } from "../backend/torch-dist.js";
import { InputError } from "../util/errors.js";
import type { RankExchange } from "../loss/index.js";

/** What torchrun (or `clipts launch`) puts in the environment. */
export interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  masterAddr: string;
  masterPort: number;
  /**
   * torchrun (TORCHELASTIC_USE_AGENT_STORE=True) serves the TCPStore itself;
   * ranks then join it as clients under "/worker/attempt_<restart count>",
   * the prefix torch.distributed's env:// rendezvous uses.
   */
  storePrefix?: string;
  /** Rendezvous and collective timeout ($CLIPTS_DIST_TIMEOUT_S, default 1800 s as in PyTorch). */
  timeoutMs: number;
}

function intVar(env: NodeJS.ProcessEnv, name: string, min: number): number {
  const s = env[name];
  const v = Number(s);
  if (s === undefined || s.trim() === "" || !Number.isInteger(v) || v < min) {
    throw new InputError(`environment: ${name}=${s ?? "(unset)"} must be an integer >= ${min}`);
  }
  return v;
}

/** The launch environment, or null for a single-process run (WORLD_SIZE unset or 1). */
export function distEnvFromProcess(env: NodeJS.ProcessEnv = process.env): DistEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === "1") return null;
  const worldSize = intVar(env, "WORLD_SIZE", 1);
  const rank = intVar(env, "RANK", 0);
  if (rank >= worldSize) throw new InputError(`environment: RANK=${rank} must be below WORLD_SIZE=${worldSize}`);
  return {
    rank,
    worldSize,
    localRank: env.LOCAL_RANK === undefined ? rank : intVar(env, "LOCAL_RANK", 0),
    masterAddr: env.MASTER_ADDR ?? "127.0.0.1",
    masterPort: env.MASTER_PORT === undefined ? 29500 : intVar(env, "MASTER_PORT", 1),
    timeoutMs: 1000 * (env.CLIPTS_DIST_TIMEOUT_S === undefined ? 1800 : intVar(env, "CLIPTS_DIST_TIMEOUT_S", 1)),
    ...(env.TORCHELASTIC_USE_AGENT_STORE === "True"
      ? { storePrefix: `/worker/attempt_${env.TORCHELASTIC_RESTART_COUNT ?? "0"}` }
      : {}),
  };
}

/**
 * A joined process group: collectives on tfjs tensors, in place on the torch
 * backend's device, through host Float32Arrays on other backends.
 */
export class ProcessGroup {
  private constructor(
    private readonly dist: DistAddon,
    readonly rank: number,
    readonly worldSize: number,
  ) {}

  /**
   * Rendezvous with the other ranks (blocks until all joined or the timeout
   * passes). On a CUDA device the tensors' collectives use NCCL when the
   * addon has it (PyTorch's choice too), else Gloo.
   */
  static init(e: DistEnv, device: string | null = null): ProcessGroup {
    const { dist, reason } = loadDistAddon();
    if (!dist) throw new InputError(`distributed training (WORLD_SIZE=${e.worldSize}) needs c10d: ${reason}`);
    const backend = collectiveBackend(device, dist.distInfo().backends);
    dist.distInit(e.rank, e.worldSize, e.masterAddr, e.masterPort, e.timeoutMs, process.env.GLOO_SOCKET_IFNAME ?? "", e.storePrefix ?? "", backend);
    return new ProcessGroup(dist, e.rank, e.worldSize);
  }

  get isMain(): boolean {
    return this.rank === 0;
  }

  /** Sum of a float over ranks. */
  sum(x: number): number {
    const a = new Float32Array([x]);
    this.dist.distAllReduce(a);
    return a[0]!;
  }

  /**
   * Replace every gradient by its mean over ranks (one all-reduce over the
   * concatenation, in name order so ranks agree on the layout). Disposes the
   * old tensors.
   */
  averageGradients(grads: Map<string, tf.Tensor>): void {
    const names = [...grads.keys()].sort();
    if (deviceCollectives()) {
      const avg = allReduceTensors(this.dist, names.map((k) => grads.get(k)!), 1 / this.worldSize);
      names.forEach((k, i) => {
        grads.get(k)!.dispose();
        grads.set(k, avg[i]!);
      });
      return;
    }
    let n = 0;
    for (const k of names) n += grads.get(k)!.size;
    const flat = new Float32Array(n);
    let off = 0;
    for (const k of names) {
      const g = grads.get(k)!;
      flat.set(g.dataSync() as Float32Array, off);
      off += g.size;
    }
    this.dist.distAllReduce(flat);
    const inv = 1 / this.worldSize;
    for (let i = 0; i < n; i++) flat[i]! *= inv;
    off = 0;
    for (const k of names) {
      const g = grads.get(k)!;
      grads.set(k, tf.tensor(flat.subarray(off, off + g.size), g.shape, "float32"));
      off += g.size;
      g.dispose();
    }
  }

  /**
   * All-gather rows along axis 0 with gradient: forward concatenates every
   * rank's [n, d] (rank order); backward all-reduces (sums) dL/d(gathered)
   * and returns this rank's rows. Every rank must pass the same shape.
   */
  gatherWithGrad(x: tf.Tensor2D): tf.Tensor2D {
    const [n, d] = x.shape;
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const input = args[0] as tf.Tensor;
      if (deviceCollectives()) {
        return {
          value: allGatherTensor(this.dist, input),
          gradFunc: (dy: tf.Tensor) => {
            const [sum] = allReduceTensors(this.dist, [dy], 1);
            const mine = tf.slice(sum!, [this.rank * n, 0], [n, d]);
            sum!.dispose();
            return mine;
          },
        };
      }
      const all = this.dist.distAllGather(Float32Array.from(input.dataSync() as Float32Array));
      return {
        value: tf.tensor2d(all, [n * this.worldSize, d]),
        gradFunc: (dy: tf.Tensor) => {
          const g = Float32Array.from(dy.dataSync() as Float32Array);
          this.dist.distAllReduce(g);
          return tf.tensor2d(g.subarray(this.rank * n * d, (this.rank + 1) * n * d), [n, d]);
        },
      };
    });
    return f(x) as tf.Tensor2D;
  }

  /**
   * ZeRO-1's all-gather: each rank contributes the tensors it owns (`mine`,
   * by name) and every rank gets every owner's tensors back (name -> tensor,
   * shapes from `shapes`; the caller disposes them). One collective: each
   * rank's owned tensors are packed in name order into one vector padded to
   * the largest share.
   */
  gatherOwned(owners: Map<string, number>, shapes: Map<string, readonly number[]>, mine: Map<string, tf.Tensor>): Map<string, tf.Tensor> {
    const names = [...owners.keys()].sort();
    const byRank = Array.from({ length: this.worldSize }, (_, r) => names.filter((n) => owners.get(n) === r));
    const size = (n: string) => shapes.get(n)!.reduce((a, b) => a * b, 1);
    const shareLen = byRank.map((ns) => ns.reduce((a, n) => a + size(n), 0));
    const max = Math.max(...shareLen);
    const out = new Map<string, tf.Tensor>();
    const unpack = (all: tf.Tensor1D) => {
      byRank.forEach((ns, r) => {
        let off = r * max;
        for (const n of ns) {
          out.set(n, tf.reshape(tf.slice(all, [off], [size(n)]), shapes.get(n)! as number[]));
          off += size(n);
        }
      });
    };
    tf.tidy(() => {
      const parts = byRank[this.rank]!.map((n) => {
        const t = mine.get(n);
        if (!t) throw new Error(`gatherOwned: rank ${this.rank} owns ${n} but has no tensor for it`);
        return tf.reshape(t, [-1]);
      });
      const pad = max - shareLen[this.rank]!;
      if (pad > 0 || parts.length === 0) parts.push(tf.zeros([pad]));
      const flat = parts.length === 1 ? parts[0]! : tf.concat(parts);
      const all = deviceCollectives()
        ? allGatherTensor(this.dist, flat)
        : tf.tensor1d(this.dist.distAllGather(Float32Array.from(flat.dataSync() as Float32Array)));
      unpack(all as tf.Tensor1D);
      for (const t of out.values()) tf.keep(t);
    });
    return out;
  }

  /** This rank's side of the loss (src/loss/model-loss.ts featureLoss's `ranks`). */
  exchange(): RankExchange {
    return { rank: this.rank, worldSize: this.worldSize, gather: (x) => this.gatherWithGrad(x), meanValue: (x) => this.meanValue(x) };
  }

  /**
   * Value: the mean of `x` over ranks (so every rank reports the global
   * batch's loss); gradient: identity (each rank differentiates its own
   * share, and the gradient average over ranks does the rest).
   */
  meanValue(x: tf.Scalar): tf.Scalar {
    const f = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
      const input = args[0] as tf.Tensor;
      let value: tf.Tensor;
      if (deviceCollectives()) value = allReduceTensors(this.dist, [input], 1 / this.worldSize)[0]!;
      else {
        const a = Float32Array.from(input.dataSync() as Float32Array);
        this.dist.distAllReduce(a);
        value = tf.scalar(a[0]! / this.worldSize);
      }
      return { value, gradFunc: (dy: tf.Tensor) => tf.clone(dy) };
    });
    return f(x) as tf.Scalar;
  }

  /**
   * Every rank's JSON value, in rank order. The UTF-8 bytes travel one per
   * float (exact, and Gloo's all-gather needs equal sizes, so lengths are
   * gathered first and every rank pads to the longest). Meant for small,
   * rare payloads such as loader states at checkpoint time.
   */
  allGatherJson(value: unknown): unknown[] {
    const bytes = new TextEncoder().encode(JSON.stringify(value));
    // float32 holds integers exactly up to 2^24.
    if (bytes.length > 2 ** 24) throw new Error(`allGatherJson: ${bytes.length} bytes is over the 16 MiB limit`);
    const lens = this.dist.distAllGather(new Float32Array([bytes.length]));
    const max = Math.max(...lens);
    const padded = new Float32Array(max);
    padded.set(bytes);
    const all = this.dist.distAllGather(padded);
    const dec = new TextDecoder();
    return Array.from(lens, (n, r) => JSON.parse(dec.decode(Uint8Array.from(all.subarray(r * max, r * max + n)))) as unknown);
  }

  barrier(): void {
    this.dist.distBarrier();
  }

  destroy(): void {
    this.dist.distDestroy();
  }
}

/** NCCL for CUDA devices when compiled in, Gloo otherwise. */
export function collectiveBackend(device: string | null, compiled: string[]): "gloo" | "nccl" {
  return device?.startsWith("cuda") && compiled.includes("nccl") ? "nccl" : "gloo";
}

/**
 * This rank's torch device: in a data-parallel run on CUDA, rank r uses the
 * GPU numbered by its LOCAL_RANK (torchrun's convention, as in open_clip),
 * whatever cuda:N the config names, unless the launcher gave each rank one
 * GPU (CUDA_VISIBLE_DEVICES with one entry, as srun --gpus-per-task does):
 * then cuda:0. Otherwise the config's device. The addon checks the index
 * against the visible GPUs.
 */
export function rankDevice(device: string | null, e: DistEnv | null, env: NodeJS.ProcessEnv = process.env): string | null {
  if (!e || !device?.startsWith("cuda")) return device;
  const visible = env.CUDA_VISIBLE_DEVICES?.split(",").filter((d) => d.trim() !== "");
  return visible?.length === 1 ? "cuda:0" : `cuda:${e.localRank}`;
}

/** Per-rank batch size: the global batch split over ranks, each part still divisible into micro-batches. */
export function localBatchSize(globalBatch: number, worldSize: number, accumFreq: number): number {
  if (globalBatch % (worldSize * accumFreq) !== 0) {
    throw new InputError(
      `config: data.batch_size (${globalBatch}, the global batch) must be divisible by WORLD_SIZE x train.accum_freq (${worldSize} x ${accumFreq})`,
    );
  }
  return globalBatch / worldSize;
}
