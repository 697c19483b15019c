// Softmax cross-entropy per row with a hand-written backward:
//   ℓ_i = logsumexp(z_i) − z_i[y_i],  dz_i = (softmax(z_i) − onehot(y_i))·dℓ_i
import * as tf from "@tensorflow/tfjs-core";
import { oneHotFloat } from "./one-hot.js";
import { fusedOp } from "./registry.js";
import { customOp } from "./custom.js";

/** logits [N, C], labels int32 [N] -> per-row losses [N]. */
export type SoftmaxCEFn = (logits: tf.Tensor2D, labels: tf.Tensor1D) => tf.Tensor1D;

export const softmaxCrossEntropyReference: SoftmaxCEFn = (logits, labels) => {
  const c = logits.shape[1];
  const f = customOp(([z], save) => {
    const oneHot = oneHotFloat(labels, c);
    const lse = tf.logSumExp(z!, -1);
    const picked = tf.sum(tf.mul(z!, oneHot), -1);
    save([z!, oneHot]);
    return {
      value: tf.sub(lse, picked),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sz, so] = saved as [tf.Tensor, tf.Tensor];
        return [tf.mul(tf.sub(tf.softmax(sz), so), tf.expandDims(dy, 1))];
      },
    };
  });
  return f(logits) as tf.Tensor1D;
};

/** Per-row softmax cross-entropy of `logits` [N, C] against int labels [N]. */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Tensor1D {
  return (fusedOp<SoftmaxCEFn>("softmaxCrossEntropy") ?? softmaxCrossEntropyReference)(logits, labels);
}
