// AdamW over tf.Variables with PyTorch's exact semantics (torch.optim.AdamW,
// non-amsgrad, non-fused): decoupled weight decay p *= 1 - lr*wd first, then
// m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g^2,
// p -= (lr / (1 - b1^t)) * m / (sqrt(v) / sqrt(1 - b2^t) + eps).
import * as tf from "@tensorflow/tfjs-core";
import { fusedAdamWUpdate } from "../backend/index.js";

/**
 * open_clip's rule for parameters without weight decay (main.py `exclude`):
 * ndim < 2 or the name contains "bn", "ln", "bias" or "logit_scale".
 * Note that 2-D position embeddings and the token embedding *are* decayed.
 */
export function excludedFromDecay(name: string, shape: readonly number[]): boolean {
  return (
    shape.length < 2 || name.includes("bn") || name.includes("ln") || name.includes("bias") || name.includes("logit_scale")
  );
}

export interface AdamWOptions {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** "host": one JS loop per parameter (fast on cpu/wasm); "tensor": tfjs ops (GPU backends); default by backend. */
  update?: "auto" | "host" | "tensor";
  /**
   * ZeRO stage 1 (train.zero_stage: 1): the parameters this rank keeps moments
   * for and updates; the others are updated by their owner rank and arrive by
   * all-gather (src/train/zero.ts). Absent = all.
   */
  owned?: ReadonlySet<string>;
}

export interface AdamWState {
  /** Number of optimizer steps taken (PyTorch's per-param `step`). */
  step: number;
  expAvg: Map<string, tf.Variable>;
  expAvgSq: Map<string, tf.Variable>;
}

/** Backends whose tensors live in host memory: the update runs as one fused JS loop there. */
const HOST_BACKENDS = new Set(["cpu", "wasm"]);

export class AdamW {
  step = 0;
  readonly expAvg = new Map<string, tf.Variable>();
  readonly expAvgSq = new Map<string, tf.Variable>();
  readonly decay = new Map<string, boolean>();

  constructor(
    readonly params: Map<string, tf.Variable>,
    readonly opts: AdamWOptions,
  ) {
    for (const [name, p] of params) {
      if (!this.owns(name)) continue;
      // tidy disposes the zero tensors; the variables keep their own copy of the data.
      this.expAvg.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false, `adamw/exp_avg/${name}/${p.id}`)));
      this.expAvgSq.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false, `adamw/exp_avg_sq/${name}/${p.id}`)));
      this.decay.set(name, !excludedFromDecay(name, p.shape));
    }
  }

  /** Whether this rank keeps the moments of (and updates) parameter `name`. */
  owns(name: string): boolean {
    return !this.opts.owned || this.opts.owned.has(name);
  }

  /** One update with learning rate `lr` of the owned params; `grads` holds a gradient per trainable param. */
  apply(grads: Map<string, tf.Tensor>, lr: number): void {
    this.step += 1;
    const { beta1: b1, beta2: b2, eps, weightDecay } = this.opts;
    const stepSize = lr / (1 - b1 ** this.step);
    const bc2Sqrt = Math.sqrt(1 - b2 ** this.step);
    const mode = this.opts.update ?? "auto";
    const host = mode === "host" || (mode === "auto" && HOST_BACKENDS.has(tf.getBackend()));
    // On the torch backend one addon call updates every parameter.
    const fused = mode === "auto" ? fusedAdamWUpdate() : undefined;
    if (fused) {
      const items = [...this.params].filter(([name]) => grads.has(name) && this.owns(name)).map(([name, param]) => ({
        param, grad: grads.get(name)!, expAvg: this.expAvg.get(name)!, expAvgSq: this.expAvgSq.get(name)!,
        weightDecay: this.decay.get(name) ? weightDecay : 0,
      }));
      fused(items, { lr, beta1: b1, beta2: b2, eps, step: this.step });
      return;
    }
    for (const [name, p] of this.params) {
      const g = grads.get(name);
      if (!g || !this.owns(name)) continue; // no gradient this step (PyTorch skips params with grad None), or another rank's
      const m = this.expAvg.get(name)!;
      const v = this.expAvgSq.get(name)!;
      const decay = this.decay.get(name) && weightDecay > 0 ? 1 - lr * weightDecay : 1;
      if (host) {
        // ~10 elementwise kernels per parameter cost more than the matmuls of a
        // small model on the CPU; one pass over the arrays does the same math.
        const gv = g.dataSync() as Float32Array;
        const pv = p.dataSync() as Float32Array;
        const mv = m.dataSync() as Float32Array;
        const vv = v.dataSync() as Float32Array;
        const n = pv.length;
        const pn = new Float32Array(n);
        const mn = new Float32Array(n);
        const vn = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          const gi = gv[i]!;
          const mi = b1 * mv[i]! + (1 - b1) * gi;
          const vi = b2 * vv[i]! + (1 - b2) * gi * gi;
          mn[i] = mi;
          vn[i] = vi;
          pn[i] = pv[i]! * decay - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
        }
        tf.tidy(() => {
          m.assign(tf.tensor(mn, m.shape, "float32"));
          v.assign(tf.tensor(vn, v.shape, "float32"));
          p.assign(tf.tensor(pn, p.shape, "float32"));
        });
        continue;
      }
      tf.tidy(() => {
        const mNew = tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1));
        const vNew = tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2));
        m.assign(mNew);
        v.assign(vNew);
        const pDecayed = decay !== 1 ? tf.mul(p, decay) : p;
        const denom = tf.add(tf.div(tf.sqrt(vNew), bc2Sqrt), eps);
        p.assign(tf.sub(pDecayed, tf.mul(tf.div(mNew, denom), stepSize)));
      });
    }
  }

  dispose(): void {
    for (const v of this.expAvg.values()) v.dispose();
    for (const v of this.expAvgSq.values()) v.dispose();
  }
}
