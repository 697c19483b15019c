// Gradient utilities: global L2 norm and clipping with torch.nn.utils.clip_grad_norm_
// semantics (coef = max_norm / (norm + 1e-6), applied only when coef < 1).
import * as tf from "@tensorflow/tfjs-core";

export function globalNorm(grads: Map<string, tf.Tensor>): number {
  const sq = tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))));
  const n = Math.sqrt(sq.dataSync()[0]!);
  sq.dispose();
  return n;
}

/**
 * Scale `grads` in place (replacing and disposing the old tensors) so their
 * global norm is at most `maxNorm`. Returns the norm before clipping.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): number {
  const norm = globalNorm(grads);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) {
    for (const [k, g] of grads) {
      grads.set(k, tf.mul(g, coef));
      g.dispose();
    }
  }
  return norm;
}
