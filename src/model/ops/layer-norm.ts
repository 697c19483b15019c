// Layer normalization over the last axis with a hand-written backward:
//   x̂ = (x−μ)·r, r = 1/√(σ²+ε), y = x̂·γ + β
//   dx = r·(g − mean(g) − x̂·mean(g·x̂)) with g = dy·γ; dγ = Σ dy·x̂; dβ = Σ dy.
import * as tf from "@tensorflow/tfjs-core";
import { fusedOp } from "./registry.js";
import { customOp } from "./custom.js";

export type LayerNormFn = (x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number) => tf.Tensor;

export const layerNormReference: LayerNormFn = (x, gamma, beta, eps) => {
  const c = x.shape[x.rank - 1]!;
  const f = customOp(([xx, g, b], save) => {
    const x2 = tf.reshape(xx!, [-1, c]);
    const mean = tf.mean(x2, -1, true);
    const xc = tf.sub(x2, mean);
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, g!]);
    return {
      value: tf.reshape(tf.add(tf.mul(xhat, g!), b!), xx!.shape),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sh, sr, sg] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dy2 = tf.reshape(dy, [-1, c]);
        const gh = tf.mul(dy2, sg);
        const t = tf.add(tf.mean(gh, -1, true), tf.mul(sh, tf.mean(tf.mul(gh, sh), -1, true)));
        const dx = tf.reshape(tf.mul(sr, tf.sub(gh, t)), xx!.shape);
        return [dx, tf.sum(tf.mul(dy2, sh), 0), tf.sum(dy2, 0)];
      },
    };
  });
  return f(x, gamma, beta);
};

/** LayerNorm over the last axis (γ, β of shape [C]). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps = 1e-5): tf.Tensor {
  return (fusedOp<LayerNormFn>("layerNorm") ?? layerNormReference)(x, gamma, beta, eps);
}
