// Linear layer with PyTorch's weight layout W [out, in]: y = x·Wᵀ + b.
// Hand-written backward so every product is one matmul helper call:
//   dx = dy·W, dW = dyᵀ·x, db = Σ dy.
import * as tf from "@tensorflow/tfjs-core";
import { fusedOp } from "./registry.js";
import { matmul } from "./matmul.js";
import { customOp } from "./custom.js";

export type LinearFn = (x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor) => tf.Tensor;

export const linearReference: LinearFn = (x, w, b) => {
  const inDim = x.shape[x.rank - 1]!;
  const outDim = w.shape[0]!;
  const lead = x.shape.slice(0, -1);
  const f = customOp(([xx, ww, bb], save) => {
    const x2 = tf.reshape(xx!, [-1, inDim]);
    let y = matmul(x2, ww!, false, true);
    if (bb) y = tf.add(y, bb);
    save([x2, ww!]);
    return {
      value: tf.reshape(y, [...lead, outDim]),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor, tf.Tensor];
        const dy2 = tf.reshape(dy, [-1, outDim]);
        const dx = tf.reshape(matmul(dy2, sw), xx!.shape);
        const dw = matmul(dy2, sx, true, false);
        return bb ? [dx, dw, tf.sum(dy2, 0)] : [dx, dw];
      },
    };
  });
  return b ? f(x, w, b) : f(x, w);
};

/** y = x·Wᵀ + b over the last axis of x; W is [out, in] (PyTorch layout). */
export function linear(x: tf.Tensor, w: tf.Tensor, b?: tf.Tensor): tf.Tensor {
  return (fusedOp<LinearFn>("linear") ?? linearReference)(x, w, b);
}
