// One optimizer step's gradients, with open_clip's accum_freq semantics made
// exact: with k micro-batches the contrastive loss still spans the whole
// batch. First every micro-batch's features are computed without a tape and
// cached; then micro-batch j is recomputed under the tape and spliced into the
// cached features, so pass j yields dL/dθ through micro-batch j's features.
// The sum over j is the full-batch gradient. The logit scale/bias enter every
// pass directly, so their gradient is taken from pass 0 only (open_clip sums
// it k times).
import * as tf from "@tensorflow/tfjs-core";
import type { ClipModel } from "../model/types.js";
import { autocastActive } from "../backend/index.js";

/** Loss over the (un-normalized) image/text features of the whole batch. */
export type Objective = (model: ClipModel, imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D) => tf.Scalar;

/** Parameters that enter the loss directly rather than through the features. */
export const LOSS_PARAMS = ["logit_scale", "logit_bias"];

export interface MicroBatch {
  images: tf.Tensor4D;
  tokens: tf.Tensor2D;
}

export interface StepGrads {
  /** The loss as a device scalar (reading it waits for the device); the caller disposes it. */
  loss: tf.Scalar;
  /** Gradients keyed by param name; the caller disposes them. */
  grads: Map<string, tf.Tensor>;
}

/** Split a batch into `k` equal micro-batches (views are new tensors; caller disposes). */
export function splitBatch(images: tf.Tensor4D, tokens: tf.Tensor2D, k: number): MicroBatch[] {
  if (k === 1) return [{ images, tokens }];
  const n = images.shape[0];
  if (n % k !== 0) throw new Error(`batch of ${n} does not split into ${k} micro-batches`);
  const imgs = tf.split(images, k, 0) as tf.Tensor4D[];
  const toks = tf.split(tokens, k, 0) as tf.Tensor2D[];
  return imgs.map((im, i) => ({ images: im, tokens: toks[i]! }));
}

function gradsOf(
  model: ClipModel,
  names: string[],
  f: () => tf.Scalar,
): { value: tf.Scalar; grads: Map<string, tf.Tensor> } {
  const vars = names.map((n) => model.params.get(n)!);
  const byVarName = new Map(names.map((n) => [model.params.get(n)!.name, n]));
  const { value, grads } = tf.variableGrads(f, vars);
  const out = new Map<string, tf.Tensor>();
  // Under autocast (torch backend, bf16) a weight's gradient can arrive in
  // bf16 storage; like PyTorch's .grad it is kept in the weight's float32, so
  // micro-batch sums and the optimizer run in float32. Otherwise no cast: it
  // would be one kernel per parameter for nothing.
  const widen = autocastActive();
  for (const [vn, g] of Object.entries(grads)) {
    if (!widen) {
      out.set(byVarName.get(vn)!, g);
      continue;
    }
    out.set(byVarName.get(vn)!, tf.cast(g, "float32"));
    g.dispose();
  }
  return { value, grads: out };
}

export function computeGradients(model: ClipModel, micro: MicroBatch[], objective: Objective): StepGrads {
  const all = [...model.params.keys()].filter((n) => model.params.get(n)!.trainable);
  if (micro.length === 1) {
    const { images, tokens } = micro[0]!;
    const { value, grads } = gradsOf(model, all, () => objective(model, model.encodeImage(images), model.encodeText(tokens)));
    return { loss: value, grads };
  }

  // Pass 1: features of every micro-batch, no tape.
  const cacheI: tf.Tensor2D[] = [];
  const cacheT: tf.Tensor2D[] = [];
  for (const m of micro) {
    const [fi, ft] = tf.tidy(() => [model.encodeImage(m.images), model.encodeText(m.tokens)] as const);
    cacheI.push(fi);
    cacheT.push(ft);
  }
  // Pass 2: recompute each micro-batch under the tape against the cached others.
  const sum = new Map<string, tf.Tensor>();
  const encoderOnly = all.filter((n) => !LOSS_PARAMS.includes(n));
  let loss: tf.Scalar | null = null;
  try {
    micro.forEach((m, j) => {
      const { value, grads } = gradsOf(model, j === 0 ? all : encoderOnly, () => {
        const fi = model.encodeImage(m.images);
        const ft = model.encodeText(m.tokens);
        const imgs = tf.concat(cacheI.map((c, i) => (i === j ? fi : c)), 0);
        const txts = tf.concat(cacheT.map((c, i) => (i === j ? ft : c)), 0);
        return objective(model, imgs, txts);
      });
      if (j === 0) loss = value;
      else value.dispose();
      for (const [n, g] of grads) {
        const prev = sum.get(n);
        if (prev) {
          sum.set(n, tf.add(prev, g));
          prev.dispose();
          g.dispose();
        } else sum.set(n, g);
      }
    });
  } catch (err) {
    tf.dispose([...(loss ? [loss] : []), ...sum.values()]);
    throw err;
  } finally {
    for (const t of [...cacheI, ...cacheT]) t.dispose();
  }
  return { loss: loss!, grads: sum };
}
