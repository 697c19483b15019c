// Backend-aware matrix products. The wasm backend only runs 2-D products
// without transposes through XNNPACK; anything else takes a slow generic loop.
// So on wasm we materialize transposes (O(n^2), cheap next to the O(n^3)
// product) and hand it plain products; other backends take the flags directly.
import * as tf from "@tensorflow/tfjs-core";

/** True while the active backend prefers explicit transposes over matmul flags. */
export function prefersPlainMatMul(): boolean {
  return tf.getBackend() === "wasm";
}

/** Swap the last two axes. */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  const r = x.rank;
  const perm = [...Array(r).keys()];
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return tf.transpose(x, perm);
}

/** a·b with optional transposes, rank 2 or batched (same batch shape). */
export function matmul(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if (!prefersPlainMatMul() || (!transposeA && !transposeB)) {
    return tf.matMul(a, b, transposeA, transposeB);
  }
  return tf.tidy(() => {
    const aa = transposeA ? transposeLast2(a) : a;
    const bb = transposeB ? transposeLast2(b) : b;
    return tf.matMul(aa, bb);
  });
}
