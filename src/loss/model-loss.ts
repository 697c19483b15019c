// The one loss-on-features entry point: training (one process or data
// parallel), gradient accumulation and anyone scoring a batch call this.
// Features come in un-normalized so gradient accumulation can splice cached
// micro-batches in.
import * as tf from "@tensorflow/tfjs-core";
import type { ClipModel } from "../model/types.js";
import { clipLoss, clipLossLocal } from "./clip.js";
import { sigLipLoss, sigLipLossChunked } from "./siglip.js";
import { logitScaleFromParam } from "./logit-scale.js";

/** This process's place in a data-parallel run, as the loss needs it. */
export interface RankExchange {
  rank: number;
  worldSize: number;
  /** Every rank's rows in rank order, with gradient (the backward sums over ranks and keeps this rank's rows). */
  gather(x: tf.Tensor2D): tf.Tensor2D;
  /** A scalar whose value is the mean over ranks and whose gradient is this rank's own (identity). */
  meanValue(x: tf.Scalar): tf.Scalar;
}

export interface ModelLossOptions {
  /** SigLIP only: compute the loss in blocks of this many texts (train.siglip_chunk). */
  sigLipChunk?: number;
  /**
   * Data-parallel: the loss of this rank's rows against every rank's gathered
   * features (open_clip's local_loss with gather_with_grad), logits [B_local, B_global];
   * for SigLIP, this rank's images against every rank's texts block by block
   * (blocks of sigLipChunk, default one rank's rows). Its value is the mean over
   * ranks, i.e. the global batch's loss; the gradients, averaged over ranks,
   * are the global loss's.
   */
  ranks?: RankExchange;
}

/**
 * L2-normalize, then the config's loss (clip or siglip) with the model's own
 * logit_scale (and logit_bias).
 */
export function featureLoss(model: ClipModel, imageFeatures: tf.Tensor2D, textFeatures: tf.Tensor2D, options: ModelLossOptions = {}): tf.Scalar {
  const img = l2normalize(imageFeatures);
  const txt = l2normalize(textFeatures);
  const scale = logitScaleFromParam(model.params.get("logit_scale")!);
  let bias: tf.Scalar | null = null;
  if (model.config.loss === "siglip") {
    const b = model.params.get("logit_bias");
    if (!b) throw new Error(`model "${model.config.name}": the siglip loss needs a logit_bias parameter`);
    bias = tf.reshape(b, []) as tf.Scalar;
  }
  const r = options.ranks;
  if (!r) {
    if (!bias) return clipLoss(img, txt, scale);
    return options.sigLipChunk ? sigLipLossChunked(img, txt, scale, bias, options.sigLipChunk) : sigLipLoss(img, txt, scale, bias);
  }
  const n = img.shape[0];
  const allTxt = r.gather(txt);
  const local = bias
    ? sigLipLossChunked(img, allTxt, scale, bias, options.sigLipChunk ?? n, r.rank * n)
    : clipLossLocal(img, txt, r.gather(img), allTxt, r.rank * n, scale);
  return r.meanValue(local);
}

/** Encode both towers, then `featureLoss`. */
export function modelLoss(model: ClipModel, images: tf.Tensor4D, tokens: tf.Tensor2D, options: ModelLossOptions = {}): tf.Scalar {
  return tf.tidy(() => featureLoss(model, model.encodeImage(images), model.encodeText(tokens), options));
}

/** x / max(‖x‖, 1e-12) row-wise (F.normalize semantics). */
export function l2normalize(x: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.div(x, tf.maximum(tf.norm(x, 2, 1, true), 1e-12)) as tf.Tensor2D);
}
