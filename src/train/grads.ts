// Gradient utilities: global L2 norm and clipping with torch.nn.utils.clip_grad_norm_
// semantics (coef = max_norm / (norm + 1e-6), clamped to at most 1, every
// gradient multiplied by it). Both stay on the device: the norm is a scalar
// tensor the caller reads when it needs the number (see loop.ts).
import * as tf from "@tensorflow/tfjs-core";

export function globalNorm(grads: Map<string, tf.Tensor>): tf.Scalar {
  return tf.tidy(() => tf.sqrt(tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g))))) as tf.Scalar);
}

/**
 * Scale `grads` in place (replacing and disposing the old tensors) so their
 * global norm is at most `maxNorm`. Returns the norm before clipping.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): tf.Scalar {
  const norm = globalNorm(grads);
  // min(1, coef) on the device: a multiply by exactly 1 leaves a gradient unchanged.
  const coef = tf.tidy(() => tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1));
  for (const [k, g] of grads) {
    grads.set(k, tf.mul(g, coef));
    g.dispose();
  }
  coef.dispose();
  return norm;
}
