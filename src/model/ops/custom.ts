// Typed wrapper around tf.customGrad: the body gets its tensor inputs as an
// array plus the save function (tfjs passes `save` as the last argument).
import * as tf from "@tensorflow/tfjs-core";

export interface CustomResult {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor[];
}

export function customOp(body: (inputs: tf.Tensor[], save: tf.GradSaveFunc) => CustomResult): (...inputs: tf.Tensor[]) => tf.Tensor {
  const f = tf.customGrad(((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    return body(args.slice(0, -1) as tf.Tensor[], save);
  }) as Parameters<typeof tf.customGrad>[0]);
  return (...inputs: tf.Tensor[]) => f(...inputs);
}
