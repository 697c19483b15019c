// float32 one-hot rows. tfjs-backend-wasm 4.22's OneHot writes the integer
// bit pattern 1 into float32 outputs (reads back as 1.4e-45), so build the
// int32 one-hot and cast, which is correct on every backend.
import * as tf from "@tensorflow/tfjs-core";

export function oneHotFloat(indices: tf.Tensor1D, depth: number): tf.Tensor2D {
  return tf.tidy(() => tf.cast(tf.oneHot(indices, depth, 1, 0, "int32"), "float32") as tf.Tensor2D);
}
