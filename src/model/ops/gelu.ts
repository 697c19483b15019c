// GELU activations with hand-written derivatives.
//   exact:     y = x·Φ(x),          y' = Φ(x) + x·φ(x)
//   QuickGELU: y = x·σ(1.702x),     y' = s + 1.702·x·s·(1−s)
import * as tf from "@tensorflow/tfjs-core";
import { fusedOp } from "./registry.js";
import { customOp } from "./custom.js";

export type UnaryFn = (x: tf.Tensor) => tf.Tensor;

const SQRT1_2 = Math.SQRT1_2;
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);

export const geluReference: UnaryFn = customOp(([x], save) => {
  const cdf = tf.mul(0.5, tf.add(1, tf.erf(tf.mul(x!, SQRT1_2))));
  save([x!, cdf]);
  return {
    value: tf.mul(x!, cdf),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, sc] = saved as [tf.Tensor, tf.Tensor];
      const pdf = tf.mul(INV_SQRT_2PI, tf.exp(tf.mul(-0.5, tf.square(sx))));
      return [tf.mul(dy, tf.add(sc, tf.mul(sx, pdf)))];
    },
  };
});

export const quickGeluReference: UnaryFn = customOp(([x], save) => {
  const s = tf.sigmoid(tf.mul(x!, 1.702));
  save([x!, s]);
  return {
    value: tf.mul(x!, s),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sx, ss] = saved as [tf.Tensor, tf.Tensor];
      const d = tf.add(ss, tf.mul(tf.mul(1.702, sx), tf.mul(ss, tf.sub(1, ss))));
      return [tf.mul(dy, d)];
    },
  };
});

/** Exact (erf) GELU, as torch.nn.GELU(). */
export function gelu(x: tf.Tensor): tf.Tensor {
  return (fusedOp<UnaryFn>("gelu") ?? geluReference)(x);
}

/** QuickGELU x·σ(1.702x), as OpenAI CLIP. */
export function quickGelu(x: tf.Tensor): tf.Tensor {
  return (fusedOp<UnaryFn>("quickGelu") ?? quickGeluReference)(x);
}
