// The loss over a whole batch's features: L2-normalize, then the model's CLIP
// or SigLIP loss with its own logit scale (and bias). Features come in
// un-normalized so gradient accumulation can splice cached micro-batches in.
import * as tf from "@tensorflow/tfjs-core";
import { clipLoss, l2normalize, logitScaleFromParam, sigLipLoss } from "../loss/index.js";
import type { ClipModel } from "../model/types.js";
import type { Objective } from "./step.js";

export const modelObjective: Objective = (model: ClipModel, imageFeatures, textFeatures) => {
  const img = l2normalize(imageFeatures);
  const txt = l2normalize(textFeatures);
  const scale = logitScaleFromParam(model.params.get("logit_scale")!);
  if (model.config.loss === "clip") return clipLoss(img, txt, scale);
  const bias = model.params.get("logit_bias");
  if (!bias) throw new Error(`model "${model.config.name}": the siglip loss needs a logit_bias parameter`);
  return sigLipLoss(img, txt, scale, tf.reshape(bias, []) as tf.Scalar);
};
