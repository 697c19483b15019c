export { clipLoss, clipLossLocal } from "./clip.js";
export { sigLipLoss, sigLipLossChunked } from "./siglip.js";
export { logitScaleFromParam, clampLogitScale, MAX_LOGIT_SCALE_PARAM } from "./logit-scale.js";
export { featureLoss, modelLoss, l2normalize, type ModelLossOptions, type RankExchange } from "./model-loss.js";
