// The training objective of a model on one batch, as the trainer calls it.
import * as tf from "@tensorflow/tfjs-core";
import type { ClipModel } from "../model/types.js";
import { clipLoss } from "./clip.js";
import { sigLipLoss, sigLipLossChunked } from "./siglip.js";
import { logitScaleFromParam } from "./logit-scale.js";

export interface ModelLossOptions {
  /** SigLIP only: compute the loss in blocks of this many texts. */
  sigLipChunk?: number;
}

/**
 * Encode, L2-normalize, and apply the config's loss (clip or siglip) with the
 * model's own logit_scale (and logit_bias). Returns a scalar suitable for
 * optimizer.minimize / tf.variableGrads.
 */
export function modelLoss(model: ClipModel, images: tf.Tensor4D, tokens: tf.Tensor2D, options: ModelLossOptions = {}): tf.Scalar {
  return tf.tidy(() => {
    const img = l2normalize(model.encodeImage(images));
    const txt = l2normalize(model.encodeText(tokens));
    const scale = logitScaleFromParam(model.params.get("logit_scale")!);
    if (model.config.loss === "clip") return clipLoss(img, txt, scale);
    const bias = model.params.get("logit_bias");
    if (!bias) throw new Error(`model "${model.config.name}": siglip loss needs a logit_bias parameter`);
    const b = tf.reshape(bias, []) as tf.Scalar;
    return options.sigLipChunk ? sigLipLossChunked(img, txt, scale, b, options.sigLipChunk) : sigLipLoss(img, txt, scale, b);
  });
}

/** x / max(‖x‖, 1e-12) row-wise (F.normalize semantics). */
export function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12)) as tf.Tensor2D);
}
