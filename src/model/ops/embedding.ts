// Embedding lookup. Its gradient is a scatter-add of dy into the table rows.
// tfjs's own gather gradient uses UnsortedSegmentSum, which the wasm backend
// lacks and which the cpu backend runs as one masked reduction per vocabulary
// row (minutes for a 49k vocabulary). ScatterNd sums duplicate indices in a
// single pass on both, so the backward is one ScatterNd.
import * as tf from "@tensorflow/tfjs-core";
import { fusedOp } from "./registry.js";
import { customOp } from "./custom.js";

/** table [V, W], ids int32 [...] -> [..., W]. */
export type EmbeddingFn = (table: tf.Tensor2D, ids: tf.Tensor) => tf.Tensor;

export const embeddingReference: EmbeddingFn = (table, ids) => {
  const [vocab, width] = table.shape;
  const flat = tf.reshape(ids, [-1]) as tf.Tensor1D;
  const f = customOp(([t]) => ({
    value: tf.reshape(tf.gather(t!, flat), [...ids.shape, width]),
    gradFunc: (dy: tf.Tensor) => {
      const dy2 = tf.reshape(dy, [-1, width]);
      return [tf.scatterND(tf.reshape(flat, [-1, 1]), dy2, [vocab, width])];
    },
  }));
  return f(table);
};

/** Rows of `table` at `ids`. */
export function embedding(table: tf.Tensor2D, ids: tf.Tensor): tf.Tensor {
  return (fusedOp<EmbeddingFn>("embedding") ?? embeddingReference)(table, ids);
}
