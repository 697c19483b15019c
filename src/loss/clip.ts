// CLIP's symmetric InfoNCE loss over the batch similarity matrix.
import * as tf from "@tensorflow/tfjs-core";
import "../model/tf-gradients.js";
import { softmaxCrossEntropy } from "../model/ops/index.js";

/**
 * Mean of the image→text and text→image cross-entropies over
 * logits = logitScale · I · Tᵀ with the diagonal as labels.
 * Features must already be L2-normalized; `logitScale` is the multiplier (exp'd).
 */
export function clipLoss(imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D, logitScale: tf.Scalar | number): tf.Scalar {
  return tf.tidy(() => {
    const n = imageFeatures.shape[0];
    if (textFeatures.shape[0] !== n) throw new Error(`clipLoss: ${n} image features but ${textFeatures.shape[0]} text features`);
    const logits = tf.mul(tf.matMul(imageFeatures, textFeatures, false, true), logitScale) as tf.Tensor2D;
    const labels = tf.range(0, n, 1, "int32") as tf.Tensor1D;
    const i2t = tf.mean(softmaxCrossEntropy(logits, labels));
    const t2i = tf.mean(softmaxCrossEntropy(tf.transpose(logits) as tf.Tensor2D, labels));
    return tf.mul(tf.add(i2t, t2i), 0.5) as tf.Scalar;
  });
}

/**
 * This rank's share of `clipLoss` in a data-parallel run (open_clip's
 * local_loss): the image and text rows `offset .. offset + n` of the global
 * batch against all gathered features, so the logits are [n, N] instead of
 * [N, N]. Mean over ranks of the result = clipLoss of the global batch.
 * All features L2-normalized; `logitScale` exp'd.
 */
export function clipLossLocal(
  imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D, allImage: tf.Tensor2D, allText: tf.Tensor2D, offset: number, logitScale: tf.Scalar | number,
): tf.Scalar {
  return tf.tidy(() => {
    const n = imageFeatures.shape[0];
    const total = allImage.shape[0];
    if (textFeatures.shape[0] !== n || allText.shape[0] !== total) throw new Error(`clipLossLocal: ${n}/${textFeatures.shape[0]} local and ${total}/${allText.shape[0]} gathered image/text features`);
    if (!Number.isInteger(offset) || offset < 0 || offset + n > total) throw new Error(`clipLossLocal: rows ${offset}..${offset + n} are outside the ${total} gathered rows`);
    const labels = tf.range(offset, offset + n, 1, "int32") as tf.Tensor1D;
    const i2t = tf.mean(softmaxCrossEntropy(tf.mul(tf.matMul(imageFeatures, allText, false, true), logitScale) as tf.Tensor2D, labels));
    const t2i = tf.mean(softmaxCrossEntropy(tf.mul(tf.matMul(textFeatures, allImage, false, true), logitScale) as tf.Tensor2D, labels));
    return tf.mul(tf.add(i2t, t2i), 0.5) as tf.Scalar;
  });
}
