// Backend-aware matrix products. The wasm backend only runs 2-D products
// without transposes through XNNPACK (10× faster than its generic loop for a
// [2080,192]·[192,768] product); anything else takes the generic loop. So on
// wasm 2-D products get their transposes materialized (O(n²), cheap next to
// the O(n³) product). Batched (attention) products stay on the generic loop:
// splitting them into per-item 2-D calls was 6-10× slower (XNNPACK re-packs
// every new right-hand matrix).
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
  if (!prefersPlainMatMul() || (!transposeA && !transposeB) || a.rank > 2) {
    return tf.matMul(a, b, transposeA, transposeB);
  }
  return tf.tidy(() => {
    const aa = transposeA ? transposeLast2(a) : a;
    const bb = transposeB ? transposeLast2(b) : b;
    return tf.matMul(aa, bb);
  });
}
