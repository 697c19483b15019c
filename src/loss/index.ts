export { clipLoss } from "./clip.js";
export { sigLipLoss, sigLipLossChunked } from "./siglip.js";
export { logitScaleFromParam, clampLogitScale, MAX_LOGIT_SCALE_PARAM } from "./logit-scale.js";
export { modelLoss, l2normalize, type ModelLossOptions } from "./model-loss.js";
